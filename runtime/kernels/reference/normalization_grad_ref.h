// Plain-loop references of the normalization gradients (the backward passes of
// BatchNormalization, InstanceNormalization, LayerNormalization and LRN).
//
// They are the path float64 runs on (gradient checks) and the ground truth the oneDNN
// float32 paths of dnnl/normalization_grad.cc are tested against. Layouts follow
// norm_ref.h: "[N, C, S]" is an (N x C x D1 x ... x Dn) tensor with its spatial dimensions
// flattened into S; every tensor is dense row-major. Sums are accumulated in double.
// Explicitly instantiated for float and double.
#pragma once

#include <cstdint>

namespace onnx_train {

// Backward of batch normalization y = (x - mean) * inv_std * scale + bias per channel c,
// inv_std = 1 / sqrt(var + epsilon), xhat = (x - mean) * inv_std, M = N * S:
//   dscale[c] = sum(dy * xhat), dbias[c] = sum(dy)   (sums over n and s)
//   training (mean/var are the batch statistics of x, so y depends on them):
//     dx = scale * inv_std / M * (M * dy - sum(dy) - xhat * sum(dy * xhat))
//   inference (mean/var are inputs):
//     dx = dy * scale * inv_std
//     dmean[c] = -sum(dy) * scale * inv_std, dvar[c] = -0.5 * sum(dy * xhat) * scale * inv_std^2
// dy, x, dx: [N, C, S]; scale, mean, var, dscale, dbias, dmean, dvar: [C]. dmean and dvar
// are only written in inference and may be null.
template <typename T>
void batch_norm_grad_ref(const T* dy, const T* x, int64_t n, int64_t c, int64_t s, const T* scale, const T* mean,
                         const T* var, double epsilon, bool training, T* dx, T* dscale, T* dbias, T* dmean, T* dvar);

// Backward of layer normalization of x viewed as [rows, cols] (each row normalized over its
// cols with its own mean and population variance), y = xhat * scale[j] + bias[j]:
//   g = dy * scale, dx = inv_std * (g - mean_j(g) - xhat * mean_j(g * xhat))
//   dscale[j] = sum_r(dy * xhat), dbias[j] = sum_r(dy)
// dy, x, dx: [rows, cols]; scale, dscale, dbias: [cols].
template <typename T>
void layer_norm_grad_ref(const T* dy, const T* x, int64_t rows, int64_t cols, const T* scale, double epsilon, T* dx,
                         T* dscale, T* dbias);

// Backward of local response normalization across channels (lrn_ref in norm_ref.h):
//   y[c] = x[c] * d[c]^-beta, d[c] = bias + alpha / size * sum of x[k]^2 over the window of c,
//   window(c) = [c - floor((size - 1) / 2), c + ceil((size - 1) / 2)] clipped to [0, C - 1]
//   dx[k] = dy[k] * d[k]^-beta - 2 * alpha * beta / size * x[k] * sum over the c whose window
//           holds k of dy[c] * x[c] * d[c]^(-beta - 1)
// dy, x, dx: [N, C, S].
template <typename T>
void lrn_grad_ref(const T* dy, const T* x, int64_t n, int64_t c, int64_t s, int64_t size, double alpha, double beta,
                  double bias, T* dx);

}  // namespace onnx_train
