// Shared pieces of the oneDNN linear-algebra and normalization kernels (matmul.cc,
// normalization.cc): the CPU engine and stream, shape-to-dims conversion, and the
// float16/bfloat16 <-> float32 conversions that let those types run on the float32 path.
#pragma once

#include <cstring>
#include <oneapi/dnnl/dnnl.hpp>

#include "onnx_train/tensor.h"
#include "runtime/core/dispatch.h"

namespace onnx_train {
namespace linalg_dnnl {

// One CPU engine and one in-order stream for every kernel of these families.
inline dnnl::engine& cpu_engine() {
  static dnnl::engine engine(dnnl::engine::kind::cpu, 0);
  return engine;
}

inline dnnl::stream& cpu_stream() {
  static dnnl::stream stream(cpu_engine());
  return stream;
}

// A float32 memory descriptor over a plain row-major buffer of the given dims.
inline dnnl::memory::desc plain_f32_desc(const dnnl::memory::dims& dims) {
  dnnl::memory::dims strides(dims.size());
  int64_t stride = 1;
  for (size_t i = dims.size(); i-- > 0;) {
    strides[i] = stride;
    stride *= dims[i] > 0 ? dims[i] : 1;
  }
  return dnnl::memory::desc(dims, dnnl::memory::data_type::f32, strides);
}

// A memory object over caller-owned data (oneDNN takes a non-const pointer even for inputs,
// which it only reads).
inline dnnl::memory wrap_f32(const dnnl::memory::desc& desc, const float* data) {
  return dnnl::memory(desc, cpu_engine(), const_cast<float*>(data));
}

// A float32 copy of a floating-point tensor (float32 itself is returned as is, no copy).
inline Tensor as_float32(const Tensor& t) {
  if (t.dtype() == DType::Float32) return t;
  Tensor out(DType::Float32, t.shape());
  float* dst = out.data<float>();
  visit_float(t.dtype(), [&](auto tag) {
    using T = typename decltype(tag)::type;
    const T* src = t.data<T>();
    for (int64_t i = 0; i < t.numel(); ++i) dst[i] = static_cast<float>(to_compute(src[i]));
  });
  return out;
}

// Writes float32 values into `dst`, converting to its floating-point element type.
inline void store_from_float32(const Tensor& src, Tensor& dst) {
  const float* s = src.data<float>();
  visit_float(dst.dtype(), [&](auto tag) {
    using T = typename decltype(tag)::type;
    T* d = dst.data<T>();
    for (int64_t i = 0; i < dst.numel(); ++i) d[i] = from_compute<T>(s[i]);
  });
}

}  // namespace linalg_dnnl
}  // namespace onnx_train
