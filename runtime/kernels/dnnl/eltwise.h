// oneDNN eltwise forward for float32 tensors, used by the activation kernels.
//
// An eltwise op is one oneDNN algorithm optionally followed by more eltwise steps fused as
// post-ops (Selu = elu then linear, HardSigmoid = linear then clip). Elementwise ops do not
// care about layout, so every tensor is run as a flat 1-D buffer; the primitive is built
// once per element count and cached.
#pragma once

#include <cstdint>
#include <map>
#include <mutex>
#include <oneapi/dnnl/dnnl.hpp>
#include <vector>

namespace onnx_train {

// One eltwise step: dst = algorithm(src; alpha, beta) in oneDNN's parametrisation.
struct EltwiseStep {
  dnnl::algorithm algorithm;
  float alpha = 0;
  float beta = 0;
};

class DnnlEltwise {
 public:
  // steps[0] is the primitive's algorithm, the rest are post-ops; must not be empty.
  explicit DnnlEltwise(std::vector<EltwiseStep> steps);

  // dst[i] = steps(src[i]) for i < count; src and dst may be the same buffer.
  void run(const float* src, float* dst, int64_t count);

 private:
  std::vector<EltwiseStep> steps_;
  std::mutex mutex_;
  std::map<int64_t, dnnl::eltwise_forward> primitives_;  // by element count
};

}  // namespace onnx_train
