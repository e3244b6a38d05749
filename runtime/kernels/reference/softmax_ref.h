// The plain-loop softmax family: softmax and log-softmax over one axis of a tensor viewed as
// [outer, n, inner] and their gradients (any floating-point element type, sums in double),
// and the pieces the classification losses share (the [outer, n, inner] view of a node's
// axis, the reduction attribute, the negative log-likelihood core). They are the Softmax /
// LogSoftmax / SoftmaxCrossEntropyLoss kernels' path for the types oneDNN does not take
// (dnnl/softmax.cc, dnnl/activation_grad.cc) and their oracles (tests/kernels/softmax_test.cc).
#pragma once

#include <algorithm>
#include <cmath>
#include <cstdint>
#include <optional>

#include "onnx_train/tensor.h"
#include "runtime/core/dispatch.h"
#include "runtime/core/parallel.h"
#include "runtime/kernels/kernel.h"

namespace onnx_train {

// y[o, k, i] = exp(x[o, k, i] - m) / sum_j exp(x[o, j, i] - m), or its log
// x[o, k, i] - m - log(sum_j exp(x[o, j, i] - m)), with m = max_j x[o, j, i] so that
// large inputs do not overflow. Sums accumulate in double.
template <typename T>
void softmax_reference(const T* x, T* y, int64_t outer, int64_t n, int64_t inner, bool log) {
  for (int64_t o = 0; o < outer; ++o) {
    for (int64_t i = 0; i < inner; ++i) {
      const T* in = x + o * n * inner + i;
      T* out = y + o * n * inner + i;
      double m = -INFINITY;
      for (int64_t k = 0; k < n; ++k) m = std::max<double>(m, to_compute(in[k * inner]));
      double sum = 0;
      for (int64_t k = 0; k < n; ++k) sum += std::exp(static_cast<double>(to_compute(in[k * inner])) - m);
      const double log_sum = std::log(sum);
      for (int64_t k = 0; k < n; ++k) {
        const double shifted = static_cast<double>(to_compute(in[k * inner])) - m;
        out[k * inner] = from_compute<T>(log ? shifted - log_sum : std::exp(shifted) / sum);
      }
    }
  }
}

// Over the axis of [outer, n, inner] (sums in double):
//   softmax:     dx = y (dy - sum_k dy_k y_k)
//   log-softmax: dx = dy - e^y sum_k dy_k
template <bool Log, typename T>
void softmax_grad_reference(const T* dy, const T* y, T* dx, int64_t outer, int64_t n, int64_t inner) {
  const int64_t lines = outer * inner;
  const auto line = [&](int64_t l) {
    const int64_t o = l / inner, i = l % inner;
    const int64_t base = o * n * inner + i;
    double sum = 0;
    for (int64_t k = 0; k < n; ++k) {
      const double g = to_compute(dy[base + k * inner]);
      sum += Log ? g : g * static_cast<double>(to_compute(y[base + k * inner]));
    }
    for (int64_t k = 0; k < n; ++k) {
      const int64_t at = base + k * inner;
      const double g = to_compute(dy[at]);
      if constexpr (Log) {
        // e^y in the compute type (expf for float32): y <= 0, so it cannot overflow.
        dx[at] = from_compute<T>(g - static_cast<double>(std::exp(to_compute(y[at]))) * sum);
      } else {
        dx[at] = from_compute<T>(static_cast<double>(to_compute(y[at])) * (g - sum));
      }
    }
  };
#pragma omp parallel for if (lines * n >= kParallelMinCheapElements) schedule(static)
  for (int64_t l = 0; l < lines; ++l) line(l);
}

// The [outer, n, inner] view of x the normalization runs over. Before opset 13, x is
// coerced to 2-D at `axis` ([d0 * .. * d(axis-1), d(axis) * .. * d(r-1)]) and each row is
// normalized as a whole; from 13 only the single axis `axis` is normalized.
struct SoftmaxView {
  int64_t outer = 1, n = 1, inner = 1;
};
SoftmaxView softmax_view(const Node& node, const Shape& shape, int64_t axis_attr);
// The same for a Softmax / LogSoftmax / Hardmax input x, after checking it is floating point.
SoftmaxView checked_softmax_view(const Node& node, const Tensor& x, int64_t axis_attr);
// The `axis` attribute of a Softmax / LogSoftmax / Hardmax node: by default 1 before opset 13
// and -1 from 13. A negative axis counts from the end in every version (exporters emit it even
// at opset 7, where the spec does not mention it).
int64_t softmax_axis(const Node& node);

enum class LossReduction { None, Sum, Mean };
// The `reduction` attribute of a loss node (default mean).
LossReduction parse_reduction(const Node& node);

// The negative log-likelihood core shared by both losses.
//   log_prob: [N, C, d1, ..., dk]; target: [N, d1, ..., dk] (int32 or int64) with values
//   in [0, C) or equal to ignore_index; weight: optional [C].
//   l[n, d] = -log_prob[n, target[n, d], d] * w[n, d] with w = weight[target] (1 without
//   weights) and w = 0 where target == ignore_index.
//   Output: l with target's shape (reduction none), sum(l) (sum), or sum(l) / sum(w)
//   (mean; without weights and ignored targets that is the plain mean). Writes output 0.
void nll_loss(KernelContext& ctx, const Tensor& log_prob, const Tensor& target, const Tensor* weight,
              LossReduction reduction, std::optional<int64_t> ignore_index);

}  // namespace onnx_train
