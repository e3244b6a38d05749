// The one matrix product of the recurrent kernels (dnnl/rnn.cc: LSTM / GRU / RNN forward;
// dnnl/rnn_grad.cc: their gradients): oneDNN's sgemm for float32, plain loops for float64
// (the gradient checks' path, and the oracle the float32 path is tested against).
#pragma once

#include <oneapi/dnnl/dnnl.h>

#include <cstdint>
#include <string>
#include <type_traits>

#include "onnx_train/error.h"
#include "runtime/core/dispatch.h"
#include "runtime/core/parallel.h"

namespace onnx_train::rnn {

// out[M, N] (+)= op(a) · op(b), row-major, op(a) [M, K] (a stored [K, M] when trans_a), op(b)
// [K, N] (b stored [N, K] when trans_b; ONNX stores W and R so); `accumulate` adds to out,
// else out is overwritten. float32 runs oneDNN's sgemm, other types plain loops (in
// parallel over M).
template <typename C>
void gemm(const std::string& label, bool trans_a, bool trans_b, int64_t m, int64_t n, int64_t k, const C* a,
          int64_t lda, const C* b, int64_t ldb, C* out, int64_t ldo, bool accumulate = true) {
  if (m == 0 || n == 0) return;
  if (k == 0) {  // an empty sum
    for (int64_t i = 0; i < m && !accumulate; ++i)
      for (int64_t j = 0; j < n; ++j) out[i * ldo + j] = C(0);
    return;
  }
  if constexpr (std::is_same_v<C, float>) {
    const dnnl_status_t status = dnnl_sgemm(trans_a ? 'T' : 'N', trans_b ? 'T' : 'N', m, n, k, 1.0f, a, lda, b, ldb,
                                            accumulate ? 1.0f : 0.0f, out, ldo);
    OT_CHECK(status == dnnl_success, "{}: oneDNN sgemm [{}x{}]·[{}x{}] failed (status {})", label, m, k, k, n,
             static_cast<int>(status));
  } else {
#pragma omp parallel for schedule(static) if (m * n * k >= kParallelMinMultiplyAdds)
    for (int64_t i = 0; i < m; ++i) {
      C* orow = out + i * ldo;
      if (!accumulate)
        for (int64_t j = 0; j < n; ++j) orow[j] = C(0);
      for (int64_t p = 0; p < k; ++p) {
        const C av = trans_a ? a[p * lda + i] : a[i * lda + p];
        if (av == C(0)) continue;
        if (trans_b) {
          for (int64_t j = 0; j < n; ++j) orow[j] += av * b[j * ldb + p];
        } else {
          const C* brow = b + p * ldb;
          for (int64_t j = 0; j < n; ++j) orow[j] += av * brow[j];
        }
      }
    }
  }
}

// Calls f(TypeTag<T>{}, TypeTag<C>{}) for the float element type T of a recurrent layer's
// tensors and the type C its arithmetic runs in: double for float64, float otherwise.
template <typename F>
void visit_recurrent_types(DType dtype, F&& f) {
  visit_float(dtype, [&](auto tag) {
    using T = typename decltype(tag)::type;
    f(tag, TypeTag<std::conditional_t<std::is_same_v<T, double>, double, float>>{});
  });
}

}  // namespace onnx_train::rnn
