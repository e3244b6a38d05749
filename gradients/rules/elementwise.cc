// Gradient rules of the elementwise ops. x, y: forward input / output; dy: the incoming
// gradient. Broadcast inputs pass `broadcast = true` and the driver sums them back.
#include "gradients/builder.h"
#include "gradients/rules/rules.h"

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

// dx = dy * (x > 0)
void relu_grad(GradContext& g) {
  const std::string positive = g.emit("Greater", {g.x(0), g.scalar(0, g.x(0))});
  g.set_dx(0, g.emit("Where", {positive, g.dy(0), g.scalar(0, g.x(0))}));
}

// dx = dy * y * (1 - y)
void sigmoid_grad(GradContext& g) {
  const std::string one_minus_y = g.emit("Sub", {g.scalar(1, g.y(0)), g.y(0)});
  g.set_dx(0, g.emit("Mul", {g.dy(0), g.emit("Mul", {g.y(0), one_minus_y})}));
}

// dx = dy * (1 - y * y)
void tanh_grad(GradContext& g) {
  const std::string y2 = g.emit("Mul", {g.y(0), g.y(0)});
  g.set_dx(0, g.emit("Mul", {g.dy(0), g.emit("Sub", {g.scalar(1, g.y(0)), y2})}));
}

// dx = dy * y
void exp_grad(GradContext& g) { g.set_dx(0, g.emit("Mul", {g.dy(0), g.y(0)})); }

// dx = dy / x
void log_grad(GradContext& g) { g.set_dx(0, g.emit("Div", {g.dy(0), g.x(0)})); }

// dx = dy / (2 y)
void sqrt_grad(GradContext& g) {
  g.set_dx(0, g.emit("Div", {g.dy(0), g.emit("Mul", {g.scalar(2, g.y(0)), g.y(0)})}));
}

}  // namespace

void add_elementwise_gradient_rules(std::vector<GradRuleEntry>& rules) {
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
  // No gradient flows through these (their outputs are shapes, indices or booleans).
  for (const char* op : {"Shape", "Size", "Equal", "Less", "Greater", "LessOrEqual", "GreaterOrEqual", "ArgMax",
                         "ArgMin", "NonZero", "IsNaN", "IsInf", "Not", "And", "Or", "Xor"})
    rules.push_back({"", op, {}, nullptr});
}

}  // namespace onnx_train
