// runtime/optim/clipping.cc: global-norm and value clipping of gradients (math in clipping.h).
#include "onnx_train/clipping.h"

#include <algorithm>
#include <cmath>
#include <vector>

#include "onnx_train/error.h"
#include "runtime/core/parallel.h"
#include "runtime/core/parallel_ranges.h"

namespace onnx_train {

namespace {

// Chunks of this many elements are reduced one per task; their partial results are then
// combined in chunk order, so the sum is the same whatever the number of threads.
constexpr int64_t kChunk = 1 << 14;

// A maximum that keeps NaN, as torch.max does.
double nan_max(double a, double b) { return std::isnan(a) || a > b ? a : b; }

// Applies `chunk(begin, end)` (a double) to every kChunk-element chunk of [0, n), in parallel
// when n is large, and folds the results with `combine` in chunk order from 0 (the identity
// of + and of nan_max over |x| >= 0), so the result does not depend on the thread count.
template <typename Chunk, typename Combine>
double over_chunks(int64_t n, Chunk chunk, Combine combine) {
  const int64_t chunks = (n + kChunk - 1) / kChunk;
  std::vector<double> partial(static_cast<size_t>(chunks), 0.0);
#pragma omp parallel for if (n >= kParallelMinCheapElements) schedule(static)
  for (int64_t c = 0; c < chunks; ++c) partial[static_cast<size_t>(c)] = chunk(c * kChunk, std::min(n, (c + 1) * kChunk));
  double total = 0;
  for (double v : partial) total = combine(total, v);
  return total;
}

double add(double a, double b) { return a + b; }

// combine(...combine(combine(0, term(|x0|)), term(|x1|))...) over x, in double, chunked.
template <typename T, typename Term, typename Combine>
double reduce(const T* x, int64_t n, Term term, Combine combine) {
  return over_chunks(
      n,
      [&](int64_t begin, int64_t end) {
        double acc = 0;
        for (int64_t i = begin; i < end; ++i) acc = combine(acc, term(std::abs(static_cast<double>(x[i]))));
        return acc;
      },
      combine);
}

// Sum of |x| (kSquare false) or x^2 (kSquare true) over x, in double: a vectorised sum inside
// each chunk (the lanes' partial sums combined in an order fixed at compile time), the chunks'
// sums added in order.
template <bool kSquare, typename T>
double power_sum(const T* x, int64_t n) {
  return over_chunks(
      n,
      [&](int64_t begin, int64_t end) {
        double acc = 0;
#pragma omp simd reduction(+ : acc)
        for (int64_t i = begin; i < end; ++i) {
          const double a = static_cast<double>(x[i]);
          acc += kSquare ? a * a : std::abs(a);
        }
        return acc;
      },
      add);
}

// Sum of |x|^p over x, or max |x| when p is infinite.
template <typename T>
double norm_part(const T* x, int64_t n, double p) {
  if (p == 2) return power_sum<true>(x, n);
  if (p == 1) return power_sum<false>(x, n);
  if (std::isinf(p))
    return reduce(
        x, n, [](double a) { return a; }, nan_max);
  return reduce(
      x, n, [p](double a) { return std::pow(a, p); }, add);
}

// x[i] = op(x[i]) for i < n, a vectorised loop per thread's range, on every core when n is
// large. op must not throw.
template <typename T, typename Op>
void update(T* x, int64_t n, Op op) {
  parallel_ranges(
      n,
      [&](int64_t begin, int64_t end) {
#pragma omp simd
        for (int64_t i = begin; i < end; ++i) x[i] = op(x[i]);
      },
      kParallelMinCheapElements);
}

void check_grad(const Tensor* grad, const char* what) {
  OT_CHECK(grad != nullptr && grad->defined(), "{}: a gradient is missing (null or undefined tensor)", what);
  OT_CHECK(grad->dtype() == DType::Float32 || grad->dtype() == DType::Float64,
           "{}: gradient {} is not float32 or float64; clip before casting gradients to other types", what,
           grad->describe());
}

}  // namespace

double clip_grad_norm(std::vector<Tensor*>& grads, double max_norm, double norm_type) {
  OT_CHECK(norm_type > 0 && !std::isnan(norm_type),
           "clip_grad_norm: norm_type is {}; give p > 0 (2 for the Euclidean norm) or infinity", norm_type);
  OT_CHECK(max_norm >= 0 && !std::isnan(max_norm), "clip_grad_norm: max_norm is {}; give a norm >= 0", max_norm);
  const bool inf = std::isinf(norm_type);
  double acc = 0;
  for (const Tensor* g : grads) {
    check_grad(g, "clip_grad_norm");
    const double part = g->dtype() == DType::Float32 ? norm_part(g->data<float>(), g->numel(), norm_type)
                                                     : norm_part(g->data<double>(), g->numel(), norm_type);
    acc = inf ? nan_max(acc, part) : acc + part;
  }
  const double total = inf ? acc : (norm_type == 2 ? std::sqrt(acc) : std::pow(acc, 1.0 / norm_type));
  // PyTorch multiplies by min(coef, 1) and never compares: so gradients scale whenever
  // coef < 1 (total > max_norm - 1e-6, not only total > max_norm), by NaN for a NaN total and
  // by 0 for an infinite one. Multiplying by 1 changes nothing, so coef >= 1 returns early.
  const double coef = max_norm / (total + 1e-6);
  if (coef >= 1) return total;
  for (Tensor* g : grads) {
    if (g->dtype() == DType::Float32) {
      update(g->data<float>(), g->numel(), [coef](float x) { return static_cast<float>(x * coef); });
    } else {
      update(g->data<double>(), g->numel(), [coef](double x) { return x * coef; });
    }
  }
  return total;
}

void clip_grad_value(std::vector<Tensor*>& grads, double clip_value) {
  OT_CHECK(clip_value >= 0, "clip_grad_value: clip_value is {}; give a bound >= 0", clip_value);
  for (Tensor* g : grads) {
    check_grad(g, "clip_grad_value");
    // Both comparisons are false for NaN, so NaN passes through, as in torch.clamp.
    if (g->dtype() == DType::Float32) {
      const float hi = static_cast<float>(clip_value);
      update(g->data<float>(), g->numel(), [hi](float x) { return x < -hi ? -hi : (x > hi ? hi : x); });
    } else {
      update(g->data<double>(), g->numel(),
             [clip_value](double x) { return x < -clip_value ? -clip_value : (x > clip_value ? clip_value : x); });
    }
  }
}

}  // namespace onnx_train
