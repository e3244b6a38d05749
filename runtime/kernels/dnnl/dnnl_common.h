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

// Whether the bfloat16 products (MatMul, Gemm, MatMulGrad) run on oneDNN's bf16 primitives
// (float32 accumulation) rather than widened to float32 for sgemm and rounded back (the
// reference path; the convolutions always widen). Both give float32 sums of exact bf16
// products, so they differ only in summation order. oneDNN's bf16 is fast with AMX (16x
// float32's multiply-adds per cycle): the default there. With AVX512_BF16 alone its dot
// product does as many multiply-adds per cycle as float32 FMAs, and oneDNN 2.6's bf16 brgemm
// measured 0.55x the speed of sgemm (1024x768 @ 768x8192, 2 threads: 25 vs 45 GFLOPS), so
// widening is the default there. ONNX_TRAIN_ONEDNN_BF16=1 / 0 chooses either way (1 needs
// AVX-512, which oneDNN's bf16 requires); set_native_bf16 does for tests.
bool native_bf16();
void set_native_bf16(bool enabled);

}  // namespace dnnl_common
}  // namespace onnx_train
