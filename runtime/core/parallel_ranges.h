// parallel_ranges: a memory-bound pass over [0, n) handed to each thread as one contiguous
// range, so the body is a plain loop over restrict pointers that the compiler vectorises
// (`#pragma omp simd`), which parallel_for's one call per element does not allow.
#pragma once

#include <omp.h>

#include <algorithm>
#include <cstdint>

#include "runtime/core/parallel.h"

namespace onnx_train {

// body(begin, end) over disjoint ranges covering [0, n): one range on the calling thread when
// n < min_parallel, else one per thread, each a multiple of 16 elements long but the last (64
// bytes of float, so no two threads share a cache line). Which thread computes an element does
// not change its value: an elementwise body gives the same result for every thread count.
template <typename Body>
void parallel_ranges(int64_t n, Body&& body, int64_t min_parallel = kParallelMinElements) {
  if (n < min_parallel || omp_in_parallel() || omp_get_max_threads() == 1) {
    body(int64_t{0}, n);
    return;
  }
#pragma omp parallel
  {
    const int64_t threads = omp_get_num_threads(), thread = omp_get_thread_num();
    const int64_t per_thread = (n + threads - 1) / threads;
    const int64_t step = (per_thread + 15) / 16 * 16;
    const int64_t begin = std::min(n, thread * step), end = std::min(n, begin + step);
    if (begin < end) body(begin, end);
  }
}

}  // namespace onnx_train
