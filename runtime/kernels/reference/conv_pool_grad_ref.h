// Plain-loop reference implementations of the backward passes of Conv, ConvTranspose and
// the pooling ops, the ConvTranspose window geometry shared by the forward kernel
// (dnnl/conv.cc) and its gradient (dnnl/conv_pool_grad.cc), and the window and operand
// checks the gradient kernels share (dnnl/conv_pool_grad.cc, pool_grad.cc).
//
// They are the ground truth the oneDNN gradient kernels are tested against and the path
// float64 runs on (gradient checks). Tensors are dense row-major [N, C, spatial...] with 1
// to 3 spatial axes; the geometry comes from conv_window.h. The gradients of Conv's input
// and of ConvTranspose's input need no loops of their own: they are conv_transpose_ref and
// conv_ref (conv_ref.h) over the same window with the roles of input and output swapped.
// Explicitly instantiated for float and double.
#pragma once

#include <cstdint>

#include "onnx_train/tensor.h"
#include "runtime/ir/graph.h"
#include "runtime/kernels/reference/conv_window.h"

namespace onnx_train {

// ConvTranspose's geometry: x spatial sizes `in`, the kernel, and the node's attributes
// (attrs: strides, dilations, pads, auto_pad; output_padding and output_shape as written,
// empty when absent). Per spatial axis, with dk = (k - 1) * d + 1, the full (uncropped)
// extent is full = s * (in - 1) + output_padding + dk, and
//   explicit pads:          out = full - pad_begin - pad_end
//   output_shape or SAME_*: out = output_shape (SAME_*: in * s); total = full - out is
//                           cropped as pads (pads attributes are ignored):
//     version 11: SAME_UPPER -> begin = floor(total / 2), otherwise begin = total - floor(total / 2)
//     version 1:  SAME_UPPER -> begin = total - floor(total / 2), otherwise begin = floor(total / 2)
//     (`version11` picks the rule; a negative total extends the output)
//   VALID:                  out = full
WindowGeometry conv_transpose_geometry(const Node& node, const WindowAttrs& attrs,
                                       const std::vector<int64_t>& output_padding,
                                       const std::vector<int64_t>& output_shape, bool version11, const Shape& in,
                                       const std::vector<int64_t>& kernel);

// The window attributes of a pooling gradient node: the forward pool's, or with global = 1
// one window over every spatial position.
class PoolGradWindow {
 public:
  explicit PoolGradWindow(const Node& node);
  // The window over x [N, C, in...] (1 to 3 spatial axes), resolved as the forward pool does.
  WindowGeometry geometry(const Node& node, const Tensor& x) const;
  // The same, after checking that x is float32 / float64 and that dY has x's type and the
  // forward output's shape [N, C, out...].
  WindowGeometry checked_geometry(const Node& node, const Tensor& dy, const Tensor& x) const;

 private:
  WindowAttrs attrs_;
  bool global_;
};

// Checks of the window gradient kernels' operands: `t` (named `name`) is float32 or float64
// (or bfloat16 / float16 with reduced_precision: the convolution gradients, which widen them);
// dY has X's type and the forward output's shape `expected`.
void check_window_grad_input(const Node& node, const Tensor& t, const char* name, bool reduced_precision = false);
void check_window_grad_dy(const Node& node, const Tensor& dy, const Tensor& x, const Shape& expected,
                          bool reduced_precision = false);

// The weights gradient of Conv (y = conv(x, w), conv_ref.h): x [N, C, in...], dy [N, M, out...],
// dw [M, C / group, k...]:
//   dw[m, c, j] = sum_{n, o} dy[n, m, o] * x[n, g * Cg + c, o * s + j * d - pad_begin]   (g = m / Mg)
// and, when db is not null, db[m] = sum_{n, o} dy[n, m, o]. Overwrites dw and db.
template <typename T>
void conv_backward_weights_ref(const T* x, const Shape& x_shape, const T* dy, const Shape& dy_shape, int64_t group,
                               const WindowGeometry& geometry, const Shape& w_shape, T* dw, T* db);

// db[c] = sum over n and the spatial positions of dy[n, c, ...]; dy [N, C, spatial...].
template <typename T>
void channel_sum_ref(const T* dy, const Shape& dy_shape, T* db);

// MaxPool's input gradient: dy routed to the first maximum of each window (the argmax
// max_pool_ref finds), accumulated where windows overlap. x [N, C, in...], dy and the
// geometry as the forward pass had them; dx has x's shape and is overwritten.
template <typename T>
void max_pool_backward_ref(const T* x, const Shape& x_shape, const T* dy, const WindowGeometry& geometry, T* dx);

// AveragePool's input gradient: dx[i] = sum over the windows o holding i of dy[o] / count(o),
// count as average_pool_ref divides by (with or without count_include_pad). Overwrites dx.
template <typename T>
void average_pool_backward_ref(const Shape& x_shape, const T* dy, const WindowGeometry& geometry,
                               bool count_include_pad, T* dx);

// LpPool's input gradient, y = (sum over the window of |x|^p)^(1/p):
//   dx[i] = sum over the windows o holding i of dy[o] * sign(x[i]) * |x[i]|^(p-1) / y[o]^(p-1)
// (windows with y[o] = 0 pass nothing). Overwrites dx.
template <typename T>
void lp_pool_backward_ref(const T* x, const Shape& x_shape, const T* y, const T* dy, const WindowGeometry& geometry,
                          int64_t p, T* dx);

// The window of RoiAlign: its attributes and, per roi, the bins and sampling points.
struct RoiAlignParams {
  bool max_mode = false;
  bool half_pixel = true;  // coordinate_transformation_mode: half_pixel or output_half_pixel
  int64_t out_h = 1, out_w = 1, sampling_ratio = 0;
  double spatial_scale = 1.0;
};

// RoiAlign's input gradient (RoiAlign as vision_ops.cc computes it): x [N, C, H, W], rois
// [R, 4] (x1, y1, x2, y2), batch_indices [R], dy [R, C, out_h, out_w]. Every sampling point
// of a bin reads x bilinearly, y = the sum of its 4 weighted neighbours w_k * x[p_k]:
//   avg: dx[p_k] += dy * w_k / (number of sampling points), over every point of the bin
//   max: dx[p_k] += dy * w_k for the one (point, k) whose term w_k * x[p_k] was the maximum
// Points beyond one pixel outside the image pass nothing. Overwrites dx.
template <typename T>
void roi_align_backward_ref(const T* x, const Shape& x_shape, const double* rois, const int64_t* batch_indices,
                            int64_t num_rois, const RoiAlignParams& params, const T* dy, T* dx);

// MaxRoiPool's input gradient (MaxRoiPool as vision_ops.cc computes it): x [N, C, H, W],
// rois [R, 5] (batch_index, x1, y1, x2, y2), dy [R, C, pooled_h, pooled_w]:
//   dx[b, c, argmax of bin] += dy[r, c, bin]   (the first maximum; empty bins pass nothing)
// Overwrites dx.
template <typename T>
void max_roi_pool_backward_ref(const T* x, const Shape& x_shape, const double* rois, int64_t num_rois, int64_t pooled_h,
                               int64_t pooled_w, double spatial_scale, const T* dy, T* dx);

}  // namespace onnx_train
