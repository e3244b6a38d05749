// float32 <-> bfloat16 conversion of whole arrays: the Cast kernel's fast path and the
// widening / narrowing of bfloat16 tensors around float32 loops.
//
// Narrowing rounds to nearest, ties to even, as PyTorch's c10::BFloat16 and BFloat16(float)
// (onnx_train/dtype.h) do, keeping denormals (no flush to zero) and Inf, and turning a NaN
// into a quiet NaN of the same sign:
//   bits16 = (x + 0x7fff + ((x >> 16) & 1)) >> 16        (x: the float's 32 bits)
// Widening is exact: the 16 bits become the top half of a float32.
// Both run on AVX-512F when the CPU has it (checked once at run time; the same integer
// arithmetic, 16 floats at a time, not AVX512_BF16's VCVTNEPS2BF16, which flushes denormals),
// else in the scalar reference loops below, and split over the cores for large arrays.
#pragma once

#include <cstdint>

#include "onnx_train/dtype.h"

namespace onnx_train {

void bf16_from_float(const float* src, BFloat16* dst, int64_t n);
void float_from_bf16(const BFloat16* src, float* dst, int64_t n);

// The scalar loops, the oracle of the vector ones (and the path without AVX-512F).
void bf16_from_float_reference(const float* src, BFloat16* dst, int64_t n);
void float_from_bf16_reference(const BFloat16* src, float* dst, int64_t n);

// Whether the vector paths are used on this CPU.
bool bf16_convert_vectorised();

}  // namespace onnx_train
