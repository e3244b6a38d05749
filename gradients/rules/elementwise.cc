// Gradient rules of the elementwise ops. x, y: forward input / output; dy: the incoming
// gradient. Broadcast inputs pass `broadcast = true` and the driver sums them back.
#include "gradients/builder.h"
#include "gradients/rules/registry.h"

namespace onnx_train {

namespace {

// dA = dY, dB = dY
void add_grad(GradContext& g) {
  g.set_dx(0, g.dy(0), true);
  g.set_dx(1, g.dy(0), true);
}

// dA = dY, dB = -dY
void sub_grad(GradContext& g) {
  g.set_dx(0, g.dy(0), true);
  if (g.wants_dx(1)) g.set_dx(1, g.emit("Neg", {g.dy(0)}), true);
}

// dA = dY * B, dB = dY * A
void mul_grad(GradContext& g) {
  if (g.wants_dx(0)) g.set_dx(0, g.emit("Mul", {g.dy(0), g.x(1)}), true);
  if (g.wants_dx(1)) g.set_dx(1, g.emit("Mul", {g.dy(0), g.x(0)}), true);
}

// dA = dY / B, dB = -dY * Y / B
void div_grad(GradContext& g) {
  const std::string dy_over_b = g.emit("Div", {g.dy(0), g.x(1)});
  g.set_dx(0, dy_over_b, true);
  if (g.wants_dx(1)) g.set_dx(1, g.emit("Neg", {g.emit("Mul", {dy_over_b, g.y(0)})}), true);
}

// dx = -dy
void neg_grad(GradContext& g) { g.set_dx(0, g.emit("Neg", {g.dy(0)})); }

// dx = dy
void identity_grad(GradContext& g) { g.set_dx(0, g.dy(0)); }

// y = max(x, 0): dx = y > 0 ? dy : 0. The fused kernels (ReluGrad, SigmoidGrad, TanhGrad in
// runtime/kernels/dnnl/activation_grad.cc) read one input and the output in one pass.
void relu_grad(GradContext& g) { g.set_dx(0, g.emit("ReluGrad", {g.dy(0), g.y(0)}, {}, kGradientDomain)); }

// dx = dy * y * (1 - y)
void sigmoid_grad(GradContext& g) { g.set_dx(0, g.emit("SigmoidGrad", {g.dy(0), g.y(0)}, {}, kGradientDomain)); }

// dx = dy * (1 - y * y)
void tanh_grad(GradContext& g) { g.set_dx(0, g.emit("TanhGrad", {g.dy(0), g.y(0)}, {}, kGradientDomain)); }

// dx = dy * y
void exp_grad(GradContext& g) { g.set_dx(0, g.emit("Mul", {g.dy(0), g.y(0)})); }

// dx = dy / x
void log_grad(GradContext& g) { g.set_dx(0, g.emit("Div", {g.dy(0), g.x(0)})); }

// dx = dy / (2 y)
void sqrt_grad(GradContext& g) { g.set_dx(0, g.emit("Div", {g.dy(0), g.emit("Mul", {g.scalar(2, g.y(0)), g.y(0)})})); }

// y = CastLike(x, target): y = x cast to target's type; dx = dY cast back to x's type. The
// target only gives a type: no gradient.
void cast_like_grad(GradContext& g) { g.set_dx(0, g.cast_like(g.dy(0), g.x(0))); }

// Y = Mod(A, B) with fmod = 1 (floats): Y = A - B trunc(A / B), trunc piecewise constant, so
// away from the jumps (A / B an integer) dA = dY, dB = -dY trunc(A / B) = -dY (A - Y) / B.
void mod_grad(GradContext& g) {
  OT_CHECK(g.node().attr_int("fmod", 0) == 1, "{}: only Mod with fmod = 1 (float operands) has a gradient",
           g.node().label());
  g.set_dx(0, g.dy(0), true);
  if (!g.wants_dx(1)) return;
  const std::string quotient = g.emit("Div", {g.emit("Sub", {g.x(0), g.y(0)}), g.x(1)});
  g.set_dx(1, g.emit("Neg", {g.emit("Mul", {g.dy(0), quotient})}), true);
}

}  // namespace

ONNX_TRAIN_GRADIENT_RULES(elementwise) {
  rules.push_back({"", "Add", {7, 13, 14}, add_grad});
  rules.push_back({"", "Sub", {7, 13, 14}, sub_grad});
  rules.push_back({"", "Mul", {7, 13, 14}, mul_grad});
  rules.push_back({"", "Div", {7, 13, 14}, div_grad});
  rules.push_back({"", "Neg", {6, 13}, neg_grad});
  rules.push_back({"", "Identity", {1, 13, 14, 16}, identity_grad});
  rules.push_back({"", "Relu", {6, 13, 14}, relu_grad});
  rules.push_back({"", "Sigmoid", {6, 13}, sigmoid_grad});
  rules.push_back({"", "Tanh", {6, 13}, tanh_grad});
  rules.push_back({"", "Exp", {6, 13}, exp_grad});
  rules.push_back({"", "Log", {6, 13}, log_grad});
  rules.push_back({"", "Sqrt", {6, 13}, sqrt_grad});
  rules.push_back({"", "CastLike", {15}, cast_like_grad, {1}});
  rules.push_back({"", "Mod", {10, 13}, mod_grad});
  // No gradient flows through these (their outputs are shapes, indices or booleans).
  for (const char* op : {"Shape", "Size", "Equal", "Less", "Greater", "LessOrEqual", "GreaterOrEqual", "ArgMax",
                         "ArgMin", "NonZero", "IsNaN", "IsInf", "Not", "And", "Or", "Xor"})
    rules.push_back({"", op, {}, nullptr});
  // Piecewise constant: the gradient is zero almost everywhere (and undefined at the steps).
  for (const char* op : {"Ceil", "Floor", "Round", "Sign", "Hardmax"}) rules.push_back({"", op, {}, nullptr});
  // Random samples: outputs do not depend differentiably on the inputs (probabilities, shapes).
  for (const char* op :
       {"Bernoulli", "Multinomial", "RandomNormal", "RandomNormalLike", "RandomUniform", "RandomUniformLike"})
    rules.push_back({"", op, {}, nullptr});
  // Integer arithmetic, and windows / filter banks built from sizes alone.
  for (const char* op : {"BitShift", "BlackmanWindow", "HammingWindow", "HannWindow", "MelWeightMatrix"})
    rules.push_back({"", op, {}, nullptr});
  // Quantized ops: integer outputs or inputs, rounding steps (quantization-aware training
  // would need straight-through estimators, which ONNX does not define).
  for (const char* op : {"ConvInteger", "MatMulInteger", "QLinearConv", "QLinearMatMul", "QuantizeLinear",
                         "DequantizeLinear", "DynamicQuantizeLinear"})
    rules.push_back({"", op, {}, nullptr});
  // Index-valued or set-valued outputs, and constants (no inputs).
  for (const char* op : {"NonMaxSuppression", "Unique", "Constant"}) rules.push_back({"", op, {}, nullptr});
  // The training optimizers update state; a graph differentiates the loss, not its optimizer step.
  for (const char* op : {"Adagrad", "Adam", "Momentum"}) rules.push_back({"ai.onnx.preview.training", op, {}, nullptr});
}

}  // namespace onnx_train
