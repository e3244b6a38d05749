// Helpers that several rule families emit through (see common.h).
#include "gradients/rules/common.h"

namespace onnx_train::rules {

std::string shape_of(GradContext& g, const std::string& v) { return g.emit("Shape", {v}); }

std::string flat(GradContext& g, const std::string& v) { return g.emit("Reshape", {v, g.ints({-1})}); }

std::string reshape_like(GradContext& g, const std::string& v, const std::string& like) {
  std::map<std::string, Attribute> attrs;
  if (g.opset() >= 14) attrs["allowzero"] = Attribute::of_int(1);
  return g.emit("Reshape", {v, shape_of(g, like)}, attrs);
}

std::string zeros_like(GradContext& g, const std::string& like) {
  if (g.opset() >= 9)  // ConstantOfShape
    return g.emit("ConstantOfShape", {shape_of(g, like)},
                  {{"value", Attribute::of_tensor(Tensor(g.dtype_of(like), {1}))}});
  return g.emit("Mul", {like, g.scalar(0, like)});
}

void require_opset(GradContext& g, int opset, const char* why) {
  OT_CHECK(g.opset() >= opset, "the gradient of {} {}, which needs opset {} or later; the graph has opset {}",
           g.node().label(), why, opset, g.opset());
}

std::string iota_of(GradContext& g, const std::string& x) {
  require_opset(g, 9, "builds an index tensor");
  const std::string n = g.emit("Size", {x});
  if (g.opset() >= 11)
    return g.emit("Range", {g.constant(Tensor::scalar<int64_t>(0)), n, g.constant(Tensor::scalar<int64_t>(1))});
  const std::string ones = g.emit("ConstantOfShape", {g.emit("Reshape", {n, g.ints({1})})},
                                  {{"value", Attribute::of_tensor(Tensor::from<int64_t>({1}, {1}))}});
  return flat(g, g.emit("NonZero", {ones}));
}

std::string gather_elements_grad(GradContext& g, const std::string& data, const std::string& indices,
                                 const std::string& dy, int64_t axis) {
  return g.emit("GatherElementsGrad", {dy, indices, shape_of(g, data)}, {{"axis", Attribute::of_int(axis)}},
                kGradientDomain);
}

std::string index_adjoint(GradContext& g, bool as_float) {
  const std::string& x = g.x(0);
  const std::string iota = iota_of(g, x);
  std::string ids = reshape_like(g, iota, x);
  if (as_float) ids = g.cast_like(ids, x);
  std::vector<std::string> inputs = g.node().inputs;
  inputs[0] = ids;
  std::string selected = g.emit(g.node().op_type, inputs, g.node().attributes);
  if (as_float) selected = g.emit("Cast", {selected}, {{"to", Attribute::of_int(static_cast<int64_t>(DType::Int64))}});
  return reshape_like(g, gather_elements_grad(g, iota, flat(g, selected), flat(g, g.dy(0)), 0), x);
}

}  // namespace onnx_train::rules
