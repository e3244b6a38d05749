// Sizes computed from untrusted numbers (a model's dims, a data file's header) without
// wrapping around: every product of dimensions goes through these, so a corrupt shape such
// as [4611686018427387905, 4] (whose product wraps to 4 in 64 bits) becomes one Error naming
// `context` instead of a small allocation that kernels then overrun.
#pragma once

#include <cstddef>
#include <cstdint>
#include <string_view>

#include "onnx_train/dtype.h"
#include "onnx_train/tensor.h"

namespace onnx_train {

// a * b for a, b >= 0; throws Error "<context>: <what> overflows ..." when the product does
// not fit in int64.
int64_t checked_mul(int64_t a, int64_t b, std::string_view context);

// The element count of `shape`; throws naming `context` for a negative dimension or a count
// beyond int64.
int64_t checked_numel(const Shape& shape, std::string_view context);

// The bytes that `shape` elements of `dtype` take; throws naming `context` when they exceed
// what an address space can hold (2^63 bytes).
size_t checked_nbytes(const Shape& shape, DType dtype, std::string_view context);

}  // namespace onnx_train
