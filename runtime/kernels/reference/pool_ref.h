// Plain-loop reference implementations of the pooling ops: MaxPool (with the argmax
// indices), AveragePool, LpPool, GlobalAveragePool / GlobalMaxPool, GlobalLpPool and
// MaxUnpool.
//
// They are the ground truth the oneDNN kernels (dnnl/pool.cc) are tested against, the
// path float64 and the cases oneDNN cannot express exactly run on, and the only path of
// the argmax indices. Tensors are dense row-major [N, C, spatial...] with 1 to 3 spatial
// axes; the window geometry comes from conv_window.h. A window covers, per axis, the
// positions o * s + j * d - pad_begin (j < k); positions outside the input are padding.
// Explicitly instantiated for float and double (max pooling also for int8 and uint8).
#pragma once

#include <cstdint>

#include "onnx_train/tensor.h"
#include "runtime/kernels/reference/conv_window.h"

namespace onnx_train {

// y[n, c, o] = max of x[n, c, window(o)] over the positions inside the input (the first
// maximum wins). indices (null = not wanted): the flat index of that maximum in x, i.e.
// (n * C + c) * prod(in) + its spatial index, row-major, or column-major (first spatial
// axis fastest) when `column_major`. A window holding no input position (possible only
// with extreme padding) yields the lowest value of T and index -1.
template <typename T>
void max_pool_ref(const T* x, const Shape& x_shape, const WindowGeometry& geometry, T* y, int64_t* indices,
                  bool column_major);

// y[n, c, o] = sum of x[n, c, window(o)] over the positions inside the input, divided by
// their number; with count_include_pad by the number of window positions inside the
// padded input [-pad_begin, in + pad_end) instead (positions a ceil_mode window reaches
// beyond the end padding never count).
template <typename T>
void average_pool_ref(const T* x, const Shape& x_shape, const WindowGeometry& geometry, bool count_include_pad, T* y);

// y[n, c, o] = (sum of |x[n, c, window(o)]|^p)^(1/p); padding contributes zero.
template <typename T>
void lp_pool_ref(const T* x, const Shape& x_shape, const WindowGeometry& geometry, int64_t p, T* y);

// y[n, c] = mean (or max) of x[n, c, :] over every spatial position; x: [N, C, S...].
template <typename T>
void global_pool_ref(const T* x, const Shape& x_shape, bool max, T* y);

// y[n, c] = (sum of |x[n, c, :]|^p over every spatial position)^(1/p); x: [N, C, S...].
// p > 0 (GlobalLpPool-1 allows a fractional p).
template <typename T>
void global_lp_pool_ref(const T* x, const Shape& x_shape, double p, T* y);

// MaxUnpool: scatters x into zeros. indices (same shape as x) are flat positions in a tensor
// of shape `unpooled_shape` ([N, C, (in - 1) * s + k - pad_begin - pad_end ...], the shape
// MaxPool's input had); that tensor is then placed at the origin of y ([N, C, out...] with
// out >= the unpooled sizes; the rest stays zero). Indices must be in range (checked by the
// caller).
template <typename T>
void max_unpool_ref(const T* x, const int64_t* indices, int64_t count, const Shape& unpooled_shape,
                    const Shape& y_shape, T* y);

}  // namespace onnx_train
