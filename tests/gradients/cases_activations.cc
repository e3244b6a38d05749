// Gradient check rows of the activation, unary math, variadic, Where, Clip, Cast and softmax
// rules. Rows at opsets 7/8 exercise the mask form (no Where before opset 9); inputs are drawn
// with |x| in [0.2, 1.2], so thresholds and clip bounds sit away from the draws' kinks.
#include "tests/gradients/gradcheck_cases.h"

namespace onnx_train::testing {

namespace {

Tensor scalar_f64(double v) { return Tensor::scalar<double>(v); }

Tensor bools(const Shape& shape, const std::vector<bool>& values) { return Tensor::from<bool>(shape, values); }

}  // namespace

ONNX_TRAIN_GRAD_CASES(activations) {
  return {
      GradCase("LeakyRelu", 16).input({3, 4}).attr("alpha", 0.1f),
      GradCase("LeakyRelu", 13).input({2, 3}),
      GradCase("LeakyRelu", 7).input({2, 3}).attr("alpha", 0.3f),
      GradCase("Elu", 13).input({3, 4}).attr("alpha", 0.7f),
      GradCase("Elu", 8).input({5}),
      GradCase("Selu", 13).input({3, 4}),
      GradCase("Selu", 7).input({2, 3}).attr("alpha", 1.5f).attr("gamma", 2.0f),
      GradCase("Celu", 12).input({3, 4}),
      GradCase("Celu", 13).input({2, 3}).attr("alpha", 0.5f),
      GradCase("Softplus", 13).input({3, 4}),
      GradCase("Softplus", 7).input({5}),
      GradCase("Softsign", 13).input({3, 4}),
      GradCase("Softsign", 7).input({5}),
      GradCase("HardSigmoid", 13).input({3, 4}),  // defaults: every draw in the linear part
      GradCase("HardSigmoid", 13).input({4, 4}).attr("alpha", 0.6f).attr("beta", 0.4f),  // some clipped
      GradCase("HardSigmoid", 7).input({4, 4}).attr("alpha", 0.6f).attr("beta", 0.4f),
      GradCase("HardSwish", 14).input({3, 4}),
      GradCase("HardSwish", 14).input({4, 4}).magnitude(3.2, 4.5),  // both flat parts
      GradCase("HardSwish", 14).input({4, 4}).magnitude(0.2, 2.9),  // the middle part
      GradCase("PRelu", 16).inputs({2, 3}, {2, 3}),
      GradCase("PRelu", 16).inputs({2, 3, 4}, {3, 1}),
      GradCase("PRelu", 9).inputs({2, 3}, {3}),
      GradCase("PRelu", 7).inputs({2, 3}, {1}),
      GradCase("PRelu", 7).inputs({4}, {}),
      GradCase("ThresholdedRelu", 10).input({3, 4}),  // alpha 1: draws on both sides
      GradCase("ThresholdedRelu", 13).input({3, 4}).attr("alpha", -0.5f),
      GradCase("Erf", 13).input({3, 4}),
      GradCase("Erf", 9).input({5}),
      GradCase("Pow", 15).inputs({2, 3}, {2, 3}).positive(),
      GradCase("Pow", 13).inputs({2, 3}, {3}).positive(),
      GradCase("Pow", 12).inputs({2, 3}, {}).positive(),
      GradCase("Pow", 7).inputs({2, 3}, {2, 3}).positive(),
      GradCase("Pow", 7).inputs({4, 1}, {1, 3}).output({4, 3}).positive(),
      // Signed bases with a fixed exponent: a float one, and an int64 one (Pow-12+ types).
      GradCase("Pow", 13).input({2, 3}).fixed(1, scalar_f64(3.0)),
      GradCase("Pow", 15).input({2, 3}).fixed(1, int64s({2})),
      GradCase("Abs", 13).input({3, 4}),
      GradCase("Abs", 7).input({5}),
      GradCase("Reciprocal", 13).input({3, 4}),
      GradCase("Reciprocal", 7).input({5}),
      GradCase("Sin", 7).input({3, 4}),
      GradCase("Sin", 13).input({5}),
      GradCase("Cos", 7).input({3, 4}),
      GradCase("Cos", 13).input({5}),
      GradCase("Tan", 7).input({3, 4}),
      GradCase("Tan", 13).input({5}),
      GradCase("Atan", 7).input({3, 4}),
      GradCase("Atan", 13).input({5}),
      GradCase("Sinh", 9).input({3, 4}),
      GradCase("Sinh", 13).input({5}),
      GradCase("Cosh", 9).input({3, 4}),
      GradCase("Cosh", 13).input({5}),
      // Inverse trigonometric / hyperbolic: inputs inside the domains (|x| <= 0.9, x >= 1.1).
      GradCase("Asin", 7).input({3, 4}).magnitude(0.2, 0.9),
      GradCase("Asin", 13).input({5}).magnitude(0.2, 0.9),
      GradCase("Acos", 7).input({3, 4}).magnitude(0.2, 0.9),
      GradCase("Acos", 13).input({5}).magnitude(0.2, 0.9),
      GradCase("Asinh", 9).input({3, 4}),
      GradCase("Asinh", 13).input({5}),
      GradCase("Acosh", 9).input({3, 4}).positive().magnitude(1.1, 2.5),
      GradCase("Acosh", 13).input({5}).positive().magnitude(1.1, 2.5),
      GradCase("Atanh", 9).input({3, 4}).magnitude(0.2, 0.9),
      GradCase("Atanh", 13).input({5}).magnitude(0.2, 0.9),
      // Shrink: draws on both sides of lambd (0.5 by default), none within 0.05 of it.
      GradCase("Shrink", 9).input({3, 4}).attr("lambd", 0.7f).attr("bias", 0.3f),
      GradCase("Shrink", 13).input({4, 4}),
      // Clip: attributes before 11 (opset 7 = mask form), inputs from 11.
      GradCase("Clip", 7).input({3, 4}).attr("min", -0.5f).attr("max", 0.6f),
      GradCase("Clip", 10).input({3, 4}).attr("max", 0.5f),
      GradCase("Clip", 10).input({3, 4}),  // no bounds: identity
      GradCase("Clip", 11).input({3, 4}).fixed(1, scalar_f64(-0.5)).fixed(2, scalar_f64(0.6)),
      GradCase("Clip", 12).input({3, 4}).fixed(1, scalar_f64(-0.7)),  // min only
      GradCase("Clip", 13).input({3, 4}).fixed(1, scalar_f64(-0.5)).fixed(2, scalar_f64(0.6)),
      GradCase("Clip", 13).input({3, 4}),  // no bounds: identity
      GradCase("Clip", 7).input({3, 4}).attr("min", -0.5f),
      GradCase("Max", 13).inputs({2, 3}, {2, 3}, {2, 3}),
      GradCase("Max", 13).inputs({2, 3}, {3}),
      GradCase("Max", 12).input({3}),
      GradCase("Max", 8).inputs({2, 1}, {1, 3}).output({2, 3}),
      GradCase("Max", 7).inputs({4}, {4}),
      GradCase("Min", 13).inputs({2, 3}, {2, 3}, {2, 3}),
      GradCase("Min", 13).inputs({2, 3}, {3}),
      GradCase("Min", 12).input({3}),
      GradCase("Min", 8).inputs({2, 1}, {1, 3}).output({2, 3}),
      GradCase("Min", 7).inputs({4}, {4}),
      GradCase("Sum", 13).inputs({2, 3}, {2, 3}, {2, 3}),
      GradCase("Sum", 13).input({3}),
      GradCase("Sum", 8).inputs({2, 3}, {3}, {2, 1}),
      GradCase("Sum", 7).inputs({4}, {4}),
      GradCase("Mean", 13).inputs({2, 3}, {2, 3}, {2, 3}),
      GradCase("Mean", 13).input({3}),
      GradCase("Mean", 8).inputs({2, 3}, {3}, {2, 1}),
      GradCase("Mean", 7).inputs({4}, {4}),
      // Where: the condition is a fixed bool input at position 0.
      GradCase("Where", 16).inputs({2, 3}, {2, 3}).fixed(0, bools({2, 3}, {true, false, true, false, false, true})),
      GradCase("Where", 9).inputs({2, 3}, {3}).fixed(0, bools({2, 1}, {true, false})),
      GradCase("Where", 13)
          .inputs({1, 3}, {})
          .output({2, 3})
          .fixed(0, bools({2, 3}, {false, true, true, true, false, false})),
      GradCase("Cast", 13).input({3, 4}).attr("to", 11),  // float64 -> float64
      GradCase("Cast", 9).input({5}).attr("to", 11),
      GradCase("Cast", 7).input({5}).attr("to", 11),
      // Softmax / LogSoftmax: one axis from 13, coerced to 2-D at `axis` before.
      GradCase("Softmax", 13).input({2, 3, 4}),
      GradCase("Softmax", 13).input({2, 3, 4}).attr("axis", 1),
      GradCase("Softmax", 11).input({2, 3, 4}).attr("axis", 1),
      GradCase("Softmax", 12).input({2, 3, 4}).attr("axis", -1),
      GradCase("Softmax", 7).input({2, 3, 4}),
      GradCase("Softmax", 7).input({2, 3, 4}).attr("axis", 2),
      GradCase("Softmax", 13).input({2, 2, 3, 2}).attr("axis", -2),
      GradCase("Softmax", 11).input({2, 2, 3, 2}).attr("axis", -3),
      GradCase("Softmax", 13).input({5}),
      GradCase("LogSoftmax", 13).input({2, 3, 4}),
      GradCase("LogSoftmax", 13).input({2, 3, 4}).attr("axis", 0),
      GradCase("LogSoftmax", 11).input({2, 3, 4}).attr("axis", 1),
      GradCase("LogSoftmax", 12).input({2, 3, 4}).attr("axis", -2),
      GradCase("LogSoftmax", 7).input({2, 3, 4}),
      GradCase("LogSoftmax", 9).input({2, 3, 4}).attr("axis", 0),
      GradCase("LogSoftmax", 13).input({2, 2, 3, 2}).attr("axis", 2),
      GradCase("LogSoftmax", 11).input({2, 2, 3, 2}).attr("axis", 3),
  };
}

}  // namespace onnx_train::testing
