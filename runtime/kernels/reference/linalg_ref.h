// Plain-loop reference implementations of the linear-algebra ops (MatMul, Gemm,
// MatMulInteger), and the numpy-matmul shape logic the oneDNN kernels share with them.
//
// The references are the ground truth the oneDNN kernels are tested against and the path
// every non-float32 type runs on (float64 for gradient checks, integers). They are
// templates explicitly instantiated in linalg_ref.cc for float, double and the integer
// types the ONNX schemas allow.
#pragma once

#include <cstdint>
#include <string>
#include <vector>

#include "onnx_train/tensor.h"

namespace onnx_train {

// The shapes of a numpy-style matmul A [..., M, K] x B [..., K, N] -> Y [..., M, N].
// A 1-D A is read as [1, K] and a 1-D B as [K, 1]; the promoted dimension is dropped from
// Y. The batch dimensions (all but the last two) broadcast against each other.
struct MatMulShape {
  Shape batch;    // broadcast batch dimensions of Y
  Shape a_batch;  // A's batch dimensions, left-padded with 1 to batch.size()
  Shape b_batch;  // B's batch dimensions, left-padded with 1 to batch.size()
  int64_t m = 1;
  int64_t k = 1;
  int64_t n = 1;
  Shape output;  // Y's shape
};

// Works out the matmul shapes; throws naming `who` (a node label) when A and B do not fit.
MatMulShape matmul_shape(const Shape& a, const Shape& b, const std::string& who);

// Y = A x B with numpy matmul semantics; A, B, Y are dense row-major (shapes in `shape`).
template <typename T>
void matmul_ref(const MatMulShape& shape, const T* a, const T* b, T* y);

// Y [M, N] = alpha * op(A) x op(B) + beta * C, with op(A) [M, K] (A is [K, M] when trans_a)
// and op(B) [K, N] (B is [N, K] when trans_b). C may be null (taken as 0); otherwise
// element (i, j) of C is c[i * c_stride_m + j * c_stride_n] (stride 0 = broadcast).
template <typename T>
void gemm_ref(bool trans_a, bool trans_b, int64_t m, int64_t n, int64_t k, double alpha, const T* a, const T* b,
              double beta, const T* c, int64_t c_stride_m, int64_t c_stride_n, T* y);

// MatMulInteger: Y = (A - a_zero) x (B - b_zero) accumulated in int32, numpy matmul shapes.
// a_zero has 0 (none), 1 (per tensor) or M (per row) values; b_zero 0, 1 or N (per column).
template <typename TA, typename TB>
void matmul_integer_ref(const MatMulShape& shape, const TA* a, const TA* a_zero, int64_t a_zero_count, const TB* b,
                        const TB* b_zero, int64_t b_zero_count, int32_t* y);

}  // namespace onnx_train
