#include "runtime/kernels/kernel.h"

namespace onnx_train {

void register_rnn_kernels(KernelRegistry& registry) {}

}  // namespace onnx_train
