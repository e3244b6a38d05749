// Gradient rules of the loss ops (SoftmaxCrossEntropyLoss, NegativeLogLikelihoodLoss),
// Resize/Upsample and GridSample. They emit the fused gradient ops registered in
// runtime/kernels/reference/loss_resize_grad.cc (project domain). Labels, roi, scales and
// sizes are integer or shape-like inputs and get no gradient.
#include "gradients/builder.h"
#include "gradients/rules/registry.h"

namespace onnx_train {

namespace {

// The forward's reduction / ignore_index attributes, for the loss gradient ops.
std::map<std::string, Attribute> loss_attributes(const Node& n) {
  std::map<std::string, Attribute> attrs;
  for (const char* name : {"reduction", "ignore_index"})
    if (n.has_attr(name)) attrs.emplace(name, n.attributes.at(name));
  return attrs;
}

// Emits the fused loss gradient op `op`(dY, values, labels, [weights]) -> dValues, [dWeights]
// and sets the gradients of inputs 0 (from `extra` added when not "") and 2 (the weights).
void set_loss_grads(GradContext& g, const std::string& op, const std::string& values, const std::string& extra) {
  const Node& n = g.node();
  const bool weighted = n.has_input(2);
  std::string dvalues = extra;
  if (!g.dy(0).empty()) {
    std::vector<std::string> inputs{g.dy(0), values, g.x(1)};
    if (weighted) inputs.push_back(g.x(2));
    const bool want_weights = weighted && g.wants_dx(2);
    const auto outs = g.emit_multi(op, inputs, want_weights ? 2 : 1, loss_attributes(n), kGradientDomain);
    dvalues = extra.empty() ? outs[0] : g.emit("Add", {outs[0], extra});
    if (want_weights) g.set_dx(2, outs[1]);
  }
  if (g.wants_dx(0) && !dvalues.empty()) g.set_dx(0, dvalues);
}

// ---- SoftmaxCrossEntropyLoss ---------------------------------------------------------------

// loss = NLL(log_prob, labels, weights), log_prob = LogSoftmax(scores, axis 1), scores
// [N, C, d...], labels [N, d...], weights [C]; output 1 is log_prob.
//   from loss (dY: labels' shape for none, a scalar otherwise), with w = weights[label] (0 at
//   ignore_index) and s = dY (none, sum) or dY / sum(w) (mean):
//     dScores[n, c, d] = (softmax[n, c, d] - [c == label[n, d]]) * w[n, d] * s[n, d]
//     dWeights[c] = sum over positions labelled c of s * (u - L_mean), u = -log_prob[label]
//     (L_mean = 0 unless reduction is mean)
//   from log_prob (dL, scores' shape): dScores += dL - softmax * sum_c(dL)
// The loss term through SoftmaxCrossEntropyLossGrad(dY, log_prob, labels, [weights]), with
// log_prob taken from the forward node (its optional output 1); the log_prob term composed
// of Exp, ReduceSum, Mul and Sub (softmax = Exp(log_prob)).
void softmax_cross_entropy_grad(GradContext& g) {
  std::string from_log_prob;
  if (!g.dy(1).empty() && g.wants_dx(0)) {
    const std::string softmax = g.emit("Exp", {g.y(1)});
    const std::string total = g.reduce_sum(g.dy(1), {1}, true);
    from_log_prob = g.emit("Sub", {g.dy(1), g.emit("Mul", {softmax, total})});
  }
  const std::string log_prob = g.dy(0).empty() ? "" : g.forward_output(1);
  set_loss_grads(g, "SoftmaxCrossEntropyLossGrad", log_prob, from_log_prob);
}

// ---- NegativeLogLikelihoodLoss -----------------------------------------------------------

// loss[n, d] = -input[n, label, d] * w[n, d] (w = weights[label], 0 at ignore_index), then
// reduced. With s as for SoftmaxCrossEntropyLoss:
//   dInput[n, c, d] = -[c == label[n, d]] * w[n, d] * s[n, d]   (a scatter; 0 elsewhere)
//   dWeights[c] = sum over positions labelled c of s * (u - L_mean), u = -input[label]
// Through NegativeLogLikelihoodLossGrad(dY, input, labels, [weights]).
void negative_log_likelihood_grad(GradContext& g) { set_loss_grads(g, "NegativeLogLikelihoodLossGrad", g.x(0), ""); }

// ---- Resize / Upsample -------------------------------------------------------------------

// Y = A X with A the interpolation map fixed by the shapes, scales/sizes, roi and the
// attributes (every mode, nearest_mode and coordinate transformation); so dX = A^T dY:
// ResizeGrad(dY, Shape(X), roi, scales) scatters each dY element back to the input elements
// it was interpolated from, with the same weights. roi / scales / sizes get no gradient.
//   Resize-11/13: inputs X, roi, scales, sizes (roi, scales optional from 13; with sizes the
//     scales are empty or omitted and ResizeGrad takes them as dY_d / X_d).
//   Resize-10, Upsample-9: inputs X, scales; Upsample-7: the scales attribute. (Upsample-10
//   is deprecated: the ONNX checker rejects models that use it, so it has no rule.)
//   These predate the coordinate attributes: ResizeGrad's legacy = 1.
void resize_grad(GradContext& g) {
  if (!g.wants_dx(0)) return;
  const Node& n = g.node();
  const std::string shape = g.emit("Shape", {g.x(0)});
  const bool legacy = n.op_type == "Upsample" || n.since_version < 11;
  std::map<std::string, Attribute> attrs;
  for (const char* name :
       {"mode", "coordinate_transformation_mode", "nearest_mode", "cubic_coeff_a", "exclude_outside"})
    if (n.has_attr(name)) attrs.emplace(name, n.attributes.at(name));
  if (legacy) attrs["legacy"] = Attribute::of_int(1);
  std::string roi, scales;
  if (!legacy) {
    roi = n.has_input(1) ? g.x(1) : "";
    scales = n.has_input(2) ? g.x(2) : "";
  } else if (n.op_type == "Upsample" && n.since_version < 9) {
    const std::vector<float> values = n.attr_floats("scales");
    scales = g.constant(Tensor::from<float>({static_cast<int64_t>(values.size())}, values));
  } else {
    scales = g.x(1);
  }
  g.set_dx(0, g.emit("ResizeGrad", {g.dy(0), shape, roi, scales}, attrs, kGradientDomain));
}

// ---- GridSample --------------------------------------------------------------------------

// Y[n, c, i, j] = sum over taps of w(grid[n, i, j]) * X[n, c, tap]: linear in X, and
// differentiable in the grid through the interpolation weights (piecewise: nearest has
// dGrid = 0; border/reflection padding clamp or mirror the sampling point).
// GridSampleGrad(dY, X, grid) -> dX, dGrid with the forward's attributes.
void grid_sample_grad(GradContext& g) {
  const auto outs = g.emit_optional("GridSampleGrad", {g.dy(0), g.x(0), g.x(1)}, {g.wants_dx(0), g.wants_dx(1)},
                                    g.node().attributes, kGradientDomain);
  g.set_dx(0, outs[0]);
  g.set_dx(1, outs[1]);
}

}  // namespace

ONNX_TRAIN_GRADIENT_RULES(loss_resize) {
  rules.push_back({"", "SoftmaxCrossEntropyLoss", {12, 13}, softmax_cross_entropy_grad});
  rules.push_back({"", "NegativeLogLikelihoodLoss", {12, 13}, negative_log_likelihood_grad});
  rules.push_back({"", "Resize", {10, 11, 13}, resize_grad, {1, 2}});  // roi, scales (10: scales)
  rules.push_back({"", "Upsample", {7, 9}, resize_grad, {1}});  // scales
  rules.push_back({"", "GridSample", {16}, grid_sample_grad});
}

}  // namespace onnx_train
