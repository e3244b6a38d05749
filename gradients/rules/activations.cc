// Gradient rules of the activations, the unary math ops, the variadic elementwise ops (Max,
// Min, Sum, Mean), Where, Clip, Cast and the softmax family. x, y: forward input / output;
// dy: the incoming gradient. Broadcast inputs pass `broadcast = true` and the driver sums
// them back.
//
// Fused gradients: LeakyRelu, Elu, Selu, HardSigmoid, HardSwish, Softplus and Clip emit one
// <Op>Grad node of the project domain (dy and x, the forward op's float attributes), and
// Softmax / LogSoftmax emit SoftmaxGrad / LogSoftmaxGrad (dy and y): a single pass over the
// tensors instead of a chain of ONNX ops (kernels and their math in
// runtime/kernels/dnnl/activation_grad.cc). The other rules compose ONNX ops.
//
// Masks: a rule that keeps dy where a condition holds uses Where from opset 9; before that
// (opsets 7, 8) it multiplies by the condition cast to the float type (select() below).
#include <cmath>
#include <string>
#include <vector>

#include "gradients/builder.h"
#include "gradients/rules/registry.h"

namespace onnx_train {

namespace {

// cond ? a : b elementwise (broadcasting); b == "" means 0. `like`: a forward float value
// with the gradient's element type.
std::string select(GradContext& g, const std::string& cond, const std::string& a, const std::string& b,
                   const std::string& like) {
  if (g.opset() >= 9) return g.emit("Where", {cond, a, b.empty() ? g.scalar(0, like) : b});
  const std::string mask = g.cast_like(cond, like);
  const std::string kept = g.emit("Mul", {a, mask});
  if (b.empty()) return kept;
  const std::string other = g.emit("Mul", {b, g.emit("Sub", {g.scalar(1, like), mask})});
  return g.emit("Add", {kept, other});
}

std::string mul(GradContext& g, const std::string& a, const std::string& b) { return g.emit("Mul", {a, b}); }

// A float attribute as a scalar constant of x's type (the forward kernels cast the float
// attribute to the compute type the same way).
std::string attr_scalar(GradContext& g, const char* name, float fallback) {
  return g.scalar(static_cast<double>(g.node().attr_float(name, fallback)), g.x(0));
}

// A fused gradient op of the project domain: op(dy, inputs...) with the forward node's float
// attributes alpha, beta, gamma (their defaults are the forward op's, in the kernel).
std::string fused(GradContext& g, const char* op, std::vector<std::string> inputs) {
  std::map<std::string, Attribute> attributes;
  for (const char* name : {"alpha", "beta", "gamma"})
    if (g.node().has_attr(name)) attributes.emplace(name, Attribute::of_float(g.node().attr_float(name)));
  inputs.insert(inputs.begin(), g.dy(0));
  return g.emit(op, inputs, std::move(attributes), kGradientDomain);
}

// x < 0 (as bool)
std::string negative(GradContext& g) { return g.emit("Less", {g.x(0), g.scalar(0, g.x(0))}); }

// ---- activations ---------------------------------------------------------------------------

// y = x < 0 ? alpha x : x;  dx = x > 0 ? dy : alpha dy  (LeakyReluGrad(dy, x))
void leaky_relu_grad(GradContext& g) { g.set_dx(0, fused(g, "LeakyReluGrad", {g.x(0)})); }

// y = x < 0 ? alpha (e^x - 1) : x;  dx = x > 0 ? dy : dy alpha e^x  (EluGrad(dy, x))
void elu_grad(GradContext& g) { g.set_dx(0, fused(g, "EluGrad", {g.x(0)})); }

// y = x > 0 ? gamma x : gamma alpha (e^x - 1);  dx = x > 0 ? gamma dy : gamma alpha e^x dy
// (SeluGrad(dy, x))
void selu_grad(GradContext& g) { g.set_dx(0, fused(g, "SeluGrad", {g.x(0)})); }

// y = x > 0 ? x : alpha (e^(x / alpha) - 1);  dx = x > 0 ? dy : dy e^(x / alpha)
void celu_grad(GradContext& g) {
  const std::string positive = g.emit("Greater", {g.x(0), g.scalar(0, g.x(0))});
  const std::string e = g.emit("Exp", {g.emit("Div", {g.x(0), attr_scalar(g, "alpha", 1.0f)})});
  g.set_dx(0, select(g, positive, g.dy(0), mul(g, g.dy(0), e), g.x(0)));
}

// y = log(1 + e^x);  dx = dy sigmoid(x)  (SoftplusGrad(dy, x))
void softplus_grad(GradContext& g) { g.set_dx(0, fused(g, "SoftplusGrad", {g.x(0)})); }

// y = x / (1 + |x|);  dx = dy / (1 + |x|)^2
void softsign_grad(GradContext& g) {
  const std::string d = g.emit("Add", {g.scalar(1, g.x(0)), g.emit("Abs", {g.x(0)})});
  g.set_dx(0, g.emit("Div", {g.dy(0), mul(g, d, d)}));
}

// y = clip(alpha x + beta, 0, 1);  dx = 0 < alpha x + beta < 1 ? alpha dy : 0
// (HardSigmoidGrad(dy, x))
void hard_sigmoid_grad(GradContext& g) { g.set_dx(0, fused(g, "HardSigmoidGrad", {g.x(0)})); }

// y = x clip(x / 6 + 1/2, 0, 1);  dx = dy * (x < -3 ? 0 : x > 3 ? 1 : x / 3 + 1/2)
// (HardSwishGrad(dy, x))
void hard_swish_grad(GradContext& g) { g.set_dx(0, fused(g, "HardSwishGrad", {g.x(0)})); }

// y = x < 0 ? slope x : x;  dx = x < 0 ? slope dy : dy;  dslope = x < 0 ? x dy : 0 (summed
// back to slope's shape). Slope broadcasts unidirectionally to x (opset 7+).
void prelu_grad(GradContext& g) {
  const std::string neg = negative(g);
  if (g.wants_dx(0)) g.set_dx(0, select(g, neg, mul(g, g.dy(0), g.x(1)), g.dy(0), g.x(0)), true);
  if (g.wants_dx(1)) g.set_dx(1, select(g, neg, mul(g, g.dy(0), g.x(0)), "", g.x(0)), true);
}

// y = x > alpha ? x : 0;  dx = x > alpha ? dy : 0
void thresholded_relu_grad(GradContext& g) {
  const std::string above = g.emit("Greater", {g.x(0), attr_scalar(g, "alpha", 1.0f)});
  g.set_dx(0, select(g, above, g.dy(0), "", g.x(0)));
}

// ---- unary math ----------------------------------------------------------------------------

// dx = dy 2 / sqrt(pi) e^(-x^2)
void erf_grad(GradContext& g) {
  const std::string x = g.x(0);
  const std::string e = g.emit("Exp", {g.emit("Neg", {mul(g, x, x)})});
  g.set_dx(0, mul(g, g.dy(0), mul(g, e, g.scalar(2.0 / std::sqrt(M_PI), x))));
}

// dx = dy sign(x) (at the kink x = 0 this gives dy)
void abs_grad(GradContext& g) { g.set_dx(0, select(g, negative(g), g.emit("Neg", {g.dy(0)}), g.dy(0), g.x(0))); }

// y = 1 / x;  dx = -dy y^2
void reciprocal_grad(GradContext& g) { g.set_dx(0, g.emit("Neg", {mul(g, g.dy(0), mul(g, g.y(0), g.y(0)))})); }

// dx = dy cos(x)
void sin_grad(GradContext& g) { g.set_dx(0, mul(g, g.dy(0), g.emit("Cos", {g.x(0)}))); }

// dx = -dy sin(x)
void cos_grad(GradContext& g) { g.set_dx(0, g.emit("Neg", {mul(g, g.dy(0), g.emit("Sin", {g.x(0)}))})); }

// dx = dy (1 + y^2)
void tan_grad(GradContext& g) {
  const std::string d = g.emit("Add", {g.scalar(1, g.y(0)), mul(g, g.y(0), g.y(0))});
  g.set_dx(0, mul(g, g.dy(0), d));
}

// dx = dy / (1 + x^2)
void atan_grad(GradContext& g) {
  const std::string d = g.emit("Add", {g.scalar(1, g.x(0)), mul(g, g.x(0), g.x(0))});
  g.set_dx(0, g.emit("Div", {g.dy(0), d}));
}

// dx = dy cosh(x)
void sinh_grad(GradContext& g) { g.set_dx(0, mul(g, g.dy(0), g.emit("Cosh", {g.x(0)}))); }

// dx = dy sinh(x)
void cosh_grad(GradContext& g) { g.set_dx(0, mul(g, g.dy(0), g.emit("Sinh", {g.x(0)}))); }

// 1 - x^2
std::string one_minus_square(GradContext& g) { return g.emit("Sub", {g.scalar(1, g.x(0)), mul(g, g.x(0), g.x(0))}); }

// y = asin(x), |x| < 1;  dx = dy / sqrt(1 - x^2)
void asin_grad(GradContext& g) { g.set_dx(0, g.emit("Div", {g.dy(0), g.emit("Sqrt", {one_minus_square(g)})})); }

// y = acos(x), |x| < 1;  dx = -dy / sqrt(1 - x^2)
void acos_grad(GradContext& g) {
  g.set_dx(0, g.emit("Neg", {g.emit("Div", {g.dy(0), g.emit("Sqrt", {one_minus_square(g)})})}));
}

// y = asinh(x);  dx = dy / sqrt(x^2 + 1)
void asinh_grad(GradContext& g) {
  const std::string d = g.emit("Sqrt", {g.emit("Add", {mul(g, g.x(0), g.x(0)), g.scalar(1, g.x(0))})});
  g.set_dx(0, g.emit("Div", {g.dy(0), d}));
}

// y = acosh(x), x > 1;  dx = dy / sqrt(x^2 - 1)
void acosh_grad(GradContext& g) {
  const std::string d = g.emit("Sqrt", {g.emit("Sub", {mul(g, g.x(0), g.x(0)), g.scalar(1, g.x(0))})});
  g.set_dx(0, g.emit("Div", {g.dy(0), d}));
}

// y = atanh(x), |x| < 1;  dx = dy / (1 - x^2)
void atanh_grad(GradContext& g) { g.set_dx(0, g.emit("Div", {g.dy(0), one_minus_square(g)})); }

// y = x < -lambd ? x + bias : x > lambd ? x - bias : 0;  dx = |x| > lambd ? dy : 0
void shrink_grad(GradContext& g) {
  const std::string outside = g.emit("Greater", {g.emit("Abs", {g.x(0)}), attr_scalar(g, "lambd", 0.5f)});
  g.set_dx(0, select(g, outside, g.dy(0), "", g.x(0)));
}

// y = a^b;  da = dy b a^(b - 1);  db = dy y log(a) (a > 0). Both broadcast. From Pow-12 the
// exponent may have another (possibly integer) type: it is cast to the base's type for da,
// and db is cast back to the exponent's type.
void pow_grad(GradContext& g) {
  const std::string a = g.x(0), b = g.x(1);
  const bool same = g.dtype_of(b) == g.dtype_of(a);
  if (g.wants_dx(0)) {
    const std::string bf = same ? b : g.cast_like(b, a);
    const std::string power = g.emit("Pow", {a, g.emit("Sub", {bf, g.scalar(1, a)})});
    g.set_dx(0, mul(g, g.dy(0), mul(g, bf, power)), true);
  }
  if (g.wants_dx(1)) {
    std::string db = mul(g, g.dy(0), mul(g, g.y(0), g.emit("Log", {a})));
    if (!same) db = g.cast_like(db, b);
    g.set_dx(1, db, true);
  }
}

// ---- clip, variadic ops, where, cast ---------------------------------------------------------

// dx = min <= x <= max ? dy : 0: ClipGrad(dy, x, min, max), the bounds as optional scalar
// inputs (attributes before Clip-11, passed as constants; inputs from 11). The bounds
// themselves get no gradient; without bounds dx = dy.
void clip_grad(GradContext& g) {
  const Node& n = g.node();
  const std::string x = g.x(0);
  std::string lo, hi;
  if (n.since_version < 11) {
    if (n.has_attr("min")) lo = g.scalar(n.attr_float("min"), x);
    if (n.has_attr("max")) hi = g.scalar(n.attr_float("max"), x);
  } else {
    if (n.has_input(1)) lo = g.x(1);
    if (n.has_input(2)) hi = g.x(2);
  }
  if (lo.empty() && hi.empty()) {
    g.set_dx(0, g.dy(0));
    return;
  }
  std::vector<std::string> inputs{g.dy(0), x, lo};
  if (!hi.empty()) inputs.push_back(hi);
  g.set_dx(0, g.emit("ClipGrad", inputs, {}, kGradientDomain));
}

// y = max(x0, x1, ...);  dxi = xi == y ? dy : 0, broadcast. xi <= y always, so "xi == y" is
// not(xi < y) (Equal takes floats only from opset 11). Tied inputs each get dy.
template <bool IsMax>
void max_min_grad(GradContext& g) {
  for (size_t i = 0; i < g.node().inputs.size(); ++i) {
    if (!g.wants_dx(i)) continue;
    const std::string beaten = g.emit(IsMax ? "Less" : "Greater", {g.x(i), g.y(0)});
    g.set_dx(i, select(g, g.emit("Not", {beaten}), g.dy(0), "", g.x(i)), true);
  }
}

// dxi = dy, broadcast
void sum_grad(GradContext& g) {
  for (size_t i = 0; i < g.node().inputs.size(); ++i) g.set_dx(i, g.dy(0), true);
}

// dxi = dy / n, broadcast
void mean_grad(GradContext& g) {
  const size_t n = g.node().inputs.size();
  const std::string scaled = g.emit("Div", {g.dy(0), g.scalar(static_cast<double>(n), g.y(0))});
  for (size_t i = 0; i < n; ++i) g.set_dx(i, scaled, true);
}

// y = c ? a : b;  da = c ? dy : 0, db = c ? 0 : dy, both broadcast; c gets none.
void where_grad(GradContext& g) {
  const std::string zero = g.scalar(0, g.y(0));
  if (g.wants_dx(1)) g.set_dx(1, g.emit("Where", {g.x(0), g.dy(0), zero}), true);
  if (g.wants_dx(2)) g.set_dx(2, g.emit("Where", {g.x(0), zero, g.dy(0)}), true);
}

// dx = Cast(dy, to = type of x) (float to float; integer inputs get none)
void cast_grad(GradContext& g) {
  if (!dtype_is_float(g.dtype_of(g.x(0)))) return;
  g.set_dx(0, g.cast_like(g.dy(0), g.x(0)));
}

// ---- softmax family ------------------------------------------------------------------------

// Softmax: dx = y (dy - sum(dy y));  LogSoftmax: dx = dy - e^y sum(dy), summed over the
// softmax's elements: SoftmaxGrad / LogSoftmaxGrad(dy, y) [axis, coerce_2d]. From opset 13
// the sum runs over the single axis `axis` (default -1, coerce_2d = 0); before, the input
// is coerced to 2-D at `axis` (default 1) and the sum runs over the whole row (coerce_2d = 1).
template <bool IsLog>
void softmax_grad(GradContext& g) {
  const Node& n = g.node();
  const bool single_axis = n.since_version >= 13;
  const int64_t axis = n.attr_int("axis", single_axis ? -1 : 1);
  const std::map<std::string, Attribute> attributes = {{"axis", Attribute::of_int(axis)},
                                                       {"coerce_2d", Attribute::of_int(single_axis ? 0 : 1)}};
  g.set_dx(0, g.emit(IsLog ? "LogSoftmaxGrad" : "SoftmaxGrad", {g.dy(0), g.y(0)}, attributes, kGradientDomain));
}

}  // namespace

ONNX_TRAIN_GRADIENT_RULES(activations) {
  // Versions: the schema since_versions in force for opsets 7..17.
  rules.push_back({"", "LeakyRelu", {6, 16}, leaky_relu_grad});
  rules.push_back({"", "Elu", {6}, elu_grad});
  rules.push_back({"", "Selu", {6}, selu_grad});
  rules.push_back({"", "Celu", {12}, celu_grad});
  rules.push_back({"", "Softplus", {1}, softplus_grad});
  rules.push_back({"", "Softsign", {1}, softsign_grad});
  rules.push_back({"", "HardSigmoid", {6}, hard_sigmoid_grad});
  rules.push_back({"", "HardSwish", {14}, hard_swish_grad});
  rules.push_back({"", "PRelu", {7, 9, 16}, prelu_grad});
  rules.push_back({"", "ThresholdedRelu", {10}, thresholded_relu_grad});
  rules.push_back({"", "Erf", {9, 13}, erf_grad});
  rules.push_back({"", "Pow", {7, 12, 13, 15}, pow_grad});
  rules.push_back({"", "Abs", {6, 13}, abs_grad});
  rules.push_back({"", "Reciprocal", {6, 13}, reciprocal_grad});
  rules.push_back({"", "Sin", {7}, sin_grad});
  rules.push_back({"", "Cos", {7}, cos_grad});
  rules.push_back({"", "Tan", {7}, tan_grad});
  rules.push_back({"", "Atan", {7}, atan_grad});
  rules.push_back({"", "Sinh", {9}, sinh_grad});
  rules.push_back({"", "Cosh", {9}, cosh_grad});
  rules.push_back({"", "Asin", {7}, asin_grad});
  rules.push_back({"", "Acos", {7}, acos_grad});
  rules.push_back({"", "Asinh", {9}, asinh_grad});
  rules.push_back({"", "Acosh", {9}, acosh_grad});
  rules.push_back({"", "Atanh", {9}, atanh_grad});
  rules.push_back({"", "Shrink", {9}, shrink_grad});
  rules.push_back({"", "Clip", {6, 11, 12, 13}, clip_grad, {1, 2}});  // min, max: settings
  rules.push_back({"", "Max", {6, 8, 12, 13}, max_min_grad<true>});
  rules.push_back({"", "Min", {6, 8, 12, 13}, max_min_grad<false>});
  rules.push_back({"", "Sum", {6, 8, 13}, sum_grad});
  rules.push_back({"", "Mean", {6, 8, 13}, mean_grad});
  rules.push_back({"", "Where", {9, 16}, where_grad});
  rules.push_back({"", "Cast", {6, 9, 13}, cast_grad});
  rules.push_back({"", "Softmax", {1, 11, 13}, softmax_grad<false>});
  rules.push_back({"", "LogSoftmax", {1, 11, 13}, softmax_grad<true>});
}

}  // namespace onnx_train
