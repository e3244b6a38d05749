// Plain-loop reference implementations of Conv and ConvTranspose.
//
// They are the ground truth the oneDNN kernels (dnnl/conv.cc) are tested against and the
// path float64 runs on (gradient checks). Tensors are dense row-major with 1 to 3 spatial
// axes; the geometry (strides, dilations, begin padding, output sizes) comes from
// conv_window.h. Explicitly instantiated for float and double.
#pragma once

#include <cstdint>

#include "onnx_train/tensor.h"
#include "runtime/kernels/reference/conv_window.h"

namespace onnx_train {

// Conv. x: [N, C, in...], w: [M, C / group, k...], bias: [M] or null, y: [N, M, out...].
// With Cg = C / group, Mg = M / group and g = m / Mg the group of output channel m:
//   y[n, m, o] = bias[m] + sum_{c < Cg, j < k} x[n, g * Cg + c, o * s + j * d - pad_begin] * w[m, c, j]
// (per spatial axis; taps outside the input read zero).
template <typename T>
void conv_ref(const T* x, const Shape& x_shape, const T* w, const Shape& w_shape, const T* bias, int64_t group,
              const WindowGeometry& geometry, T* y);

// ConvTranspose, the adjoint of Conv. x: [N, C, in...], w: [C, M / group, k...], bias: [M]
// or null, y: [N, M, out...]. Every input element scatters into the output:
//   y[n, g * Mg + m, i * s + j * d - pad_begin] += x[n, c, i] * w[c, m, j]   (g = c / Cg)
// over the positions inside [0, out), then bias[m] is added everywhere. Output positions
// no tap reaches (output_padding, a larger output_shape) hold the bias alone.
template <typename T>
void conv_transpose_ref(const T* x, const Shape& x_shape, const T* w, const Shape& w_shape, const T* bias,
                        int64_t group, const WindowGeometry& geometry, T* y);

}  // namespace onnx_train
