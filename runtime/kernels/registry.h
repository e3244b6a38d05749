// Self-registration of kernel families: the ONNX_TRAIN_REGISTER_KERNELS block each kernel
// file ends with (kernel.h says how to add a kernel).
//
// The block defines the family's register function and a static registrar object that
// records it before main() starts; KernelRegistry::global() (registry.cc) runs every recorded
// family once, in the order of their names. The kernel objects are linked whole into every
// program (CMakeLists.txt: onnx_train_kernels), so the linker drops no registrar.
#pragma once

#include <string>
#include <utility>
#include <vector>

#include "runtime/kernels/kernel.h"

namespace onnx_train {

// Records a kernel family's register function at static initialisation (see the file
// comment); use it through ONNX_TRAIN_REGISTER_KERNELS.
using KernelFamilyFunction = void (*)(KernelRegistry& registry);
class KernelFamilyRegistrar {
 public:
  KernelFamilyRegistrar(const char* family, KernelFamilyFunction function);
  // Every family recorded, sorted by name (a name recorded twice is an error here).
  static std::vector<std::pair<std::string, KernelFamilyFunction>> families();
};

#define ONNX_TRAIN_REGISTER_KERNELS(family)                                                                        \
  static void register_##family##_kernels(::onnx_train::KernelRegistry& registry);                                 \
  static const ::onnx_train::KernelFamilyRegistrar family##_kernel_family_registrar(#family,                       \
                                                                                    &register_##family##_kernels); \
  static void register_##family##_kernels(::onnx_train::KernelRegistry& registry)

}  // namespace onnx_train
