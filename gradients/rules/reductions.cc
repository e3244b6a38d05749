// Gradient rules of the reductions: the adjoint of a sum is a broadcast back.
#include "gradients/builder.h"
#include "gradients/rules/rules.h"

namespace onnx_train {

namespace {

// dy with the reduced axes put back as size-1 axes (a no-op with keepdims=1), so that it
// broadcasts against x. Axes come from the attribute (before ReduceSum-13) or the second
// input (ReduceSum-13); none means every axis, and a scalar dy broadcasts as it is.
std::string restore_reduced_axes(GradContext& g) {
  const Node& n = g.node();
  if (n.attr_int("keepdims", 1) != 0) return g.dy(0);
  const bool axes_input = n.op_type == "ReduceSum" && n.since_version >= 13;
  if (axes_input ? !n.has_input(1) : !n.has_attr("axes")) return g.dy(0);  // reduced to a scalar
  // Unsqueeze counts negative axes from the end of its output, which has x's rank: the
  // same axes the reduction was given.
  const std::string axes = axes_input ? g.x(1) : g.ints(n.attr_ints("axes"));
  if (g.opset() >= 13) return g.emit("Unsqueeze", {g.dy(0), axes});
  return g.emit("Unsqueeze", {g.dy(0)}, {{"axes", Attribute::of_ints(n.attr_ints("axes"))}});
}

// `value` broadcast to the shape of x: Expand from opset 8, x * 0 + value before.
std::string expand_like_x(GradContext& g, const std::string& value) {
  if (g.opset() >= 8) return g.emit("Expand", {value, g.emit("Shape", {g.x(0)})});
  return g.emit("Add", {g.emit("Mul", {g.x(0), g.scalar(0, g.x(0))}), value});
}

// dx = expand(dy, shape(x))
void reduce_sum_grad(GradContext& g) { g.set_dx(0, expand_like_x(g, restore_reduced_axes(g))); }

// dx = expand(dy, shape(x)) / (size(x) / size(y))
void reduce_mean_grad(GradContext& g) {
  const std::string expanded = expand_like_x(g, restore_reduced_axes(g));
  const std::string count = g.emit("Div", {g.emit("Size", {g.x(0)}), g.emit("Size", {g.y(0)})});
  const auto to = static_cast<int64_t>(g.dtype_of(g.x(0)));
  g.set_dx(0, g.emit("Div", {expanded, g.emit("Cast", {count}, {{"to", Attribute::of_int(to)}})}));
}

}  // namespace

void add_reduction_gradient_rules(std::vector<GradRuleEntry>& rules) {
  rules.push_back({"", "ReduceSum", {1, 11, 13}, reduce_sum_grad});
  rules.push_back({"", "ReduceMean", {1, 11, 13}, reduce_mean_grad});
}

}  // namespace onnx_train
