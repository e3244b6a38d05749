// Kernels of the normalization gradients, in the project's own domain (ai.onnx_train).
#include "runtime/kernels/families.h"
#include "runtime/kernels/kernel.h"

namespace onnx_train {

void register_normalization_grad_kernels(KernelRegistry& registry) {}

}  // namespace onnx_train
