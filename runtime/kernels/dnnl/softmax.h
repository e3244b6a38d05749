// Softmax and log-softmax over one axis of a tensor viewed as [outer, n, inner] on oneDNN
// (float32), used by the Softmax / LogSoftmax and SoftmaxCrossEntropyLoss kernels
// (softmax.cc) and compared against the plain loops of reference/softmax_ref.h in
// tests/kernels/softmax_test.cc.
#pragma once

#include <algorithm>
#include <cmath>
#include <cstdint>
#include <memory>

#include "onnx_train/tensor.h"
#include "runtime/core/dispatch.h"

namespace onnx_train {

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
