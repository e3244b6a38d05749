// oneDNN plumbing shared by every oneDNN kernel (see dnnl_common.h).
#include "runtime/kernels/dnnl/dnnl_common.h"

#include <cstdlib>
#include <string>

namespace onnx_train {
namespace dnnl_common {

dnnl::engine& cpu_engine() {
  static dnnl::engine engine(dnnl::engine::kind::cpu, 0);
  return engine;
}

dnnl::stream& cpu_stream() {
  static dnnl::stream stream(cpu_engine());
  return stream;
}

dnnl::memory::dims to_dims(const Shape& shape) { return dnnl::memory::dims(shape.begin(), shape.end()); }

dnnl::memory::desc plain_f32_desc(const dnnl::memory::dims& dims) {
  dnnl::memory::dims strides(dims.size());
  int64_t stride = 1;
  for (size_t i = dims.size(); i-- > 0;) {
    strides[i] = stride;
    stride *= dims[i] > 0 ? dims[i] : 1;
  }
  return dnnl::memory::desc(dims, dnnl::memory::data_type::f32, strides);
}

dnnl::memory unbound_memory(const dnnl::memory::desc& desc) {
  return dnnl::memory(desc, cpu_engine(), DNNL_MEMORY_NONE);
}

dnnl::memory wrap_f32(const dnnl::memory::desc& desc, const float* data) {
  return dnnl::memory(desc, cpu_engine(), const_cast<float*>(data));
}

namespace {

bool bf16_available() {
  static const bool available = [] {
    const dnnl::cpu_isa isa = dnnl::get_effective_cpu_isa();
    return isa == dnnl::cpu_isa::avx512_core || isa == dnnl::cpu_isa::avx512_core_vnni ||
           isa == dnnl::cpu_isa::avx512_core_bf16 || isa == dnnl::cpu_isa::avx512_core_amx;
  }();
  return available;
}

bool& native_bf16_flag() {
  static bool flag = [] {
    const char* choice = std::getenv("ONNX_TRAIN_ONEDNN_BF16");
    if (choice != nullptr && *choice != '\0') return std::string(choice) != "0" && bf16_available();
    return bf16_available();
  }();
  return flag;
}

}  // namespace

bool native_bf16() { return native_bf16_flag(); }

bool bf16_faster_than_float32() { return dnnl::get_effective_cpu_isa() == dnnl::cpu_isa::avx512_core_amx; }

std::string effective_isa_name() {
  switch (dnnl::get_effective_cpu_isa()) {
    case dnnl::cpu_isa::avx512_core_amx: return "avx512_core_amx";
    case dnnl::cpu_isa::avx512_core_bf16: return "avx512_core_bf16";
    case dnnl::cpu_isa::avx512_core_vnni: return "avx512_core_vnni";
    case dnnl::cpu_isa::avx512_core: return "avx512_core";
    case dnnl::cpu_isa::avx2_vnni: return "avx2_vnni";
    case dnnl::cpu_isa::avx2: return "avx2";
    default: return "an older instruction set";
  }
}

void set_native_bf16(bool enabled) { native_bf16_flag() = enabled && bf16_available(); }

}  // namespace dnnl_common
}  // namespace onnx_train
