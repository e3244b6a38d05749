// Small helpers shared by kernels: axes, strides and numpy-style broadcasting.
#pragma once

#include <cstdint>
#include <vector>

#include "onnx_train/tensor.h"

namespace onnx_train {

// Maps a possibly negative axis into [0, rank); throws naming `what` when out of range.
int64_t normalize_axis(int64_t axis, int64_t rank, const char* what = "axis");

// Row-major strides, in elements: strides_of({2, 3, 4}) == {12, 4, 1}.
std::vector<int64_t> strides_of(const Shape& shape);

// The numpy broadcast of two or more shapes; throws when they are incompatible.
Shape broadcast_shapes(const Shape& a, const Shape& b);
Shape broadcast_shapes(const std::vector<Shape>& shapes);

// Strides to read a tensor of shape `in` as if it had the (broadcast) shape `out`:
// 0 along broadcast dimensions. `in` is right-aligned against `out`.
std::vector<int64_t> broadcast_strides(const Shape& in, const Shape& out);

// Walks every index of `shape` in row-major order, keeping one offset per operand:
//   StridedWalk walk(out_shape, {strides_a, strides_b});
//   for (int64_t i = 0; i < n; ++i, walk.next()) out[i] = a[walk.offset(0)] + b[walk.offset(1)];
class StridedWalk {
 public:
  StridedWalk(const Shape& shape, std::vector<std::vector<int64_t>> strides);
  int64_t offset(size_t operand) const { return offsets_[operand]; }
  void next();

 private:
  Shape shape_;
  std::vector<std::vector<int64_t>> strides_;
  std::vector<int64_t> index_;
  std::vector<int64_t> offsets_;
};

// A float32 copy of a float16/bfloat16/float64 tensor (a float32 tensor is returned as is):
// the kernels that compute those types in float32 (oneDNN's, and some loops) widen with it.
Tensor to_float32(const Tensor& t);
// Writes the float32 tensor `src` into `dst` (same shape), converting to dst's float type.
void store_float32(const Tensor& src, Tensor& dst);
// The same with kernel-owned scratch, for kernels that widen every step (mixed precision's
// products): t's values as float32 in `buffer` (resized, so allocated once per shape; a
// float32 t is returned as is), and dst.numel() float32 values at src written into dst.
const float* to_float32(const Tensor& t, std::vector<float>& buffer);
void store_float32(const float* src, Tensor& dst);

// Runs `compute(x32, y32)` on a float32 copy of a float16/bfloat16 x into a float32 y32, and
// narrows y32 into y.
template <typename F>
void via_float32(const Tensor& x, Tensor& y, F&& compute) {
  Tensor y32(DType::Float32, y.shape());
  compute(to_float32(x), y32);
  store_float32(y32, y);
}

}  // namespace onnx_train
