// Fresh weights for model edits (a new classifier head, LoRA adapters): drawn from a 64-bit
// generator, so that a seed gives the same values on every platform.
#pragma once

#include <random>

#include "onnx_train/tensor.h"

namespace onnx_train {

// Every element uniform in [-bound, bound), float32 or float64: PyTorch's nn.Linear
// initialisation with bound = 1/sqrt(in_features) (kaiming_uniform_ with a = sqrt(5)).
inline Tensor uniform_tensor(DType dtype, const Shape& shape, double bound, std::mt19937_64& rng) {
  Tensor t(dtype, shape);
  for (int64_t i = 0; i < t.numel(); ++i) {
    const double u = static_cast<double>(rng() >> 11) * 0x1.0p-53;  // [0, 1)
    const double v = (2 * u - 1) * bound;
    if (dtype == DType::Float64)
      t.data<double>()[i] = v;
    else
      t.data<float>()[i] = static_cast<float>(v);
  }
  return t;
}

}  // namespace onnx_train
