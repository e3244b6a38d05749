// Normalizations built on a reduction: LpNormalization (ONNX 1) and
// MeanVarianceNormalization (ONNX 9, 13). Statistics are computed in double.
#include <algorithm>
#include <cmath>

#include "runtime/core/dispatch.h"
#include "runtime/kernels/kernel.h"
#include "runtime/kernels/registry.h"
#include "runtime/kernels/util.h"

namespace onnx_train {

namespace {

// LpNormalization: y = x / ||x||_p along `axis` (default -1), p = 1 or 2 (default 2).
// x and y have the same shape. Where the norm is 0 (an all-zero slice) y is 0.
class LpNormalizationKernel : public Kernel {
 public:
  explicit LpNormalizationKernel(const KernelInfo& info)
      : axis_(info.node.attr_int("axis", -1)), p_(info.node.attr_int("p", 2)) {
    OT_CHECK(p_ == 1 || p_ == 2, "{}: p = {} is not supported (use 1 or 2)", info.node.label(), p_);
  }
  void run(KernelContext& ctx) override {
    const Tensor& x = ctx.input(0);
    const size_t axis = static_cast<size_t>(normalize_axis(axis_, x.rank(), "LpNormalization axis"));
    int64_t outer = 1, inner = 1;
    const int64_t n = x.shape()[axis];
    for (size_t i = 0; i < x.shape().size(); ++i) {
      if (i < axis) outer *= x.shape()[i];
      if (i > axis) inner *= x.shape()[i];
    }
    Tensor& y = ctx.allocate_output(0, x.dtype(), x.shape());
    visit_float(x.dtype(), [&](auto tag) {
      using T = typename decltype(tag)::type;
      const T* in = x.data<T>();
      T* out = y.data<T>();
      for (int64_t o = 0; o < outer; ++o) {
        for (int64_t i = 0; i < inner; ++i) {
          const int64_t base = o * n * inner + i;
          double norm = 0;
          for (int64_t k = 0; k < n; ++k) {
            const double v = to_compute(in[base + k * inner]);
            norm += p_ == 1 ? std::abs(v) : v * v;
          }
          if (p_ == 2) norm = std::sqrt(norm);
          for (int64_t k = 0; k < n; ++k) {
            const double v = to_compute(in[base + k * inner]);
            out[base + k * inner] = from_compute<T>(norm == 0 ? 0.0 : v / norm);
          }
        }
      }
    });
  }

 private:
  int64_t axis_;
  int64_t p_;
};

// MeanVarianceNormalization: y = (x - mean) / (sqrt(mean(x^2) - mean^2) + 1e-9), the means
// taken over `axes` (default [0, 2, 3]). x and y have the same shape.
class MeanVarianceNormalizationKernel : public Kernel {
 public:
  explicit MeanVarianceNormalizationKernel(const KernelInfo& info) : axes_(info.node.attr_ints("axes", {0, 2, 3})) {}
  void run(KernelContext& ctx) override {
    const Node& node = ctx.node();
    const Tensor& x = ctx.input(0);
    Shape stat_shape = x.shape();
    int64_t count = 1;
    std::vector<bool> reduced(stat_shape.size(), false);
    for (int64_t a : axes_) {
      const size_t i = static_cast<size_t>(normalize_axis(a, x.rank(), "MeanVarianceNormalization axis"));
      OT_CHECK(!reduced[i], "{}: axes {} list axis {} twice", node.label(), shape_str(axes_), i);
      reduced[i] = true;
      count *= stat_shape[i];
      stat_shape[i] = 1;
    }
    std::vector<int64_t> stat_strides = strides_of(stat_shape);
    for (size_t i = 0; i < reduced.size(); ++i)
      if (reduced[i]) stat_strides[i] = 0;
    const size_t stats = static_cast<size_t>(shape_numel(stat_shape));
    std::vector<double> sum(stats, 0.0), sum_sq(stats, 0.0);
    Tensor& y = ctx.allocate_output(0, x.dtype(), x.shape());
    const int64_t n = x.numel();
    visit_float(x.dtype(), [&](auto tag) {
      using T = typename decltype(tag)::type;
      const T* in = x.data<T>();
      T* out = y.data<T>();
      StridedWalk walk(x.shape(), {stat_strides});
      for (int64_t i = 0; i < n; ++i, walk.next()) {
        const double v = to_compute(in[i]);
        sum[static_cast<size_t>(walk.offset(0))] += v;
        sum_sq[static_cast<size_t>(walk.offset(0))] += v * v;
      }
      for (size_t s = 0; s < stats; ++s) {
        const double mean = sum[s] / static_cast<double>(count);
        const double variance = std::max(0.0, sum_sq[s] / static_cast<double>(count) - mean * mean);
        sum[s] = mean;
        sum_sq[s] = std::sqrt(variance) + 1e-9;  // now the divisor
      }
      StridedWalk again(x.shape(), {stat_strides});
      for (int64_t i = 0; i < n; ++i, again.next()) {
        const size_t s = static_cast<size_t>(again.offset(0));
        out[i] = from_compute<T>((to_compute(in[i]) - sum[s]) / sum_sq[s]);
      }
    });
  }

 private:
  std::vector<int64_t> axes_;
};

}  // namespace

ONNX_TRAIN_REGISTER_KERNELS(reduction_norm) {
  registry.add<LpNormalizationKernel>("LpNormalization", {1});
  registry.add<MeanVarianceNormalizationKernel>("MeanVarianceNormalization", {9, 13});
}

}  // namespace onnx_train
