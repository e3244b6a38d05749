// Recurrent layers: LSTM, GRU and RNN (ONNX default domain), plain reference loops.
//
// Shared conventions (ONNX names; D = num_directions, S = seq_length, B = batch_size,
// I = input_size, H = hidden_size, G = gates per cell: LSTM 4 (i o f c), GRU 3 (z r h), RNN 1):
//   X [S, B, I]      W [D, G*H, I]   R [D, G*H, H]   B [D, 2*G*H] (Wb then Rb, optional)
//   sequence_lens [B] (optional)     initial_h [D, B, H]   LSTM: initial_c [D, B, H], P [D, 3*H]
//   outputs Y [S, D, B, H], Y_h [D, B, H], LSTM Y_c [D, B, H]
// With layout = 1 (opset 14) X is [B, S, I], Y [B, S, D, H] and the states [B, D, H].
//
// Each direction first projects every timestep at once (X·W^T + Wb, one GEMM), then runs the
// recurrence one step at a time (H_{t-1}·R^T, one GEMM per step). Batch entries past their
// sequence length keep their state and leave Y at zero; the reverse direction of a batch entry
// runs from its own last valid step back to 0.
#include <algorithm>
#include <cctype>
#include <cmath>
#include <optional>
#include <string>
#include <type_traits>
#include <vector>

#include "runtime/core/dispatch.h"
#include "runtime/kernels/kernel.h"

namespace onnx_train {

namespace {

enum class CellKind { Lstm, Gru, Rnn };

// One activation function with its (optional) alpha and beta.
enum class ActivationKind {
  Relu,
  Tanh,
  Sigmoid,
  Affine,
  LeakyRelu,
  ThresholdedRelu,
  ScaledTanh,
  HardSigmoid,
  Elu,
  Softsign,
  Softplus
};

struct Activation {
  ActivationKind kind = ActivationKind::Sigmoid;
  double alpha = 0;
  double beta = 0;

  template <typename C>
  C operator()(C x) const {
    const C a = static_cast<C>(alpha), b = static_cast<C>(beta);
    switch (kind) {
      case ActivationKind::Relu: return x > C(0) ? x : C(0);
      case ActivationKind::Tanh: return std::tanh(x);
      case ActivationKind::Sigmoid: return C(1) / (C(1) + std::exp(-x));
      case ActivationKind::Affine: return a * x + b;
      case ActivationKind::LeakyRelu: return x >= C(0) ? x : a * x;
      case ActivationKind::ThresholdedRelu: return x > a ? x : C(0);
      case ActivationKind::ScaledTanh: return a * std::tanh(b * x);
      case ActivationKind::HardSigmoid: return std::max(C(0), std::min(C(1), a * x + b));
      case ActivationKind::Elu: return x >= C(0) ? x : a * (std::exp(x) - C(1));
      case ActivationKind::Softsign: return x / (C(1) + std::abs(x));
      case ActivationKind::Softplus: return std::log1p(std::exp(x));
    }
    return x;
  }
};

struct ActivationSpec {
  const char* name;
  ActivationKind kind;
  bool uses_alpha;
  double default_alpha;
  bool uses_beta;
  double default_beta;
};

// Names and default parameters (those of the corresponding ONNX operators).
constexpr ActivationSpec kActivationSpecs[] = {
    {"relu", ActivationKind::Relu, false, 0, false, 0},
    {"tanh", ActivationKind::Tanh, false, 0, false, 0},
    {"sigmoid", ActivationKind::Sigmoid, false, 0, false, 0},
    {"affine", ActivationKind::Affine, true, 1.0, true, 0.0},
    {"leakyrelu", ActivationKind::LeakyRelu, true, 0.01, false, 0},
    {"thresholdedrelu", ActivationKind::ThresholdedRelu, true, 1.0, false, 0},
    {"scaledtanh", ActivationKind::ScaledTanh, true, 1.0, true, 1.0},
    {"hardsigmoid", ActivationKind::HardSigmoid, true, 0.2, true, 0.5},
    {"elu", ActivationKind::Elu, true, 1.0, false, 0},
    {"softsign", ActivationKind::Softsign, false, 0, false, 0},
    {"softplus", ActivationKind::Softplus, false, 0, false, 0},
};

// Parses the activations / activation_alpha / activation_beta attributes. The alpha and beta
// lists are consumed in order by the activations that take that parameter; missing entries
// fall back to the operator defaults. Returns num_directions * per_direction activations.
std::vector<Activation> parse_activations(const Node& node, const std::vector<std::string>& defaults,
                                          int num_directions) {
  const size_t per_direction = defaults.size();
  std::vector<std::string> names = node.attr_strings("activations", {});
  if (names.empty()) {
    for (int d = 0; d < num_directions; ++d) names.insert(names.end(), defaults.begin(), defaults.end());
  } else if (names.size() == per_direction && num_directions == 2) {
    names.insert(names.end(), names.begin(), names.end());
  }
  OT_CHECK(names.size() == per_direction * static_cast<size_t>(num_directions),
           "{}: 'activations' has {} entries, expected {} ({} per direction)", node.label(), names.size(),
           per_direction * num_directions, per_direction);
  const std::vector<float> alphas = node.attr_floats("activation_alpha", {});
  const std::vector<float> betas = node.attr_floats("activation_beta", {});
  size_t next_alpha = 0, next_beta = 0;
  std::vector<Activation> result;
  for (const std::string& name : names) {
    std::string lower = name;
    std::transform(lower.begin(), lower.end(), lower.begin(), [](unsigned char c) { return std::tolower(c); });
    const ActivationSpec* spec = nullptr;
    for (const ActivationSpec& s : kActivationSpecs)
      if (lower == s.name) spec = &s;
    OT_CHECK(spec != nullptr,
             "{}: unknown activation '{}' (expected Relu, Tanh, Sigmoid, Affine, LeakyRelu, ThresholdedRelu, "
             "ScaledTanh, HardSigmoid, Elu, Softsign or Softplus)",
             node.label(), name);
    Activation a;
    a.kind = spec->kind;
    if (spec->uses_alpha) a.alpha = next_alpha < alphas.size() ? alphas[next_alpha++] : spec->default_alpha;
    if (spec->uses_beta) a.beta = next_beta < betas.size() ? betas[next_beta++] : spec->default_beta;
    result.push_back(a);
  }
  return result;
}

// out[M, N] = a[M, K] · b[N, K]^T (+ out when accumulate): b is row-major [N, K], as ONNX
// stores W and R, so each output is a dot product of two contiguous rows.
template <typename C>
void gemm_nt(int64_t m, int64_t n, int64_t k, const C* a, int64_t lda, const C* b, int64_t ldb, C* out, int64_t ldo,
             bool accumulate) {
  for (int64_t i = 0; i < m; ++i) {
    const C* ar = a + i * lda;
    C* orow = out + i * ldo;
    for (int64_t j = 0; j < n; ++j) {
      const C* br = b + j * ldb;
      C sum = 0;
      for (int64_t p = 0; p < k; ++p) sum += ar[p] * br[p];
      orow[j] = accumulate ? orow[j] + sum : sum;
    }
  }
}

template <typename T, typename C>
std::vector<C> load(const Tensor& t) {
  const T* p = t.data<T>();
  std::vector<C> v(static_cast<size_t>(t.numel()));
  for (size_t i = 0; i < v.size(); ++i) v[i] = static_cast<C>(to_compute(p[i]));
  return v;
}

// LSTM, GRU, RNN: one kernel, the cell kind decides gates and update.
class RecurrentKernel : public Kernel {
 public:
  RecurrentKernel(const KernelInfo& info, CellKind kind) : label_(info.node.label()), kind_(kind) {
    const Node& n = info.node;
    const std::string direction = n.attr_string("direction", "forward");
    OT_CHECK(direction == "forward" || direction == "reverse" || direction == "bidirectional",
             "{}: direction '{}' must be forward, reverse or bidirectional", n.label(), direction);
    reverse_only_ = direction == "reverse";
    num_directions_ = direction == "bidirectional" ? 2 : 1;
    hidden_size_ = n.attr_int("hidden_size", -1);
    OT_CHECK(hidden_size_ == -1 || hidden_size_ > 0, "{}: hidden_size {} must be positive", n.label(), hidden_size_);
    if (n.has_attr("clip")) {
      clip_ = n.attr_float("clip");
      OT_CHECK(*clip_ > 0, "{}: clip {} must be positive", n.label(), *clip_);
    }
    if (n.since_version >= 14) {
      layout_ = n.attr_int("layout", 0);
      OT_CHECK(layout_ == 0 || layout_ == 1, "{}: layout {} must be 0 or 1", n.label(), layout_);
    } else {
      OT_CHECK(!n.has_attr("layout"), "{}: 'layout' exists from opset 14 on", n.label());
    }
    switch (kind_) {
      case CellKind::Lstm:
        num_gates_ = 4;
        input_forget_ = n.attr_int("input_forget", 0) != 0;
        activations_ = parse_activations(n, {"Sigmoid", "Tanh", "Tanh"}, num_directions_);
        break;
      case CellKind::Gru:
        num_gates_ = 3;
        linear_before_reset_ = n.attr_int("linear_before_reset", 0) != 0;
        activations_ = parse_activations(n, {"Sigmoid", "Tanh"}, num_directions_);
        break;
      case CellKind::Rnn:
        num_gates_ = 1;
        activations_ = parse_activations(n, {"Tanh"}, num_directions_);
        break;
    }
    for (size_t i = 0; i < 3; ++i) {
      const DType dt = info.input_dtype(i);
      OT_CHECK(dt == DType::Undefined || dtype_is_float(dt), "{}: input {} has element type {}, expected a float type",
               n.label(), i, dtype_name(dt));
    }
  }

  void run(KernelContext& ctx) override {
    visit_float(ctx.input(0).dtype(), [&](auto tag) {
      using T = typename decltype(tag)::type;
      using C = std::conditional_t<std::is_same_v<T, double>, double, float>;
      run_typed<T, C>(ctx);
    });
  }

 private:
  // Shapes of one run, checked against each other.
  struct Dims {
    int64_t seq = 0, batch = 0, input = 0, hidden = 0;
  };

  Dims check_shapes(const KernelContext& ctx) const {
    const std::string& label = label_;
    const Tensor& x = ctx.input(0);
    const Tensor& w = ctx.input(1);
    const Tensor& r = ctx.input(2);
    OT_CHECK(x.rank() == 3, "{}: X must be rank 3, got {}", label, shape_str(x.shape()));
    Dims d;
    d.seq = layout_ == 0 ? x.dim(0) : x.dim(1);
    d.batch = layout_ == 0 ? x.dim(1) : x.dim(0);
    d.input = x.dim(2);
    OT_CHECK(
        r.rank() == 3 && r.dim(0) == num_directions_ && r.dim(1) % num_gates_ == 0 && r.dim(1) == num_gates_ * r.dim(2),
        "{}: R has shape {}, expected [{}, {}*hidden_size, hidden_size]", label, shape_str(r.shape()), num_directions_,
        num_gates_);
    d.hidden = r.dim(2);
    OT_CHECK(hidden_size_ == -1 || hidden_size_ == d.hidden, "{}: hidden_size {} but R has shape {}", label,
             hidden_size_, shape_str(r.shape()));
    const int64_t gh = num_gates_ * d.hidden;
    OT_CHECK(w.shape() == (Shape{num_directions_, gh, d.input}), "{}: W has shape {}, expected {} (X is {})", label,
             shape_str(w.shape()), shape_str({num_directions_, gh, d.input}), shape_str(x.shape()));
    OT_CHECK(w.dtype() == x.dtype() && r.dtype() == x.dtype(), "{}: X, W and R must share one element type", label);
    if (ctx.has_input(3))
      OT_CHECK(ctx.input(3).shape() == (Shape{num_directions_, 2 * gh}) && ctx.input(3).dtype() == x.dtype(),
               "{}: B is {}, expected {} of X's type", label, ctx.input(3).describe(),
               shape_str({num_directions_, 2 * gh}));
    if (ctx.has_input(4))
      OT_CHECK(ctx.input(4).shape() == Shape{d.batch}, "{}: sequence_lens has shape {}, expected [{}]", label,
               shape_str(ctx.input(4).shape()), d.batch);
    const Shape state = state_shape(d);
    for (size_t i : {size_t{5}, size_t{6}}) {
      if (i == 6 && kind_ != CellKind::Lstm) break;
      if (ctx.has_input(i))
        OT_CHECK(ctx.input(i).shape() == state && ctx.input(i).dtype() == x.dtype(),
                 "{}: {} is {}, expected {} of X's type", label, i == 5 ? "initial_h" : "initial_c",
                 ctx.input(i).describe(), shape_str(state));
    }
    if (kind_ == CellKind::Lstm && ctx.has_input(7))
      OT_CHECK(ctx.input(7).shape() == (Shape{num_directions_, 3 * d.hidden}) && ctx.input(7).dtype() == x.dtype(),
               "{}: P is {}, expected {}", label, ctx.input(7).describe(), shape_str({num_directions_, 3 * d.hidden}));
    return d;
  }

  Shape state_shape(const Dims& d) const {
    return layout_ == 0 ? Shape{num_directions_, d.batch, d.hidden} : Shape{d.batch, num_directions_, d.hidden};
  }
  // Element offset of (direction, batch) in a state tensor.
  int64_t state_offset(const Dims& d, int64_t dir, int64_t b) const {
    return (layout_ == 0 ? dir * d.batch + b : b * num_directions_ + dir) * d.hidden;
  }
  // Row of X (and of the projection) holding timestep t of batch entry b.
  int64_t x_row(const Dims& d, int64_t t, int64_t b) const { return layout_ == 0 ? t * d.batch + b : b * d.seq + t; }
  int64_t y_offset(const Dims& d, int64_t t, int64_t dir, int64_t b) const {
    return (layout_ == 0 ? (t * num_directions_ + dir) * d.batch + b : (b * d.seq + t) * num_directions_ + dir) *
           d.hidden;
  }

  template <typename T, typename C>
  void run_typed(KernelContext& ctx) {
    const Dims d = check_shapes(ctx);
    const int64_t H = d.hidden, G = num_gates_, GH = G * H;
    const std::vector<C> x = load<T, C>(ctx.input(0));
    const std::vector<C> w = load<T, C>(ctx.input(1));
    const std::vector<C> r = load<T, C>(ctx.input(2));
    const std::vector<C> bias =
        ctx.has_input(3) ? load<T, C>(ctx.input(3)) : std::vector<C>(num_directions_ * 2 * GH, C(0));
    std::vector<int64_t> lengths(d.batch, d.seq);
    if (ctx.has_input(4)) {
      lengths = ctx.input(4).to_int64s();
      for (int64_t len : lengths)
        OT_CHECK(len >= 0 && len <= d.seq, "{}: sequence_lens value {} is outside [0, {}]", label_, len, d.seq);
    }
    const bool lstm = kind_ == CellKind::Lstm;
    const std::vector<C> init_h = ctx.has_input(5) ? load<T, C>(ctx.input(5)) : std::vector<C>();
    const std::vector<C> init_c = lstm && ctx.has_input(6) ? load<T, C>(ctx.input(6)) : std::vector<C>();
    const std::vector<C> peep = lstm && ctx.has_input(7) ? load<T, C>(ctx.input(7)) : std::vector<C>();

    const Shape y_shape =
        layout_ == 0 ? Shape{d.seq, num_directions_, d.batch, H} : Shape{d.batch, d.seq, num_directions_, H};
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
      gemm_nt<C>(d.seq * d.batch, GH, d.input, x.data(), d.input, wd, d.input, proj.data(), GH, false);
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
          gemm_nt<C>(d.batch, 2 * H, H, h.data(), H, rd, H, rec.data(), GH, false);
        } else {
          gemm_nt<C>(d.batch, GH, H, h.data(), H, rd, H, rec.data(), GH, false);
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
      gemm_nt<C>(d.batch, H, H, rh.data(), H, rd + 2 * H * H, H, rec.data() + 2 * H, GH, false);
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
    if (!clip_) return v;
    const C limit = static_cast<C>(*clip_);
    return std::min(limit, std::max(-limit, v));
  }

  std::string label_;
  CellKind kind_;
  bool reverse_only_ = false;
  int64_t num_directions_ = 1;
  int64_t hidden_size_ = -1;
  int64_t num_gates_ = 1;
  int64_t layout_ = 0;
  std::optional<float> clip_;
  bool input_forget_ = false;
  bool linear_before_reset_ = false;
  std::vector<Activation> activations_;  // per direction: LSTM f g h, GRU f g, RNN f
};

}  // namespace

void register_rnn_kernels(KernelRegistry& registry) {
  registry.add("LSTM", {7, 14},
               [](const KernelInfo& info) { return std::make_unique<RecurrentKernel>(info, CellKind::Lstm); });
  registry.add("GRU", {7, 14},
               [](const KernelInfo& info) { return std::make_unique<RecurrentKernel>(info, CellKind::Gru); });
  registry.add("RNN", {7, 14},
               [](const KernelInfo& info) { return std::make_unique<RecurrentKernel>(info, CellKind::Rnn); });
}

}  // namespace onnx_train
