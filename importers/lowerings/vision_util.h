// Small helpers shared by the vision lowerings (vision_*.cc): typed constants and the static
// shape a rule needs before it can replace a window op by a Conv or a grid by a constant.
#pragma once

#include <cstdint>
#include <optional>
#include <string>
#include <vector>

#include "importers/lower_opset.h"

namespace onnx_train::vision_lowering {

// The floating element type the lowered constants of `value` take: its own when known and
// float64, else float32 (the runtime's models are float32; gradcheck runs float64).
inline DType float_type_of(LoweringContext& cx, const std::string& value) {
  return cx.dtype(value) == DType::Float64 ? DType::Float64 : DType::Float32;
}

// x's shape when its dimensions from `first_axis` on are known (those before may be symbolic,
// -1: a batch size), else the rule's error: `what` needs it.
inline Shape required_static_shape(LoweringContext& cx, const std::string& x, const std::string& what,
                                   size_t first_axis = 0) {
  const std::optional<Shape> shape = cx.shape(x);
  bool known = shape.has_value();
  if (known) {
    for (size_t a = first_axis; a < shape->size(); ++a) known = known && (*shape)[a] >= 0;
  }
  if (!known) {
    cx.fail(what + " needs the static shape of '" + x +
            "', which is not known here; export the model with fixed "
            "input dimensions");
  }
  return *shape;
}

}  // namespace onnx_train::vision_lowering
