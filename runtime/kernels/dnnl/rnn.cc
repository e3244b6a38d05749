// Recurrent layers: LSTM, GRU and RNN (ONNX default domain): the matrix products on oneDNN's
// sgemm for float32 (float16/bfloat16 computed in float32), on plain loops for float64 (the
// oracle the float32 path is tested against, and the gradient checks' path).
//
// Shared conventions (ONNX names; D = num_directions, S = seq_length, B = batch_size,
// I = input_size, H = hidden_size, G = gates per cell: LSTM 4 (i o f c), GRU 3 (z r h), RNN 1):
//   X [S, B, I]      W [D, G*H, I]   R [D, G*H, H]   B [D, 2*G*H] (Wb then Rb, optional)
//   sequence_lens [B] (optional)     initial_h [D, B, H]   LSTM: initial_c [D, B, H], P [D, 3*H]
//   outputs Y [S, D, B, H], Y_h [D, B, H], LSTM Y_c [D, B, H]
// With layout = 1 (opset 14) X is [B, S, I], Y [B, S, D, H] and the states [B, D, H].
//
// Each direction first projects every timestep at once (X·W^T + Wb, one GEMM), then runs the
// recurrence one step at a time (H_{t-1}·R^T, one GEMM per step over the whole batch). Batch entries past their
// sequence length keep their state and leave Y at zero; the reverse direction of a batch entry
// runs from its own last valid step back to 0. Attribute parsing, activations and layouts are
// shared with the gradient kernels (rnn_grad_ref.h).
#include <algorithm>
#include <cmath>
#include <string>
#include <type_traits>
#include <vector>

#include "runtime/core/dispatch.h"
#include "runtime/kernels/dnnl/eltwise.h"
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

// LSTM, GRU, RNN: one kernel, the cell kind decides gates and update.
class RecurrentKernel : public Kernel {
 public:
  RecurrentKernel(const KernelInfo& info, CellKind kind)
      : label_(info.node.label()),
        kind_(kind),
        attrs_(rnn::parse_recurrent_attributes(info.node, kind, info.node.since_version >= 14)),
        reverse_only_(attrs_.reverse_only),
        num_directions_(attrs_.num_directions),
        num_gates_(attrs_.num_gates),
        input_forget_(attrs_.input_forget),
        linear_before_reset_(attrs_.linear_before_reset),
        activations_(attrs_.activations),
        sigmoid_({{dnnl::algorithm::eltwise_logistic}}),
        tanh_({{dnnl::algorithm::eltwise_tanh}}) {
    rnn::check_float_inputs(info);
  }

  void run(KernelContext& ctx) override {
    rnn::visit_recurrent_types(ctx.input(0).dtype(), [&](auto t, auto c) {
      run_typed<typename decltype(t)::type, typename decltype(c)::type>(ctx);
    });
  }

 private:
  Dims check_shapes(const KernelContext& ctx) const { return attrs_.check_shapes(ctx, label_); }
  Shape state_shape(const Dims& d) const { return attrs_.state_shape(d); }
  int64_t state_offset(const Dims& d, int64_t dir, int64_t b) const { return attrs_.state_offset(d, dir, b); }
  int64_t x_row(const Dims& d, int64_t t, int64_t b) const { return attrs_.x_row(d, t, b); }
  int64_t y_offset(const Dims& d, int64_t t, int64_t dir, int64_t b) const { return attrs_.y_offset(d, t, dir, b); }

  template <typename T, typename C>
  void run_typed(KernelContext& ctx) {
    const Dims d = check_shapes(ctx);
    const int64_t H = d.hidden, G = num_gates_, GH = G * H;
    const std::vector<C> x = load<T, C>(ctx.input(0));
    const std::vector<C> w = load<T, C>(ctx.input(1));
    const std::vector<C> r = load<T, C>(ctx.input(2));
    const std::vector<C> bias =
        ctx.has_input(3) ? load<T, C>(ctx.input(3)) : std::vector<C>(num_directions_ * 2 * GH, C(0));
    const std::vector<int64_t> lengths = attrs_.sequence_lengths(ctx, d, label_);
    const bool lstm = kind_ == CellKind::Lstm;
    const std::vector<C> init_h = ctx.has_input(5) ? load<T, C>(ctx.input(5)) : std::vector<C>();
    const std::vector<C> init_c = lstm && ctx.has_input(6) ? load<T, C>(ctx.input(6)) : std::vector<C>();
    const std::vector<C> peep = lstm && ctx.has_input(7) ? load<T, C>(ctx.input(7)) : std::vector<C>();

    const Shape y_shape = attrs_.y_shape(d);
    T* y = ctx.output_wanted(0) ? ctx.allocate_output(0, ctx.input(0).dtype(), y_shape).template data<T>() : nullptr;
    T* y_h = ctx.output_wanted(1) ? ctx.allocate_output(1, ctx.input(0).dtype(), state_shape(d)).template data<T>()
                                  : nullptr;
    T* y_c = lstm && ctx.output_wanted(2)
                 ? ctx.allocate_output(2, ctx.input(0).dtype(), state_shape(d)).template data<T>()
                 : nullptr;

    std::vector<C> proj(static_cast<size_t>(d.seq * d.batch * GH));  // X·W^T + Wb (+ Rb), rows as in X
    std::vector<C> rec(static_cast<size_t>(d.batch * GH));           // H_{t-1}·R^T for one step
    std::vector<C> h(static_cast<size_t>(d.batch * H)), c(h.size()), h_next(h.size()), rh(h.size()), reset(h.size());
    std::vector<char> active(d.batch);   // batch entries still inside their sequence at this step
    std::vector<int64_t> time(d.batch);  // the timestep each batch entry processes at this step
    for (int64_t dir = 0; dir < num_directions_; ++dir) {
      const bool reverse = reverse_only_ || dir == 1;
      const C* wd = w.data() + dir * GH * d.input;
      const C* rd = r.data() + dir * GH * H;
      const C* wb = bias.data() + dir * 2 * GH;
      const C* rb = wb + GH;
      const Activation* act = activations_.data() + dir * activations_.size() / num_directions_;
      rnn::gemm<C>(label_, false, true, d.seq * d.batch, GH, d.input, x.data(), d.input, wd, d.input, proj.data(), GH,
                   false);
      // Fold the biases into the projection, except GRU's Rbh with linear_before_reset,
      // which sits inside the reset gate's product.
      for (int64_t row = 0; row < d.seq * d.batch; ++row) {
        C* p = proj.data() + row * GH;
        for (int64_t j = 0; j < GH; ++j) {
          const bool rb_inside = kind_ == CellKind::Gru && j >= 2 * H;
          p[j] += wb[j] + (rb_inside ? C(0) : rb[j]);
        }
      }
      for (int64_t b = 0; b < d.batch; ++b) {
        for (int64_t k = 0; k < H; ++k) {
          h[b * H + k] = init_h.empty() ? C(0) : init_h[state_offset(d, dir, b) + k];
          c[b * H + k] = init_c.empty() ? C(0) : init_c[state_offset(d, dir, b) + k];
        }
      }
      for (int64_t step = 0; step < d.seq; ++step) {
        if (kind_ == CellKind::Gru && !linear_before_reset_) {
          // z and r see H_{t-1}; the candidate sees (r ⊙ H_{t-1})·Rh^T, computed below.
          rnn::gemm<C>(label_, false, true, d.batch, 2 * H, H, h.data(), H, rd, H, rec.data(), GH, false);
        } else {
          rnn::gemm<C>(label_, false, true, d.batch, GH, H, h.data(), H, rd, H, rec.data(), GH, false);
        }
        for (int64_t b = 0; b < d.batch; ++b) {
          active[b] = step < lengths[b];
          time[b] = reverse ? lengths[b] - 1 - step : step;
        }
        switch (kind_) {
          case CellKind::Rnn:
            for (int64_t b = 0; b < d.batch; ++b) {
              if (!active[b]) continue;
              const C* p = proj.data() + x_row(d, time[b], b) * GH;
              for (int64_t k = 0; k < H; ++k) h[b * H + k] = act[0](clipped(p[k] + rec[b * GH + k]));
            }
            break;
          case CellKind::Lstm:
            if constexpr (std::is_same_v<C, float>) {
              if (plain_lstm(act, peep, active)) {
                lstm_step_vectorised(d, proj, rec, time, c, h);
                break;
              }
            }
            for (int64_t b = 0; b < d.batch; ++b) {
              if (!active[b]) continue;
              const C* p = proj.data() + x_row(d, time[b], b) * GH;
              const C* q = rec.data() + b * GH;
              for (int64_t k = 0; k < H; ++k) {
                const C c_prev = c[b * H + k];
                const C pi = peep.empty() ? C(0) : peep[dir * 3 * H + k];
                const C po = peep.empty() ? C(0) : peep[dir * 3 * H + H + k];
                const C pf = peep.empty() ? C(0) : peep[dir * 3 * H + 2 * H + k];
                const C i_gate = act[0](clipped(p[k] + q[k] + pi * c_prev));
                const C f_gate =
                    input_forget_ ? C(1) - i_gate : act[0](clipped(p[2 * H + k] + q[2 * H + k] + pf * c_prev));
                const C cand = act[1](clipped(p[3 * H + k] + q[3 * H + k]));
                const C c_new = f_gate * c_prev + i_gate * cand;
                const C o_gate = act[0](clipped(p[H + k] + q[H + k] + po * c_new));
                c[b * H + k] = c_new;
                h[b * H + k] = o_gate * act[2](c_new);
              }
            }
            break;
          case CellKind::Gru: gru_step<C>(d, proj, rec, rd, rb, act, active, time, h, h_next, rh, reset); break;
        }
        for (int64_t b = 0; b < d.batch && y != nullptr; ++b) {
          if (!active[b]) continue;
          T* out = y + y_offset(d, time[b], dir, b);
          for (int64_t k = 0; k < H; ++k) out[k] = from_compute<T>(h[b * H + k]);
        }
      }
      for (int64_t b = 0; b < d.batch; ++b) {
        for (int64_t k = 0; k < H; ++k) {
          if (y_h != nullptr) y_h[state_offset(d, dir, b) + k] = from_compute<T>(h[b * H + k]);
          if (y_c != nullptr) y_c[state_offset(d, dir, b) + k] = from_compute<T>(c[b * H + k]);
        }
      }
    }
  }

  // GRU: z = f(Xz + Hz), r = f(Xr + Hr), candidate n = g(Xh + (r ⊙ H)·Rh^T + Rbh) or, with
  // linear_before_reset, g(Xh + r ⊙ (H·Rh^T + Rbh)); H' = (1 - z) ⊙ n + z ⊙ H.
  template <typename C>
  void gru_step(const Dims& d, const std::vector<C>& proj, std::vector<C>& rec, const C* rd, const C* rb,
                const Activation* act, const std::vector<char>& active, const std::vector<int64_t>& time,
                std::vector<C>& h, std::vector<C>& h_next, std::vector<C>& rh, std::vector<C>& reset) const {
    const int64_t H = d.hidden, GH = 3 * H;
    for (int64_t b = 0; b < d.batch; ++b) {
      if (!active[b]) continue;
      const C* p = proj.data() + x_row(d, time[b], b) * GH;
      for (int64_t k = 0; k < H; ++k) {
        reset[b * H + k] = act[0](clipped(p[H + k] + rec[b * GH + H + k]));
        rh[b * H + k] = reset[b * H + k] * h[b * H + k];
      }
    }
    if (!linear_before_reset_)
      rnn::gemm<C>(label_, false, true, d.batch, H, H, rh.data(), H, rd + 2 * H * H, H, rec.data() + 2 * H, GH, false);
    h_next = h;
    for (int64_t b = 0; b < d.batch; ++b) {
      if (!active[b]) continue;
      const C* p = proj.data() + x_row(d, time[b], b) * GH;
      const C* q = rec.data() + b * GH;
      for (int64_t k = 0; k < H; ++k) {
        const C z = act[0](clipped(p[k] + q[k]));
        const C recurrent =
            linear_before_reset_ ? reset[b * H + k] * (q[2 * H + k] + rb[2 * H + k]) : q[2 * H + k] + rb[2 * H + k];
        const C cand = act[1](clipped(p[2 * H + k] + recurrent));
        h_next[b * H + k] = (C(1) - z) * cand + z * h[b * H + k];
      }
    }
    h.swap(h_next);
  }

  template <typename C>
  C clipped(C v) const {
    return attrs_.clipped(v);
  }

  // The usual LSTM (float32, sigmoid/tanh/tanh, no clip, peepholes or coupled input-forget
  // gate, every batch entry inside its sequence) runs its gate functions over whole arrays on
  // oneDNN's vectorised eltwise instead of one scalar std::exp/std::tanh call per element,
  // which was most of the layer's time. Same formulas as the general loop below.
  bool plain_lstm(const Activation* act, const std::vector<float>& peep, const std::vector<char>& active) const {
    if (attrs_.clip || !peep.empty() || input_forget_) return false;
    if (act[0].kind != rnn::ActivationKind::Sigmoid || act[1].kind != rnn::ActivationKind::Tanh ||
        act[2].kind != rnn::ActivationKind::Tanh)
      return false;
    return std::all_of(active.begin(), active.end(), [](char a) { return a != 0; });
  }

  // gates [B, 4H] (ONNX order i, o, f, c) = projection row + recurrent product; then
  // c' = f ⊙ c + i ⊙ tanh(c~), h' = o ⊙ tanh(c').
  void lstm_step_vectorised(const Dims& d, const std::vector<float>& proj, const std::vector<float>& rec,
                            const std::vector<int64_t>& time, std::vector<float>& c, std::vector<float>& h) {
    const int64_t H = d.hidden, GH = 4 * H, BH = d.batch * H;
    gates_.resize(static_cast<size_t>(d.batch * GH));
    cell_.resize(static_cast<size_t>(2 * BH));
    float* cand = cell_.data();  // tanh(c~), [B, H]
    float* cnew = cand + BH;     // tanh(c'), [B, H]
    for (int64_t b = 0; b < d.batch; ++b) {
      const float* p = proj.data() + x_row(d, time[b], b) * GH;
      const float* q = rec.data() + b * GH;
      float* g = gates_.data() + b * GH;
      for (int64_t j = 0; j < GH; ++j) g[j] = p[j] + q[j];
      std::copy(g + 3 * H, g + 4 * H, cand + b * H);
    }
    sigmoid_.run(gates_.data(), gates_.data(), d.batch * GH);  // the c~ quarter is unused
    tanh_.run(cand, cand, BH);
    for (int64_t b = 0; b < d.batch; ++b) {
      const float* g = gates_.data() + b * GH;
      for (int64_t k = 0; k < H; ++k) {
        const float c_new = g[2 * H + k] * c[b * H + k] + g[k] * cand[b * H + k];
        c[b * H + k] = c_new;
        cnew[b * H + k] = c_new;
      }
    }
    tanh_.run(cnew, cnew, BH);
    for (int64_t b = 0; b < d.batch; ++b) {
      const float* g = gates_.data() + b * GH;
      for (int64_t k = 0; k < H; ++k) h[b * H + k] = g[H + k] * cnew[b * H + k];
    }
  }

  std::string label_;
  CellKind kind_;
  rnn::RecurrentAttributes attrs_;
  // Copies of attrs_ fields, for short names in the loops.
  bool reverse_only_;
  int64_t num_directions_;
  int64_t num_gates_;
  bool input_forget_;
  bool linear_before_reset_;
  std::vector<Activation> activations_;  // per direction: LSTM f g h, GRU f g, RNN f
  DnnlEltwise sigmoid_, tanh_;            // the plain LSTM's gate functions over whole arrays
  std::vector<float> gates_, cell_;       // its scratch, kept between steps and runs
};

}  // namespace

ONNX_TRAIN_REGISTER_KERNELS(rnn) {
  registry.add("LSTM", {7, 14},
               [](const KernelInfo& info) { return std::make_unique<RecurrentKernel>(info, CellKind::Lstm); });
  registry.add("GRU", {7, 14},
               [](const KernelInfo& info) { return std::make_unique<RecurrentKernel>(info, CellKind::Gru); });
  registry.add("RNN", {7, 14},
               [](const KernelInfo& info) { return std::make_unique<RecurrentKernel>(info, CellKind::Rnn); });
}

}  // namespace onnx_train
