// Miscellaneous math kernels: Unique (distinct values or slices of a tensor) and Det
// (batched determinants).
#include <algorithm>
#include <cmath>
#include <cstdint>
#include <numeric>
#include <type_traits>
#include <utility>
#include <vector>

#include "runtime/core/dispatch.h"
#include "runtime/kernels/kernel.h"
#include "runtime/kernels/registry.h"
#include "runtime/kernels/util.h"

namespace onnx_train {

namespace {

// ---------------------------------------------------------------------------------------
// Unique-11.
//
// Without `axis`, x is flattened and its distinct values are found; with `axis`, the
// distinct slices x[..., i, ...] along that axis (compared element by element in
// row-major order). With sorted = 1 (default) they come in ascending (lexicographic)
// order, with sorted = 0 in the order of their first occurrence. Outputs:
//   Y               the distinct values [U] (or x with U slices along `axis`)
//   indices         [U] int64: where each first occurs in x (along `axis`)
//   inverse_indices [n] int64: for each value (slice) of x, its position in Y
//   counts          [U] int64: how often each occurs
// Floating-point NaNs are treated as equal to each other and larger than any number.

// A strict weak order on element values (NaN last) and the matching equality.
template <typename T>
bool value_less(T a, T b) {
  const auto x = to_compute(a), y = to_compute(b);
  if constexpr (std::is_floating_point_v<decltype(x)>) {
    if (std::isnan(x)) return false;
    if (std::isnan(y)) return true;
  }
  return x < y;
}

template <typename T>
bool value_equal(T a, T b) {
  return !value_less(a, b) && !value_less(b, a);
}

class UniqueKernel : public Kernel {
 public:
  explicit UniqueKernel(const KernelInfo& info)
      : has_axis_(info.node.has_attr("axis")),
        axis_(info.node.attr_int("axis", 0)),
        sorted_(info.node.attr_int("sorted", 1)) {
    OT_CHECK(sorted_ == 0 || sorted_ == 1, "{}: sorted must be 0 or 1, got {}", info.node.label(), sorted_);
  }

  void run(KernelContext& ctx) override {
    const Tensor& x = ctx.input(0);
    visit_dtype(x.dtype(), [&](auto tag) { run_typed<typename decltype(tag)::type>(ctx, x); });
  }

 private:
  template <typename T>
  void run_typed(KernelContext& ctx, const Tensor& x) {
    // x as [outer, n, inner]: slice i is every x[o, i, j], compared in (o, j) order.
    int64_t outer = 1, n = x.numel(), inner = 1, axis = 0;
    if (has_axis_) {
      OT_CHECK(x.rank() >= 1, "{}: axis is given but the input {} is a scalar", ctx.node().label(), x.describe());
      axis = normalize_axis(axis_, x.rank(), "axis");
      n = x.shape()[static_cast<size_t>(axis)];
      for (int64_t d = 0; d < x.rank(); ++d) {
        if (d < axis) outer *= x.shape()[static_cast<size_t>(d)];
        if (d > axis) inner *= x.shape()[static_cast<size_t>(d)];
      }
    }
    const T* xs = x.data<T>();
    auto slice_less = [&](int64_t a, int64_t b) {
      for (int64_t o = 0; o < outer; ++o)
        for (int64_t j = 0; j < inner; ++j) {
          const T va = xs[(o * n + a) * inner + j], vb = xs[(o * n + b) * inner + j];
          if (value_less(va, vb)) return true;
          if (value_less(vb, va)) return false;
        }
      return false;
    };

    // Group equal slices: after a stable sort, each run of equal slices starts with its
    // first occurrence.
    std::vector<int64_t> order(static_cast<size_t>(n));
    std::iota(order.begin(), order.end(), 0);
    std::stable_sort(order.begin(), order.end(), slice_less);
    std::vector<int64_t> first, counts;                  // per distinct slice, in sorted order
    std::vector<int64_t> group(static_cast<size_t>(n));  // slice -> its distinct slice (sorted order)
    for (size_t i = 0; i < order.size(); ++i) {
      if (i == 0 || slice_less(order[i - 1], order[i])) {
        first.push_back(order[i]);
        counts.push_back(0);
      }
      ++counts.back();
      group[static_cast<size_t>(order[i])] = static_cast<int64_t>(first.size()) - 1;
    }
    const int64_t unique = static_cast<int64_t>(first.size());

    // position[g]: where distinct slice g (sorted order) goes in the outputs.
    std::vector<int64_t> position(static_cast<size_t>(unique));
    std::iota(position.begin(), position.end(), 0);
    if (sorted_ == 0) {
      std::vector<int64_t> by_first(position);
      std::sort(by_first.begin(), by_first.end(),
                [&](int64_t a, int64_t b) { return first[static_cast<size_t>(a)] < first[static_cast<size_t>(b)]; });
      for (int64_t p = 0; p < unique; ++p) position[static_cast<size_t>(by_first[static_cast<size_t>(p)])] = p;
    }

    Shape y_shape{unique};
    if (has_axis_) {
      y_shape = x.shape();
      y_shape[static_cast<size_t>(axis)] = unique;
    }
    T* y = ctx.allocate_output(0, x.dtype(), y_shape).template data<T>();
    for (int64_t g = 0; g < unique; ++g) {
      const int64_t p = position[static_cast<size_t>(g)], src = first[static_cast<size_t>(g)];
      for (int64_t o = 0; o < outer; ++o) std::copy_n(xs + (o * n + src) * inner, inner, y + (o * unique + p) * inner);
    }
    if (ctx.output_wanted(1)) {
      int64_t* out = ctx.allocate_output(1, DType::Int64, {unique}).data<int64_t>();
      for (int64_t g = 0; g < unique; ++g) out[position[static_cast<size_t>(g)]] = first[static_cast<size_t>(g)];
    }
    if (ctx.output_wanted(2)) {
      int64_t* out = ctx.allocate_output(2, DType::Int64, {n}).data<int64_t>();
      for (int64_t i = 0; i < n; ++i) out[i] = position[static_cast<size_t>(group[static_cast<size_t>(i)])];
    }
    if (ctx.output_wanted(3)) {
      int64_t* out = ctx.allocate_output(3, DType::Int64, {unique}).data<int64_t>();
      for (int64_t g = 0; g < unique; ++g) out[position[static_cast<size_t>(g)]] = counts[static_cast<size_t>(g)];
    }
  }

  bool has_axis_;
  int64_t axis_;
  int64_t sorted_;
};

// ---------------------------------------------------------------------------------------
// Det-11: y[b] = det(x[b]) for x [..., M, M], y [...]. Each matrix is factored as
// P A = L U by Gaussian elimination with partial pivoting in double; det = (-1)^swaps *
// prod(diag U), and 0 when a pivot column is all zero. An empty (0 x 0) matrix has
// determinant 1.

// The determinant of the m x m row-major matrix in `a` (overwritten).
double determinant(std::vector<double>& a, int64_t m) {
  double det = 1.0;
  for (int64_t c = 0; c < m; ++c) {
    int64_t pivot = c;
    for (int64_t r = c + 1; r < m; ++r)
      if (std::abs(a[static_cast<size_t>(r * m + c)]) > std::abs(a[static_cast<size_t>(pivot * m + c)])) pivot = r;
    const double p = a[static_cast<size_t>(pivot * m + c)];
    if (p == 0.0) return 0.0;
    if (pivot != c) {
      for (int64_t j = 0; j < m; ++j)
        std::swap(a[static_cast<size_t>(pivot * m + j)], a[static_cast<size_t>(c * m + j)]);
      det = -det;
    }
    det *= p;
    for (int64_t r = c + 1; r < m; ++r) {
      const double f = a[static_cast<size_t>(r * m + c)] / p;
      for (int64_t j = c + 1; j < m; ++j) a[static_cast<size_t>(r * m + j)] -= f * a[static_cast<size_t>(c * m + j)];
    }
  }
  return det;
}

class DetKernel : public Kernel {
 public:
  explicit DetKernel(const KernelInfo&) {}

  void run(KernelContext& ctx) override {
    const Tensor& x = ctx.input(0);
    OT_CHECK(x.rank() >= 2 && x.dim(-1) == x.dim(-2), "{}: input {} must be [..., M, M] (square matrices)",
             ctx.node().label(), x.describe());
    const int64_t m = x.dim(-1);
    const Shape batch_shape(x.shape().begin(), x.shape().end() - 2);
    visit_float(x.dtype(), [&](auto tag) {
      using T = typename decltype(tag)::type;
      const T* xs = x.data<T>();
      T* y = ctx.allocate_output(0, x.dtype(), batch_shape).template data<T>();
      std::vector<double> a(static_cast<size_t>(m * m));
      for (int64_t b = 0, count = shape_numel(batch_shape); b < count; ++b) {
        for (int64_t i = 0; i < m * m; ++i)
          a[static_cast<size_t>(i)] = static_cast<double>(to_compute(xs[b * m * m + i]));
        y[b] = from_compute<T>(determinant(a, m));
      }
    });
  }
};

}  // namespace

ONNX_TRAIN_REGISTER_KERNELS(misc_math) {
  registry.add<UniqueKernel>("Unique", {11});
  registry.add<DetKernel>("Det", {11});
}

}  // namespace onnx_train
