// Small helpers shared by the transformer lowerings (transformer.cc, attention.cc): typed scalar
// constants, the static dimensions a rule needs, and the Reshape/Transpose/Slice forms they emit.
#pragma once

#include <cstdint>
#include <optional>
#include <string>
#include <utility>
#include <vector>

#include "importers/lower_opset.h"

namespace onnx_train::transformer_lowering {

// The floating element type of `value` (float32 or float64: the types the runtime computes in),
// else the rule's error: `what` needs it to type its constants.
inline DType float_type_of(LoweringContext& cx, const std::string& value, const std::string& what) {
  const DType dtype = cx.dtype(value);
  if (dtype != DType::Float32 && dtype != DType::Float64) {
    cx.fail(what + " needs '" + value + "' to be float32 or float64, not " +
            (dtype == DType::Undefined ? std::string("of an unknown type") : dtype_name(dtype)));
  }
  return dtype;
}

// A scalar constant of `dtype` holding `value`.
inline std::string scalar(LoweringContext& cx, DType dtype, double value, const std::string& hint) {
  return cx.editor().constant(scalar_tensor(dtype, value), hint);
}

// Dimension `axis` of `value` when it is known statically, else nullopt.
inline std::optional<int64_t> static_dim(LoweringContext& cx, const std::string& value, int64_t axis) {
  const std::optional<Shape> shape = cx.shape(value);
  if (!shape) return std::nullopt;
  const int64_t rank = static_cast<int64_t>(shape->size());
  if (axis < 0) axis += rank;
  if (axis < 0 || axis >= rank || (*shape)[axis] < 0) return std::nullopt;
  return (*shape)[axis];
}

// Dimension `axis` of `value`, or the rule's error saying that `what` needs it.
inline int64_t required_dim(LoweringContext& cx, const std::string& value, int64_t axis, const std::string& what) {
  const std::optional<int64_t> dim = static_dim(cx, value, axis);
  if (!dim) {
    cx.fail(what + " needs dimension " + std::to_string(axis) + " of '" + value +
            "', which is not known here; export the model with that dimension fixed");
  }
  return *dim;
}

// Reshape(x, dims) (0 copies the input's dimension, -1 is inferred).
inline std::string reshape(LoweringContext& cx, const std::string& x, const std::vector<int64_t>& dims,
                           const std::string& hint) {
  GraphEditor& e = cx.editor();
  return e.add1("Reshape", {x, e.ints(dims, hint + "_shape")}, e.fresh(hint));
}

inline std::string transpose(LoweringContext& cx, const std::string& x, const std::vector<int64_t>& perm,
                             const std::string& hint) {
  return cx.editor().add1("Transpose", {x}, cx.editor().fresh(hint), {{"perm", Attribute::of_ints(perm)}});
}

// x[..., start:end] along `axis` (Slice-13, constant starts/ends).
inline std::string slice(LoweringContext& cx, const std::string& x, int64_t axis, int64_t start, int64_t end,
                         const std::string& hint) {
  GraphEditor& e = cx.editor();
  return e.add1("Slice",
                {x, e.ints({start}, hint + "_start"), e.ints({end}, hint + "_end"), e.ints({axis}, hint + "_axis")},
                e.fresh(hint));
}

// The ONNX TensorProto element type of `dtype` (Cast's `to`): DType's values are ONNX's.
inline int64_t onnx_type(DType dtype) { return static_cast<int64_t>(dtype); }

}  // namespace onnx_train::transformer_lowering
