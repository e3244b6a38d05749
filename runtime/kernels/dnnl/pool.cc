// Pooling ops: MaxPool-1/8/10/11/12, AveragePool-1/7/10/11, GlobalAveragePool-1,
// GlobalMaxPool-1, LpPool-2/11, GlobalLpPool-1/2 and MaxUnpool-9/11, 1 to 3 spatial axes
// (the global pools any number).
//
// float32 max and average pooling run on oneDNN (pooling_v2_forward, which has dilation):
// one primitive per input shape, built on first use and cached in the kernel, over our
// plain row-major layout. Cases oneDNN cannot express exactly run the reference loops
// (reference/pool_ref.h): float64, int8/uint8, MaxPool's Indices output (the argmax the
// backward pass needs), an AveragePool with count_include_pad whose ceil_mode windows
// reach past the end padding (oneDNN would divide by the full kernel size), LpPool,
// GlobalLpPool and MaxUnpool. float16 and bfloat16 are widened to float32 and narrowed
// back.
#include <algorithm>
#include <cmath>
#include <map>
#include <memory>

#include "runtime/kernels/dnnl/dnnl_common.h"
#include "runtime/kernels/dnnl/primitive.h"
#include "runtime/kernels/kernel.h"
#include "runtime/kernels/registry.h"
#include "runtime/kernels/reference/conv_window.h"
#include "runtime/kernels/reference/pool_ref.h"

namespace onnx_train {

namespace {

using dnnl::memory;
using namespace dnnl_common;

// Checks that x is [N, C, spatial...] with `min_spatial` to `max_spatial` spatial axes.
void check_pool_input(const Node& node, const Tensor& x, int min_spatial, int max_spatial) {
  OT_CHECK(x.rank() >= 2 + min_spatial && x.rank() <= 2 + max_spatial,
           "{}: input X {} must be [N, C, spatial...] with {} to {} spatial axes", node.label(), x.describe(),
           min_spatial, max_spatial);
}

// The kernel_shape attribute, which the pooling ops require.
std::vector<int64_t> required_kernel(const Node& node, const WindowAttrs& attrs) {
  OT_CHECK(!attrs.kernel_shape.empty(), "{}: the kernel_shape attribute is required", node.label());
  return attrs.kernel_shape;
}

// Builds the primitive, run({x, y}), or returns null when oneDNN rejects the geometry. The
// end padding given to oneDNN is the one its output size formula needs for our output size
// (primitive.h: dnnl_end_padding), so a ceil_mode window reaching past pads_end is kept, and
// padding never counts in a max or an exclude-padding average.
std::unique_ptr<DnnlPrimitive> build_pool_plan(dnnl::algorithm algorithm, const Shape& x_shape,
                                               const WindowGeometry& g) {
  try {
    const DnnlPoolGeometry p(x_shape, g);
    const auto pd = p.forward_pd(algorithm, dnnl::prop_kind::forward_inference);
    auto step = std::make_unique<DnnlPrimitive>(dnnl::pooling_v2_forward(pd));
    step->bind(DNNL_ARG_SRC, p.src, pd.src_desc(), false);
    step->bind(DNNL_ARG_DST, p.dst, pd.dst_desc(), true);
    return step;
  } catch (const dnnl::error&) {
    return nullptr;
  }
}

// The oneDNN poolings of one node, one per input shape it has seen.
class DnnlPoolings {
 public:
  // Computes y (float32) with oneDNN; false when oneDNN rejected this geometry.
  bool run(dnnl::algorithm algorithm, const Tensor& x, const WindowGeometry& g, Tensor& y) {
    if (y.numel() == 0) return true;
    auto it = plans_.find(x.shape());
    if (it == plans_.end()) it = plans_.emplace(x.shape(), build_pool_plan(algorithm, x.shape(), g)).first;
    if (!it->second) return false;
    it->second->run({x.data<float>(), y.data<float>()});
    return true;
  }

 private:
  std::map<Shape, std::unique_ptr<DnnlPrimitive>> plans_;  // null: oneDNN rejected the shape
};

// Runs `compute(x32, y32)` on float32 copies of a float16/bfloat16 x and narrows into y.
template <typename F>
void via_float32(const Tensor& x, Tensor& y, F&& compute) {
  Tensor y32(DType::Float32, y.shape());
  compute(to_float32(x), y32);
  store_float32(y32, y);
}

// MaxPool: y[n, c, o] = max over the window of x[n, c, :] (padding never wins), and the
// optional Indices output: the flat index of each maximum in x (see max_pool_ref),
// spatially row-major, or column-major with storage_order = 1.
// Versions: 1 (kernel_shape, strides, pads, auto_pad); 8 adds Indices and storage_order;
// 10 adds ceil_mode and dilations; 11 same; 12 adds int8 and uint8.
class MaxPoolKernel : public Kernel {
 public:
  explicit MaxPoolKernel(const KernelInfo& info) {
    const Node& node = info.node;
    const int v = node.since_version;
    attrs_ = read_window_attrs(node, /*with_dilations=*/v >= 10, /*with_ceil_mode=*/v >= 10);
    required_kernel(node, attrs_);
    OT_CHECK(v >= 8 || node.outputs.size() <= 1, "{}: MaxPool-{} has no Indices output (it came in version 8)",
             node.label(), v);
    const int64_t order = v >= 8 ? node.attr_int("storage_order", 0) : 0;
    OT_CHECK(order == 0 || order == 1, "{}: storage_order = {} must be 0 (row major) or 1 (column major)", node.label(),
             order);
    column_major_ = order == 1;
  }

  void run(KernelContext& ctx) override {
    const Node& node = ctx.node();
    const Tensor& x = ctx.input(0);
    check_pool_input(node, x, 1, 3);
    const DType dt = x.dtype();
    const bool integer = dt == DType::Int8 || dt == DType::UInt8;
    OT_CHECK(dtype_is_float(dt) || (integer && node.since_version >= 12),
             "{}: input X has type {}; MaxPool-{} takes floating-point types{}", node.label(), dtype_name(dt),
             node.since_version, node.since_version >= 12 ? ", int8 or uint8" : "");
    const WindowGeometry g = forward_window_geometry(node, attrs_, spatial_of(x.shape()), attrs_.kernel_shape);
    const Shape y_shape = window_output_shape(x.dim(0), x.dim(1), g);
    Tensor& y = ctx.allocate_output(0, dt, y_shape);
    int64_t* indices = ctx.output_wanted(1) ? ctx.allocate_output(1, DType::Int64, y_shape).data<int64_t>() : nullptr;
    switch (dt) {
      case DType::Float64:
        return max_pool_ref<double>(x.data<double>(), x.shape(), g, y.data<double>(), indices, column_major_);
      case DType::Int8:
        return max_pool_ref<int8_t>(x.data<int8_t>(), x.shape(), g, y.data<int8_t>(), indices, column_major_);
      case DType::UInt8:
        return max_pool_ref<uint8_t>(x.data<uint8_t>(), x.shape(), g, y.data<uint8_t>(), indices, column_major_);
      case DType::Float32: return run_float32(x, g, y, indices);
      default: return via_float32(x, y, [&](const Tensor& x32, Tensor& y32) { run_float32(x32, g, y32, indices); });
    }
  }

 private:
  void run_float32(const Tensor& x, const WindowGeometry& g, Tensor& y, int64_t* indices) {
    if (indices == nullptr && dnnl_.run(dnnl::algorithm::pooling_max, x, g, y)) return;
    max_pool_ref<float>(x.data<float>(), x.shape(), g, y.data<float>(), indices, column_major_);
  }

  WindowAttrs attrs_;
  bool column_major_ = false;
  DnnlPoolings dnnl_;
};

// AveragePool: y[n, c, o] = mean of x[n, c, :] over the window's positions inside the
// input, or with count_include_pad the window sum divided by its positions inside the
// padded input (see average_pool_ref). Versions: 1 (kernel_shape, strides, pads,
// auto_pad); 7 adds count_include_pad; 10 adds ceil_mode; 11 same.
class AveragePoolKernel : public Kernel {
 public:
  explicit AveragePoolKernel(const KernelInfo& info) {
    const Node& node = info.node;
    attrs_ = read_window_attrs(node, /*with_dilations=*/false, /*with_ceil_mode=*/node.since_version >= 10);
    required_kernel(node, attrs_);
    include_pad_ = node.since_version >= 7 && node.attr_int("count_include_pad", 0) != 0;
  }

  void run(KernelContext& ctx) override {
    const Node& node = ctx.node();
    const Tensor& x = ctx.input(0);
    check_pool_input(node, x, 1, 3);
    OT_CHECK(dtype_is_float(x.dtype()), "{}: input X has type {}; AveragePool takes floating-point types", node.label(),
             dtype_name(x.dtype()));
    const WindowGeometry g = forward_window_geometry(node, attrs_, spatial_of(x.shape()), attrs_.kernel_shape);
    Tensor& y = ctx.allocate_output(0, x.dtype(), window_output_shape(x.dim(0), x.dim(1), g));
    if (x.dtype() == DType::Float64)
      return average_pool_ref<double>(x.data<double>(), x.shape(), g, include_pad_, y.data<double>());
    if (x.dtype() == DType::Float32) return run_float32(x, g, y);
    via_float32(x, y, [&](const Tensor& x32, Tensor& y32) { run_float32(x32, g, y32); });
  }

 private:
  void run_float32(const Tensor& x, const WindowGeometry& g, Tensor& y) {
    // oneDNN's include-padding average divides by the full kernel size: exact only when
    // every window lies inside the padded input.
    bool exact = true;
    for (size_t i = 0; i < g.rank(); ++i)
      exact = exact && (g.out[i] - 1) * g.strides[i] + g.kernel[i] <=
                           x.dim(static_cast<int>(i) + 2) + g.pads_begin[i] + g.pads_end[i];
    const auto algorithm =
        include_pad_ ? dnnl::algorithm::pooling_avg_include_padding : dnnl::algorithm::pooling_avg_exclude_padding;
    if ((exact || !include_pad_) && dnnl_.run(algorithm, x, g, y)) return;
    average_pool_ref<float>(x.data<float>(), x.shape(), g, include_pad_, y.data<float>());
  }

  WindowAttrs attrs_;
  bool include_pad_ = false;
  DnnlPoolings dnnl_;
};

// GlobalAveragePool-1 / GlobalMaxPool-1: y[n, c, 1...] = mean / max of x[n, c, :] over all
// spatial positions; x [N, C, spatial...].
class GlobalPoolKernel : public Kernel {
 public:
  GlobalPoolKernel(const KernelInfo&, bool max) : max_(max) {}

  void run(KernelContext& ctx) override {
    const Node& node = ctx.node();
    const Tensor& x = ctx.input(0);
    OT_CHECK(x.rank() >= 2, "{}: input X {} must be [N, C, spatial...]", node.label(), x.describe());
    OT_CHECK(dtype_is_float(x.dtype()), "{}: input X has type {}; {} takes floating-point types", node.label(),
             dtype_name(x.dtype()), node.op_type);
    Shape y_shape(x.shape().size(), 1);
    y_shape[0] = x.dim(0);
    y_shape[1] = x.dim(1);
    Tensor& y = ctx.allocate_output(0, x.dtype(), y_shape);
    OT_CHECK(x.numel() > 0 || y.numel() == 0, "{}: input X {} has no spatial positions to pool", node.label(),
             x.describe());
    if (x.dtype() == DType::Float64)
      return global_pool_ref<double>(x.data<double>(), x.shape(), max_, y.data<double>());
    if (x.dtype() == DType::Float32) return run_float32(x, y);
    via_float32(x, y, [&](const Tensor& x32, Tensor& y32) { run_float32(x32, y32); });
  }

 private:
  void run_float32(const Tensor& x, Tensor& y) {
    const Shape spatial = spatial_of(x.shape());
    if (!spatial.empty() && spatial.size() <= 3) {
      WindowGeometry g;
      g.kernel = spatial;
      g.strides = g.dilations = g.out = std::vector<int64_t>(spatial.size(), 1);
      g.pads_begin = g.pads_end = std::vector<int64_t>(spatial.size(), 0);
      const auto algorithm = max_ ? dnnl::algorithm::pooling_max : dnnl::algorithm::pooling_avg_exclude_padding;
      if (dnnl_.run(algorithm, x, g, y)) return;
    }
    global_pool_ref<float>(x.data<float>(), x.shape(), max_, y.data<float>());
  }

  bool max_;
  DnnlPoolings dnnl_;
};

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

ONNX_TRAIN_REGISTER_KERNELS(pool) {
  registry.add<MaxPoolKernel>("MaxPool", {1, 8, 10, 11, 12});
  registry.add<AveragePoolKernel>("AveragePool", {1, 7, 10, 11});
  registry.add("GlobalAveragePool", {1},
               [](const KernelInfo& info) { return std::make_unique<GlobalPoolKernel>(info, false); });
  registry.add("GlobalMaxPool", {1},
               [](const KernelInfo& info) { return std::make_unique<GlobalPoolKernel>(info, true); });
  registry.add<LpPoolKernel>("LpPool", {2, 11});
  registry.add<GlobalLpPoolKernel>("GlobalLpPool", {1, 2});
  registry.add<MaxUnpoolKernel>("MaxUnpool", {9, 11});
}

}  // namespace onnx_train
