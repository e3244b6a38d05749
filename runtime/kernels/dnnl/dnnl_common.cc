// oneDNN plumbing of the convolution and pooling kernels (see dnnl_common.h).
#include "runtime/kernels/dnnl/dnnl_common.h"

#include "runtime/core/dispatch.h"

namespace onnx_train {
namespace conv_dnnl {

dnnl::engine& cpu_engine() {
  static dnnl::engine engine(dnnl::engine::kind::cpu, 0);
  return engine;
}

dnnl::stream& cpu_stream() {
  static dnnl::stream stream(cpu_engine());
  return stream;
}

dnnl::memory::dims to_dims(const Shape& shape) { return dnnl::memory::dims(shape.begin(), shape.end()); }

dnnl::memory::format_tag plain_tag(size_t rank) {
  using tag = dnnl::memory::format_tag;
  switch (rank) {
    case 1: return tag::a;
    case 2: return tag::ab;
    case 3: return tag::abc;
    case 4: return tag::abcd;
    case 5: return tag::abcde;
    case 6: return tag::abcdef;
    default: OT_FAIL("oneDNN: no plain layout for rank {} (1 to 6 are supported)", rank);
  }
}

dnnl::memory::desc plain_f32_desc(const Shape& shape) {
  return dnnl::memory::desc(to_dims(shape), dnnl::memory::data_type::f32, plain_tag(shape.size()));
}

dnnl::memory unbound_memory(const dnnl::memory::desc& desc) {
  return dnnl::memory(desc, cpu_engine(), DNNL_MEMORY_NONE);
}

Tensor to_float32(const Tensor& t) {
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

void store_float32(const Tensor& src, Tensor& dst) {
  const float* s = src.data<float>();
  visit_float(dst.dtype(), [&](auto tag) {
    using T = typename decltype(tag)::type;
    T* d = dst.data<T>();
    for (int64_t i = 0; i < dst.numel(); ++i) d[i] = from_compute<T>(s[i]);
  });
}

}  // namespace conv_dnnl
}  // namespace onnx_train
