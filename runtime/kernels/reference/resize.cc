#include "runtime/kernels/kernel.h"

namespace onnx_train {

void register_resize_kernels(KernelRegistry& registry) {}

}  // namespace onnx_train
