// oneDNN plumbing shared by every oneDNN kernel (conv.cc, pool.cc, matmul.cc,
// normalization.cc, eltwise.cc, softmax.cc): the one CPU engine and in-order stream they
// all run on, dims and plain row-major float32 descriptors for our tensors, and memory
// objects over our buffers. (The float16/bfloat16 <-> float32 copies that let those types take
// the float32 path are plain loops: to_float32 / store_float32 in runtime/kernels/util.h.)
#pragma once

#include <oneapi/dnnl/dnnl.hpp>

#include <string>

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
// (float32 accumulation), the default wherever oneDNN has bf16 (AVX-512), rather than widened
// to float32 for sgemm and rounded back (the reference path; the convolutions always widen).
// Both give float32 sums of exact bf16 products, so they differ only in summation order.
// NOTE: bf16 is fast with AMX (16x float32's multiply-adds per cycle). With AVX512_BF16 alone
// (a Xeon whose hypervisor hides AMX) VDPBF16PS does no more multiply-adds per cycle than
// float32 FMAs: oneDNN 2.6's bf16 brgemm ran 1024x768 @ 768x8192 at 25 GFLOPS against sgemm's
// 45, and a GPT-shaped step (d 768, 4 layers, 256 x 4 tokens, vocabulary 50257, 2 threads)
// took 1.10x float32's time on oneDNN bf16 (1.06x with one layer and 8192 words, where widening
// took 1.41x). ONNX_TRAIN_ONEDNN_BF16=0 (or 1) chooses; so does set_native_bf16, for tests.
bool native_bf16();
void set_native_bf16(bool enabled);
// Whether this CPU runs oneDNN's bfloat16 products faster than float32 ones: with AMX tiles.
// With AVX-512 BF16 alone they are slower (oneDNN 2.6's avx512_core_bf16 kernels reach about
// 0.6x float32's rate here; build/sgemm_peak prints the ratio), and --precision bf16 says so.
bool bf16_faster_than_float32();
std::string effective_isa_name();  // "avx512_core_bf16", for messages

}  // namespace dnnl_common
}  // namespace onnx_train
