// Kernels of the gradient-only ops in the project's own domain (ai.onnx_train).
#include <omp.h>

#include <algorithm>

#include "runtime/core/dispatch.h"
#include "runtime/kernels/kernel.h"
#include "runtime/kernels/registry.h"
#include "runtime/kernels/util.h"

namespace onnx_train {

namespace {

// SumToShape(grad, shape) -> reduced: the adjoint of numpy broadcasting. grad has the
// broadcast shape; `shape` (int64 1-D) is the shape it was broadcast from; every axis
// where `shape` has 1 (or that `shape` lacks, on the left) is summed:
//   reduced[j] = sum of grad[i] over all i that broadcasting maps to j.
//
// Layout: consecutive axes that are all summed or all kept merge, so grad is viewed as
// [rows, inner] with `inner` its last merged group. A row adds its `inner` values into the
// output at the row's offset (kept inner axes: elementwise, a bias of [.., C]) or adds their
// sum to one output element (summed inner axes: a per-channel bias of [N, C, H, W]). Rows
// are split between threads, each summing into its own double accumulator, then combined.
class SumToShapeKernel : public Kernel {
 public:
  explicit SumToShapeKernel(const KernelInfo&) {}

  void run(KernelContext& ctx) override {
    const Tensor& grad = ctx.input(0);
    const Shape target = ctx.input(1).to_int64s();
    bool broadcasts = target.size() <= grad.shape().size();
    for (size_t a = 0; broadcasts && a < target.size(); ++a) {
      const int64_t d = target[target.size() - 1 - a];
      broadcasts = d == 1 || d == grad.shape()[grad.shape().size() - 1 - a];
    }
    OT_CHECK(broadcasts, "{}: gradient {} is not a broadcast of shape {}", ctx.node().label(), grad.describe(),
             shape_str(target));
    if (target == grad.shape()) {  // nothing was broadcast (shapes unknown when the graph was built)
      ctx.set_output(0, grad);
      return;
    }
    Tensor& out = ctx.allocate_output(0, grad.dtype(), target);
    const View view = merged_view(grad.shape(), target);
    visit_float(grad.dtype(), [&](auto tag) {
      using T = typename decltype(tag)::type;
      using C = compute_t<T>;
      const std::vector<double> sums = sum_rows(grad.data<T>(), view, out.numel());
      T* o = out.data<T>();
      for (size_t j = 0; j < sums.size(); ++j) o[j] = from_compute<T>(static_cast<C>(sums[j]));
    });
  }

 private:
  // grad as merged axes: dims, and for each the output stride (0 where summed).
  struct View {
    std::vector<int64_t> dims, out_strides;
    int64_t inner = 1;          // the last merged group's size
    bool inner_summed = false;  // whether that group is summed (if kept, its output stride is 1)
    int64_t rows = 1;
  };

  static View merged_view(const Shape& grad_shape, const Shape& target) {
    const size_t rank = grad_shape.size(), lead = rank - target.size();
    const std::vector<int64_t> target_strides = strides_of(target);
    View v;
    for (size_t a = 0; a < rank; ++a) {
      const int64_t d = grad_shape[a];
      if (d == 1) continue;  // size-1 axes change nothing
      const bool summed = a < lead || target[a - lead] == 1;
      const int64_t stride = summed ? 0 : target_strides[a - lead];
      // Merge with the previous axis when both are summed, or both kept and contiguous.
      if (!v.dims.empty()) {
        const bool prev_summed = v.out_strides.back() == 0;
        if (summed && prev_summed) {
          v.dims.back() *= d;
          continue;
        }
        if (!summed && !prev_summed && v.out_strides.back() == stride * d) {
          v.dims.back() *= d;
          v.out_strides.back() = stride;
          continue;
        }
      }
      v.dims.push_back(d);
      v.out_strides.push_back(stride);
    }
    if (v.dims.empty()) {  // a single element
      v.dims.push_back(1);
      v.out_strides.push_back(0);
    }
    v.inner = v.dims.back();
    v.inner_summed = v.out_strides.back() == 0;
    v.dims.pop_back();
    v.out_strides.pop_back();
    for (int64_t d : v.dims) v.rows *= d;
    return v;
  }

  // The sum of row[0, n) in double, in four interleaved partial sums (element k goes to
  // partial k % 4; then (p0 + p1) + (p2 + p3) + the tail), which the compiler can keep in
  // vector registers instead of one chain of dependent adds. The order is fixed by the
  // code, so the result does not depend on the thread count or the machine.
  template <typename T>
  static double sum_row(const T* row, int64_t n) {
    double p[4] = {0, 0, 0, 0};
    int64_t k = 0;
    for (; k + 4 <= n; k += 4)
      for (int l = 0; l < 4; ++l) p[l] += static_cast<double>(to_compute(row[k + l]));
    double s = (p[0] + p[1]) + (p[2] + p[3]);
    for (; k < n; ++k) s += static_cast<double>(to_compute(row[k]));
    return s;
  }

  template <typename T>
  static std::vector<double> sum_rows(const T* g, const View& v, int64_t out_numel) {
    // No rows (a zero dimension): the sums are 0, and the index arithmetic below would divide by it.
    if (v.rows == 0) return std::vector<double>(static_cast<size_t>(out_numel), 0.0);
    const int threads = v.rows * v.inner >= (1 << 16) ? std::max(1, omp_get_max_threads()) : 1;
    std::vector<std::vector<double>> partial(static_cast<size_t>(threads), std::vector<double>(out_numel, 0.0));
#pragma omp parallel num_threads(threads)
    {
      const int t = omp_get_thread_num();
      const int64_t begin = v.rows * t / threads, end = v.rows * (t + 1) / threads;
      double* acc = partial[static_cast<size_t>(t)].data();
      // The row's multi-index over the outer merged axes, and its output offset.
      std::vector<int64_t> index(v.dims.size(), 0);
      int64_t offset = 0;
      for (int64_t r = begin, a = static_cast<int64_t>(v.dims.size()) - 1; a >= 0; --a) {
        index[static_cast<size_t>(a)] = r % v.dims[static_cast<size_t>(a)];
        r /= v.dims[static_cast<size_t>(a)];
        offset += index[static_cast<size_t>(a)] * v.out_strides[static_cast<size_t>(a)];
      }
      for (int64_t r = begin; r < end; ++r) {
        const T* row = g + r * v.inner;
        if (v.inner_summed) {
          acc[offset] += sum_row(row, v.inner);
        } else {
          double* dst = acc + offset;
#pragma omp simd
          for (int64_t k = 0; k < v.inner; ++k) dst[k] += static_cast<double>(to_compute(row[k]));
        }
        // Next row: advance the odometer.
        for (int64_t a = static_cast<int64_t>(v.dims.size()) - 1; a >= 0; --a) {
          const size_t ua = static_cast<size_t>(a);
          offset += v.out_strides[ua];
          if (++index[ua] < v.dims[ua]) break;
          offset -= v.out_strides[ua] * v.dims[ua];
          index[ua] = 0;
        }
      }
    }
    for (size_t t = 1; t < partial.size(); ++t)
      for (int64_t j = 0; j < out_numel; ++j) partial[0][static_cast<size_t>(j)] += partial[t][static_cast<size_t>(j)];
    return std::move(partial[0]);
  }
};

}  // namespace

ONNX_TRAIN_REGISTER_KERNELS(gradient) {
  registry.add<SumToShapeKernel>("SumToShape", {1}, kProjectDomain);
}

}  // namespace onnx_train
