// Lowerings of the indexing and integer op versions of opset 18: ScatterElements-18 and
// ScatterND-18 (reduction "max" / "min") and BitwiseAnd/Or/Xor/Not-18.
//
// The scatters keep their form at opset 17 (ScatterElements-16 / ScatterND-16) with the
// reduction attribute as given: the scatter kernels (runtime/kernels/reference/indexing.cc)
// take max and min at every version that has a reduction, and their gradient rules
// (gradients/rules/indexing.cc) send the gradient of max / min to the winning elements.
//
// The bitwise ops have no opset-17 form: they become the project domain's BitwiseAnd/Or/Xor/
// Not (ai.onnx_train version 1, runtime/kernels/reference/bitwise.cc), whose output types are
// recorded here since ONNX's shape inference does not know that domain.
#include <algorithm>
#include <optional>
#include <string>
#include <vector>

#include "importers/lower_opset.h"
#include "onnx_train/error.h"

namespace onnx_train {

namespace {

// ScatterElements-18 / ScatterND-18 -> the -16 form with the same reduction.
void lower_scatter(LoweringContext& cx) {
  const std::string reduction = cx.node().attr_string("reduction", "none");
  if (reduction != "none" && reduction != "add" && reduction != "mul" && reduction != "max" && reduction != "min")
    cx.fail("reduction '" + reduction + "' is not one of none, add, mul, max, min");
  cx.keep();
}

// The numpy broadcast of two static shapes; nullopt when a dimension is symbolic or unknown.
std::optional<Shape> static_broadcast(LoweringContext& cx, const std::optional<Shape>& a,
                                      const std::optional<Shape>& b) {
  if (!a || !b) return std::nullopt;
  const size_t rank = std::max(a->size(), b->size());
  Shape out(rank);
  for (size_t i = 0; i < rank; ++i) {
    const int64_t da = i < rank - a->size() ? 1 : (*a)[i - (rank - a->size())];
    const int64_t db = i < rank - b->size() ? 1 : (*b)[i - (rank - b->size())];
    if (da < 0 || db < 0) return std::nullopt;
    if (da != db && da != 1 && db != 1)
      cx.fail(fmt::format("inputs of shapes {} and {} do not broadcast", shape_str(*a), shape_str(*b)));
    out[i] = da == 1 ? db : da;
  }
  return out;
}

// BitwiseAnd/Or/Xor/Not-18 -> ai.onnx_train BitwiseAnd/Or/Xor/Not-1 (same inputs, broadcast).
void lower_bitwise(LoweringContext& cx) {
  const Node& n = cx.node();
  const std::string& a = n.inputs[0];
  const DType dtype = cx.dtype(a);
  if (dtype == DType::Bool || dtype_is_float(dtype))
    cx.fail(fmt::format("input '{}' is {}; bitwise ops take integer types (use And/Or/Xor/Not for bool)", a,
                        dtype_name(dtype)));
  std::optional<Shape> shape = cx.shape(a);
  if (n.inputs.size() > 1) shape = static_broadcast(cx, shape, cx.shape(n.inputs[1]));
  cx.editor().import_domain(kProjectDomain, 1);
  cx.emit(n.op_type, n.inputs, n.outputs, {}, kProjectDomain);
  if (dtype != DType::Undefined) cx.editor().set_type(n.outputs[0], dtype, shape);
}

}  // namespace

ONNX_TRAIN_LOWERINGS(indexing) {
  rules.push_back({"ScatterElements", 18, lower_scatter, "ScatterElements-16 (max, min: the kernel's reductions)"});
  rules.push_back({"ScatterND", 18, lower_scatter, "ScatterND-16 (max, min: the kernel's reductions)"});
  for (const char* op : {"BitwiseAnd", "BitwiseOr", "BitwiseXor", "BitwiseNot"})
    rules.push_back({op, 18, lower_bitwise, std::string("ai.onnx_train ") + op + "-1"});
}

}  // namespace onnx_train
