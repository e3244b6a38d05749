#include "runtime/kernels/kernel.h"

namespace onnx_train {

void register_reduction_kernels(KernelRegistry& registry) {}

}  // namespace onnx_train
