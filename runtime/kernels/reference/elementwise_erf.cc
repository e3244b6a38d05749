// The float32 Erf loop (see elementwise_erf.h), in a file of its own for its compiler
// settings:
// - without -ftrapping-math, which keeps GCC from vectorising the polynomial's branch
//   selects (the runtime never enables floating-point traps; results are unchanged);
// - one clone per vector width (AVX-512, AVX2, the x86-64 baseline: SSE2), picked when the
//   program loads (GCC's target_clones), since the double-precision polynomial is twice as
//   slow as glibc's scalar erff at SSE2 width and 2-3x faster at AVX-512 width;
// - without floating-point contraction, so the AVX2/AVX-512 clones do not fuse multiply-adds
//   and every clone rounds each operation alike: results are the same on every machine.
#pragma GCC optimize("no-trapping-math", "fp-contract=off")

#include "runtime/kernels/reference/elementwise_erf.h"

#include "runtime/core/parallel.h"

namespace onnx_train {

__attribute__((target_clones("avx512f", "avx2", "default"))) void erf_float32(const float* in, float* out, int64_t n) {
#pragma omp parallel for simd if (n >= kParallelMinCheapElements) schedule(static)
  for (int64_t i = 0; i < n; ++i) out[i] = erf_float(in[i]);
}

}  // namespace onnx_train
