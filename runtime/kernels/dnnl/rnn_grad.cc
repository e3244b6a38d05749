// Kernels of the recurrent-op gradients, in the project's own domain (ai.onnx_train):
// LSTMGrad, GRUGrad and RNNGrad, backpropagation through time (templated on the element
// type: float32 and float64, float16/bfloat16 computed in float) whose matrix products run on
// oneDNN's sgemm for float32 and on plain loops otherwise.
//
// The forward pass leaves no state behind: each gradient kernel takes the forward node's
// inputs and recomputes, per batch entry, the gates and states every step had (no cache in
// the kernel), then walks the steps backwards. Batch entries are independent until the
// weight gradients, so the recompute + backward walk runs in parallel over the batch; the
// weight and input gradients are then reductions over all (timestep, batch) rows.
#include <algorithm>
#include <string>
#include <type_traits>
#include <vector>

#include "runtime/core/dispatch.h"
#include "runtime/core/parallel.h"
#include "runtime/kernels/dnnl/rnn_gemm.h"
#include "runtime/kernels/kernel.h"
#include "runtime/kernels/reference/rnn_grad_ref.h"
#include "runtime/kernels/registry.h"

namespace onnx_train {

namespace {

using rnn::Activation;
using rnn::CellKind;
using rnn::Dims;
using rnn::load;

template <typename C>
C dot(const C* a, const C* b, int64_t n) {
  C sum = 0;
  for (int64_t i = 0; i < n; ++i) sum += a[i] * b[i];
  return sum;
}

// What the walk of one direction reads and writes (pointers into the kernel's buffers).
// Rows are those of X: row x_row(t, b) holds timestep t of batch entry b.
template <typename C>
struct DirectionPass {
  int64_t dir = 0;
  bool reverse = false;
  const Activation* act = nullptr;
  const C* proj = nullptr;  // [rows, GH] X·W^T of this direction
  const C* w = nullptr;     // this direction's W [GH, I]
  const C* r = nullptr;     // this direction's R [GH, H]
  const C* wb = nullptr;    // this direction's Wb [GH]
  const C* rb = nullptr;    // this direction's Rb [GH]
  const C* peep = nullptr;  // this direction's P [3H] (pi po pf), or null
  const C* init_h = nullptr;
  const C* init_c = nullptr;
  const C* dy = nullptr;  // dY, or null (zero)
  const C* dy_h = nullptr;
  const C* dy_c = nullptr;
  // Outputs of the walk.
  C* dgate = nullptr;    // [rows, GH] gradient of each gate's pre-activation (the X·W^T + Wb term)
  C* drec = nullptr;     // [rows, GH] gradient of the recurrent product each R row feeds
  C* h_prev = nullptr;   // [rows, H] the state each step started from
  C* reset_h = nullptr;  // [rows, H] GRU without linear_before_reset: r ⊙ h_prev, which Rh multiplies
  C* dpeep = nullptr;    // [B, 3H] per batch entry gradient of P
  C* dh0 = nullptr;      // gradient of initial_h, state layout
  C* dc0 = nullptr;      // gradient of initial_c, state layout
};

// The per-row buffers of one direction's walk (DirectionPass), kept between runs: [rows, GH]
// projections and gate gradients, [rows, H] states. Fresh allocations of this size each step
// cost page faults; these are only scratch (zeroed for each direction, never read across runs).
template <typename C>
struct RowBuffers {
  std::vector<C> proj, dgate, drec, h_prev, reset_h;

  void zero(int64_t rows, int64_t gh, int64_t h) {
    for (auto* v : {&proj, &dgate, &drec}) v->assign(static_cast<size_t>(rows * gh), C(0));
    for (auto* v : {&h_prev, &reset_h}) v->assign(static_cast<size_t>(rows * h), C(0));
  }
};

// Gradient of the recurrent layers (LSTM, GRU, RNN; ONNX conventions in dnnl/rnn.cc,
// D directions, S steps, B batch, I input, H hidden, G gates, GH = G*H).
//
// LSTMGrad(X, W, R, B?, sequence_lens?, initial_h?, initial_c?, P?, dY?, dY_h?, dY_c?)
//     -> dX, dW, dR, dB, dinitial_h, dinitial_c, dP          (all optional)
// GRUGrad / RNNGrad(X, W, R, B?, sequence_lens?, initial_h?, dY?, dY_h?)
//     -> dX, dW, dR, dB, dinitial_h                           (all optional)
// Attributes: those of the forward node (direction, hidden_size, clip, activations,
// activation_alpha, activation_beta, layout, LSTM input_forget, GRU linear_before_reset).
// Inputs 0..7 (0..5) are the forward node's inputs; dY [S, D, B, H] (layout 1: [B, S, D, H]),
// dY_h and dY_c [D, B, H] ([B, D, H]) the gradients of its outputs, omitted = zero. The
// gradients have their inputs' shapes (dB [D, 2*GH] even when B was omitted). The kernel keeps
// no state from the forward pass (no cache): the per-step gates and states are recomputed
// from these explicit inputs.
//
// Math, per direction and batch entry, steps s = len-1 .. 0 of the recomputed forward
// (a_* pre-activations, f g h the activations, clip' = 1 where the clip does not bind):
//   dh = dY_h + sum of dY at the step's timestep; dc = dY_c
//   LSTM (c = f⊙c' + i⊙g, h = o⊙h(c)): da_o = dh⊙h(c)⊙f'(a_o); dc += dh⊙o⊙h'(c) + da_o⊙po;
//     da_i = dc⊙(g - [input_forget]c')⊙f'(a_i); da_f = dc⊙c'⊙f'(a_f); da_c = dc⊙i⊙g'(a_c);
//     dc' = dc⊙f + da_i⊙pi + da_f⊙pf; dpi += da_i⊙c', dpo += da_o⊙c, dpf += da_f⊙c'
//   GRU (h = (1-z)⊙n + z⊙h'): da_h = dh⊙(1-z)⊙g'(a_h); da_z = dh⊙(h'-n)⊙f'(a_z);
//     linear_before_reset: a_h = Xh + r⊙(h'·Rh^T + Rbh): d(h'·Rh^T) = da_h⊙r, dr = da_h⊙(h'·Rh^T + Rbh)
//     otherwise a_h = Xh + (r⊙h')·Rh^T + Rbh: d(r⊙h') = da_h·Rh, dr = d(r⊙h')⊙h', dh' += d(r⊙h')⊙r
//     da_r = dr⊙f'(a_r); dh' += dh⊙z
//   RNN (h = f(a)): da = dh⊙f'(a)
//   dh' += (gradients of the R products)·R; then over all rows:
//   dX = da·W, dW = da^T·X, dWb = sum da, dR = d(rec)^T·(h' or r⊙h'), dRb = sum d(rec).
//   The initial state gradients are dh, dc after step 0. Padded steps (past sequence_lens)
//   neither produce Y nor change the state, so they add nothing.
class RecurrentGradKernel : public Kernel {
 public:
  RecurrentGradKernel(const KernelInfo& info, CellKind kind)
      : label_(info.node.label()), attrs_(rnn::parse_recurrent_attributes(info.node, kind, true)) {
    rnn::check_float_inputs(info);
  }

  void run(KernelContext& ctx) override {
    rnn::visit_recurrent_types(ctx.input(0).dtype(), [&](auto t, auto c) {
      run_typed<typename decltype(t)::type, typename decltype(c)::type>(ctx);
    });
  }

 private:
  bool lstm() const { return attrs_.kind == CellKind::Lstm; }
  bool gru() const { return attrs_.kind == CellKind::Gru; }
  // Position of dY among the inputs (dY_h, dY_c follow).
  size_t first_gradient_input() const { return lstm() ? 8 : 6; }

  // An output gradient input: loaded after checking its shape and type, empty when omitted.
  template <typename T, typename C>
  std::vector<C> load_gradient(const KernelContext& ctx, size_t i, const Shape& expected, const char* name) const {
    if (!ctx.has_input(i)) return {};
    const Tensor& t = ctx.input(i);
    OT_CHECK(t.shape() == expected && t.dtype() == ctx.input(0).dtype(), "{}: {} is {}, expected {} of X's type",
             label_, name, t.describe(), shape_str(expected));
    return load<T, C>(t);
  }

  template <typename T, typename C>
  void run_typed(KernelContext& ctx) {
    const Dims d = attrs_.check_shapes(ctx, label_);
    const int64_t H = d.hidden, GH = attrs_.num_gates * H, I = d.input, D = attrs_.num_directions;
    const int64_t rows = d.seq * d.batch;
    const std::vector<C> x = load<T, C>(ctx.input(0));
    const std::vector<C> w = load<T, C>(ctx.input(1));
    const std::vector<C> r = load<T, C>(ctx.input(2));
    const std::vector<C> bias = ctx.has_input(3) ? load<T, C>(ctx.input(3)) : std::vector<C>(D * 2 * GH, C(0));
    const std::vector<int64_t> lengths = attrs_.sequence_lengths(ctx, d, label_);
    const std::vector<C> init_h = ctx.has_input(5) ? load<T, C>(ctx.input(5)) : std::vector<C>();
    const std::vector<C> init_c = lstm() && ctx.has_input(6) ? load<T, C>(ctx.input(6)) : std::vector<C>();
    const std::vector<C> peep = lstm() && ctx.has_input(7) ? load<T, C>(ctx.input(7)) : std::vector<C>();
    const size_t gi = first_gradient_input();
    const Shape state = attrs_.state_shape(d);
    const std::vector<C> dy = load_gradient<T, C>(ctx, gi, attrs_.y_shape(d), "dY");
    const std::vector<C> dy_h = load_gradient<T, C>(ctx, gi + 1, state, "dY_h");
    const std::vector<C> dy_c = lstm() ? load_gradient<T, C>(ctx, gi + 2, state, "dY_c") : std::vector<C>();

    std::vector<C> dx(static_cast<size_t>(rows * I)), dw(w.size()), dr(r.size()), db(bias.size());
    std::vector<C> dh0(static_cast<size_t>(D * d.batch * H)), dc0(dh0.size()), dp(static_cast<size_t>(D * 3 * H));
    std::vector<C> dpeep(static_cast<size_t>(d.batch * 3 * H));
    RowBuffers<C>& buf = row_buffers<C>();
    for (int64_t dir = 0; dir < D; ++dir) {
      buf.zero(rows, GH, H);
      std::fill(dpeep.begin(), dpeep.end(), C(0));
      DirectionPass<C> pass;
      pass.dir = dir;
      pass.reverse = attrs_.reverse_only || dir == 1;
      pass.act = attrs_.activations_of(dir);
      rnn::gemm<C>(label_, false, true, rows, GH, I, x.data(), I, w.data() + dir * GH * I, I, buf.proj.data(), GH);
      pass.proj = buf.proj.data();
      pass.w = w.data() + dir * GH * I;
      pass.r = r.data() + dir * GH * H;
      pass.wb = bias.data() + dir * 2 * GH;
      pass.rb = pass.wb + GH;
      pass.peep = peep.empty() ? nullptr : peep.data() + dir * 3 * H;
      pass.init_h = init_h.empty() ? nullptr : init_h.data();
      pass.init_c = init_c.empty() ? nullptr : init_c.data();
      pass.dy = dy.empty() ? nullptr : dy.data();
      pass.dy_h = dy_h.empty() ? nullptr : dy_h.data();
      pass.dy_c = dy_c.empty() ? nullptr : dy_c.data();
      pass.dgate = buf.dgate.data();
      pass.drec = buf.drec.data();
      pass.h_prev = buf.h_prev.data();
      pass.reset_h = buf.reset_h.data();
      pass.dpeep = dpeep.data();
      pass.dh0 = dh0.data();
      pass.dc0 = dc0.data();

      const int64_t step_work = d.seq * GH * (I + H);
#pragma omp parallel for schedule(dynamic) if (d.batch > 1 && d.batch * step_work >= kParallelMinMultiplyAdds)
      for (int64_t b = 0; b < d.batch; ++b) walk_entry<C>(d, pass, b, lengths[static_cast<size_t>(b)]);

      accumulate_weight_gradients<C>(d, pass, x.data(), dx.data(), dw.data() + dir * GH * I, dr.data() + dir * GH * H,
                                     db.data() + dir * 2 * GH);
      for (int64_t b = 0; b < d.batch; ++b)
        for (int64_t j = 0; j < 3 * H; ++j) dp[dir * 3 * H + j] += dpeep[b * 3 * H + j];
    }

    const DType dtype = ctx.input(0).dtype();
    auto emit = [&](size_t output, const std::vector<C>& values, const Shape& shape) {
      if (!ctx.output_wanted(output)) return;
      T* out = ctx.allocate_output(output, dtype, shape).template data<T>();
      for (size_t i = 0; i < values.size(); ++i) out[i] = from_compute<T>(values[i]);
    };
    emit(0, dx, ctx.input(0).shape());
    emit(1, dw, ctx.input(1).shape());
    emit(2, dr, ctx.input(2).shape());
    emit(3, db, Shape{D, 2 * GH});
    emit(4, dh0, state);
    if (lstm()) {
      emit(5, dc0, state);
      emit(6, dp, Shape{D, 3 * H});
    }
  }

  // The recompute and backward walk of batch entry b (sequence length len) in one direction:
  // fills the rows of b in dgate, drec, h_prev, reset_h, its dpeep row and its initial-state
  // gradients. Touches nothing shared with other batch entries.
  template <typename C>
  void walk_entry(const Dims& d, const DirectionPass<C>& p, int64_t b, int64_t len) const {
    const int64_t H = d.hidden, GH = attrs_.num_gates * H;
    const Activation* act = p.act;
    const int64_t state_at = attrs_.state_offset(d, p.dir, b);
    auto time_of = [&](int64_t s) { return p.reverse ? len - 1 - s : s; };
    auto clipped = [&](C v) { return attrs_.clipped(v); };
    // d act(clip(v)) / dv, given y = act(clip(v)) (the recomputed gate: no second exp / tanh).
    auto slope = [&](const Activation& a, C v, C y) {
      return a.derivative(attrs_.clipped(v), y) * attrs_.clip_derivative(v);
    };

    // Forward recompute. pre: pre-activations (peepholes included); gate: activations
    // (LSTM i o f g, GRU z r n, RNN h); cell: LSTM c after the step, GRU with
    // linear_before_reset h'·Rh^T + Rbh; c_prev: LSTM c before the step; cell_act: LSTM h(c).
    std::vector<C> pre(static_cast<size_t>(len * GH)), gate(pre.size());
    std::vector<C> cell(static_cast<size_t>(len * H)), c_prev(cell.size()), cell_act(lstm() ? cell.size() : 0);
    std::vector<C> h(static_cast<size_t>(H)), c(h.size()), h_next(h.size());
    for (int64_t k = 0; k < H; ++k) {
      h[k] = p.init_h != nullptr ? p.init_h[state_at + k] : C(0);
      c[k] = p.init_c != nullptr ? p.init_c[state_at + k] : C(0);
    }
    for (int64_t s = 0; s < len; ++s) {
      const int64_t row = attrs_.x_row(d, time_of(s), b);
      const C* xw = p.proj + row * GH;
      std::copy(h.begin(), h.end(), p.h_prev + row * H);
      C* a = pre.data() + s * GH;
      C* v = gate.data() + s * GH;
      // a = R·h (one matrix-vector product over the rows of R that take h: all but GRU's Rh)
      // + X·W^T + Wb + Rb.
      const int64_t on_h = gru() ? 2 * H : GH;
      rnn::gemm<C>(label_, false, true, 1, on_h, H, h.data(), H, p.r, H, a, GH, false);
      for (int64_t g = 0; g < GH; ++g) a[g] = (g < on_h ? a[g] + p.rb[g] : C(0)) + xw[g] + p.wb[g];
      switch (attrs_.kind) {
        case CellKind::Rnn:
          for (int64_t k = 0; k < H; ++k) h[k] = v[k] = act[0](clipped(a[k]));
          break;
        case CellKind::Lstm:
          for (int64_t k = 0; k < H; ++k) {
            const C cp = c[k];
            c_prev[s * H + k] = cp;
            if (p.peep != nullptr) a[k] += p.peep[k] * cp;
            v[k] = act[0](clipped(a[k]));
            if (attrs_.input_forget) {
              v[2 * H + k] = C(1) - v[k];
            } else {
              if (p.peep != nullptr) a[2 * H + k] += p.peep[2 * H + k] * cp;
              v[2 * H + k] = act[0](clipped(a[2 * H + k]));
            }
            v[3 * H + k] = act[1](clipped(a[3 * H + k]));
            c[k] = v[2 * H + k] * cp + v[k] * v[3 * H + k];
            cell[s * H + k] = c[k];
            if (p.peep != nullptr) a[H + k] += p.peep[H + k] * c[k];
            v[H + k] = act[0](clipped(a[H + k]));
            cell_act[s * H + k] = act[2](c[k]);
            h[k] = v[H + k] * cell_act[s * H + k];
          }
          break;
        case CellKind::Gru: {
          for (int64_t k = 0; k < 2 * H; ++k) v[k] = act[0](clipped(a[k]));
          C* rh = p.reset_h + row * H;
          for (int64_t k = 0; k < H; ++k) rh[k] = v[H + k] * h[k];
          for (int64_t k = 0; k < H; ++k) {
            const C* rrow = p.r + (2 * H + k) * H;
            if (attrs_.linear_before_reset) {
              cell[s * H + k] = dot(rrow, h.data(), H) + p.rb[2 * H + k];
              a[2 * H + k] += v[H + k] * cell[s * H + k];
            } else {
              a[2 * H + k] += dot(rrow, rh, H) + p.rb[2 * H + k];
            }
            v[2 * H + k] = act[1](clipped(a[2 * H + k]));
            h_next[k] = (C(1) - v[k]) * v[2 * H + k] + v[k] * h[k];
          }
          h.swap(h_next);
          break;
        }
      }
    }

    // Backward walk: dh, dc are the gradients of the state after step s.
    std::vector<C> dh(static_cast<size_t>(H)), dc(dh.size()), dh_prev(dh.size()), drh(dh.size());
    for (int64_t k = 0; k < H; ++k) {
      dh[k] = p.dy_h != nullptr ? p.dy_h[state_at + k] : C(0);
      dc[k] = p.dy_c != nullptr ? p.dy_c[state_at + k] : C(0);
    }
    C* dpeep = p.dpeep + b * 3 * H;
    for (int64_t s = len - 1; s >= 0; --s) {
      const int64_t t = time_of(s);
      const int64_t row = attrs_.x_row(d, t, b);
      if (p.dy != nullptr) {
        const C* dyt = p.dy + attrs_.y_offset(d, t, p.dir, b);
        for (int64_t k = 0; k < H; ++k) dh[k] += dyt[k];
      }
      const C* a = pre.data() + s * GH;
      const C* v = gate.data() + s * GH;
      const C* hp = p.h_prev + row * H;
      C* da = p.dgate + row * GH;
      C* drec = p.drec + row * GH;
      std::fill(dh_prev.begin(), dh_prev.end(), C(0));
      switch (attrs_.kind) {
        case CellKind::Rnn:
          for (int64_t k = 0; k < H; ++k) da[k] = drec[k] = dh[k] * slope(act[0], a[k], v[k]);
          break;
        case CellKind::Lstm:
          for (int64_t k = 0; k < H; ++k) {
            const C cn = cell[s * H + k], cp = c_prev[s * H + k];
            const C i = v[k], o = v[H + k], f = v[2 * H + k], g = v[3 * H + k];
            const C hc = cell_act[s * H + k];
            const C da_o = dh[k] * hc * slope(act[0], a[H + k], o);
            C dcn = dc[k] + dh[k] * o * act[2].derivative(cn, hc);
            if (p.peep != nullptr) dcn += da_o * p.peep[H + k];
            const C da_i = dcn * (attrs_.input_forget ? g - cp : g) * slope(act[0], a[k], i);
            const C da_f = attrs_.input_forget ? C(0) : dcn * cp * slope(act[0], a[2 * H + k], f);
            const C da_c = dcn * i * slope(act[1], a[3 * H + k], g);
            dc[k] = dcn * f;
            if (p.peep != nullptr) {
              dc[k] += da_i * p.peep[k] + da_f * p.peep[2 * H + k];
              dpeep[k] += da_i * cp;
              dpeep[H + k] += da_o * cn;
              dpeep[2 * H + k] += da_f * cp;
            }
            da[k] = drec[k] = da_i;
            da[H + k] = drec[H + k] = da_o;
            da[2 * H + k] = drec[2 * H + k] = da_f;
            da[3 * H + k] = drec[3 * H + k] = da_c;
          }
          break;
        case CellKind::Gru: {
          for (int64_t k = 0; k < H; ++k) {
            const C z = v[k], n = v[2 * H + k];
            da[k] = drec[k] = dh[k] * (hp[k] - n) * slope(act[0], a[k], z);
            da[2 * H + k] = dh[k] * (C(1) - z) * slope(act[1], a[2 * H + k], n);
            dh_prev[k] = dh[k] * z;
          }
          if (attrs_.linear_before_reset) {
            for (int64_t k = 0; k < H; ++k) {
              const C dr = da[2 * H + k] * cell[s * H + k];
              da[H + k] = drec[H + k] = dr * slope(act[0], a[H + k], v[H + k]);
              drec[2 * H + k] = da[2 * H + k] * v[H + k];
            }
          } else {
            // d(r ⊙ h') = da_h · Rh
            std::fill(drh.begin(), drh.end(), C(0));
            for (int64_t j = 0; j < H; ++j) {
              const C coef = da[2 * H + j];
              const C* rrow = p.r + (2 * H + j) * H;
              for (int64_t k = 0; k < H; ++k) drh[k] += coef * rrow[k];
              drec[2 * H + j] = coef;
            }
            for (int64_t k = 0; k < H; ++k) {
              da[H + k] = drec[H + k] = drh[k] * hp[k] * slope(act[0], a[H + k], v[H + k]);
              dh_prev[k] += drh[k] * v[H + k];
            }
          }
          break;
        }
      }
      // dh' += drec · R over the rows whose product takes h' (all but GRU's Rh when the
      // reset gate is applied before it).
      const int64_t rows_on_h = gru() && !attrs_.linear_before_reset ? 2 * H : GH;
      rnn::gemm<C>(label_, false, false, 1, H, rows_on_h, drec, GH, p.r, H, dh_prev.data(), H);
      dh.swap(dh_prev);
    }
    for (int64_t k = 0; k < H; ++k) {
      p.dh0[state_at + k] = dh[k];
      if (lstm()) p.dc0[state_at + k] = dc[k];
    }
  }

  // After the walks of one direction: dX += dgate·W, dW += dgate^T·X, dWb += sum dgate,
  // dR += drec^T·(h_prev, or r⊙h_prev for GRU's Rh without linear_before_reset),
  // dRb += sum drec, over all rows (padded rows hold zeros).
  template <typename C>
  void accumulate_weight_gradients(const Dims& d, const DirectionPass<C>& p, const C* x, C* dx, C* dw, C* dr,
                                   C* db) const {
    const int64_t H = d.hidden, GH = attrs_.num_gates * H, I = d.input, rows = d.seq * d.batch;
    rnn::gemm<C>(label_, false, false, rows, I, GH, p.dgate, GH, p.w, I, dx, I);
    rnn::gemm<C>(label_, true, false, GH, I, rows, p.dgate, GH, x, I, dw, I);
    if (gru() && !attrs_.linear_before_reset) {
      rnn::gemm<C>(label_, true, false, 2 * H, H, rows, p.drec, GH, p.h_prev, H, dr, H);
      rnn::gemm<C>(label_, true, false, H, H, rows, p.drec + 2 * H, GH, p.reset_h, H, dr + 2 * H * H, H);
    } else {
      rnn::gemm<C>(label_, true, false, GH, H, rows, p.drec, GH, p.h_prev, H, dr, H);
    }
    for (int64_t row = 0; row < rows; ++row) {
      for (int64_t g = 0; g < GH; ++g) {
        db[g] += p.dgate[row * GH + g];
        db[GH + g] += p.drec[row * GH + g];
      }
    }
  }

  template <typename C>
  RowBuffers<C>& row_buffers() {
    if constexpr (std::is_same_v<C, float>) {
      return buffers_f32_;
    } else {
      return buffers_f64_;
    }
  }

  std::string label_;
  rnn::RecurrentAttributes attrs_;
  RowBuffers<float> buffers_f32_;
  RowBuffers<double> buffers_f64_;
};

}  // namespace

ONNX_TRAIN_REGISTER_KERNELS(rnn_grad) {
  auto factory = [](CellKind kind) {
    return [kind](const KernelInfo& info) { return std::make_unique<RecurrentGradKernel>(info, kind); };
  };
  registry.add("LSTMGrad", {1}, factory(CellKind::Lstm), kProjectDomain);
  registry.add("GRUGrad", {1}, factory(CellKind::Gru), kProjectDomain);
  registry.add("RNNGrad", {1}, factory(CellKind::Rnn), kProjectDomain);
}

}  // namespace onnx_train
