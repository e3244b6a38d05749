// oneDNN plumbing of the convolution and pooling kernels (conv.cc, pool.cc): one CPU engine
// and in-order stream, dims and plain row-major descriptors for our tensors, and the
// float16/bfloat16 <-> float32 copies that let those types take the float32 path.
#pragma once

#include <oneapi/dnnl/dnnl.hpp>

#include "onnx_train/tensor.h"

namespace onnx_train {
namespace conv_dnnl {

dnnl::engine& cpu_engine();
dnnl::stream& cpu_stream();

dnnl::memory::dims to_dims(const Shape& shape);
// The plain row-major format tag of a rank (a, ab, abc, ... up to abcdef).
dnnl::memory::format_tag plain_tag(size_t rank);
// A float32 descriptor of a plain row-major tensor of `shape`.
dnnl::memory::desc plain_f32_desc(const Shape& shape);
// A memory object of `desc` whose data handle the caller sets before each use.
dnnl::memory unbound_memory(const dnnl::memory::desc& desc);

// A float32 copy of a float16/bfloat16/float64 tensor (a float32 tensor is returned as is).
Tensor to_float32(const Tensor& t);
// Writes the float32 tensor `src` into `dst` (same shape), converting to dst's float type.
void store_float32(const Tensor& src, Tensor& dst);

}  // namespace conv_dnnl
}  // namespace onnx_train
