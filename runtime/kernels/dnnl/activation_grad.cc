// Kernels of the activation and softmax gradients, in the project's own domain (ai.onnx_train).
#include "runtime/kernels/families.h"
#include "runtime/kernels/kernel.h"

namespace onnx_train {

void register_activation_grad_kernels(KernelRegistry& registry) {}

}  // namespace onnx_train
