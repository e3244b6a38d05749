// Helpers shared by the normalization kernels (normalization.cc) and their gradients
// (normalization_grad.cc): parameter reading, statistics outputs, the [N, C, S] view and the
// float/double dispatch around oneDNN's float32-only primitives.
#pragma once

#include <algorithm>
#include <cmath>
#include <cstring>
#include <initializer_list>
#include <vector>

#include "runtime/core/dispatch.h"
#include "runtime/core/parallel.h"
#include "runtime/kernels/dnnl/dnnl_common.h"
#include "runtime/kernels/kernel.h"
#include "runtime/kernels/util.h"

namespace onnx_train::normalization {

// A primitive-cache key: the problem's dimensions and the epsilon's bits.
inline std::vector<int64_t> problem_key(std::initializer_list<int64_t> dims, float epsilon) {
  std::vector<int64_t> key(dims);
  int32_t bits;
  std::memcpy(&bits, &epsilon, sizeof bits);
  key.push_back(bits);
  return key;
}

// The values of a per-channel (or per-feature) parameter, checked to have `count` values.
template <typename T>
std::vector<T> parameter_values(const Tensor& t, int64_t count, const Node& node, const char* name) {
  OT_CHECK(dtype_is_float(t.dtype()), "{}: {} is {}; it must be a floating-point tensor", node.label(), name,
           t.describe());
  OT_CHECK(t.numel() == count, "{}: {} is {} but {} values are needed", node.label(), name, t.describe(), count);
  const std::vector<double> v = t.to_doubles();
  return std::vector<T>(v.begin(), v.end());
}

// Allocates output i with the given floating dtype and shape and fills it from `values`.
template <typename V>
void write_output(KernelContext& ctx, size_t i, DType dtype, const Shape& shape, const std::vector<V>& values) {
  Tensor& out = ctx.allocate_output(i, dtype, shape);
  visit_float(dtype, [&](auto tag) {
    using T = typename decltype(tag)::type;
    T* d = out.data<T>();
    for (size_t k = 0; k < values.size(); ++k) d[k] = from_compute<T>(static_cast<compute_t<T>>(values[k]));
  });
}

// [N, C, S] view of an (N x C x D1 x ... x Dn) tensor; a 1-D tensor is [N, 1, 1].
struct NcsDims {
  int64_t n = 1, c = 1, s = 1;
};

inline NcsDims ncs_dims(const Shape& shape) {
  NcsDims d;
  if (!shape.empty()) d.n = shape[0];
  if (shape.size() > 1) d.c = shape[1];
  for (size_t i = 2; i < shape.size(); ++i) d.s *= shape[i];
  return d;
}

// LayerNormalization's Scale and B: for each column of the normalized shape (X's dimensions
// from `axis`), the offset of the value of parameter shape `param` (broadcast
// unidirectionally to `normalized`, leading 1s beyond its rank allowed) that it reads.
inline std::vector<int64_t> parameter_offsets(const Shape& param, const Shape& normalized, int64_t axis,
                                              const Node& node, const char* name) {
  Shape shape = param;
  while (shape.size() > normalized.size() && shape.front() == 1) shape.erase(shape.begin());
  bool fits = shape.size() <= normalized.size();
  for (size_t i = 0; fits && i < shape.size(); ++i) {
    const int64_t want = normalized[normalized.size() - shape.size() + i];
    fits = shape[i] == 1 || shape[i] == want;
  }
  OT_CHECK(fits, "{}: {} {} does not broadcast to the normalized shape {} (the input's dimensions from axis {})",
           node.label(), name, shape_str(param), shape_str(normalized), axis);
  std::vector<int64_t> offsets(static_cast<size_t>(shape_numel(normalized)));
  StridedWalk walk(normalized, {broadcast_strides(shape, normalized)});
  for (size_t j = 0; j < offsets.size(); ++j, walk.next()) offsets[j] = walk.offset(0);
  return offsets;
}

// LRN's attributes (with ONNX's defaults), shared by LRN and LRNGrad.
struct LrnAttributes {
  int64_t size;
  float alpha, beta, bias;
  explicit LrnAttributes(const Node& node)
      : size(node.attr_int("size")),
        alpha(node.attr_float("alpha", 1e-4f)),
        beta(node.attr_float("beta", 0.75f)),
        bias(node.attr_float("bias", 1.f)) {
    OT_CHECK(size > 0, "{}: size {} must be positive", node.label(), size);
  }
};

// Runs f(TypeTag<float> or TypeTag<double>, inputs' data..., out's data), all of out's
// (floating) type: in double for float64, in float for float32, and for float16/bfloat16 in
// float on widened copies, out narrowed back after f.
template <typename F, typename... Inputs>
void in_float_or_double(Tensor& out, F&& f, const Inputs&... inputs) {
  if (out.dtype() == DType::Float64) {
    f(TypeTag<double>{}, inputs.template data<double>()..., out.data<double>());
  } else if (out.dtype() == DType::Float32) {
    f(TypeTag<float>{}, inputs.template data<float>()..., out.data<float>());
  } else {
    Tensor out32(DType::Float32, out.shape());
    // The widened copies live until f returns (the end of the full expression).
    f(TypeTag<float>{}, to_float32(inputs).template data<float>()..., out32.data<float>());
    store_float32(out32, out);
  }
}

// Per-channel batch statistics of a non-empty float32 x [N, C, S] over N and S: mean[c]
// and the population variance var[c] = sum((x - mean)^2) / (N * S), the float32 fast path
// of batch_norm_statistics_ref. One pass per channel, channels in parallel: with
// d = x - x[0, c, 0] (a shift that keeps the formula free of cancellation when |mean| is
// large against the spread), in double, M = N * S,
//   mean = x[0, c, 0] + sum(d) / M, var = sum(d^2) / M - (sum(d) / M)^2
inline void batch_statistics_f32(const float* x, int64_t n, int64_t c, int64_t s, float* mean, float* var) {
  const double count = static_cast<double>(n * s);
#pragma omp parallel for if (n * c * s >= kParallelMinElements) schedule(static)
  for (int64_t ch = 0; ch < c; ++ch) {
    const double shift = x[ch * s];
    double sum = 0, sum_sq = 0;
    for (int64_t i = 0; i < n; ++i) {
      const float* row = x + (i * c + ch) * s;
#pragma omp simd reduction(+ : sum, sum_sq)
      for (int64_t j = 0; j < s; ++j) {
        const double d = row[j] - shift;
        sum += d;
        sum_sq += d * d;
      }
    }
    const double m = sum / count;
    mean[ch] = static_cast<float>(shift + m);
    var[ch] = static_cast<float>(std::max(0.0, sum_sq / count - m * m));
  }
}

// Training-mode batch normalization of a non-empty float32 x [N, C, S] with the batch
// statistics (batch_statistics_f32): y = x * a[c] + b[c] with a = scale / sqrt(var + eps),
// b = B - mean * a, rows of S in parallel (one multiply-add per element, vectorised).
inline void batch_norm_training_f32(const float* x, int64_t n, int64_t c, int64_t s, const float* scale,
                                    const float* bias, float epsilon, float* mean, float* var, float* y) {
  batch_statistics_f32(x, n, c, s, mean, var);
#pragma omp parallel for if (n * c * s >= kParallelMinCheapElements) schedule(static)
  for (int64_t row = 0; row < n * c; ++row) {
    const int64_t ch = row % c;  // a and b per row: one sqrt a row, no scratch to allocate
    const float ar = static_cast<float>(scale[ch] / std::sqrt(static_cast<double>(var[ch]) + epsilon));
    const float br = bias[ch] - mean[ch] * ar;
    const float* in = x + row * s;
    float* out = y + row * s;
#pragma omp simd
    for (int64_t j = 0; j < s; ++j) out[j] = in[j] * ar + br;
  }
}

}  // namespace onnx_train::normalization
