// Gradient rules of the reductions: the adjoint of a sum is a broadcast back; the others
// scale that broadcast by the local derivative.
#include <algorithm>

#include "gradients/builder.h"
#include "gradients/rules/registry.h"

namespace onnx_train {

namespace {

// The attribute axes of a reduction, non-negative and sorted; empty when every axis is
// reduced. With x's rank unknown they stay as given (fine for Unsqueeze from opset 11).
std::vector<int64_t> reduced_axes(GradContext& g) {
  const Node& n = g.node();
  std::vector<int64_t> axes = n.attr_ints("axes", {});
  if (axes.empty()) return axes;
  const int r = g.rank_of(g.x(0));
  if (r < 0) {
    OT_CHECK(g.opset() >= 11 || std::all_of(axes.begin(), axes.end(), [](int64_t a) { return a >= 0; }),
             "gradient rule of {}: negative axes need the rank of '{}', which is unknown", n.label(), g.x(0));
    return axes;
  }
  for (int64_t& a : axes)
    if (a < 0) a += r;
  std::sort(axes.begin(), axes.end());
  return axes;
}

// `v` (dy or y) with the reduced axes put back as size-1 axes (a no-op with keepdims=1),
// so that it broadcasts against x. Axes come from the attribute, or from the second input
// for ReduceSum-13 (whose axes Unsqueeze-13 reads the same way, negative ones included);
// none means every axis, and the scalar broadcasts as it is.
std::string restore_reduced_axes(GradContext& g, const std::string& v) {
  const Node& n = g.node();
  if (n.attr_int("keepdims", 1) != 0) return v;
  if (n.op_type == "ReduceSum" && n.since_version >= 13) return n.has_input(1) ? g.emit("Unsqueeze", {v, g.x(1)}) : v;
  const std::vector<int64_t> axes = reduced_axes(g);
  return axes.empty() ? v : g.unsqueeze(v, axes);
}

// `value` broadcast to the shape of x: Expand from opset 8, x * 0 + value before.
std::string expand_like_x(GradContext& g, const std::string& value) {
  if (g.opset() >= 8) return g.emit("Expand", {value, g.emit("Shape", {g.x(0)})});
  return g.emit("Add", {g.emit("Mul", {g.x(0), g.scalar(0, g.x(0))}), value});
}

// dx = expand(dy, shape(x))
void reduce_sum_grad(GradContext& g) { g.set_dx(0, expand_like_x(g, restore_reduced_axes(g, g.dy(0)))); }

// dx = expand(dy, shape(x)) / (size(x) / size(y))
void reduce_mean_grad(GradContext& g) {
  const std::string expanded = expand_like_x(g, restore_reduced_axes(g, g.dy(0)));
  const std::string count = g.emit("Div", {g.emit("Size", {g.x(0)}), g.emit("Size", {g.y(0)})});
  g.set_dx(0, g.emit("Div", {expanded, g.cast_like(count, g.x(0))}));
}

// ---- the other reductions (axes as an attribute: every version up to opset 17) --------

// A float 0/1 mask of where x equals the restored y (which holds x's max or min).
std::string extreme_mask(GradContext& g, const std::string& y_r, bool is_max) {
  std::string equal;
  if (g.opset() >= 11) {
    equal = g.emit("Equal", {g.x(0), y_r});
  } else {
    // Equal takes floats from opset 11: x is never above its max (below its min).
    equal = g.emit("Not", {g.emit(is_max ? "Less" : "Greater", {g.x(0), y_r})});
  }
  return g.cast_like(equal, g.x(0));
}

// dx = dy * mask / count, mask = (x == y) (the positions holding the max / min), count =
// the number of such positions in each reduced group (1 without ties: the gradient is
// split evenly between tied positions).
void reduce_extreme_grad(GradContext& g, bool is_max) {
  const std::string mask = extreme_mask(g, restore_reduced_axes(g, g.y(0)), is_max);
  const std::string count = g.reduce_sum(mask, reduced_axes(g), true);
  g.set_dx(0, g.emit("Mul", {mask, g.emit("Div", {restore_reduced_axes(g, g.dy(0)), count})}));
}
void reduce_max_grad(GradContext& g) { reduce_extreme_grad(g, true); }
void reduce_min_grad(GradContext& g) { reduce_extreme_grad(g, false); }

// dx = dy * y / x (x away from 0)
void reduce_prod_grad(GradContext& g) {
  const std::string dy_y = g.emit("Mul", {restore_reduced_axes(g, g.dy(0)), restore_reduced_axes(g, g.y(0))});
  g.set_dx(0, g.emit("Div", {dy_y, g.x(0)}));
}

// dx = dy * sign(x)
void reduce_l1_grad(GradContext& g) {
  std::string sign;
  if (g.opset() >= 9) {
    sign = g.emit("Sign", {g.x(0)});
  } else {  // Sign needs opset 9: (x > 0) - (x < 0)
    const std::string zero = g.scalar(0, g.x(0));
    sign = g.emit("Sub", {g.cast_like(g.emit("Greater", {g.x(0), zero}), g.x(0)),
                          g.cast_like(g.emit("Less", {g.x(0), zero}), g.x(0))});
  }
  g.set_dx(0, g.emit("Mul", {restore_reduced_axes(g, g.dy(0)), sign}));
}

// dx = dy * x / y
void reduce_l2_grad(GradContext& g) {
  const std::string dy_over_y = g.emit("Div", {restore_reduced_axes(g, g.dy(0)), restore_reduced_axes(g, g.y(0))});
  g.set_dx(0, g.emit("Mul", {dy_over_y, g.x(0)}));
}

// dx = 2 x dy
void reduce_sum_square_grad(GradContext& g) {
  const std::string two_x = g.emit("Mul", {g.x(0), g.scalar(2, g.x(0))});
  g.set_dx(0, g.emit("Mul", {two_x, restore_reduced_axes(g, g.dy(0))}));
}

// y = log(sum x): dx = dy / sum x = dy / exp(y)
void reduce_log_sum_grad(GradContext& g) {
  const std::string sum = g.emit("Exp", {restore_reduced_axes(g, g.y(0))});
  const std::string grad = g.emit("Div", {restore_reduced_axes(g, g.dy(0)), sum});
  g.set_dx(0, expand_like_x(g, grad));  // grad has the reduced shape
}

// y = log(sum exp x): dx = dy * exp(x - y)
void reduce_log_sum_exp_grad(GradContext& g) {
  const std::string softmax = g.emit("Exp", {g.emit("Sub", {g.x(0), restore_reduced_axes(g, g.y(0))})});
  g.set_dx(0, g.emit("Mul", {restore_reduced_axes(g, g.dy(0)), softmax}));
}

}  // namespace

ONNX_TRAIN_GRADIENT_RULES(reductions) {
  rules.push_back({"", "ReduceSum", {1, 11, 13}, reduce_sum_grad});
  rules.push_back({"", "ReduceMean", {1, 11, 13}, reduce_mean_grad});
  rules.push_back({"", "ReduceMax", {1, 11, 12, 13}, reduce_max_grad});
  rules.push_back({"", "ReduceMin", {1, 11, 12, 13}, reduce_min_grad});
  rules.push_back({"", "ReduceL1", {1, 11, 13}, reduce_l1_grad});
  rules.push_back({"", "ReduceL2", {1, 11, 13}, reduce_l2_grad});
  rules.push_back({"", "ReduceProd", {1, 11, 13}, reduce_prod_grad});
  rules.push_back({"", "ReduceSumSquare", {1, 11, 13}, reduce_sum_square_grad});
  rules.push_back({"", "ReduceLogSum", {1, 11, 13}, reduce_log_sum_grad});
  rules.push_back({"", "ReduceLogSumExp", {1, 11, 13}, reduce_log_sum_exp_grad});
}

}  // namespace onnx_train
