// Plain-loop reference implementations of the normalization ops (see norm_ref.h).
#include "runtime/kernels/reference/norm_ref.h"

#include <algorithm>
#include <cmath>

namespace onnx_train {

namespace {

// Mean and population variance of `count` values spaced `stride` apart, in `groups`
// groups `group_stride` apart (two passes, in double).
template <typename T>
void moments(const T* x, int64_t groups, int64_t group_stride, int64_t count, double& mean, double& var) {
  const double total = static_cast<double>(groups * count);
  double sum = 0;
  for (int64_t g = 0; g < groups; ++g)
    for (int64_t i = 0; i < count; ++i) sum += x[g * group_stride + i];
  mean = total > 0 ? sum / total : 0;
  double sq = 0;
  for (int64_t g = 0; g < groups; ++g)
    for (int64_t i = 0; i < count; ++i) {
      const double d = x[g * group_stride + i] - mean;
      sq += d * d;
    }
  var = total > 0 ? sq / total : 0;
}

}  // namespace

template <typename T>
void batch_norm_ref(const T* x, int64_t n, int64_t c, int64_t s, const T* scale, const T* bias, const T* mean,
                    const T* var, double epsilon, T* y) {
  for (int64_t ch = 0; ch < c; ++ch) {
    const double inv_std = 1.0 / std::sqrt(static_cast<double>(var[ch]) + epsilon);
    const double a = scale[ch] * inv_std;
    const double b = bias[ch] - mean[ch] * a;
    for (int64_t i = 0; i < n; ++i) {
      const int64_t base = (i * c + ch) * s;
      for (int64_t j = 0; j < s; ++j) y[base + j] = static_cast<T>(x[base + j] * a + b);
    }
  }
}

template <typename T>
void batch_norm_statistics_ref(const T* x, int64_t n, int64_t c, int64_t s, T* mean, T* var) {
  for (int64_t ch = 0; ch < c; ++ch) {
    double m, v;
    moments(x + ch * s, n, c * s, s, m, v);
    mean[ch] = static_cast<T>(m);
    var[ch] = static_cast<T>(v);
  }
}

template <typename T>
void instance_norm_ref(const T* x, int64_t n, int64_t c, int64_t s, const T* scale, const T* bias, double epsilon,
                       T* y) {
  for (int64_t i = 0; i < n; ++i)
    for (int64_t ch = 0; ch < c; ++ch) {
      const int64_t base = (i * c + ch) * s;
      double m, v;
      moments(x + base, 1, 0, s, m, v);
      const double a = scale[ch] / std::sqrt(v + epsilon);
      const double b = bias[ch] - m * a;
      for (int64_t j = 0; j < s; ++j) y[base + j] = static_cast<T>(x[base + j] * a + b);
    }
}

template <typename T>
void layer_norm_ref(const T* x, int64_t rows, int64_t cols, const T* scale, const T* bias, double epsilon, T* y,
                    T* mean, T* inv_std_dev) {
  for (int64_t r = 0; r < rows; ++r) {
    const T* xr = x + r * cols;
    T* yr = y + r * cols;
    double m, v;
    moments(xr, 1, 0, cols, m, v);
    const double inv_std = 1.0 / std::sqrt(v + epsilon);
    for (int64_t j = 0; j < cols; ++j)
      yr[j] = static_cast<T>((xr[j] - m) * inv_std * scale[j] + (bias != nullptr ? bias[j] : T(0)));
    if (mean != nullptr) mean[r] = static_cast<T>(m);
    if (inv_std_dev != nullptr) inv_std_dev[r] = static_cast<T>(inv_std);
  }
}

template <typename T>
void lrn_ref(const T* x, int64_t n, int64_t c, int64_t s, int64_t size, double alpha, double beta, double bias, T* y) {
  const int64_t before = (size - 1) / 2;  // floor((size - 1) / 2)
  const int64_t after = size / 2;         // ceil((size - 1) / 2)
  for (int64_t i = 0; i < n; ++i)
    for (int64_t ch = 0; ch < c; ++ch) {
      const int64_t lo = std::max<int64_t>(0, ch - before);
      const int64_t hi = std::min<int64_t>(c - 1, ch + after);
      for (int64_t j = 0; j < s; ++j) {
        double square_sum = 0;
        for (int64_t k = lo; k <= hi; ++k) {
          const double v = x[(i * c + k) * s + j];
          square_sum += v * v;
        }
        const int64_t at = (i * c + ch) * s + j;
        y[at] = static_cast<T>(x[at] / std::pow(bias + alpha / static_cast<double>(size) * square_sum, beta));
      }
    }
}

// Explicit instantiations: the element types the kernels run these on.
template void batch_norm_ref<float>(const float*, int64_t, int64_t, int64_t, const float*, const float*, const float*,
                                    const float*, double, float*);
template void batch_norm_statistics_ref<float>(const float*, int64_t, int64_t, int64_t, float*, float*);
template void instance_norm_ref<float>(const float*, int64_t, int64_t, int64_t, const float*, const float*, double,
                                       float*);
template void layer_norm_ref<float>(const float*, int64_t, int64_t, const float*, const float*, double, float*, float*,
                                    float*);
template void lrn_ref<float>(const float*, int64_t, int64_t, int64_t, int64_t, double, double, double, float*);
template void batch_norm_ref<double>(const double*, int64_t, int64_t, int64_t, const double*, const double*,
                                     const double*, const double*, double, double*);
template void batch_norm_statistics_ref<double>(const double*, int64_t, int64_t, int64_t, double*, double*);
template void instance_norm_ref<double>(const double*, int64_t, int64_t, int64_t, const double*, const double*, double,
                                        double*);
template void layer_norm_ref<double>(const double*, int64_t, int64_t, const double*, const double*, double, double*,
                                     double*, double*);
template void lrn_ref<double>(const double*, int64_t, int64_t, int64_t, int64_t, double, double, double, double*);

}  // namespace onnx_train
