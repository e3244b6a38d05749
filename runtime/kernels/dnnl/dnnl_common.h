// oneDNN plumbing shared by every oneDNN kernel (conv.cc, pool.cc, matmul.cc,
// normalization.cc, eltwise.cc, softmax.cc): the one CPU engine and in-order stream they
// all run on, dims and plain row-major float32 descriptors for our tensors, and memory
// objects over our buffers. (The float16/bfloat16 <-> float32 copies that let those types take
// the float32 path are plain loops: to_float32 / store_float32 in runtime/kernels/util.h.)
#pragma once

#include <oneapi/dnnl/dnnl.hpp>

#include "onnx_train/tensor.h"

namespace onnx_train {
namespace dnnl_common {

// The CPU engine and in-order stream of every oneDNN primitive in the runtime. Kernels
// wait on the stream after each execute, so results are ready when run() returns.
dnnl::engine& cpu_engine();
dnnl::stream& cpu_stream();

dnnl::memory::dims to_dims(const Shape& shape);
// A float32 descriptor of a plain row-major tensor of `dims` (any rank oneDNN takes).
dnnl::memory::desc plain_f32_desc(const dnnl::memory::dims& dims);
// A memory object of `desc` whose data handle the caller sets before each use.
dnnl::memory unbound_memory(const dnnl::memory::desc& desc);
// A memory object of `desc` over caller-owned data (oneDNN takes a non-const pointer even
// for inputs, which it only reads).
dnnl::memory wrap_f32(const dnnl::memory::desc& desc, const float* data);

// Whether the bfloat16 kernels (MatMul, Gemm, MatMulGrad, Conv and its gradients) run on
// oneDNN in bfloat16 (f32 accumulation): a CPU with AVX-512 (oneDNN's bf16 needs
// avx512_core; AVX512_BF16 / AMX make it fast). Otherwise, or after set_native_bf16(false)
// (tests of the reference path), they widen to float32, compute and round.
bool native_bf16();
void set_native_bf16(bool enabled);

}  // namespace dnnl_common
}  // namespace onnx_train
