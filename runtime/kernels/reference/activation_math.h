// The reference formulas of the elementwise activations and of their gradients, templated on
// the compute type (float or double; float16/bfloat16 compute in float): the plain loops of
// the activation kernels (dnnl/activations.cc, dnnl/activation_grad.cc) for every type
// oneDNN does not take, and their oracles. Attributes and their defaults: activation_params.h.
#pragma once

#include <algorithm>
#include <cmath>

#include "runtime/kernels/activation_params.h"

namespace onnx_train {

// y = activation(x).
template <Act Op, typename C>
C activate(C x, const ActParams& p) {
  const C zero{0};
  const C one{1};
  if constexpr (Op == Act::Relu) {
    return x > zero ? x : zero;  // Relu: max(0, x)
  } else if constexpr (Op == Act::Sigmoid) {
    // 1 / (1 + exp(-x)), written so exp never overflows.
    if (x >= zero) return one / (one + std::exp(-x));
    const C e = std::exp(x);
    return e / (one + e);
  } else if constexpr (Op == Act::Tanh) {
    return std::tanh(x);
  } else if constexpr (Op == Act::LeakyRelu) {
    return x < zero ? static_cast<C>(p.alpha) * x : x;  // alpha * x for x < 0
  } else if constexpr (Op == Act::Elu) {
    return x < zero ? static_cast<C>(p.alpha) * std::expm1(x) : x;  // alpha * (exp(x) - 1) for x < 0
  } else if constexpr (Op == Act::Selu) {
    // gamma * (alpha * exp(x) - alpha) for x <= 0, gamma * x otherwise
    const C alpha = static_cast<C>(p.alpha);
    const C gamma = static_cast<C>(p.gamma);
    return x > zero ? gamma * x : gamma * alpha * std::expm1(x);
  } else if constexpr (Op == Act::Celu) {
    // max(0, x) + min(0, alpha * (exp(x / alpha) - 1))
    const C alpha = static_cast<C>(p.alpha);
    return x > zero ? x : alpha * std::expm1(x / alpha);
  } else if constexpr (Op == Act::Softplus) {
    // log(1 + exp(x)), written so exp never overflows.
    return x > zero ? x + std::log1p(std::exp(-x)) : std::log1p(std::exp(x));
  } else if constexpr (Op == Act::Softsign) {
    return x / (one + std::abs(x));  // x / (1 + |x|)
  } else if constexpr (Op == Act::HardSigmoid) {
    // max(0, min(1, alpha * x + beta))
    const C v = static_cast<C>(p.alpha) * x + static_cast<C>(p.beta);
    return std::max(zero, std::min(one, v));
  } else if constexpr (Op == Act::HardSwish) {
    // x * max(0, min(1, x / 6 + 1 / 2))
    const C v = x / C{6} + C{0.5};
    return x * std::max(zero, std::min(one, v));
  } else if constexpr (Op == Act::ThresholdedRelu) {
    return x > static_cast<C>(p.alpha) ? x : zero;  // x for x > alpha, else 0
  } else if constexpr (Op == Act::Shrink) {
    // x + bias for x < -lambd, x - bias for x > lambd, else 0
    const C bias = static_cast<C>(p.bias);
    const C lambd = static_cast<C>(p.lambd);
    if (x < -lambd) return static_cast<C>(x + bias);
    if (x > lambd) return static_cast<C>(x - bias);
    return zero;
  } else {
    static_assert(Op != Op, "no forward formula for this activation");
  }
}

// dx for one element: v is the forward input x or output y (as each <Op>Grad op takes it).
//   Relu(y):           y > 0 ? dy : 0
//   LeakyRelu(x):      x > 0 ? dy : alpha dy
//   Elu(x):            x > 0 ? dy : alpha e^x dy
//   Selu(x):           x > 0 ? gamma dy : gamma alpha e^x dy
//   Sigmoid(y):        dy y (1 - y)
//   Tanh(y):           dy (1 - y^2)
//   HardSigmoid(x):    0 < alpha x + beta < 1 ? alpha dy : 0
//   HardSwish(x):      x < -3 ? 0 : x > 3 ? dy : dy (x / 3 + 1/2)
//   Softplus(x):       dy sigmoid(x)
//   Clip(x):           min <= x <= max ? dy : 0
template <Act Op, typename C>
C activation_grad(C dy, C v, const ActParams& p) {
  const C zero{0};
  const C one{1};
  if constexpr (Op == Act::Relu) {
    return v > zero ? dy : zero;
  } else if constexpr (Op == Act::LeakyRelu) {
    return v > zero ? dy : static_cast<C>(p.alpha) * dy;
  } else if constexpr (Op == Act::Elu) {
    return v > zero ? dy : static_cast<C>(p.alpha) * std::exp(v) * dy;
  } else if constexpr (Op == Act::Selu) {
    const C gamma = static_cast<C>(p.gamma);
    return v > zero ? gamma * dy : gamma * static_cast<C>(p.alpha) * std::exp(v) * dy;
  } else if constexpr (Op == Act::Sigmoid) {
    return dy * v * (one - v);
  } else if constexpr (Op == Act::Tanh) {
    return dy * (one - v * v);
  } else if constexpr (Op == Act::HardSigmoid) {
    const C alpha = static_cast<C>(p.alpha);
    const C u = alpha * v + static_cast<C>(p.beta);
    return u > zero && u < one ? alpha * dy : zero;
  } else if constexpr (Op == Act::HardSwish) {
    if (v < C{-3}) return zero;
    if (v > C{3}) return dy;
    return dy * (v / C{3} + C{0.5});
  } else if constexpr (Op == Act::Softplus) {
    const C sigmoid = v >= zero ? one / (one + std::exp(-v)) : std::exp(v) / (one + std::exp(v));
    return dy * sigmoid;
  } else if constexpr (Op == Act::Clip) {
    return v >= static_cast<C>(p.min) && v <= static_cast<C>(p.max) ? dy : zero;
  } else {
    static_assert(Op != Op, "no gradient formula for this activation");
  }
}

}  // namespace onnx_train
