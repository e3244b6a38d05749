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
//
// It then times oneDNN's matmul primitive on the same sizes in float32 and in bfloat16 (bf16
// A and B, float32 C, as `--precision bf16` runs a product) and prints their ratio with the
// instruction set oneDNN dispatched to: bfloat16 halves the bytes read, but whether it does
// more multiply-adds per cycle depends on the CPU (AMX tiles do many more; AVX-512 BF16's dot
// product instruction, on a CPU that issues it on one port against FMA's two, does the same
// number as float32 FMAs), and the `RESULT` line's bf16_speedup says which this machine is.
#include <dnnl.hpp>
#include <fmt/format.h>
#include <omp.h>

#include <algorithm>
#include <cstdint>
#include <chrono>
#include <iostream>
#include <string>
#include <vector>

#include "runtime/kernels/dnnl/dnnl_common.h"

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

// Best GFLOP/s of oneDNN's matmul primitive C [n, n] (float32) = A [n, n] B [n, n], A and B
// of type `dt` (float32 or bfloat16), primitive built once, `repeat` runs after a warm-up.
double matmul_gflops(int64_t n, dnnl::memory::data_type dt, int repeat) {
  using dnnl::memory;
  dnnl::engine engine(dnnl::engine::kind::cpu, 0);
  dnnl::stream stream(engine);
  const memory::desc a_md({n, n}, dt, memory::format_tag::ab), b_md({n, n}, dt, memory::format_tag::ab),
      c_md({n, n}, memory::data_type::f32, memory::format_tag::ab);
  const dnnl::matmul product(dnnl::matmul::primitive_desc(dnnl::matmul::desc(a_md, b_md, c_md), engine));
  memory a(a_md, engine), b(b_md, engine), c(c_md, engine);
  // Any finite values: the bytes of 0x3f00 are 0.5 in bfloat16, and in float32 a small number.
  std::fill_n(static_cast<uint8_t*>(a.get_data_handle()), a_md.get_size(), uint8_t{0x3f});
  std::fill_n(static_cast<uint8_t*>(b.get_data_handle()), b_md.get_size(), uint8_t{0x3f});
  std::vector<double> rates;
  for (int i = -1; i < repeat; ++i) {
    const auto start = std::chrono::steady_clock::now();
    product.execute(stream, {{DNNL_ARG_SRC, a}, {DNNL_ARG_WEIGHTS, b}, {DNNL_ARG_DST, c}});
    stream.wait();
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
  // float32 against bfloat16 through the matmul primitive, the kernel --precision bf16 uses.
  double f32_best = 0, bf16_best = 0;
  for (int64_t n : {int64_t{1024}, size}) {
    const double f32 = matmul_gflops(n, dnnl::memory::data_type::f32, repeat);
    const double bf16 = matmul_gflops(n, dnnl::memory::data_type::bf16, repeat);
    std::cout << fmt::format("matmul {0}x{0}x{0}: float32 {1:.1f} GFLOP/s, bfloat16 {2:.1f} GFLOP/s ({3:.2f}x)\n", n,
                             f32, bf16, bf16 / f32);
    f32_best = std::max(f32_best, f32), bf16_best = std::max(bf16_best, bf16);
  }
  std::cout << fmt::format("RESULT mode=matmul threads={} isa={} f32_gflops={:.2f} bf16_gflops={:.2f} bf16_speedup={:.2f}\n",
                           omp_get_max_threads(), onnx_train::dnnl_common::effective_isa_name(), f32_best, bf16_best,
                           bf16_best / f32_best);
  return 0;
}
