// Loops shared by the elementwise and activation kernels: unary maps and numpy-broadcast
// binary/ternary maps.
//
// The broadcast maps take the fastest path the shapes allow: one flat loop when every
// operand has the output's element count (equal shapes, up to leading 1s), a flat loop
// with a hoisted scalar when one side has a single element, and otherwise a walk over the
// output with its axes merged (BroadcastGeometry: neighbouring axes every operand steps
// through alike become one), so the common patterns are rows of one inner loop:
//   [N, C, H, W] op [1, C, 1, 1] or [C, 1, 1]  -> rows [N, C], inner H*W, operand b a scalar per row
//   [N, C, H, W] op [N, C, 1, 1] (SE scale)     -> rows [N*C], inner H*W, b a scalar per row
//   [..., D] op [D] (last-axis bias)            -> rows [prod(...)], inner D, both contiguous
// An inner run where each operand is contiguous or one value is a SIMD loop; anything else
// is a strided loop.
//
// Loops with a float32/float64 output are vectorised (`omp simd`: iterations are independent,
// each computes the same expression, so results are those of the plain loop) and, when large,
// run on every core (OpenMP, the thread pool oneDNN uses too): flat loops split statically,
// broadcast walks split by rows, statically. Only those: their functors never throw, and an
// exception must not leave a parallel region (integer division, say, checks for zero and
// throws).
//
// broadcast_binary_reference is the plain index-by-index oracle the tests hold these paths to.
#pragma once

#include <omp.h>

#include <array>
#include <cstdint>
#include <type_traits>
#include <vector>

#include "onnx_train/tensor.h"
#include "runtime/core/parallel.h"
#include "runtime/kernels/util.h"

namespace onnx_train {

namespace elementwise_detail {

// Whether loops writing element type O are vectorised and threaded (see the file comment).
template <typename O>
constexpr bool kFastLoops = std::is_floating_point_v<O>;

// body(j) for j < n, as one SIMD loop when Simd.
template <bool Simd, typename Body>
inline void inner_loop(int64_t n, Body&& body) {
  if constexpr (Simd) {
#pragma omp simd
    for (int64_t j = 0; j < n; ++j) body(j);
  } else {
    for (int64_t j = 0; j < n; ++j) body(j);
  }
}

// body(i) for i < n; vectorised, and in parallel when n is large, when O is float32/float64.
template <typename O, typename Body>
void for_each_index(int64_t n, Body&& body) {
  if constexpr (kFastLoops<O>) {
#pragma omp parallel for simd if (n >= kParallelMinCheapElements) schedule(static)
    for (int64_t i = 0; i < n; ++i) body(i);
  } else {
    for (int64_t i = 0; i < n; ++i) body(i);
  }
}

// The output's axes with size-1 axes dropped and neighbours merged where every operand
// steps through them as one axis (stride of the outer == stride of the inner * its size);
// strides[k][a] is operand k's step along merged axis a (0 where it is broadcast). The last
// merged axis is the inner loop. A scalar output is one axis of size 1.
template <size_t N>
struct BroadcastGeometry {
  std::vector<int64_t> dims;
  std::array<std::vector<int64_t>, N> strides;
};

template <size_t N>
BroadcastGeometry<N> merge_axes(const Shape& out_shape, const std::array<const Shape*, N>& in_shapes) {
  std::array<std::vector<int64_t>, N> full;
  for (size_t k = 0; k < N; ++k) full[k] = broadcast_strides(*in_shapes[k], out_shape);
  BroadcastGeometry<N> g;
  for (size_t a = 0; a < out_shape.size(); ++a) {
    const int64_t d = out_shape[a];
    if (d == 1) continue;
    bool merge = !g.dims.empty();
    for (size_t k = 0; merge && k < N; ++k) merge = g.strides[k].back() == full[k][a] * d;
    if (merge)
      g.dims.back() *= d;
    else
      g.dims.push_back(d);
    for (size_t k = 0; k < N; ++k) {
      if (merge)
        g.strides[k].back() = full[k][a];
      else
        g.strides[k].push_back(full[k][a]);
    }
  }
  if (g.dims.empty()) {
    g.dims.push_back(1);
    for (size_t k = 0; k < N; ++k) g.strides[k].push_back(0);
  }
  return g;
}

// Calls row(out_offset, in_offsets, inner_steps, length) once per run of g's inner axis,
// for rows [begin, end): in_offsets[k] is where operand k's run starts, inner_steps[k] its step.
template <size_t N, typename Row>
void walk_rows(const BroadcastGeometry<N>& g, int64_t begin, int64_t end, Row& row) {
  const int64_t outer = static_cast<int64_t>(g.dims.size()) - 1;
  const int64_t length = g.dims.back();
  std::array<int64_t, N> steps{}, offsets{};
  for (size_t k = 0; k < N; ++k) steps[k] = g.strides[k].back();
  // The multi-index of row `begin` over the outer axes (an odometer from there on).
  std::vector<int64_t> index(static_cast<size_t>(outer), 0);
  for (int64_t a = outer - 1, r = begin; a >= 0; --a) {
    const size_t ua = static_cast<size_t>(a);
    index[ua] = r % g.dims[ua];
    r /= g.dims[ua];
    for (size_t k = 0; k < N; ++k) offsets[k] += index[ua] * g.strides[k][ua];
  }
  for (int64_t r = begin; r < end; ++r) {
    row(r * length, offsets, steps, length);
    for (int64_t a = outer - 1; a >= 0; --a) {
      const size_t ua = static_cast<size_t>(a);
      for (size_t k = 0; k < N; ++k) offsets[k] += g.strides[k][ua];
      if (++index[ua] < g.dims[ua]) break;
      for (size_t k = 0; k < N; ++k) offsets[k] -= g.strides[k][ua] * g.dims[ua];
      index[ua] = 0;
    }
  }
}

// walk_rows over every row of the broadcast of in_shapes to out_shape (non-empty), the rows
// split statically over every core when `parallel`.
template <size_t N, typename Row>
void for_each_row(const Shape& out_shape, const std::array<const Shape*, N>& in_shapes, bool parallel, Row&& row) {
  const BroadcastGeometry<N> g = merge_axes<N>(out_shape, in_shapes);
  int64_t rows = 1;
  for (size_t a = 0; a + 1 < g.dims.size(); ++a) rows *= g.dims[a];
#pragma omp parallel if (parallel && rows > 1)
  {
    const int64_t t = omp_get_thread_num(), threads = omp_get_num_threads();
    walk_rows<N>(g, rows * t / threads, rows * (t + 1) / threads, row);
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
  using namespace elementwise_detail;
  constexpr bool fast = kFastLoops<O>;
  const int64_t n = shape_numel(out_shape);
  const int64_t na = shape_numel(a_shape);
  const int64_t nb = shape_numel(b_shape);
  if (n == 0) return;
  if (na == n && nb == n) {
    for_each_index<O>(n, [&](int64_t i) { out[i] = f(a[i], b[i]); });
  } else if (na == n && nb == 1) {
    const B s = b[0];
    for_each_index<O>(n, [&](int64_t i) { out[i] = f(a[i], s); });
  } else if (na == 1 && nb == n) {
    const A s = a[0];
    for_each_index<O>(n, [&](int64_t i) { out[i] = f(s, b[i]); });
  } else {
    auto row = [&](int64_t o, const auto& off, const auto& step, int64_t len) {
      const A* pa = a + off[0];
      const B* pb = b + off[1];
      O* po = out + o;
      if (step[0] == 1 && step[1] == 1) {
        inner_loop<fast>(len, [&](int64_t j) { po[j] = f(pa[j], pb[j]); });
      } else if (step[0] == 1 && step[1] == 0) {
        const B s = *pb;
        inner_loop<fast>(len, [&](int64_t j) { po[j] = f(pa[j], s); });
      } else if (step[0] == 0 && step[1] == 1) {
        const A s = *pa;
        inner_loop<fast>(len, [&](int64_t j) { po[j] = f(s, pb[j]); });
      } else {
        for (int64_t j = 0; j < len; ++j) po[j] = f(pa[j * step[0]], pb[j * step[1]]);
      }
    };
    for_each_row<2>(out_shape, {&a_shape, &b_shape}, fast && n >= kParallelMinCheapElements, row);
  }
}

// out = f(a, b, c) with numpy broadcasting of all three operands.
template <typename A, typename B, typename C, typename O, typename F>
void broadcast_ternary(const A* a, const Shape& a_shape, const B* b, const Shape& b_shape, const C* c,
                       const Shape& c_shape, O* out, const Shape& out_shape, F&& f) {
  using namespace elementwise_detail;
  constexpr bool fast = kFastLoops<O>;
  const int64_t n = shape_numel(out_shape);
  if (n == 0) return;
  if (shape_numel(a_shape) == n && shape_numel(b_shape) == n && shape_numel(c_shape) == n) {
    for_each_index<O>(n, [&](int64_t i) { out[i] = f(a[i], b[i], c[i]); });
    return;
  }
  auto row = [&](int64_t o, const auto& off, const auto& step, int64_t len) {
    const A* pa = a + off[0];
    const B* pb = b + off[1];
    const C* pc = c + off[2];
    O* po = out + o;
    if (step[0] == 1 && step[1] == 1 && step[2] == 1)
      inner_loop<fast>(len, [&](int64_t j) { po[j] = f(pa[j], pb[j], pc[j]); });
    else
      for (int64_t j = 0; j < len; ++j) po[j] = f(pa[j * step[0]], pb[j * step[1]], pc[j * step[2]]);
  };
  for_each_row<3>(out_shape, {&a_shape, &b_shape, &c_shape}, fast && n >= kParallelMinCheapElements, row);
}

// The oracle of broadcast_binary: out = f(a, b), each output element computed on its own
// from its multi-index (numpy broadcasting, right-aligned; size-1 axes read index 0).
template <typename A, typename B, typename O, typename F>
void broadcast_binary_reference(const A* a, const Shape& a_shape, const B* b, const Shape& b_shape, O* out,
                                const Shape& out_shape, F&& f) {
  const int64_t n = shape_numel(out_shape);
  auto offset = [&out_shape](const Shape& s, const std::vector<int64_t>& idx) {
    int64_t off = 0;
    const size_t lead = out_shape.size() - s.size();
    for (size_t d = 0; d < s.size(); ++d) off = off * s[d] + (s[d] == 1 ? 0 : idx[lead + d]);
    return off;
  };
  std::vector<int64_t> idx(out_shape.size());
  for (int64_t flat = 0; flat < n; ++flat) {
    for (int64_t d = static_cast<int64_t>(out_shape.size()) - 1, rest = flat; d >= 0; --d) {
      idx[static_cast<size_t>(d)] = rest % out_shape[static_cast<size_t>(d)];
      rest /= out_shape[static_cast<size_t>(d)];
    }
    out[flat] = f(a[offset(a_shape, idx)], b[offset(b_shape, idx)]);
  }
}

}  // namespace onnx_train
