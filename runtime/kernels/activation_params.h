// The activation ops' attributes and ONNX's defaults for them, in one table read by the
// forward kernels (dnnl/activations.cc) and by the fused gradient kernels
// (dnnl/activation_grad.cc), whose <Op>Grad nodes carry the forward node's attributes.
//
// This is not where the formulas are: they are in reference/activation_math.h.
#pragma once

#include <cmath>
#include <optional>

#include "onnx_train/error.h"
#include "runtime/ir/graph.h"

namespace onnx_train {

// Every elementwise activation a kernel computes (forward, gradient, or both); Clip's only
// kernel here is its gradient.
enum class Act {
  Relu,
  Sigmoid,
  Tanh,
  LeakyRelu,
  Elu,
  Selu,
  Celu,
  Softplus,
  Softsign,
  HardSigmoid,
  HardSwish,
  ThresholdedRelu,
  Shrink,
  Clip
};

// Attribute values of an activation (only the ones the op has are read) and, for Clip, the
// bounds, which are inputs (absent = unbounded).
struct ActParams {
  float alpha = 0;
  float beta = 0;
  float gamma = 0;
  float bias = 0;
  float lambd = 0;
  double min = -INFINITY;
  double max = INFINITY;
};

// One row per op: the float attributes its ONNX schema has, each with its default (an empty
// field: the op has no such attribute).
struct ActivationAttributes {
  std::optional<float> alpha, beta, gamma, bias, lambd;
};

inline ActivationAttributes activation_attributes(Act op) {
  switch (op) {
    case Act::LeakyRelu: return {0.01f, {}, {}, {}, {}};
    case Act::Elu: return {1.0f, {}, {}, {}, {}};
    case Act::Celu: return {1.0f, {}, {}, {}, {}};
    case Act::ThresholdedRelu: return {1.0f, {}, {}, {}, {}};
    // Selu's constants: alpha = 1.6732632423543772848170429916717, gamma =
    // 1.0507009873554804934193349852946, rounded to float32 as the schema states them.
    case Act::Selu: return {1.67326319217681884765625f, {}, 1.05070102214813232421875f, {}, {}};
    case Act::HardSigmoid: return {0.2f, 0.5f, {}, {}, {}};
    case Act::Shrink: return {{}, {}, {}, 0.0f, 0.5f};
    default: return {};
  }
}

// Reads the attributes `op` has from `node` (ONNX's defaults where absent) and checks them.
inline ActParams read_activation_params(Act op, const Node& node) {
  const ActivationAttributes attrs = activation_attributes(op);
  ActParams p;
  if (attrs.alpha) p.alpha = node.attr_float("alpha", *attrs.alpha);
  if (attrs.beta) p.beta = node.attr_float("beta", *attrs.beta);
  if (attrs.gamma) p.gamma = node.attr_float("gamma", *attrs.gamma);
  if (attrs.bias) p.bias = node.attr_float("bias", *attrs.bias);
  if (attrs.lambd) p.lambd = node.attr_float("lambd", *attrs.lambd);
  if (op == Act::Shrink) OT_CHECK(p.lambd >= 0, "{}: attribute lambd must be >= 0, got {}", node.label(), p.lambd);
  if (op == Act::Celu) OT_CHECK(p.alpha != 0, "{}: attribute alpha must not be 0 (Celu divides by it)", node.label());
  return p;
}

}  // namespace onnx_train
