// Registration of the reduction-family kernels that live in their own files; called from
// register_reduction_kernels in reductions.cc.
#pragma once

namespace onnx_train {

class KernelRegistry;

void register_einsum_kernels(KernelRegistry& registry);          // reference/reduction_einsum.cc
void register_reduction_norm_kernels(KernelRegistry& registry);  // reference/reduction_norms.cc

}  // namespace onnx_train
