// Plain-loop reference implementations of the normalization ops (BatchNormalization,
// InstanceNormalization, LayerNormalization, LRN).
//
// The references are the ground truth the oneDNN kernels are tested against and the path
// float64 runs on (gradient checks). Tensors are dense row-major; a tensor "[N, C, S]" is
// an (N x C x D1 x ... x Dn) tensor with its spatial dimensions flattened into S.
// Statistics are accumulated in double. Explicitly instantiated for float and double.
#pragma once

#include <cstdint>

namespace onnx_train {

// Batch normalization with given statistics, per channel c:
//   y[n, c, s] = (x[n, c, s] - mean[c]) / sqrt(var[c] + epsilon) * scale[c] + bias[c]
// x, y: [N, C, S]; scale, bias, mean, var: [C].
template <typename T>
void batch_norm_ref(const T* x, int64_t n, int64_t c, int64_t s, const T* scale, const T* bias, const T* mean,
                    const T* var, double epsilon, T* y);

// Per-channel statistics of x [N, C, S] over N and S: mean[c] and the population
// variance var[c] = sum((x - mean)^2) / (N * S).
template <typename T>
void batch_norm_statistics_ref(const T* x, int64_t n, int64_t c, int64_t s, T* mean, T* var);

// Instance normalization: for every (n, c), normalize x[n, c, :] by its own mean and
// population variance, then y = normalized * scale[c] + bias[c]. x, y: [N, C, S].
template <typename T>
void instance_norm_ref(const T* x, int64_t n, int64_t c, int64_t s, const T* scale, const T* bias, double epsilon,
                       T* y);

// Layer normalization of x viewed as [rows, cols], each row normalized over its cols:
//   mean[r] = sum(x[r, :]) / cols, inv_std_dev[r] = 1 / sqrt(sum((x[r, :] - mean[r])^2) / cols + epsilon)
//   y[r, j] = (x[r, j] - mean[r]) * inv_std_dev[r] * scale[j] + bias[j]
// scale: [cols]; bias: [cols] or null (0); mean, inv_std_dev: [rows] or null (not wanted).
template <typename T>
void layer_norm_ref(const T* x, int64_t rows, int64_t cols, const T* scale, const T* bias, double epsilon, T* y,
                    T* mean, T* inv_std_dev);

// Local response normalization across channels, x, y: [N, C, S]:
//   square_sum[n, c, s] = sum of x[n, i, s]^2 for max(0, c - floor((size - 1) / 2)) <= i
//                         <= min(C - 1, c + ceil((size - 1) / 2))
//   y = x / (bias + alpha / size * square_sum)^beta
template <typename T>
void lrn_ref(const T* x, int64_t n, int64_t c, int64_t s, int64_t size, double alpha, double beta, double bias, T* y);

}  // namespace onnx_train
