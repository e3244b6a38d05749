#include "runtime/kernels/kernel.h"

namespace onnx_train {

void register_linalg_kernels(KernelRegistry& registry) {}

}  // namespace onnx_train
