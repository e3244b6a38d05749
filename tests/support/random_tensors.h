// Random tensors for tests, each drawn from a std::mt19937 so that a test sees the same
// numbers on every run and machine. Three draws, named by what they give:
//   random_tensor(shape, rng, scale, offset)  float32 offset + scale * N(0, 1): weights and inputs
//   random_tensor<T>(shape, seed, lo, hi)     T uniform in [lo, hi), drawn as double: kernel inputs
//   random_float32(shape, rng or seed, lo, hi) float32 uniform in [lo, hi), drawn as float
// The two uniform forms give different numbers for the same seed (a double draw is two
// 32-bit draws): each test keeps the one its expectations were written against.
#pragma once

#include <cstdint>
#include <random>

#include "onnx_train/dtype.h"
#include "onnx_train/tensor.h"

namespace onnx_train::testing {

// A float32 tensor of `shape`, each value offset + scale * N(0, 1) drawn from `rng`.
inline Tensor random_tensor(const Shape& shape, std::mt19937& rng, float scale = 0.5f, float offset = 0.f) {
  std::normal_distribution<float> normal(0.f, 1.f);
  Tensor t(DType::Float32, shape);
  float* p = t.data<float>();
  for (int64_t i = 0; i < t.numel(); ++i) p[i] = offset + scale * normal(rng);
  return t;
}

// A T tensor of `shape` with values uniform in [lo, hi), drawn as doubles from std::mt19937(seed).
template <typename T>
Tensor random_tensor(const Shape& shape, uint32_t seed, double lo = -1, double hi = 1) {
  std::mt19937 rng(seed);
  std::uniform_real_distribution<double> dist(lo, hi);
  Tensor t(dtype_of<T>(), shape);
  T* p = t.data<T>();
  for (int64_t i = 0; i < t.numel(); ++i) p[i] = static_cast<T>(dist(rng));
  return t;
}

// A float32 tensor of `shape` with values uniform in [lo, hi), drawn as floats from `rng`.
inline Tensor random_float32(const Shape& shape, std::mt19937& rng, float lo = -1.f, float hi = 1.f) {
  std::uniform_real_distribution<float> dist(lo, hi);
  Tensor t(DType::Float32, shape);
  float* p = t.data<float>();
  for (int64_t i = 0; i < t.numel(); ++i) p[i] = dist(rng);
  return t;
}

// The same from std::mt19937(seed), with values in [-1, 1).
inline Tensor random_float32(const Shape& shape, unsigned seed) {
  std::mt19937 rng(seed);
  return random_float32(shape, rng);
}

}  // namespace onnx_train::testing
