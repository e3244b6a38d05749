// Data-parallel loops on the OpenMP thread pool that oneDNN also uses (libgomp).
#pragma once

#include <cstdint>

namespace onnx_train {

// body(i) for i in [0, n), split statically over every core when n >= min_parallel (below
// that, starting the team costs more than the loop). Iterations must be independent and
// body must not throw; a static split keeps results independent of timing.
template <typename Body>
void parallel_for(int64_t n, Body&& body, int64_t min_parallel = int64_t{1} << 15) {
#pragma omp parallel for if (n >= min_parallel) schedule(static)
  for (int64_t i = 0; i < n; ++i) body(i);
}

}  // namespace onnx_train
