// Gradient rules of the gather/scatter and selection ops. Each is linear in its data input(s),
// so the gradient is the adjoint of the forward selection: a gather's adjoint is a scatter-add
// (repeated indices accumulate), a scatter's is a gather, a permutation's is its inverse.
//
// Scatter-adds run as fused ops in the project's domain: GatherElementsGrad(dY, indices,
// shape; axis) (runtime/kernels/reference/indexing_grad.cc) and GatherNDGrad(dY, indices, shape;
// batch_dims) (runtime/kernels/reference/indexing_grad.cc), each dData = zeros(shape) with dY
// added at the gathered positions. Ops that select elements some other way (Compress,
// DepthToSpace CRD) use the "index adjoint": the forward op run on iota (the flat index of
// every element of x, shaped like x) says which element of x every element of y was read
// from, and dx is GatherElementsGrad of the flat dy at those indices.
// Indices, conditions and sequence lengths are integer/bool inputs and get no gradient.
#include "gradients/builder.h"
#include "gradients/rules/common.h"
#include "gradients/rules/registry.h"

namespace onnx_train {

namespace {

using rules::flat;
using rules::gather_elements_grad;
using rules::index_adjoint;
using rules::iota_of;
using rules::require_opset;
using rules::reshape_like;
using rules::shape_of;
using rules::zeros_like;

// A constant of the runtime shape of `like` filled with `value` (a 1-element tensor).
std::string filled_like(GradContext& g, const std::string& like, Tensor value) {
  require_opset(g, 9, "builds a tensor of a runtime shape (ConstantOfShape)");
  return g.emit("ConstantOfShape", {shape_of(g, like)}, {{"value", Attribute::of_tensor(std::move(value))}});
}

// ScatterElements / ScatterND reduction: "none" (and before opset 16), "add", or "max" / "min"
// (opset 18, lowered onto the -16 form); mul has no gradient.
std::string scatter_reduction(GradContext& g) {
  const std::string reduction = g.node().attr_string("reduction", "none");
  OT_CHECK(reduction == "none" || reduction == "add" || reduction == "max" || reduction == "min",
           "{}: no gradient for reduction '{}' (none, add, max and min are differentiated)", g.node().label(),
           reduction);
  return reduction;
}

// Reduction max / min: y[p] is the largest (smallest) of data[p] and the updates written to
// p, so the gradient of y[p] goes to the elements equal to it, split evenly among ties (as
// torch.scatter_reduce's amax / amin):
//   hit_data = (data == y), hit_updates = (updates == gather(y)),
//   count = hit_data + scatter_add(0, indices, hit_updates)    (>= 1 everywhere),
//   dData = dY * hit_data / count,  dUpdates = gather(dY / count) * hit_updates,
// with gather / scatter_add the op's own addressing: GatherElements / ScatterElements(add) on
// `axis_attr`, or GatherND / ScatterND(add).
void scatter_extreme_grad(GradContext& g, bool elements, const std::map<std::string, Attribute>& axis_attr) {
  const std::string& data = g.x(0);
  const std::string& indices = g.x(1);
  const std::string& updates = g.x(2);
  const std::string scatter = elements ? "ScatterElements" : "ScatterND";
  auto gather = [&](const std::string& v) {
    return g.emit(elements ? "GatherElements" : "GatherND", {v, indices}, axis_attr);
  };
  std::map<std::string, Attribute> add_attr = axis_attr;
  add_attr["reduction"] = Attribute::of_string("add");
  const std::string hit_data = g.cast_like(g.emit("Equal", {data, g.y(0)}), data);
  const std::string hit_updates = g.cast_like(g.emit("Equal", {updates, gather(g.y(0))}), updates);
  const std::string count =
      g.emit("Add", {hit_data, g.emit(scatter, {zeros_like(g, data), indices, hit_updates}, add_attr)});
  const std::string share = g.emit("Div", {g.dy(0), count});
  if (g.wants_dx(0)) g.set_dx(0, g.emit("Mul", {share, hit_data}));
  if (g.wants_dx(2)) g.set_dx(2, g.emit("Mul", {gather(share), hit_updates}));
}

// y = GatherND(data, indices, batch_dims b): y[B, J, S] = data[B, indices[B, J, :], S];
// dData = GatherNDGrad(dY, indices, Shape(data)): the scatter-add of dY at the gathered slices.
void gather_nd_grad(GradContext& g) {
  const int64_t batch_dims = g.node().since_version >= 12 ? g.node().attr_int("batch_dims", 0) : 0;
  g.set_dx(0, g.emit("GatherNDGrad", {g.dy(0), g.x(1), shape_of(g, g.x(0))},
                     {{"batch_dims", Attribute::of_int(batch_dims)}}, kGradientDomain));
}

// y = ScatterElements(data, indices, updates, axis) (Scatter: the same op under its old name):
// y = data with y[p with p[axis] = indices[p]] = updates[p] (reduction none) or += updates[p]
// (reduction add; max / min: scatter_extreme_grad). data, updates: float, indices: updates' shape.
//   none: dData = dY with the scattered positions zeroed = ScatterElements(dY, indices, 0);
//   add:  dData = dY;
//   dUpdates = GatherElements(dY, indices, axis) (each update element's target).
// With reduction none, repeated indices leave the result undefined (ONNX), so they are not
// differentiated specially. At opsets 9..10 (no GatherElements) dUpdates comes from the
// forward op run on update numbers: t = Scatter(-1, indices, iota(updates)) holds at every data
// position the number of the update written there, and dUpdates[j] = sum of dY[p] over
// t[p] == j, a one-hot matrix product (O(size(data) size(updates))).
void scatter_elements_grad(GradContext& g) {
  const Node& n = g.node();
  const int64_t axis = n.attr_int("axis", 0);
  const std::string reduction = scatter_reduction(g);
  const bool adds = reduction == "add";
  const std::string op = g.opset() >= 11 ? "ScatterElements" : "Scatter";
  const std::map<std::string, Attribute> axis_attr{{"axis", Attribute::of_int(axis)}};
  if (reduction == "max" || reduction == "min") {
    scatter_extreme_grad(g, true, axis_attr);
    return;
  }
  const std::string& dy = g.dy(0);
  if (g.wants_dx(0)) g.set_dx(0, adds ? dy : g.emit(op, {dy, g.x(1), zeros_like(g, g.x(2))}, axis_attr));
  if (!g.wants_dx(2)) return;
  if (g.opset() >= 11) {
    g.set_dx(2, g.emit("GatherElements", {dy, g.x(1)}, axis_attr));
    return;
  }
  const std::string& updates = g.x(2);
  const std::string numbers = iota_of(g, updates);
  const std::string written =
      g.emit(op, {filled_like(g, g.x(0), Tensor::from<int64_t>({1}, {-1})), g.x(1), reshape_like(g, numbers, updates)},
             axis_attr);
  const std::string hit = g.emit("Equal", {g.unsqueeze(numbers, {1}), g.unsqueeze(flat(g, written), {0})});
  const std::string onehot =
      g.emit("Cast", {hit}, {{"to", Attribute::of_int(static_cast<int64_t>(g.dtype_of(updates)))}});
  g.set_dx(2, reshape_like(g, g.emit("MatMul", {onehot, g.unsqueeze(flat(g, dy), {1})}), updates));
}

// y = ScatterND(data, indices, updates): y = data with y[indices[J, :], S] = updates[J, S]
// (reduction none) or += updates[J, S] (add); max / min: scatter_extreme_grad.
//   none: dData = ScatterND(dY, indices, 0);  add: dData = dY;
//   dUpdates = GatherND(dY, indices).
void scatter_nd_grad(GradContext& g) {
  const std::string reduction = scatter_reduction(g);
  if (reduction == "max" || reduction == "min") {
    scatter_extreme_grad(g, false, {});
    return;
  }
  const bool adds = reduction == "add";
  const std::string& dy = g.dy(0);
  if (g.wants_dx(0)) g.set_dx(0, adds ? dy : g.emit("ScatterND", {dy, g.x(1), zeros_like(g, g.x(2))}));
  if (g.wants_dx(2)) g.set_dx(2, g.emit("GatherND", {dy, g.x(1)}));
}

// y = Compress(x, condition, axis): the kept slices (or elements of the flattened x without
// axis); dx = dY scattered back to the kept positions, zeros elsewhere: the index adjoint.
void compress_grad(GradContext& g) { g.set_dx(0, index_adjoint(g)); }

// y = DepthToSpace(x, b): a permutation of x's elements, so dx = its inverse applied to dY.
// DCR (the only mode before opset 11) is undone by SpaceToDepth(dY, b); CRD by the index adjoint.
void depth_to_space_grad(GradContext& g) {
  const Node& n = g.node();
  const int64_t block = n.attr_int("blocksize");
  if (n.since_version >= 11 && n.attr_string("mode", "DCR") == "CRD") {
    g.set_dx(0, index_adjoint(g));
    return;
  }
  g.set_dx(0, g.emit("SpaceToDepth", {g.dy(0)}, {{"blocksize", Attribute::of_int(block)}}));
}

// y = SpaceToDepth(x, b): the inverse of DepthToSpace DCR, so dx = DepthToSpace(dY, b, DCR).
void space_to_depth_grad(GradContext& g) {
  g.set_dx(0, g.emit("DepthToSpace", {g.dy(0)}, {{"blocksize", Attribute::of_int(g.node().attr_int("blocksize"))}}));
}

// The op is its own adjoint given its other inputs: ReverseSequence (reversing the first
// sequence_lens[b] steps is a symmetric permutation) and Trilu (a 0/1 mask):
// dx = op(dY, other inputs..., same attributes).
void self_adjoint_grad(GradContext& g) {
  std::vector<std::string> inputs = g.node().inputs;
  inputs[0] = g.dy(0);
  g.set_dx(0, g.emit(g.node().op_type, inputs, g.node().attributes));
}

// (Values, Indices) = TopK(x, k, axis): Values[p] = x[p with p[axis] = Indices[p]], so
// dx = the scatter-add of dValues at Indices along axis (Indices taken from the forward node).
void topk_grad(GradContext& g) {
  const int64_t axis = g.node().attr_int("axis", -1);
  g.set_dx(0, gather_elements_grad(g, g.x(0), g.forward_output(1), g.dy(0), axis));
}

// SumToShape(grad, shape) (the project's broadcast adjoint) is linear; its adjoint is the
// broadcast: dgrad = Expand(dY, Shape(grad)). So a training graph can be differentiated again.
void sum_to_shape_grad(GradContext& g) { g.set_dx(0, g.emit("Expand", {g.dy(0), shape_of(g, g.x(0))})); }

}  // namespace

ONNX_TRAIN_GRADIENT_RULES(indexing) {
  rules.push_back({"", "TopK", {1, 10, 11}, topk_grad});
  rules.push_back({kGradientDomain, "SumToShape", {1}, sum_to_shape_grad});
  rules.push_back({"", "GatherND", {11, 12, 13}, gather_nd_grad});
  rules.push_back({"", "ScatterElements", {11, 13, 16}, scatter_elements_grad});
  // Scatter-11 is deprecated: the ONNX checker rejects models that use it.
  rules.push_back({"", "Scatter", {9}, scatter_elements_grad});
  rules.push_back({"", "ScatterND", {11, 13, 16}, scatter_nd_grad});
  rules.push_back({"", "Compress", {9, 11}, compress_grad});
  rules.push_back({"", "DepthToSpace", {1, 11, 13}, depth_to_space_grad});
  rules.push_back({"", "SpaceToDepth", {1, 13}, space_to_depth_grad});
  rules.push_back({"", "ReverseSequence", {10}, self_adjoint_grad});
  rules.push_back({"", "Trilu", {14}, self_adjoint_grad});
}

}  // namespace onnx_train
