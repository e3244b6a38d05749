// Softmax and log-softmax over one axis of a tensor viewed as [outer, n, inner]: the
// plain-loop reference (any floating-point element type) and the oneDNN float32 version,
// shared by the Softmax / LogSoftmax kernels and SoftmaxCrossEntropyLoss
// (reference/softmax_loss.cc) and compared against each other in tests/kernels/softmax_test.cc.
#pragma once

#include <algorithm>
#include <cmath>
#include <cstdint>
#include <memory>

#include "onnx_train/tensor.h"
#include "runtime/core/dispatch.h"

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

// oneDNN softmax_forward / logsoftmax_forward on float32, one primitive cached per
// [outer, n, inner] shape.
class DnnlSoftmax {
 public:
  explicit DnnlSoftmax(bool log);
  ~DnnlSoftmax();
  DnnlSoftmax(const DnnlSoftmax&) = delete;
  DnnlSoftmax& operator=(const DnnlSoftmax&) = delete;

  void run(const float* x, float* y, int64_t outer, int64_t n, int64_t inner);

 private:
  struct Cache;
  bool log_;
  std::unique_ptr<Cache> cache_;
};

// Softmax of a tensor of any floating-point type: float32 through oneDNN, the rest through
// the reference loops. `dnnl` must have been built with the same `log`.
void softmax_any(DnnlSoftmax& dnnl, const Tensor& x, Tensor& y, int64_t outer, int64_t n, int64_t inner, bool log);

}  // namespace onnx_train
