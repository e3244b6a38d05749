// Plain-loop references of the normalization gradients (see normalization_grad_ref.h).
#include "runtime/kernels/reference/normalization_grad_ref.h"

#include <algorithm>
#include <cmath>
#include <vector>

namespace onnx_train {

template <typename T>
void batch_norm_grad_ref(const T* dy, const T* x, int64_t n, int64_t c, int64_t s, const T* scale, const T* mean,
                         const T* var, double epsilon, bool training, T* dx, T* dscale, T* dbias, T* dmean, T* dvar) {
  const double count = static_cast<double>(n * s);
  for (int64_t ch = 0; ch < c; ++ch) {
    const double m = mean[ch];
    const double inv_std = 1.0 / std::sqrt(static_cast<double>(var[ch]) + epsilon);
    double sum_dy = 0, sum_dy_xhat = 0;
    for (int64_t i = 0; i < n; ++i) {
      const int64_t base = (i * c + ch) * s;
      for (int64_t j = 0; j < s; ++j) {
        sum_dy += dy[base + j];
        sum_dy_xhat += dy[base + j] * ((x[base + j] - m) * inv_std);
      }
    }
    const double a = scale[ch] * inv_std;
    for (int64_t i = 0; i < n; ++i) {
      const int64_t base = (i * c + ch) * s;
      for (int64_t j = 0; j < s; ++j) {
        const double g = dy[base + j];
        if (training) {
          const double xhat = (x[base + j] - m) * inv_std;
          dx[base + j] = static_cast<T>(a / count * (count * g - sum_dy - xhat * sum_dy_xhat));
        } else {
          dx[base + j] = static_cast<T>(g * a);
        }
      }
    }
    dscale[ch] = static_cast<T>(sum_dy_xhat);
    dbias[ch] = static_cast<T>(sum_dy);
    if (!training && dmean != nullptr) dmean[ch] = static_cast<T>(-sum_dy * a);
    if (!training && dvar != nullptr) dvar[ch] = static_cast<T>(-0.5 * sum_dy_xhat * a * inv_std);
  }
}

template <typename T>
void layer_norm_grad_ref(const T* dy, const T* x, int64_t rows, int64_t cols, const T* scale, double epsilon, T* dx,
                         T* dscale, T* dbias) {
  std::vector<double> scale_sum(static_cast<size_t>(cols), 0.0), bias_sum(static_cast<size_t>(cols), 0.0);
  std::vector<double> xhat(static_cast<size_t>(cols));
  for (int64_t r = 0; r < rows; ++r) {
    const T* xr = x + r * cols;
    const T* dyr = dy + r * cols;
    double m = 0;
    for (int64_t j = 0; j < cols; ++j) m += xr[j];
    m /= static_cast<double>(cols);
    double v = 0;
    for (int64_t j = 0; j < cols; ++j) v += (xr[j] - m) * (xr[j] - m);
    v /= static_cast<double>(cols);
    const double inv_std = 1.0 / std::sqrt(v + epsilon);
    double mean_g = 0, mean_g_xhat = 0;
    for (int64_t j = 0; j < cols; ++j) {
      xhat[j] = (xr[j] - m) * inv_std;
      const double g = static_cast<double>(dyr[j]) * scale[j];
      mean_g += g;
      mean_g_xhat += g * xhat[j];
      scale_sum[j] += dyr[j] * xhat[j];
      bias_sum[j] += dyr[j];
    }
    mean_g /= static_cast<double>(cols);
    mean_g_xhat /= static_cast<double>(cols);
    T* dxr = dx + r * cols;
    for (int64_t j = 0; j < cols; ++j)
      dxr[j] = static_cast<T>(inv_std * (static_cast<double>(dyr[j]) * scale[j] - mean_g - xhat[j] * mean_g_xhat));
  }
  for (int64_t j = 0; j < cols; ++j) {
    dscale[j] = static_cast<T>(scale_sum[j]);
    dbias[j] = static_cast<T>(bias_sum[j]);
  }
}

template <typename T>
void lrn_grad_ref(const T* dy, const T* x, int64_t n, int64_t c, int64_t s, int64_t size, double alpha, double beta,
                  double bias, T* dx) {
  const int64_t before = (size - 1) / 2;  // floor((size - 1) / 2)
  const int64_t after = size / 2;         // ceil((size - 1) / 2)
  const double alpha_over_size = alpha / static_cast<double>(size);
  // Per spatial position: d[c] and w[c] = dy[c] * x[c] * d[c]^(-beta - 1) along the channels.
  std::vector<double> d(static_cast<size_t>(c)), w(static_cast<size_t>(c));
  for (int64_t i = 0; i < n; ++i)
    for (int64_t j = 0; j < s; ++j) {
      auto at = [&](int64_t ch) { return (i * c + ch) * s + j; };
      for (int64_t ch = 0; ch < c; ++ch) {
        double square_sum = 0;
        for (int64_t k = std::max<int64_t>(0, ch - before); k <= std::min<int64_t>(c - 1, ch + after); ++k)
          square_sum += static_cast<double>(x[at(k)]) * x[at(k)];
        d[ch] = bias + alpha_over_size * square_sum;
        w[ch] = static_cast<double>(dy[at(ch)]) * x[at(ch)] * std::pow(d[ch], -beta - 1);
      }
      // Channel k lies in the window of c for c in [k - after, k + before].
      for (int64_t k = 0; k < c; ++k) {
        double window_sum = 0;
        for (int64_t ch = std::max<int64_t>(0, k - after); ch <= std::min<int64_t>(c - 1, k + before); ++ch)
          window_sum += w[ch];
        dx[at(k)] = static_cast<T>(dy[at(k)] * std::pow(d[k], -beta) -
                                   2 * alpha_over_size * beta * static_cast<double>(x[at(k)]) * window_sum);
      }
    }
}

// Explicit instantiations: the element types the kernels run these on.
template void batch_norm_grad_ref<float>(const float*, const float*, int64_t, int64_t, int64_t, const float*,
                                         const float*, const float*, double, bool, float*, float*, float*, float*,
                                         float*);
template void batch_norm_grad_ref<double>(const double*, const double*, int64_t, int64_t, int64_t, const double*,
                                          const double*, const double*, double, bool, double*, double*, double*,
                                          double*, double*);
template void layer_norm_grad_ref<float>(const float*, const float*, int64_t, int64_t, const float*, double, float*,
                                         float*, float*);
template void layer_norm_grad_ref<double>(const double*, const double*, int64_t, int64_t, const double*, double,
                                          double*, double*, double*);
template void lrn_grad_ref<float>(const float*, const float*, int64_t, int64_t, int64_t, int64_t, double, double,
                                  double, float*);
template void lrn_grad_ref<double>(const double*, const double*, int64_t, int64_t, int64_t, int64_t, double, double,
                                   double, double*);

}  // namespace onnx_train
