#include "runtime/train/step_math.h"

#include <cstring>

#include "runtime/core/parallel.h"
#include "runtime/core/parallel_ranges.h"

namespace onnx_train {

double scalar_value(const Tensor& t, const std::string& what) {
  OT_CHECK(t.numel() == 1, "the loss '{}' is {}; a loss must be a single number (reduce it in the model)", what,
           t.describe());
  double value = 0;
  visit_float(t.dtype(), [&](auto tag) {
    using T = typename decltype(tag)::type;
    value = static_cast<double>(to_compute(t.data<T>()[0]));
  });
  return value;
}

// out = scale * g (first micro-batch) or out += scale * g: one vectorised loop per thread's
// range (out, the accumulation buffer, never shares storage with g, a plan output).
void accumulate(Tensor& out, const Tensor& g, double scale, bool first) {
  visit_parameter_dtype(out.dtype(), [&](auto tag) {
    using T = typename decltype(tag)::type;
    T* __restrict o = out.data<T>();
    const T* __restrict x = g.data<T>();
    const T s = static_cast<T>(scale);
    parallel_ranges(out.numel(), [&](int64_t begin, int64_t end) {
      if (first) {
#pragma omp simd
        for (int64_t i = begin; i < end; ++i) o[i] = s * x[i];
      } else {
#pragma omp simd
        for (int64_t i = begin; i < end; ++i) o[i] += s * x[i];
      }
    });
  });
}

void scale_in_place(Tensor& t, double scale) {
  visit_parameter_dtype(t.dtype(), [&](auto tag) {
    using T = typename decltype(tag)::type;
    T* o = t.data<T>();
    const T s = static_cast<T>(scale);
    parallel_ranges(t.numel(), [&](int64_t begin, int64_t end) {
#pragma omp simd
      for (int64_t i = begin; i < end; ++i) o[i] *= s;
    });
  });
}

double gradient_checksum(const std::vector<Tensor*>& grads, double scale) {
  double total = 0;
  for (Tensor* g : grads) {
    visit_parameter_dtype(g->dtype(), [&](auto tag) {
      using T = typename decltype(tag)::type;
      T* x = g->data<T>();
      const T s = static_cast<T>(scale);
      const int64_t n = g->numel();
      double sum = 0;
      // Only its finiteness matters, not its rounding: any summation order will do.
      if (scale != 1) {
#pragma omp parallel for simd reduction(+ : sum) if (n >= kParallelMinCheapElements) schedule(static)
        for (int64_t i = 0; i < n; ++i) sum += static_cast<double>(x[i] *= s);
      } else {
#pragma omp parallel for simd reduction(+ : sum) if (n >= kParallelMinCheapElements) schedule(static)
        for (int64_t i = 0; i < n; ++i) sum += static_cast<double>(x[i]);
      }
      total += sum;
    });
  }
  return total;
}

void copy_into(Tensor& destination, const Tensor& source, const std::string& what) {
  OT_CHECK(destination.dtype() == source.dtype() && destination.shape() == source.shape(), "{}: expected {}, got {}",
           what, destination.describe(), source.describe());
  if (destination.raw_data() != source.raw_data())
    std::memcpy(destination.raw_data(), source.raw_data(), source.nbytes());
}

}  // namespace onnx_train
