// Gradient rules of the normalization ops (BatchNormalization, InstanceNormalization,
// LayerNormalization, LRN, LpNormalization, MeanVarianceNormalization).
//
// Batch, instance and layer normalization and LRN emit fused gradient ops of the project's
// domain (dnnl/normalization_grad.cc), which recompute the statistics they need from X;
// LpNormalization and MeanVarianceNormalization compose ONNX ops. BatchNormalization's
// running mean/var and LayerNormalization's Mean and InvStdDev are state for the next step
// or for a backward pass, not part of the loss: their incoming gradients are ignored.
#include <algorithm>

#include "gradients/builder.h"
#include "gradients/rules/registry.h"
#include "runtime/ir/schema.h"

namespace onnx_train {

namespace {

// The gradient reaching X through the saved batch statistics of BatchNormalization 7 and 9
// (outputs 3 and 4 in training: the mean and population variance of X over N and D1..Dn,
// per channel), or "" when neither gets one. With M = N * D1..Dn and the statistics
// broadcast against X:
//   d saved_mean / dX = 1 / M,   d saved_var / dX = 2 (X - saved_mean) / M
std::string saved_statistics_grad(GradContext& g, bool spatial) {
  const Node& n = g.node();
  const std::string& d_mean = g.dy(3);
  const std::string& d_var = g.dy(4);
  if (d_mean.empty() && d_var.empty()) return "";
  const std::string& x = g.x(0);
  const int rank = g.rank_of(x);
  OT_CHECK(rank >= 0, "gradient rule of {}: the rank of '{}' is unknown (shape inference gave none)", n.label(), x);
  // The statistics have the shape of the parameters (scale): [C] broadcasts against
  // [N, C, D1..Dn] as [C, 1, .., 1]; spatial=0's [C x D1 x .. x Dn] as it is.
  OT_CHECK(spatial || g.rank_of(g.x(1)) == rank - 1,
           "gradient rule of {}: with spatial=0 the parameters must have X's shape without N", n.label());
  auto per_channel = [&](const std::string& v) {
    if (!spatial || rank <= 2) return v;
    std::vector<int64_t> axes;
    for (int64_t a = 1; a <= rank - 2; ++a) axes.push_back(a);
    return g.unsqueeze(v, axes);
  };
  const std::string count = g.cast_like(g.emit("Div", {g.emit("Size", {x}), g.emit("Size", {g.x(1)})}), x);
  std::vector<std::string> terms;
  if (!d_mean.empty()) terms.push_back(per_channel(d_mean));
  if (!d_var.empty()) {
    const std::string centered = g.emit("Sub", {x, per_channel(g.forward_output(3))});
    terms.push_back(g.emit("Mul", {g.emit("Mul", {per_channel(d_var), centered}), g.scalar(2, x)}));
  }
  const std::string sum = terms.size() == 1 ? terms[0] : g.emit("Add", {terms[0], terms[1]});
  return g.emit("Div", {sum, count});
}

// BatchNormalization (7, 9, 14, 15): X [N, C, D1..Dn] (or [N]), scale, B, mean, var [C]
// ([C x D1 x .. x Dn] for BatchNormalization-7 with spatial=0, per-activation statistics).
// With inv_std = 1 / sqrt(var + epsilon), xhat = (X - mean) * inv_std, M = N * D1..Dn, sums
// per channel:
//   dScale = sum(dY * xhat), dB = sum(dY)
//   training (batch statistics): dX = scale * inv_std / M * (M dY - sum(dY) - xhat sum(dY xhat)),
//     and the mean/var inputs only feed the running statistics (state: their gradients are
//     ignored), so they get none; versions 7 and 9 add the terms of their saved statistics
//     (saved_statistics_grad);
//   inference: dX = dY * scale * inv_std, dmean = -sum(dY) * scale * inv_std,
//     dvar = -0.5 * sum(dY * (X - mean)) * scale * inv_std^3.
// The dY terms by BatchNormalizationGrad(dY, X, scale[, mean, var]), which recomputes the
// batch statistics in training.
void batch_norm_grad(GradContext& g) {
  const Node& n = g.node();
  const bool training = batch_norm_in_training_mode(n);  // as the forward kernel decides
  const bool spatial = n.since_version >= 9 || n.attr_int("spatial", 1) != 0;
  const std::string saved = n.since_version < 14 && training ? saved_statistics_grad(g, spatial) : "";
  if (g.dy(0).empty()) {  // at most the statistics outputs are used downstream
    if (!saved.empty()) g.set_dx(0, g.emit("Add", {g.emit("Mul", {g.x(0), g.scalar(0, g.x(0))}), saved}));
    return;
  }
  std::vector<std::string> inputs{g.dy(0), g.x(0), g.x(1)};
  if (!training) {
    inputs.push_back(g.x(3));
    inputs.push_back(g.x(4));
  }
  const bool wants_stats = !training && (g.wants_dx(3) || g.wants_dx(4));
  const std::vector<std::string> grads = g.emit_multi("BatchNormalizationGrad", inputs, wants_stats ? 5 : 3,
                                                      {{"epsilon", Attribute::of_float(n.attr_float("epsilon", 1e-5f))},
                                                       {"training_mode", Attribute::of_int(training ? 1 : 0)},
                                                       {"spatial", Attribute::of_int(spatial ? 1 : 0)}},
                                                      kGradientDomain);
  g.set_dx(0, saved.empty() ? grads[0] : g.emit("Add", {grads[0], saved}));
  for (size_t i = 1; i < grads.size(); ++i) g.set_dx(i, grads[i]);
}

// InstanceNormalization (6): X [N, C, D1..Dn], scale, B [C]; per (n, c) statistics over
// D1..Dn (M = D1 * .. * Dn), xhat = (X - mean) * inv_std:
//   dX = scale * inv_std / M * (M dY - sum(dY) - xhat sum(dY xhat))   (sums over D1..Dn)
//   dScale = sum(dY * xhat), dB = sum(dY)                             (sums over N, D1..Dn)
// by InstanceNormalizationGrad(dY, X, scale).
void instance_norm_grad(GradContext& g) {
  const Node& n = g.node();
  const std::vector<std::string> grads =
      g.emit_multi("InstanceNormalizationGrad", {g.dy(0), g.x(0), g.x(1)}, 3,
                   {{"epsilon", Attribute::of_float(n.attr_float("epsilon", 1e-5f))}}, kGradientDomain);
  for (size_t i = 0; i < grads.size(); ++i) g.set_dx(i, grads[i]);
}

// LayerNormalization (17): X normalized over its axes from `axis` on (per row of the
// [rows, cols] view), Scale and B broadcast to those axes; g = dY * Scale:
//   dX = inv_std * (g - mean(g) - xhat * mean(g * xhat))   (means over the normalized axes)
//   dScale = sum(dY * xhat), dB = sum(dY)   (over the leading axes and the axes the
//                                            parameter was broadcast along)
// by LayerNormalizationGrad(dY, X, Scale[, B]) (B only for its shape); the statistics are
// recomputed in X's precision rather than read from the float32 Mean/InvStdDev outputs.
void layer_norm_grad(GradContext& g) {
  const Node& n = g.node();
  if (g.dy(0).empty()) return;  // only Mean / InvStdDev are used downstream
  std::vector<std::string> inputs{g.dy(0), g.x(0), g.x(1)};
  if (n.has_input(2)) inputs.push_back(g.x(2));
  const std::vector<std::string> grads =
      g.emit_multi("LayerNormalizationGrad", inputs, inputs.size() - 1,
                   {{"axis", Attribute::of_int(n.attr_int("axis", -1))},
                    {"epsilon", Attribute::of_float(n.attr_float("epsilon", 1e-5f))}},
                   kGradientDomain);
  for (size_t i = 0; i < grads.size(); ++i) g.set_dx(i, grads[i]);
}

// LRN (1, 13): Y = X * d^-beta, d = bias + alpha / size * (sum of X^2 over the channel
// window), so
//   dX[k] = dY[k] d[k]^-beta - 2 alpha beta / size * X[k] * sum over the channels c whose
//           window holds k of dY[c] X[c] d[c]^(-beta-1)
// by LRNGrad(dY, X) with the node's attributes.
void lrn_grad(GradContext& g) {
  const Node& n = g.node();
  g.set_dx(0, g.emit("LRNGrad", {g.dy(0), g.x(0)},
                     {{"size", Attribute::of_int(n.attr_int("size"))},
                      {"alpha", Attribute::of_float(n.attr_float("alpha", 1e-4f))},
                      {"beta", Attribute::of_float(n.attr_float("beta", 0.75f))},
                      {"bias", Attribute::of_float(n.attr_float("bias", 1.f))}},
                     kGradientDomain));
}

// `axes` made non-negative with x's rank (attribute axes must be non-negative before
// opset 11); as given when the rank is unknown and that is allowed.
std::vector<int64_t> non_negative_axes(GradContext& g, std::vector<int64_t> axes) {
  const int r = g.rank_of(g.x(0));
  if (r < 0) {
    OT_CHECK(g.opset() >= 11 || std::all_of(axes.begin(), axes.end(), [](int64_t a) { return a >= 0; }),
             "gradient rule of {}: negative axes need the rank of '{}', which is unknown", g.node().label(), g.x(0));
    return axes;
  }
  for (int64_t& a : axes)
    if (a < 0) a += r;
  return axes;
}

// A reduction with the axes as an attribute (every Reduce* up to opset 17), keeping dims.
std::string reduce(GradContext& g, const std::string& op, const std::string& v, const std::vector<int64_t>& axes) {
  return g.emit(op, {v}, {{"axes", Attribute::of_ints(axes)}, {"keepdims", Attribute::of_int(1)}});
}

// sign(x): Sign from opset 9, (x > 0) - (x < 0) before.
std::string sign_of(GradContext& g, const std::string& x) {
  if (g.opset() >= 9) return g.emit("Sign", {x});
  const std::string zero = g.scalar(0, x);
  return g.emit("Sub", {g.cast_like(g.emit("Greater", {x, zero}), x), g.cast_like(g.emit("Less", {x, zero}), x)});
}

// LpNormalization (1): Y = X / n along `axis`, n = ||X||_p (p = 2: sqrt(sum X^2), p = 1:
// sum |X|), so with s = sum(dY * Y) along the axis:
//   p = 2: dX = (dY - Y * s) / n        p = 1: dX = (dY - sign(X) * s) / n
void lp_normalization_grad(GradContext& g) {
  const Node& n = g.node();
  const int64_t p = n.attr_int("p", 2);
  OT_CHECK(p == 1 || p == 2, "gradient rule of {}: p = {} is not supported (1 or 2)", n.label(), p);
  const std::vector<int64_t> axes = non_negative_axes(g, {n.attr_int("axis", -1)});
  const std::string norm = reduce(g, p == 2 ? "ReduceL2" : "ReduceL1", g.x(0), axes);
  const std::string s = g.reduce_sum(g.emit("Mul", {g.dy(0), g.y(0)}), axes, true);
  const std::string direction = p == 2 ? g.y(0) : sign_of(g, g.x(0));
  g.set_dx(0, g.emit("Div", {g.emit("Sub", {g.dy(0), g.emit("Mul", {direction, s})}), norm}));
}

// MeanVarianceNormalization (9, 13): Y = c / d over `axes` (default [0, 2, 3]), c = X -
// mean(X), sd = sqrt(mean(c^2)), d = sd + 1e-9, so (means over the axes)
//   dX = (dY - mean(dY)) / d - c * mean(dY * c) / (d^2 * sd)
void mean_variance_normalization_grad(GradContext& g) {
  const Node& n = g.node();
  const std::vector<int64_t> axes = non_negative_axes(g, n.attr_ints("axes", {0, 2, 3}));
  const std::string& x = g.x(0);
  const std::string& dy = g.dy(0);
  const std::string centered = g.emit("Sub", {x, reduce(g, "ReduceMean", x, axes)});
  const std::string sd = g.emit("Sqrt", {reduce(g, "ReduceMean", g.emit("Mul", {centered, centered}), axes)});
  const std::string d = g.emit("Add", {sd, g.scalar(1e-9, x)});
  const std::string direct = g.emit("Div", {g.emit("Sub", {dy, reduce(g, "ReduceMean", dy, axes)}), d});
  const std::string through_sd =
      g.emit("Div", {g.emit("Mul", {centered, reduce(g, "ReduceMean", g.emit("Mul", {dy, centered}), axes)}),
                     g.emit("Mul", {g.emit("Mul", {d, d}), sd})});
  g.set_dx(0, g.emit("Sub", {direct, through_sd}));
}

}  // namespace

ONNX_TRAIN_GRADIENT_RULES(normalization) {
  rules.push_back({"", "BatchNormalization", {7, 9, 14, 15}, batch_norm_grad});
  rules.push_back({"", "InstanceNormalization", {6}, instance_norm_grad});
  rules.push_back({"", "LayerNormalization", {17}, layer_norm_grad});
  rules.push_back({"", "LRN", {1, 13}, lrn_grad});
  rules.push_back({"", "LpNormalization", {1}, lp_normalization_grad});
  rules.push_back({"", "MeanVarianceNormalization", {9, 13}, mean_variance_normalization_grad});
}

}  // namespace onnx_train
