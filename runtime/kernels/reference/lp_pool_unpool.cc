// LpPool-2/11, GlobalLpPool-1/2 and MaxUnpool-9/11: the pooling ops oneDNN has no primitive
// for, as plain loops (reference/pool_ref.h) for float and double; float16 and bfloat16 are
// widened to float32 and narrowed back. 1 to 3 spatial axes (GlobalLpPool any number).
#include <cmath>

#include "runtime/kernels/kernel.h"
#include "runtime/kernels/reference/conv_window.h"
#include "runtime/kernels/reference/pool_ref.h"
#include "runtime/kernels/registry.h"
#include "runtime/kernels/util.h"

namespace onnx_train {

namespace {

// LpPool-2/11: y[n, c, o] = (sum over the window of |x[n, c, :]|^p)^(1/p), padding
// contributing zero; p is an integer attribute (default 2). Reference loops for every type
// (oneDNN has no Lp pooling).
class LpPoolKernel : public Kernel {
 public:
  explicit LpPoolKernel(const KernelInfo& info) {
    const Node& node = info.node;
    attrs_ = read_window_attrs(node, /*with_dilations=*/false, /*with_ceil_mode=*/false);
    required_kernel(node, attrs_);
    p_ = node.attr_int("p", 2);
    OT_CHECK(p_ >= 1, "{}: p = {} must be >= 1", node.label(), p_);
  }

  void run(KernelContext& ctx) override {
    const Node& node = ctx.node();
    const Tensor& x = ctx.input(0);
    check_pool_input(node, x, 1, 3);
    OT_CHECK(dtype_is_float(x.dtype()), "{}: input X has type {}; LpPool takes floating-point types", node.label(),
             dtype_name(x.dtype()));
    const WindowGeometry g = forward_window_geometry(node, attrs_, spatial_of(x.shape()), attrs_.kernel_shape);
    Tensor& y = ctx.allocate_output(0, x.dtype(), window_output_shape(x.dim(0), x.dim(1), g));
    if (x.dtype() == DType::Float64) return lp_pool_ref<double>(x.data<double>(), x.shape(), g, p_, y.data<double>());
    if (x.dtype() == DType::Float32) return lp_pool_ref<float>(x.data<float>(), x.shape(), g, p_, y.data<float>());
    via_float32(x, y, [&](const Tensor& x32, Tensor& y32) {
      lp_pool_ref<float>(x32.data<float>(), x32.shape(), g, p_, y32.data<float>());
    });
  }

 private:
  WindowAttrs attrs_;
  int64_t p_ = 2;
};

// GlobalLpPool-1/2: y[n, c, 1...] = (sum over every spatial position of |x[n, c, :]|^p)^(1/p);
// x [N, C, spatial...]. Version 1 has a float attribute p (default 2.0), version 2 an
// integer one (default 2). Reference loops for every type (oneDNN has no Lp pooling).
class GlobalLpPoolKernel : public Kernel {
 public:
  explicit GlobalLpPoolKernel(const KernelInfo& info) {
    const Node& node = info.node;
    if (node.since_version >= 2) {
      const int64_t p = node.attr_int("p", 2);
      OT_CHECK(p >= 1, "{}: p = {} must be >= 1", node.label(), p);
      p_ = static_cast<double>(p);
    } else {
      p_ = node.attr_float("p", 2.0f);
      OT_CHECK(std::isfinite(p_) && p_ > 0, "{}: p = {} must be a positive finite number", node.label(), p_);
    }
  }

  void run(KernelContext& ctx) override {
    const Node& node = ctx.node();
    const Tensor& x = ctx.input(0);
    OT_CHECK(x.rank() >= 2, "{}: input X {} must be [N, C, spatial...]", node.label(), x.describe());
    OT_CHECK(dtype_is_float(x.dtype()), "{}: input X has type {}; GlobalLpPool takes floating-point types",
             node.label(), dtype_name(x.dtype()));
    Shape y_shape(x.shape().size(), 1);
    y_shape[0] = x.dim(0);
    y_shape[1] = x.dim(1);
    Tensor& y = ctx.allocate_output(0, x.dtype(), y_shape);
    if (x.dtype() == DType::Float64)
      return global_lp_pool_ref<double>(x.data<double>(), x.shape(), p_, y.data<double>());
    if (x.dtype() == DType::Float32) return global_lp_pool_ref<float>(x.data<float>(), x.shape(), p_, y.data<float>());
    via_float32(x, y, [&](const Tensor& x32, Tensor& y32) {
      global_lp_pool_ref<float>(x32.data<float>(), x32.shape(), p_, y32.data<float>());
    });
  }

 private:
  double p_ = 2.0;
};

// MaxUnpool-9/11: the partial inverse of MaxPool. X [N, C, in...] and the int64 indices I
// (same shape; MaxPool's Indices) scatter into zeros of the unpooled shape
// [N, C, (in - 1) * s + k - pad_begin - pad_end ...]: unpooled.flat[I[j]] = X.flat[j].
// With the optional output_shape input (all dims, each spatial size >= the unpooled one)
// that tensor is placed at the origin of a larger zero output, as in ONNX's reference.
class MaxUnpoolKernel : public Kernel {
 public:
  explicit MaxUnpoolKernel(const KernelInfo& info) {
    attrs_ = read_window_attrs(info.node, /*with_dilations=*/false, /*with_ceil_mode=*/false);
    required_kernel(info.node, attrs_);
  }

  void run(KernelContext& ctx) override {
    const Node& node = ctx.node();
    const Tensor& x = ctx.input(0);
    const Tensor& indices = ctx.input(1);
    check_pool_input(node, x, 1, 3);
    OT_CHECK(dtype_is_float(x.dtype()), "{}: input X has type {}; MaxUnpool takes floating-point types", node.label(),
             dtype_name(x.dtype()));
    OT_CHECK(indices.dtype() == DType::Int64 && indices.shape() == x.shape(),
             "{}: indices I {} must be int64 with the shape of X {}", node.label(), indices.describe(), x.describe());
    const Shape unpooled = unpooled_shape(node, attrs_, x);
    Shape y_shape = unpooled;
    if (ctx.has_input(2)) {
      y_shape = ctx.input(2).to_int64s();
      bool fits = y_shape.size() == unpooled.size() && y_shape[0] == unpooled[0] && y_shape[1] == unpooled[1];
      for (size_t i = 2; fits && i < y_shape.size(); ++i) fits = y_shape[i] >= unpooled[i];
      OT_CHECK(fits, "{}: output_shape {} must have X's batch and channels and spatial sizes at least the unpooled {}",
               node.label(), shape_str(y_shape), shape_str(unpooled));
    }
    const int64_t limit = shape_numel(unpooled);
    const int64_t* idx = indices.data<int64_t>();
    for (int64_t i = 0; i < indices.numel(); ++i)
      OT_CHECK(idx[i] >= 0 && idx[i] < limit, "{}: index {} at position {} of I is outside the unpooled shape {}",
               node.label(), idx[i], i, shape_str(unpooled));
    Tensor& y = ctx.allocate_output(0, x.dtype(), y_shape);
    if (x.dtype() == DType::Float64)
      return max_unpool_ref<double>(x.data<double>(), idx, x.numel(), unpooled, y_shape, y.data<double>());
    if (x.dtype() == DType::Float32)
      return max_unpool_ref<float>(x.data<float>(), idx, x.numel(), unpooled, y_shape, y.data<float>());
    via_float32(x, y, [&](const Tensor& x32, Tensor& y32) {
      max_unpool_ref<float>(x32.data<float>(), idx, x32.numel(), unpooled, y_shape, y32.data<float>());
    });
  }

 private:
  WindowAttrs attrs_;
};

}  // namespace

ONNX_TRAIN_REGISTER_KERNELS(lp_pool_unpool) {
  registry.add<LpPoolKernel>("LpPool", {2, 11});
  registry.add<GlobalLpPoolKernel>("GlobalLpPool", {1, 2});
  registry.add<MaxUnpoolKernel>("MaxUnpool", {9, 11});
}

}  // namespace onnx_train
