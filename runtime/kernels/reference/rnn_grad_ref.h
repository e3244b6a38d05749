// What the recurrent kernels (dnnl/rnn.cc, LSTM / GRU / RNN) and their gradient kernels
// (dnnl/rnn_grad.cc, LSTMGrad / GRUGrad / RNNGrad) share: the cell kinds, the
// activation functions with their derivatives, and the parsing of the common attributes
// (direction, hidden_size, clip, layout, activations, input_forget, linear_before_reset).
#pragma once

#include <algorithm>
#include <cctype>
#include <cmath>
#include <cstdint>
#include <optional>
#include <string>
#include <vector>

#include "onnx_train/error.h"
#include "runtime/core/dispatch.h"
#include "runtime/ir/graph.h"
#include "runtime/kernels/kernel.h"

namespace onnx_train::rnn {

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

  // d f(x) / dx (at a kink: the one-sided derivative of the branch the forward takes).
  template <typename C>
  C derivative(C x) const {
    const C a = static_cast<C>(alpha), b = static_cast<C>(beta);
    switch (kind) {
      case ActivationKind::Relu: return x > C(0) ? C(1) : C(0);
      case ActivationKind::Tanh: {
        const C t = std::tanh(x);
        return C(1) - t * t;
      }
      case ActivationKind::Sigmoid: {
        const C s = C(1) / (C(1) + std::exp(-x));
        return s * (C(1) - s);
      }
      case ActivationKind::Affine: return a;
      case ActivationKind::LeakyRelu: return x >= C(0) ? C(1) : a;
      case ActivationKind::ThresholdedRelu: return x > a ? C(1) : C(0);
      case ActivationKind::ScaledTanh: {
        const C t = std::tanh(b * x);
        return a * b * (C(1) - t * t);
      }
      case ActivationKind::HardSigmoid: {
        const C v = a * x + b;
        return v > C(0) && v < C(1) ? a : C(0);
      }
      case ActivationKind::Elu: return x >= C(0) ? C(1) : a * std::exp(x);
      case ActivationKind::Softsign: {
        const C d = C(1) + std::abs(x);
        return C(1) / (d * d);
      }
      case ActivationKind::Softplus: return C(1) / (C(1) + std::exp(-x));
    }
    return C(1);
  }

  // The same given also y = f(x): sigmoid and tanh take it from y (no second exp or tanh;
  // the same value, as y was computed the way derivative(x) computes it).
  template <typename C>
  C derivative(C x, C y) const {
    switch (kind) {
      case ActivationKind::Sigmoid: return y * (C(1) - y);
      case ActivationKind::Tanh: return C(1) - y * y;
      default: return derivative(x);
    }
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
inline constexpr ActivationSpec kActivationSpecs[] = {
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
inline std::vector<Activation> parse_activations(const Node& node, const std::vector<std::string>& defaults,
                                                 int64_t num_directions) {
  const size_t per_direction = defaults.size();
  std::vector<std::string> names = node.attr_strings("activations", {});
  if (names.empty()) {
    for (int64_t d = 0; d < num_directions; ++d) names.insert(names.end(), defaults.begin(), defaults.end());
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

// The sizes of one run (seq_length, batch_size, input_size, hidden_size).
struct Dims {
  int64_t seq = 0, batch = 0, input = 0, hidden = 0;
};

// The elements of `t` (element type T) converted to the compute type C.
template <typename T, typename C>
std::vector<C> load(const Tensor& t) {
  const T* p = t.data<T>();
  std::vector<C> v(static_cast<size_t>(t.numel()));
  for (size_t i = 0; i < v.size(); ++i) v[i] = static_cast<C>(to_compute(p[i]));
  return v;
}

// The attributes of a recurrent node, checked, and the tensor layouts they imply.
struct RecurrentAttributes {
  CellKind kind = CellKind::Rnn;
  bool reverse_only = false;  // direction == "reverse"
  int64_t num_directions = 1;
  int64_t hidden_size = -1;  // -1: not given (taken from R)
  int64_t num_gates = 1;     // LSTM 4 (i o f c), GRU 3 (z r h), RNN 1
  int64_t layout = 0;
  std::optional<float> clip;
  bool input_forget = false;            // LSTM
  bool linear_before_reset = false;     // GRU
  std::vector<Activation> activations;  // per direction: LSTM f g h, GRU f g, RNN f

  // The activations of direction `dir`.
  const Activation* activations_of(int64_t dir) const {
    return activations.data() + dir * static_cast<int64_t>(activations.size()) / num_directions;
  }

  template <typename C>
  C clipped(C v) const {
    if (!clip) return v;
    const C limit = static_cast<C>(*clip);
    return std::min(limit, std::max(-limit, v));
  }
  // d clipped(v) / dv: 1 inside (-clip, clip), 0 where the clip binds.
  template <typename C>
  C clip_derivative(C v) const {
    if (!clip) return C(1);
    const C limit = static_cast<C>(*clip);
    return v > -limit && v < limit ? C(1) : C(0);
  }

  Shape state_shape(const Dims& d) const {
    return layout == 0 ? Shape{num_directions, d.batch, d.hidden} : Shape{d.batch, num_directions, d.hidden};
  }
  Shape y_shape(const Dims& d) const {
    return layout == 0 ? Shape{d.seq, num_directions, d.batch, d.hidden}
                       : Shape{d.batch, d.seq, num_directions, d.hidden};
  }
  // Element offset of (direction, batch) in a state tensor.
  int64_t state_offset(const Dims& d, int64_t dir, int64_t b) const {
    return (layout == 0 ? dir * d.batch + b : b * num_directions + dir) * d.hidden;
  }
  // Row of X (and of anything laid out like it) holding timestep t of batch entry b.
  int64_t x_row(const Dims& d, int64_t t, int64_t b) const { return layout == 0 ? t * d.batch + b : b * d.seq + t; }
  // Element offset of (timestep, direction, batch) in Y.
  int64_t y_offset(const Dims& d, int64_t t, int64_t dir, int64_t b) const {
    return (layout == 0 ? (t * num_directions + dir) * d.batch + b : (b * d.seq + t) * num_directions + dir) * d.hidden;
  }

  // Checks the shapes and types of inputs X, W, R, B, sequence_lens, initial_h (and LSTM's
  // initial_c, P) of `ctx` against each other and returns the sizes.
  Dims check_shapes(const KernelContext& ctx, const std::string& label) const {
    const Tensor& x = ctx.input(0);
    const Tensor& w = ctx.input(1);
    const Tensor& r = ctx.input(2);
    OT_CHECK(x.rank() == 3, "{}: X must be rank 3, got {}", label, shape_str(x.shape()));
    Dims d;
    d.seq = layout == 0 ? x.dim(0) : x.dim(1);
    d.batch = layout == 0 ? x.dim(1) : x.dim(0);
    d.input = x.dim(2);
    OT_CHECK(
        r.rank() == 3 && r.dim(0) == num_directions && r.dim(1) % num_gates == 0 && r.dim(1) == num_gates * r.dim(2),
        "{}: R has shape {}, expected [{}, {}*hidden_size, hidden_size]", label, shape_str(r.shape()), num_directions,
        num_gates);
    d.hidden = r.dim(2);
    OT_CHECK(hidden_size == -1 || hidden_size == d.hidden, "{}: hidden_size {} but R has shape {}", label, hidden_size,
             shape_str(r.shape()));
    const int64_t gh = num_gates * d.hidden;
    OT_CHECK(w.shape() == (Shape{num_directions, gh, d.input}), "{}: W has shape {}, expected {} (X is {})", label,
             shape_str(w.shape()), shape_str({num_directions, gh, d.input}), shape_str(x.shape()));
    OT_CHECK(w.dtype() == x.dtype() && r.dtype() == x.dtype(), "{}: X, W and R must share one element type", label);
    if (ctx.has_input(3))
      OT_CHECK(ctx.input(3).shape() == (Shape{num_directions, 2 * gh}) && ctx.input(3).dtype() == x.dtype(),
               "{}: B is {}, expected {} of X's type", label, ctx.input(3).describe(),
               shape_str({num_directions, 2 * gh}));
    if (ctx.has_input(4))
      OT_CHECK(ctx.input(4).shape() == Shape{d.batch}, "{}: sequence_lens has shape {}, expected [{}]", label,
               shape_str(ctx.input(4).shape()), d.batch);
    const Shape state = state_shape(d);
    for (size_t i : {size_t{5}, size_t{6}}) {
      if (i == 6 && kind != CellKind::Lstm) break;
      if (ctx.has_input(i))
        OT_CHECK(ctx.input(i).shape() == state && ctx.input(i).dtype() == x.dtype(),
                 "{}: {} is {}, expected {} of X's type", label, i == 5 ? "initial_h" : "initial_c",
                 ctx.input(i).describe(), shape_str(state));
    }
    if (kind == CellKind::Lstm && ctx.has_input(7))
      OT_CHECK(ctx.input(7).shape() == (Shape{num_directions, 3 * d.hidden}) && ctx.input(7).dtype() == x.dtype(),
               "{}: P is {}, expected {}", label, ctx.input(7).describe(), shape_str({num_directions, 3 * d.hidden}));
    return d;
  }

  // The per-batch sequence lengths (input 4 of `ctx`, or seq_length for every entry), checked.
  std::vector<int64_t> sequence_lengths(const KernelContext& ctx, const Dims& d, const std::string& label) const {
    std::vector<int64_t> lengths(static_cast<size_t>(d.batch), d.seq);
    if (ctx.has_input(4)) {
      lengths = ctx.input(4).to_int64s();
      for (int64_t len : lengths)
        OT_CHECK(len >= 0 && len <= d.seq, "{}: sequence_lens value {} is outside [0, {}]", label, len, d.seq);
    }
    return lengths;
  }
};

// X, W and R (inputs 0..2) must be floating point where their types are known statically.
inline void check_float_inputs(const KernelInfo& info) {
  for (size_t i = 0; i < 3; ++i) {
    const DType dt = info.input_dtype(i);
    OT_CHECK(dt == DType::Undefined || dtype_is_float(dt), "{}: input {} has element type {}, expected a float type",
             info.node.label(), i, dtype_name(dt));
  }
}

// Reads and checks the attributes of `node`. `layout_allowed`: whether the node's schema has
// the layout attribute (opset 14 on; the gradient ops always accept it).
inline RecurrentAttributes parse_recurrent_attributes(const Node& n, CellKind kind, bool layout_allowed) {
  RecurrentAttributes a;
  a.kind = kind;
  const std::string direction = n.attr_string("direction", "forward");
  OT_CHECK(direction == "forward" || direction == "reverse" || direction == "bidirectional",
           "{}: direction '{}' must be forward, reverse or bidirectional", n.label(), direction);
  a.reverse_only = direction == "reverse";
  a.num_directions = direction == "bidirectional" ? 2 : 1;
  a.hidden_size = n.attr_int("hidden_size", -1);
  OT_CHECK(a.hidden_size == -1 || a.hidden_size > 0, "{}: hidden_size {} must be positive", n.label(), a.hidden_size);
  if (n.has_attr("clip")) {
    a.clip = n.attr_float("clip");
    OT_CHECK(*a.clip > 0, "{}: clip {} must be positive", n.label(), *a.clip);
  }
  if (layout_allowed) {
    a.layout = n.attr_int("layout", 0);
    OT_CHECK(a.layout == 0 || a.layout == 1, "{}: layout {} must be 0 or 1", n.label(), a.layout);
  } else {
    OT_CHECK(!n.has_attr("layout"), "{}: 'layout' exists from opset 14 on", n.label());
  }
  switch (kind) {
    case CellKind::Lstm:
      a.num_gates = 4;
      a.input_forget = n.attr_int("input_forget", 0) != 0;
      a.activations = parse_activations(n, {"Sigmoid", "Tanh", "Tanh"}, a.num_directions);
      break;
    case CellKind::Gru:
      a.num_gates = 3;
      a.linear_before_reset = n.attr_int("linear_before_reset", 0) != 0;
      a.activations = parse_activations(n, {"Sigmoid", "Tanh"}, a.num_directions);
      break;
    case CellKind::Rnn:
      a.num_gates = 1;
      a.activations = parse_activations(n, {"Tanh"}, a.num_directions);
      break;
  }
  return a;
}

}  // namespace onnx_train::rnn
