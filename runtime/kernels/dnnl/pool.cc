// Pooling ops oneDNN runs: MaxPool-1/8/10/11/12, AveragePool-1/7/10/11, GlobalAveragePool-1
// and GlobalMaxPool-1, 1 to 3 spatial axes (the global pools any number). LpPool,
// GlobalLpPool and MaxUnpool, which oneDNN has not, are plain loops in
// reference/lp_pool_unpool.cc.
//
// float32 max and average pooling run on oneDNN (pooling_v2_forward, which has dilation):
// one primitive per input shape, built on first use and cached in the kernel, over our
// plain row-major layout. Cases oneDNN cannot express exactly run the reference loops
// (reference/pool_ref.h): float64, int8/uint8, MaxPool's Indices output (the argmax the
// backward pass needs), an AveragePool with count_include_pad whose ceil_mode windows
// reach past the end padding (oneDNN would divide by the full kernel size). float16 and
// bfloat16 are widened to float32 and narrowed back.
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
#include "runtime/kernels/util.h"

namespace onnx_train {

namespace {

using dnnl::memory;
using namespace dnnl_common;

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

}  // namespace

ONNX_TRAIN_REGISTER_KERNELS(pool) {
  registry.add<MaxPoolKernel>("MaxPool", {1, 8, 10, 11, 12});
  registry.add<AveragePoolKernel>("AveragePool", {1, 7, 10, 11});
  registry.add("GlobalAveragePool", {1},
               [](const KernelInfo& info) { return std::make_unique<GlobalPoolKernel>(info, false); });
  registry.add("GlobalMaxPool", {1},
               [](const KernelInfo& info) { return std::make_unique<GlobalPoolKernel>(info, true); });
}

}  // namespace onnx_train
