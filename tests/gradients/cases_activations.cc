// Gradient check rows of the activation, unary math, variadic, Where, Clip, Cast and softmax
// rules. Rows at opsets 7/8 exercise the mask form (no Where before opset 9); inputs are drawn
// with |x| in [0.2, 1.2], so thresholds and clip bounds sit away from the draws' kinks.
#include "tests/gradients/gradcheck_cases.h"

namespace onnx_train::testing {

namespace {

Tensor scalar_f64(double v) { return Tensor::scalar<double>(v); }

Tensor bools(const Shape& shape, const std::vector<bool>& values) { return Tensor::from<bool>(shape, values); }

}  // namespace

std::vector<GradCase> activation_grad_cases() {
  using F = std::vector<std::pair<std::string, float>>;
  return {
      {"LeakyRelu", 16, {{3, 4}}, {3, 4}, false, {}, {}, {}, F{{"alpha", 0.1f}}},
      {"LeakyRelu", 13, {{2, 3}}, {2, 3}},
      {"LeakyRelu", 7, {{2, 3}}, {2, 3}, false, {}, {}, {}, F{{"alpha", 0.3f}}},
      {"Elu", 13, {{3, 4}}, {3, 4}, false, {}, {}, {}, F{{"alpha", 0.7f}}},
      {"Elu", 8, {{5}}, {5}},
      {"Selu", 13, {{3, 4}}, {3, 4}},
      {"Selu", 7, {{2, 3}}, {2, 3}, false, {}, {}, {}, F{{"alpha", 1.5f}, {"gamma", 2.0f}}},
      {"Celu", 12, {{3, 4}}, {3, 4}},
      {"Celu", 13, {{2, 3}}, {2, 3}, false, {}, {}, {}, F{{"alpha", 0.5f}}},
      {"Softplus", 13, {{3, 4}}, {3, 4}},
      {"Softplus", 7, {{5}}, {5}},
      {"Softsign", 13, {{3, 4}}, {3, 4}},
      {"Softsign", 7, {{5}}, {5}},
      {"HardSigmoid", 13, {{3, 4}}, {3, 4}},  // defaults: every draw in the linear part
      {"HardSigmoid", 13, {{4, 4}}, {4, 4}, false, {}, {}, {}, F{{"alpha", 0.6f}, {"beta", 0.4f}}},  // some clipped
      {"HardSigmoid", 7, {{4, 4}}, {4, 4}, false, {}, {}, {}, F{{"alpha", 0.6f}, {"beta", 0.4f}}},
      {"HardSwish", 14, {{3, 4}}, {3, 4}},
      {"HardSwish", 14, {{4, 4}}, {4, 4}, false, {}, {}, {}, {}, {}, {}, 4.5, 3.2},  // both flat parts
      {"HardSwish", 14, {{4, 4}}, {4, 4}, false, {}, {}, {}, {}, {}, {}, 2.9, 0.2},  // the middle part
      {"PRelu", 16, {{2, 3}, {2, 3}}, {2, 3}},
      {"PRelu", 16, {{2, 3, 4}, {3, 1}}, {2, 3, 4}},
      {"PRelu", 9, {{2, 3}, {3}}, {2, 3}},
      {"PRelu", 7, {{2, 3}, {1}}, {2, 3}},
      {"PRelu", 7, {{4}, {}}, {4}},
      {"ThresholdedRelu", 10, {{3, 4}}, {3, 4}},  // alpha 1: draws on both sides
      {"ThresholdedRelu", 13, {{3, 4}}, {3, 4}, false, {}, {}, {}, F{{"alpha", -0.5f}}},
      {"Erf", 13, {{3, 4}}, {3, 4}},
      {"Erf", 9, {{5}}, {5}},
      {"Pow", 15, {{2, 3}, {2, 3}}, {2, 3}, true},
      {"Pow", 13, {{2, 3}, {3}}, {2, 3}, true},
      {"Pow", 12, {{2, 3}, {}}, {2, 3}, true},
      {"Pow", 7, {{2, 3}, {2, 3}}, {2, 3}, true},
      {"Pow", 7, {{4, 1}, {1, 3}}, {4, 3}, true},
      // Signed bases with a fixed exponent: a float one, and an int64 one (Pow-12+ types).
      {"Pow", 13, {{2, 3}}, {2, 3}, false, {}, {}, {{1, scalar_f64(3.0)}}},
      {"Pow", 15, {{2, 3}}, {2, 3}, false, {}, {}, {{1, int64s({2})}}},
      {"Abs", 13, {{3, 4}}, {3, 4}},
      {"Abs", 7, {{5}}, {5}},
      {"Reciprocal", 13, {{3, 4}}, {3, 4}},
      {"Reciprocal", 7, {{5}}, {5}},
      {"Sin", 7, {{3, 4}}, {3, 4}},
      {"Sin", 13, {{5}}, {5}},
      {"Cos", 7, {{3, 4}}, {3, 4}},
      {"Cos", 13, {{5}}, {5}},
      {"Tan", 7, {{3, 4}}, {3, 4}},
      {"Tan", 13, {{5}}, {5}},
      {"Atan", 7, {{3, 4}}, {3, 4}},
      {"Atan", 13, {{5}}, {5}},
      {"Sinh", 9, {{3, 4}}, {3, 4}},
      {"Sinh", 13, {{5}}, {5}},
      {"Cosh", 9, {{3, 4}}, {3, 4}},
      {"Cosh", 13, {{5}}, {5}},
      // Inverse trigonometric / hyperbolic: inputs inside the domains (|x| <= 0.9, x >= 1.1).
      {"Asin", 7, {{3, 4}}, {3, 4}, false, {}, {}, {}, {}, {}, {}, 0.9},
      {"Asin", 13, {{5}}, {5}, false, {}, {}, {}, {}, {}, {}, 0.9},
      {"Acos", 7, {{3, 4}}, {3, 4}, false, {}, {}, {}, {}, {}, {}, 0.9},
      {"Acos", 13, {{5}}, {5}, false, {}, {}, {}, {}, {}, {}, 0.9},
      {"Asinh", 9, {{3, 4}}, {3, 4}},
      {"Asinh", 13, {{5}}, {5}},
      {"Acosh", 9, {{3, 4}}, {3, 4}, true, {}, {}, {}, {}, {}, {}, 2.5, 1.1},
      {"Acosh", 13, {{5}}, {5}, true, {}, {}, {}, {}, {}, {}, 2.5, 1.1},
      {"Atanh", 9, {{3, 4}}, {3, 4}, false, {}, {}, {}, {}, {}, {}, 0.9},
      {"Atanh", 13, {{5}}, {5}, false, {}, {}, {}, {}, {}, {}, 0.9},
      // Shrink: draws on both sides of lambd (0.5 by default), none within 0.05 of it.
      {"Shrink", 9, {{3, 4}}, {3, 4}, false, {}, {}, {}, F{{"lambd", 0.7f}, {"bias", 0.3f}}},
      {"Shrink", 13, {{4, 4}}, {4, 4}},
      // Clip: attributes before 11 (opset 7 = mask form), inputs from 11.
      {"Clip", 7, {{3, 4}}, {3, 4}, false, {}, {}, {}, F{{"min", -0.5f}, {"max", 0.6f}}},
      {"Clip", 10, {{3, 4}}, {3, 4}, false, {}, {}, {}, F{{"max", 0.5f}}},
      {"Clip", 10, {{3, 4}}, {3, 4}},  // no bounds: identity
      {"Clip", 11, {{3, 4}}, {3, 4}, false, {}, {}, {{1, scalar_f64(-0.5)}, {2, scalar_f64(0.6)}}},
      {"Clip", 12, {{3, 4}}, {3, 4}, false, {}, {}, {{1, scalar_f64(-0.7)}}},  // min only
      {"Clip", 13, {{3, 4}}, {3, 4}, false, {}, {}, {{1, scalar_f64(-0.5)}, {2, scalar_f64(0.6)}}},
      {"Clip", 13, {{3, 4}}, {3, 4}},  // no bounds: identity
      {"Clip", 7, {{3, 4}}, {3, 4}, false, {}, {}, {}, F{{"min", -0.5f}}},
      {"Max", 13, {{2, 3}, {2, 3}, {2, 3}}, {2, 3}},
      {"Max", 13, {{2, 3}, {3}}, {2, 3}},
      {"Max", 12, {{3}}, {3}},
      {"Max", 8, {{2, 1}, {1, 3}}, {2, 3}},
      {"Max", 7, {{4}, {4}}, {4}},
      {"Min", 13, {{2, 3}, {2, 3}, {2, 3}}, {2, 3}},
      {"Min", 13, {{2, 3}, {3}}, {2, 3}},
      {"Min", 12, {{3}}, {3}},
      {"Min", 8, {{2, 1}, {1, 3}}, {2, 3}},
      {"Min", 7, {{4}, {4}}, {4}},
      {"Sum", 13, {{2, 3}, {2, 3}, {2, 3}}, {2, 3}},
      {"Sum", 13, {{3}}, {3}},
      {"Sum", 8, {{2, 3}, {3}, {2, 1}}, {2, 3}},
      {"Sum", 7, {{4}, {4}}, {4}},
      {"Mean", 13, {{2, 3}, {2, 3}, {2, 3}}, {2, 3}},
      {"Mean", 13, {{3}}, {3}},
      {"Mean", 8, {{2, 3}, {3}, {2, 1}}, {2, 3}},
      {"Mean", 7, {{4}, {4}}, {4}},
      // Where: the condition is a fixed bool input at position 0.
      {"Where",
       16,
       {{2, 3}, {2, 3}},
       {2, 3},
       false,
       {},
       {},
       {{0, bools({2, 3}, {true, false, true, false, false, true})}}},
      {"Where", 9, {{2, 3}, {3}}, {2, 3}, false, {}, {}, {{0, bools({2, 1}, {true, false})}}},
      {"Where", 13, {{1, 3}, {}}, {2, 3}, false, {}, {}, {{0, bools({2, 3}, {false, true, true, true, false, false})}}},
      {"Cast", 13, {{3, 4}}, {3, 4}, false, {{"to", 11}}},  // float64 -> float64
      {"Cast", 9, {{5}}, {5}, false, {{"to", 11}}},
      {"Cast", 7, {{5}}, {5}, false, {{"to", 11}}},
      // Softmax / LogSoftmax: one axis from 13, coerced to 2-D at `axis` before.
      {"Softmax", 13, {{2, 3, 4}}, {2, 3, 4}},
      {"Softmax", 13, {{2, 3, 4}}, {2, 3, 4}, false, {{"axis", 1}}},
      {"Softmax", 11, {{2, 3, 4}}, {2, 3, 4}, false, {{"axis", 1}}},
      {"Softmax", 12, {{2, 3, 4}}, {2, 3, 4}, false, {{"axis", -1}}},
      {"Softmax", 7, {{2, 3, 4}}, {2, 3, 4}},
      {"Softmax", 7, {{2, 3, 4}}, {2, 3, 4}, false, {{"axis", 2}}},
      {"Softmax", 13, {{2, 2, 3, 2}}, {2, 2, 3, 2}, false, {{"axis", -2}}},
      {"Softmax", 11, {{2, 2, 3, 2}}, {2, 2, 3, 2}, false, {{"axis", -3}}},
      {"Softmax", 13, {{5}}, {5}},
      {"LogSoftmax", 13, {{2, 3, 4}}, {2, 3, 4}},
      {"LogSoftmax", 13, {{2, 3, 4}}, {2, 3, 4}, false, {{"axis", 0}}},
      {"LogSoftmax", 11, {{2, 3, 4}}, {2, 3, 4}, false, {{"axis", 1}}},
      {"LogSoftmax", 12, {{2, 3, 4}}, {2, 3, 4}, false, {{"axis", -2}}},
      {"LogSoftmax", 7, {{2, 3, 4}}, {2, 3, 4}},
      {"LogSoftmax", 9, {{2, 3, 4}}, {2, 3, 4}, false, {{"axis", 0}}},
      {"LogSoftmax", 13, {{2, 2, 3, 2}}, {2, 2, 3, 2}, false, {{"axis", 2}}},
      {"LogSoftmax", 11, {{2, 2, 3, 2}}, {2, 2, 3, 2}, false, {{"axis", 3}}},
  };
}

}  // namespace onnx_train::testing
