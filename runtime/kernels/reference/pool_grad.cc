// Kernels of the pooling gradients oneDNN has no primitive for, in the project's own domain
// (ai.onnx_train): LpPoolGrad (oneDNN has no Lp pooling), MaxUnpoolGrad (a gather),
// RoiAlignGrad and MaxRoiPoolGrad (region poolings); plain loops for float32 and float64.
// Also the window and operand checks every window gradient kernel shares
// (conv_pool_grad_ref.h; MaxPoolGrad, AveragePoolGrad and the convolution gradients are in
// dnnl/conv_pool_grad.cc).
#include <cmath>
#include <string>
#include <vector>

#include "runtime/kernels/kernel.h"
#include "runtime/kernels/reference/conv_pool_grad_ref.h"
#include "runtime/kernels/reference/conv_window.h"
#include "runtime/kernels/registry.h"
#include "runtime/kernels/util.h"

namespace onnx_train {

void check_window_grad_input(const Node& node, const Tensor& t, const char* name, bool reduced_precision) {
  if (reduced_precision && (t.dtype() == DType::BFloat16 || t.dtype() == DType::Float16)) return;
  OT_CHECK(t.dtype() == DType::Float32 || t.dtype() == DType::Float64,
           "{}: input {} has type {}; {} takes float32 or float64{}", node.label(), name, dtype_name(t.dtype()),
           node.op_type, reduced_precision ? " (or bfloat16, float16)" : "");
}

void check_window_grad_dy(const Node& node, const Tensor& dy, const Tensor& x, const Shape& expected,
                          bool reduced_precision) {
  check_window_grad_input(node, dy, "dY", reduced_precision);
  OT_CHECK(dy.dtype() == x.dtype() && dy.shape() == expected,
           "{}: gradient dY {} must have the forward output's shape {} and X's type {}", node.label(), dy.describe(),
           shape_str(expected), dtype_name(x.dtype()));
}

PoolGradWindow::PoolGradWindow(const Node& node)
    : attrs_(read_window_attrs(node, /*with_dilations=*/true, /*with_ceil_mode=*/true)),
      global_(node.attr_int("global", 0) != 0) {
  OT_CHECK(global_ || !attrs_.kernel_shape.empty(), "{}: the kernel_shape attribute is required", node.label());
}

WindowGeometry PoolGradWindow::geometry(const Node& node, const Tensor& x) const {
  OT_CHECK(x.rank() >= 3 && x.rank() <= 5, "{}: input X {} must be [N, C, spatial...] with 1 to 3 spatial axes",
           node.label(), x.describe());
  const Shape spatial = spatial_of(x.shape());
  if (!global_) return forward_window_geometry(node, attrs_, spatial, attrs_.kernel_shape);
  WindowGeometry g;
  g.kernel = spatial;
  g.strides = g.dilations = g.out = std::vector<int64_t>(spatial.size(), 1);
  g.pads_begin = g.pads_end = std::vector<int64_t>(spatial.size(), 0);
  return g;
}

WindowGeometry PoolGradWindow::checked_geometry(const Node& node, const Tensor& dy, const Tensor& x) const {
  check_window_grad_input(node, x, "X");
  const WindowGeometry g = geometry(node, x);
  check_window_grad_dy(node, dy, x, window_output_shape(x.dim(0), x.dim(1), g));
  return g;
}

namespace {

// LpPoolGrad(dY, X, Y) -> dX: the gradient of Y = LpPool(X), X [N, C, in...], Y and dY
// [N, C, out...]. Attributes: LpPool's (kernel_shape, strides, pads, auto_pad, p).
//   dX[i] = sum over the windows o holding i of dY[o] * sign(X[i]) |X[i]|^(p-1) / Y[o]^(p-1)
// Plain loops for float32 and float64 (oneDNN has no Lp pooling).
class LpPoolGradKernel : public Kernel {
 public:
  explicit LpPoolGradKernel(const KernelInfo& info) : window_(info.node), p_(info.node.attr_int("p", 2)) {
    OT_CHECK(p_ >= 1, "{}: p = {} must be >= 1", info.node.label(), p_);
  }

  void run(KernelContext& ctx) override {
    const Node& node = ctx.node();
    const Tensor& dy = ctx.input(0);
    const Tensor& x = ctx.input(1);
    const Tensor& y = ctx.input(2);
    const WindowGeometry g = window_.checked_geometry(node, dy, x);
    OT_CHECK(y.shape() == dy.shape() && y.dtype() == x.dtype(), "{}: Y {} must have dY's shape {} and X's type",
             node.label(), y.describe(), shape_str(dy.shape()));
    Tensor& dx = ctx.allocate_output(0, x.dtype(), x.shape());
    if (x.dtype() == DType::Float64)
      return lp_pool_backward_ref<double>(x.data<double>(), x.shape(), y.data<double>(), dy.data<double>(), g, p_,
                                          dx.data<double>());
    lp_pool_backward_ref<float>(x.data<float>(), x.shape(), y.data<float>(), dy.data<float>(), g, p_, dx.data<float>());
  }

 private:
  PoolGradWindow window_;
  int64_t p_;
};

// MaxUnpoolGrad(dY, I, X) -> dX: the gradient of Y = MaxUnpool(X, I[, output_shape]),
// X and I [N, C, in...], dY Y's shape. Attributes: MaxUnpool's (kernel_shape, strides,
// pads). The forward pass writes X.flat[j] at the flat position I[j] of the unpooled shape
// [N, C, (in - 1) * s + k - pad_begin - pad_end ...], placed at the origin of Y, so
//   dX.flat[j] = dY[the position of I[j] in Y]
// (X is read for its shape only). Plain loops: a gather.
class MaxUnpoolGradKernel : public Kernel {
 public:
  explicit MaxUnpoolGradKernel(const KernelInfo& info)
      : attrs_(read_window_attrs(info.node, /*with_dilations=*/false, /*with_ceil_mode=*/false)) {}

  void run(KernelContext& ctx) override {
    const Node& node = ctx.node();
    const Tensor& dy = ctx.input(0);
    const Tensor& indices = ctx.input(1);
    const Tensor& x = ctx.input(2);
    check_window_grad_input(node, x, "X");
    OT_CHECK(x.rank() >= 3 && x.rank() <= 5, "{}: input X {} must be [N, C, spatial...] with 1 to 3 spatial axes",
             node.label(), x.describe());
    OT_CHECK(indices.dtype() == DType::Int64 && indices.shape() == x.shape(),
             "{}: indices I {} must be int64 with the shape of X {}", node.label(), indices.describe(), x.describe());
    const Shape unpooled = unpooled_shape(node, attrs_, x);
    bool fits = dy.rank() == x.rank() && dy.dtype() == x.dtype();
    for (size_t i = 0; fits && i < unpooled.size(); ++i)
      fits = i < 2 ? dy.dim(static_cast<int>(i)) == unpooled[i] : dy.dim(static_cast<int>(i)) >= unpooled[i];
    OT_CHECK(fits, "{}: gradient dY {} must have X's type and hold the unpooled shape {}", node.label(), dy.describe(),
             shape_str(unpooled));
    const int64_t limit = shape_numel(unpooled);
    const int64_t* idx = indices.data<int64_t>();
    // Flat positions of I in dY.
    std::vector<int64_t> at(static_cast<size_t>(x.numel()));
    const std::vector<int64_t> from = strides_of(unpooled), to = strides_of(dy.shape());
    for (size_t j = 0; j < at.size(); ++j) {
      OT_CHECK(idx[j] >= 0 && idx[j] < limit, "{}: index {} at position {} of I is outside the unpooled shape {}",
               node.label(), idx[j], j, shape_str(unpooled));
      int64_t rest = idx[j];
      at[j] = 0;
      for (size_t a = 0; a < from.size(); ++a) {
        at[j] += (rest / from[a]) * to[a];
        rest %= from[a];
      }
    }
    Tensor& dx = ctx.allocate_output(0, x.dtype(), x.shape());
    if (x.dtype() == DType::Float64) return gather(dy.data<double>(), at, dx.data<double>());
    gather(dy.data<float>(), at, dx.data<float>());
  }

 private:
  template <typename T>
  static void gather(const T* dy, const std::vector<int64_t>& at, T* dx) {
    for (size_t j = 0; j < at.size(); ++j) dx[j] = dy[at[j]];
  }

  WindowAttrs attrs_;
};

// ---- region pooling gradients ------------------------------------------------------------

// Checks X [N, C, H, W] (float32 / float64) and dY [R, C, out_h, out_w] of a region pooling.
void check_roi_operands(const Node& node, const Tensor& dy, const Tensor& x, int64_t num_rois, int64_t out_h,
                        int64_t out_w) {
  check_window_grad_input(node, x, "X");
  OT_CHECK(x.rank() == 4, "{}: input X {} must be 4-D [N, C, H, W]", node.label(), x.describe());
  check_window_grad_dy(node, dy, x, {num_rois, x.dim(1), out_h, out_w});
}

// RoiAlignGrad(dY, X, rois, batch_indices) -> dX: the gradient of Y = RoiAlign(X, rois,
// batch_indices) with respect to X (rois and batch_indices get none). X [N, C, H, W], rois
// [R, 4], batch_indices [R] (int64), dY [R, C, output_height, output_width]. Attributes:
// RoiAlign's (mode, output_height, output_width, sampling_ratio, spatial_scale,
// coordinate_transformation_mode; the rule makes version 10's output_half_pixel explicit).
// Each bilinear sampling point passes dY on to its 4 neighbours by their weights (avg:
// divided by the number of points; max: only the winning term). Plain loops.
class RoiAlignGradKernel : public Kernel {
 public:
  explicit RoiAlignGradKernel(const KernelInfo& info) {
    const Node& node = info.node;
    const std::string mode = node.attr_string("mode", "avg");
    OT_CHECK(mode == "avg" || mode == "max", "{}: mode '{}' is not avg or max", node.label(), mode);
    params_.max_mode = mode == "max";
    params_.out_h = node.attr_int("output_height", 1);
    params_.out_w = node.attr_int("output_width", 1);
    params_.sampling_ratio = node.attr_int("sampling_ratio", 0);
    params_.spatial_scale = node.attr_float("spatial_scale", 1.0f);
    const std::string ctm = node.attr_string("coordinate_transformation_mode", "half_pixel");
    OT_CHECK(ctm == "half_pixel" || ctm == "output_half_pixel",
             "{}: coordinate_transformation_mode '{}' is not half_pixel or output_half_pixel", node.label(), ctm);
    params_.half_pixel = ctm == "half_pixel";
    OT_CHECK(params_.out_h > 0 && params_.out_w > 0 && params_.sampling_ratio >= 0,
             "{}: output_height {}, output_width {} must be positive and sampling_ratio {} >= 0", node.label(),
             params_.out_h, params_.out_w, params_.sampling_ratio);
  }

  void run(KernelContext& ctx) override {
    const Node& node = ctx.node();
    const Tensor& dy = ctx.input(0);
    const Tensor& x = ctx.input(1);
    const Tensor& rois = ctx.input(2);
    const Tensor& batch_indices = ctx.input(3);
    OT_CHECK(rois.rank() == 2 && rois.dim(1) == 4 && batch_indices.rank() == 1 && batch_indices.dim(0) == rois.dim(0),
             "{}: rois {} must be [R, 4] and batch_indices {} [R]", node.label(), rois.describe(),
             batch_indices.describe());
    check_roi_operands(node, dy, x, rois.dim(0), params_.out_h, params_.out_w);
    const std::vector<double> boxes = rois.to_doubles();
    const std::vector<int64_t> batches = batch_indices.to_int64s();
    for (int64_t b : batches)
      OT_CHECK(b >= 0 && b < x.dim(0), "{}: batch index {} is outside [0, {})", node.label(), b, x.dim(0));
    Tensor& dx = ctx.allocate_output(0, x.dtype(), x.shape());
    if (x.dtype() == DType::Float64)
      return roi_align_backward_ref<double>(x.data<double>(), x.shape(), boxes.data(), batches.data(), rois.dim(0),
                                            params_, dy.data<double>(), dx.data<double>());
    roi_align_backward_ref<float>(x.data<float>(), x.shape(), boxes.data(), batches.data(), rois.dim(0), params_,
                                  dy.data<float>(), dx.data<float>());
  }

 private:
  RoiAlignParams params_;
};

// MaxRoiPoolGrad(dY, X, rois) -> dX: the gradient of Y = MaxRoiPool(X, rois) with respect
// to X (rois get none). X [N, C, H, W], rois [R, 5] (batch_index, x1, y1, x2, y2), dY
// [R, C, pooled_h, pooled_w]. Attributes: MaxRoiPool's (pooled_shape, spatial_scale).
// dX = dY routed to each bin's (first) maximum, summed over bins and rois. Plain loops.
class MaxRoiPoolGradKernel : public Kernel {
 public:
  explicit MaxRoiPoolGradKernel(const KernelInfo& info)
      : pooled_(info.node.attr_ints("pooled_shape", {})), spatial_scale_(info.node.attr_float("spatial_scale", 1.0f)) {
    OT_CHECK(pooled_.size() == 2 && pooled_[0] > 0 && pooled_[1] > 0,
             "{}: pooled_shape {} must be two positive ints (pooled_h, pooled_w)", info.node.label(),
             shape_str(pooled_));
  }

  void run(KernelContext& ctx) override {
    const Node& node = ctx.node();
    const Tensor& dy = ctx.input(0);
    const Tensor& x = ctx.input(1);
    const Tensor& rois = ctx.input(2);
    OT_CHECK(rois.rank() == 2 && rois.dim(1) == 5, "{}: rois {} must be [R, 5]", node.label(), rois.describe());
    check_roi_operands(node, dy, x, rois.dim(0), pooled_[0], pooled_[1]);
    const std::vector<double> boxes = rois.to_doubles();
    for (int64_t r = 0; r < rois.dim(0); ++r) {
      const double b = boxes[static_cast<size_t>(r * 5)];
      OT_CHECK(b >= 0 && b < static_cast<double>(x.dim(0)) && b == std::floor(b),
               "{}: batch index {} of roi {} is not an integer in [0, {})", node.label(), b, r, x.dim(0));
    }
    Tensor& dx = ctx.allocate_output(0, x.dtype(), x.shape());
    if (x.dtype() == DType::Float64)
      return max_roi_pool_backward_ref<double>(x.data<double>(), x.shape(), boxes.data(), rois.dim(0), pooled_[0],
                                               pooled_[1], spatial_scale_, dy.data<double>(), dx.data<double>());
    max_roi_pool_backward_ref<float>(x.data<float>(), x.shape(), boxes.data(), rois.dim(0), pooled_[0], pooled_[1],
                                     spatial_scale_, dy.data<float>(), dx.data<float>());
  }

 private:
  std::vector<int64_t> pooled_;
  double spatial_scale_;
};

}  // namespace

ONNX_TRAIN_REGISTER_KERNELS(pool_grad) {
  registry.add<LpPoolGradKernel>("LpPoolGrad", {1}, kProjectDomain);
  registry.add<MaxUnpoolGradKernel>("MaxUnpoolGrad", {1}, kProjectDomain);
  registry.add<RoiAlignGradKernel>("RoiAlignGrad", {1}, kProjectDomain);
  registry.add<MaxRoiPoolGradKernel>("MaxRoiPoolGrad", {1}, kProjectDomain);
}

}  // namespace onnx_train
