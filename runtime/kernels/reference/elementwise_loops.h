// Loops shared by the elementwise and activation kernels: unary maps and numpy-broadcast
// binary/ternary maps.
//
// The broadcast maps take the fastest path the shapes allow: one flat loop when every
// operand has the output's element count (equal shapes, up to leading 1s), a flat loop
// with a hoisted scalar when one side has a single element, and otherwise a StridedWalk
// over all but the last axis with a strided inner loop along the last axis.
//
// Large flat loops with a float32/float64 output run on every core (OpenMP, the thread
// pool oneDNN uses too). Only those: their functors never throw, and an exception must not
// leave a parallel region (integer division, say, checks for zero and throws).
#pragma once

#include <array>
#include <cstdint>
#include <type_traits>

#include "onnx_train/tensor.h"
#include "runtime/core/parallel.h"
#include "runtime/kernels/util.h"

namespace onnx_train {

namespace elementwise_detail {

// Calls row(out_offset, in_offsets, inner_strides, length) once per run of the output's
// last axis; in_offsets[k] is where operand k's run starts, inner_strides[k] its step.
template <size_t N, typename Row>
void for_each_row(const Shape& out_shape, const std::array<const Shape*, N>& in_shapes, Row&& row) {
  const int64_t total = shape_numel(out_shape);
  if (total == 0) return;
  if (out_shape.empty()) {
    row(int64_t{0}, std::array<int64_t, N>{}, std::array<int64_t, N>{}, int64_t{1});
    return;
  }
  const Shape outer(out_shape.begin(), out_shape.end() - 1);
  std::vector<std::vector<int64_t>> outer_strides(N);
  std::array<int64_t, N> inner_strides{};
  for (size_t k = 0; k < N; ++k) {
    std::vector<int64_t> s = broadcast_strides(*in_shapes[k], out_shape);
    inner_strides[k] = s.back();
    s.pop_back();
    outer_strides[k] = std::move(s);
  }
  const int64_t length = out_shape.back();
  const int64_t rows = total / length;
  StridedWalk walk(outer, std::move(outer_strides));
  for (int64_t r = 0; r < rows; ++r, walk.next()) {
    std::array<int64_t, N> offsets{};
    for (size_t k = 0; k < N; ++k) offsets[k] = walk.offset(k);
    row(r * length, offsets, inner_strides, length);
  }
}

// body(i) for i < n; in parallel when O is float32/float64 and n is large.
template <typename O, typename Body>
void for_each_index(int64_t n, Body&& body) {
  if constexpr (std::is_floating_point_v<O>) {
#pragma omp parallel for if (n >= kParallelMinCheapElements) schedule(static)
    for (int64_t i = 0; i < n; ++i) body(i);
  } else {
    for (int64_t i = 0; i < n; ++i) body(i);
  }
}

}  // namespace elementwise_detail

// out[i] = f(in[i]) for i < n.
template <typename I, typename O, typename F>
void map_unary(const I* in, O* out, int64_t n, F&& f) {
  elementwise_detail::for_each_index<O>(n, [&](int64_t i) { out[i] = f(in[i]); });
}

// out = f(a, b) with numpy broadcasting; out_shape must be broadcast_shapes(a_shape, b_shape).
// `out` may alias `a` or `b` when that operand already has the output's shape.
template <typename A, typename B, typename O, typename F>
void broadcast_binary(const A* a, const Shape& a_shape, const B* b, const Shape& b_shape, O* out,
                      const Shape& out_shape, F&& f) {
  const int64_t n = shape_numel(out_shape);
  const int64_t na = shape_numel(a_shape);
  const int64_t nb = shape_numel(b_shape);
  if (na == n && nb == n) {
    elementwise_detail::for_each_index<O>(n, [&](int64_t i) { out[i] = f(a[i], b[i]); });
  } else if (na == n && nb == 1) {
    const B s = b[0];
    elementwise_detail::for_each_index<O>(n, [&](int64_t i) { out[i] = f(a[i], s); });
  } else if (na == 1 && nb == n) {
    const A s = a[0];
    elementwise_detail::for_each_index<O>(n, [&](int64_t i) { out[i] = f(s, b[i]); });
  } else {
    elementwise_detail::for_each_row<2>(out_shape, {&a_shape, &b_shape},
                                        [&](int64_t o, const auto& off, const auto& step, int64_t len) {
                                          const A* pa = a + off[0];
                                          const B* pb = b + off[1];
                                          O* po = out + o;
                                          for (int64_t j = 0; j < len; ++j) po[j] = f(pa[j * step[0]], pb[j * step[1]]);
                                        });
  }
}

// out = f(a, b, c) with numpy broadcasting of all three operands.
template <typename A, typename B, typename C, typename O, typename F>
void broadcast_ternary(const A* a, const Shape& a_shape, const B* b, const Shape& b_shape, const C* c,
                       const Shape& c_shape, O* out, const Shape& out_shape, F&& f) {
  const int64_t n = shape_numel(out_shape);
  if (shape_numel(a_shape) == n && shape_numel(b_shape) == n && shape_numel(c_shape) == n) {
    elementwise_detail::for_each_index<O>(n, [&](int64_t i) { out[i] = f(a[i], b[i], c[i]); });
    return;
  }
  elementwise_detail::for_each_row<3>(out_shape, {&a_shape, &b_shape, &c_shape},
                                      [&](int64_t o, const auto& off, const auto& step, int64_t len) {
                                        const A* pa = a + off[0];
                                        const B* pb = b + off[1];
                                        const C* pc = c + off[2];
                                        O* po = out + o;
                                        for (int64_t j = 0; j < len; ++j)
                                          po[j] = f(pa[j * step[0]], pb[j * step[1]], pc[j * step[2]]);
                                      });
}

}  // namespace onnx_train
