// Data-parallel loops on the OpenMP thread pool that oneDNN also uses (libgomp), and the one
// table of how much work a loop must hold before it is split over the cores.
//
// Below a threshold, starting the thread team costs more than the loop saves. Each threshold
// counts work per loop in its own unit; every parallel loop of the runtime (parallel_for or
// `#pragma omp parallel for if (...)`) cites one of them by name.
#pragma once

#include <cstdint>

namespace onnx_train {

// Elements of a memory-bound pass doing a load, an operation or two and a store per element:
// elementwise ops and activations, their fused gradients, gradient clipping's norms.
constexpr int64_t kParallelMinCheapElements = int64_t{1} << 16;

// Elements of a pass doing several operations per element: optimizer updates, batch
// statistics, loss gradients, scaled accumulation of gradients.
constexpr int64_t kParallelMinElements = int64_t{1} << 15;

// Multiply-adds of a plain-loop matrix product or recurrence step (the float64 paths that
// oneDNN's sgemm does not take).
constexpr int64_t kParallelMinMultiplyAdds = int64_t{1} << 15;

// body(i) for i in [0, n), split statically over every core when n >= min_parallel.
// Iterations must be independent and body must not throw; a static split keeps results
// independent of timing.
template <typename Body>
void parallel_for(int64_t n, Body&& body, int64_t min_parallel = kParallelMinElements) {
#pragma omp parallel for if (n >= min_parallel) schedule(static)
  for (int64_t i = 0; i < n; ++i) body(i);
}

}  // namespace onnx_train
