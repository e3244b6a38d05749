// Gradient rules of the data-movement ops. Each is linear in its data input, so its gradient
// is the adjoint (transpose) of the forward map: a reshape back, an inverse permutation, a
// slice of a concatenation, a scatter-add of a gather.
//
// Gather and GatherElements emit a fused scatter-add of the project domain (GatherGrad /
// GatherElementsGrad, runtime/kernels/reference/indexing_grad.cc): one pass over dy, also at
// opsets 7..8.
//
// Slice and non-constant Pad use the index adjoint (gradients/rules/common.h): the forward op
// run on element indices says where each element of y was read from, and dx is the fused
// scatter-add of dy there.
#include "gradients/builder.h"
#include "gradients/rules/common.h"
#include "gradients/rules/registry.h"

namespace onnx_train {

namespace {

using rules::flat;
using rules::index_adjoint;
using rules::require_opset;
using rules::reshape_like;
using rules::zeros_like;

// Reshape, Flatten, Squeeze, Unsqueeze: dx = Reshape(dy, Shape(x)).
void reshape_grad(GradContext& g) { g.set_dx(0, reshape_like(g, g.dy(0), g.x(0))); }

// y = Transpose(x, perm): dx = Transpose(dy, inverse(perm)); the default perm (reversal)
// is its own inverse.
void transpose_grad(GradContext& g) {
  if (!g.node().has_attr("perm")) {
    g.set_dx(0, g.emit("Transpose", {g.dy(0)}));
    return;
  }
  const std::vector<int64_t> perm = g.node().attr_ints("perm");
  std::vector<int64_t> inverse(perm.size());
  for (size_t i = 0; i < perm.size(); ++i) inverse[static_cast<size_t>(perm[i])] = static_cast<int64_t>(i);
  g.set_dx(0, g.emit("Transpose", {g.dy(0)}, {{"perm", Attribute::of_ints(inverse)}}));
}

// y = Concat(x_0, ..., axis): dx_i = dy[..., o_i : o_i + n_i, ...] along axis, with n_j the
// runtime sizes Shape(x_j)[axis] and o_i = n_0 + ... + n_{i-1}. Slice with input starts
// from opset 10; before, Gather(dy, o_i + iota(n_i), axis) (opset 9).
void concat_grad(GradContext& g) {
  const Node& n = g.node();
  int64_t axis = n.attr_int("axis");
  if (axis < 0) {
    const int rank = g.rank_of(g.y(0));
    OT_CHECK(rank >= 0, "Concat with a negative axis needs the rank of its output");
    axis += rank;
  }
  std::string offset = g.ints({0});
  for (size_t i = 0; i < n.inputs.size(); ++i) {
    const std::string size =
        g.emit("Gather", {g.emit("Shape", {g.x(i)}), g.ints({axis})}, {{"axis", Attribute::of_int(0)}});
    const std::string end = g.emit("Add", {offset, size});
    if (g.wants_dx(i)) {
      if (g.opset() >= 10) {
        g.set_dx(i, g.emit("Slice", {g.dy(0), offset, end, g.ints({axis})}));
      } else {
        require_opset(g, 9, "gathers its part with an index tensor below opset 10");
        const std::string ones =
            g.emit("ConstantOfShape", {size}, {{"value", Attribute::of_tensor(Tensor::from<int64_t>({1}, {1}))}});
        const std::string positions = g.emit("Add", {flat(g, g.emit("NonZero", {ones})), offset});
        g.set_dx(i, g.emit("Gather", {g.dy(0), positions}, {{"axis", Attribute::of_int(axis)}}));
      }
    }
    offset = end;
  }
}

// y_0, ..., y_k = Split(x, axis): dx = Concat(dy_0, ..., dy_k, axis), a missing dy_i
// being zeros of y_i's shape.
void split_grad(GradContext& g) {
  const Node& n = g.node();
  std::vector<std::string> parts;
  for (size_t i = 0; i < n.outputs.size(); ++i) parts.push_back(g.dy(i).empty() ? zeros_like(g, g.y(i)) : g.dy(i));
  g.set_dx(
      0, parts.size() == 1 ? parts[0] : g.emit("Concat", parts, {{"axis", Attribute::of_int(n.attr_int("axis", 0))}}));
}

// Slice: the index adjoint.
void slice_grad(GradContext& g) { g.set_dx(0, index_adjoint(g)); }

// y = Pad(x, pads). Constant mode: y is x placed at offset pads_begin among constants, so
// dx = Pad(dy, -pads): the padding is cut away, and where pads were negative (x was cropped)
// zeros are put back. Reflect / edge modes read x elements several times: the index adjoint
// (Pad-2 only takes float data, so its index tensor runs as x's float type).
void pad_grad(GradContext& g) {
  const Node& n = g.node();
  const std::string mode = n.attr_string("mode", "constant");
  if (mode != "constant") {
    g.set_dx(0, index_adjoint(g, n.since_version < 11));
    return;
  }
  if (n.since_version < 11) {
    std::vector<int64_t> pads = n.attr_ints("pads");
    for (auto& p : pads) p = -p;
    g.set_dx(
        0, g.emit("Pad", {g.dy(0)}, {{"pads", Attribute::of_ints(pads)}, {"mode", Attribute::of_string("constant")}}));
    return;
  }
  g.set_dx(0, g.emit("Pad", {g.dy(0), g.emit("Neg", {g.x(1)})}, {{"mode", Attribute::of_string("constant")}}));
}

// y = Expand(x, shape): a broadcast; dx = dy summed back to x's shape (the driver does it).
void expand_grad(GradContext& g) { g.set_dx(0, g.dy(0), true); }

// y = Tile(x, r): y[k_0 d_0 + i_0, ...] = x[i_0, ...], so with dy viewed as
// [r_0, d_0, r_1, d_1, ...], dx = ReduceSum over the repeat axes 0, 2, 4, ...
void tile_grad(GradContext& g) {
  const int rank = g.rank_of(g.x(0));
  OT_CHECK(rank >= 1, "Tile's gradient needs the rank of its input");
  const std::string pairs = g.emit("Concat", {g.unsqueeze(g.x(1), {1}), g.unsqueeze(g.emit("Shape", {g.x(0)}), {1})},
                                   {{"axis", Attribute::of_int(1)}});
  const std::string viewed = g.emit("Reshape", {g.dy(0), flat(g, pairs)});
  std::vector<int64_t> axes;
  for (int a = 0; a < rank; ++a) axes.push_back(2 * a);
  g.set_dx(0, g.reduce_sum(viewed, axes, false));
}

// Gather: dx = GatherGrad(dy, indices, Shape(x)) [axis], GatherElements: dx =
// GatherElementsGrad(dy, indices, Shape(x)) [axis]: zeros of x's shape with dy scatter-added
// at the gathered positions (repeated indices accumulate, negative ones count from the
// end). Indices get no gradient.
void gather_grad(GradContext& g) {
  const Node& n = g.node();
  const std::string op = n.op_type == "Gather" ? "GatherGrad" : "GatherElementsGrad";
  g.set_dx(0, g.emit(op, {g.dy(0), g.x(1), g.emit("Shape", {g.x(0)})},
                     {{"axis", Attribute::of_int(n.attr_int("axis", 0))}}, kGradientDomain));
}

// Dropout without a training switch (Dropout-7/10, and 12/13 without a training_mode
// input): dx = dy. With a training_mode input t (12/13): dx = dy * mask * s with the mask
// output of the forward node (added to it when the model left it out: the elements the
// forward pass kept, all true when t is false) and s = t ? 1 / (1 - ratio) : 1, as one
// DropoutGrad(dy, mask, s) pass.
void dropout_grad(GradContext& g) {
  const Node& n = g.node();
  if (n.since_version < 12 || !n.has_input(2)) {
    g.set_dx(0, g.dy(0));
    return;
  }
  const std::string& x = g.x(0);
  const auto to = static_cast<int64_t>(g.dtype_of(x));
  const std::string one = g.scalar(1, x);
  const std::string ratio =
      n.has_input(1) ? g.emit("Cast", {g.x(1)}, {{"to", Attribute::of_int(to)}}) : g.scalar(0.5, x);
  const std::string scale = g.emit("Where", {g.x(2), g.emit("Div", {one, g.emit("Sub", {one, ratio})}), one});
  g.set_dx(0, g.emit("DropoutGrad", {g.dy(0), g.forward_output(1), scale}, {}, kGradientDomain));
}

}  // namespace

ONNX_TRAIN_GRADIENT_RULES(shape_ops) {
  rules.push_back({"", "Reshape", {5, 13, 14}, reshape_grad});
  rules.push_back({"", "Flatten", {1, 9, 11, 13}, reshape_grad});
  rules.push_back({"", "Squeeze", {1, 11, 13}, reshape_grad});
  rules.push_back({"", "Unsqueeze", {1, 11, 13}, reshape_grad});
  rules.push_back({"", "Transpose", {1, 13}, transpose_grad});
  rules.push_back({"", "Concat", {4, 11, 13}, concat_grad});
  rules.push_back({"", "Split", {2, 11, 13}, split_grad});
  rules.push_back({"", "Slice", {1, 10, 11, 13}, slice_grad});
  rules.push_back({"", "Pad", {2, 11, 13}, pad_grad, {2}});  // constant_value: a setting
  rules.push_back({"", "Expand", {8, 13}, expand_grad});
  rules.push_back({"", "Tile", {6, 13}, tile_grad});
  rules.push_back({"", "Gather", {1, 11, 13}, gather_grad});
  rules.push_back({"", "GatherElements", {11, 13}, gather_grad});
  rules.push_back({"", "Dropout", {7, 10, 12, 13}, dropout_grad, {1}});  // ratio: a setting
  // No gradient: outputs are built from shapes, counts or indices (NonZero, Shape, Size are
  // declared with the elementwise rules).
  for (const char* op : {"ConstantOfShape", "Range", "EyeLike", "OneHot"}) rules.push_back({"", op, {}, nullptr});
}

}  // namespace onnx_train
