// sgemm_peak: the machine's single-precision matrix multiply peak as oneDNN reaches it, the
// yardstick of the MLP training step (a step of an MLP is three matrix products per layer).
//
//   build/sgemm_peak [--threads N] [--size S] [--repeat R]
//
// Times dnnl::sgemm on S x S matrices (C = A B, 2 S^3 flops) for S = 512, 1024 and --size
// (default 2048), --repeat runs each after one warm-up, and reports the fastest run in
// GFLOP/s: a peak is what the machine can do, and on a shared machine every slower run is
// another process's doing. oneDNN picks its kernel for the CPU at run time (AVX2, AVX-512...), so the figure
// is what this CPU gives a large, well-shaped product; it ends with a `RESULT` line.
#include <dnnl.hpp>
#include <fmt/format.h>
#include <omp.h>

#include <algorithm>
#include <chrono>
#include <iostream>
#include <string>
#include <vector>

namespace {

// Best GFLOP/s of `repeat` products of size n (after one untimed warm-up).
double sgemm_gflops(int64_t n, int repeat) {
  std::vector<float> a(n * n, 0.5f), b(n * n, 0.25f), c(n * n, 0.f);
  std::vector<double> rates;
  for (int i = -1; i < repeat; ++i) {
    const auto start = std::chrono::steady_clock::now();
    dnnl::sgemm('N', 'N', n, n, n, 1.f, a.data(), n, b.data(), n, 0.f, c.data(), n);
    const double s = std::chrono::duration<double>(std::chrono::steady_clock::now() - start).count();
    if (i >= 0) rates.push_back(2.0 * n * n * n / s / 1e9);
  }
  return *std::max_element(rates.begin(), rates.end());
}

}  // namespace

int main(int argc, char** argv) {
  int threads = 0, repeat = 10;
  int64_t size = 2048;
  for (int i = 1; i + 1 < argc; i += 2) {
    const std::string flag = argv[i];
    if (flag == "--threads") threads = std::stoi(argv[i + 1]);
    else if (flag == "--size") size = std::stoll(argv[i + 1]);
    else if (flag == "--repeat") repeat = std::max(1, std::stoi(argv[i + 1]));
    else {
      std::cerr << "usage: sgemm_peak [--threads N] [--size S] [--repeat R]\n";
      return 2;
    }
  }
  if (threads > 0) omp_set_num_threads(threads);
  double best = 0;
  int64_t best_n = 0;
  for (int64_t n : {int64_t{512}, int64_t{1024}, size}) {
    const double g = sgemm_gflops(n, repeat);
    std::cout << fmt::format("sgemm {0}x{0}x{0}: {1:.1f} GFLOP/s (best of {2})\n", n, g, repeat);
    if (g > best) best = g, best_n = n;
  }
  std::cout << fmt::format("RESULT mode=sgemm threads={} size={} sgemm_gflops={:.2f}\n", omp_get_max_threads(), best_n,
                           best);
  return 0;
}
