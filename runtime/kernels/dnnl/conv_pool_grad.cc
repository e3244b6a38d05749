// Kernels of ConvGrad, ConvTransposeGrad, MaxPoolGrad and AveragePoolGrad, in the project's
// own domain (ai.onnx_train).
//
// float32 runs on oneDNN's backward primitives (convolution_backward_data /
// convolution_backward_weights with a forward hint, pooling_v2_backward), built once per
// input shape and cached in the kernel, with format_tag::any for the convolution operands
// and reorders only at the boundaries to and from our plain row-major tensors (ConvGrad:
// ConvGradPlan of conv_grad_plan.h, which reorders diff_dst once for both passes; the
// others: DnnlPrimitive and the descriptors of primitive.h, shared with the forward
// kernels). float64, and any
// geometry oneDNN rejects, runs the plain-loop references (reference/conv_pool_grad_ref.h,
// conv_ref.h). The pooling gradients oneDNN has no primitive for (LpPoolGrad, MaxUnpoolGrad,
// RoiAlignGrad, MaxRoiPoolGrad) are plain loops in reference/pool_grad.cc. Every kernel takes
// its forward node's window attributes and resolves them against the shapes of its inputs
// exactly as the forward kernel does.
#include <algorithm>
#include <cmath>
#include <map>
#include <memory>
#include <tuple>
#include <vector>

#include "runtime/kernels/dnnl/conv_grad_plan.h"
#include "runtime/kernels/dnnl/dnnl_common.h"
#include "runtime/kernels/dnnl/primitive.h"
#include "runtime/kernels/kernel.h"
#include "runtime/kernels/reference/conv_pool_grad_ref.h"
#include "runtime/kernels/reference/conv_ref.h"
#include "runtime/kernels/reference/conv_window.h"
#include "runtime/kernels/registry.h"
#include "runtime/kernels/util.h"

namespace onnx_train {

namespace {

using dnnl::memory;
using namespace dnnl_common;

// ---- oneDNN steps (primitive.h) -------------------------------------------------------

// dst = conv(src, weights); run({src, weights, dst}). Null when oneDNN rejects the geometry.
std::unique_ptr<DnnlPrimitive> conv_forward_step(const DnnlConvGeometry& c) {
  try {
    const auto pd = c.forward_pd(false);
    auto step = std::make_unique<DnnlPrimitive>(dnnl::convolution_forward(pd));
    step->bind(DNNL_ARG_SRC, plain_f32_desc(to_dims(c.src)), pd.src_desc(), false);
    step->bind(DNNL_ARG_WEIGHTS, plain_f32_desc(to_dims(c.weights)), pd.weights_desc(), false);
    step->bind(DNNL_ARG_DST, plain_f32_desc(to_dims(c.dst)), pd.dst_desc(), true);
    return step;
  } catch (const dnnl::error&) {
    return nullptr;
  }
}

// ---- shared checks -----------------------------------------------------------------------

void check_conv_operands(const Node& node, const Tensor& x, const Tensor& w, int64_t group, bool transpose) {
  check_window_grad_input(node, x, "X", /*reduced_precision=*/true);
  OT_CHECK(w.dtype() == x.dtype(), "{}: X {} and W {} must share one element type", node.label(), x.describe(),
           w.describe());
  OT_CHECK(x.rank() >= 3 && x.rank() <= 5 && w.rank() == x.rank(),
           "{}: X {} and W {} must be [N, C, spatial...] and [.., .., k...] with 1 to 3 spatial axes", node.label(),
           x.describe(), w.describe());
  const bool fits =
      transpose ? w.dim(0) == x.dim(1) && x.dim(1) % group == 0 : w.dim(0) % group == 0 && w.dim(1) * group == x.dim(1);
  OT_CHECK(fits, "{}: W {} does not fit X {} with group = {}", node.label(), w.describe(), x.describe(), group);
}

// float16 / bfloat16 convolution gradients: run32 on float32 copies of dY, X, W into float32
// gradients, each rounded back once (float32 accumulation, as oneDNN's bf16 kernels do).
template <typename Run32>
void via_float32_grads(const Tensor& dy, const Tensor& x, const Tensor& w, Tensor* dx, Tensor* dw, Tensor* db,
                       Run32&& run32) {
  const Tensor dy32 = to_float32(dy), x32 = to_float32(x), w32 = to_float32(w);
  Tensor dx32 = dx != nullptr ? Tensor(DType::Float32, dx->shape()) : Tensor();
  Tensor dw32 = dw != nullptr ? Tensor(DType::Float32, dw->shape()) : Tensor();
  Tensor db32 = db != nullptr ? Tensor(DType::Float32, db->shape()) : Tensor();
  run32(dy32, x32, w32, dx != nullptr ? &dx32 : nullptr, dw != nullptr ? &dw32 : nullptr,
        db != nullptr ? &db32 : nullptr);
  if (dx != nullptr) store_float32(dx32, *dx);
  if (dw != nullptr) store_float32(dw32, *dw);
  if (db != nullptr) store_float32(db32, *db);
}

// ---- ConvGrad ----------------------------------------------------------------------------

// ConvGrad(dY, X, W) -> (dX, dW, dB), each output optional: the gradients of
// Y = Conv(X, W, B) with X [N, C, in...], W [M, C / group, k...], B [M], dY [N, M, out...].
// Attributes: Conv's (group, strides, dilations, pads, auto_pad, kernel_shape), resolved
// against X and W exactly as the forward pass does. With Cg = C / group, Mg = M / group:
//   dX[n, g * Cg + c, o * s + j * d - pad_begin] += dY[n, m, o] * W[m, c, j]  (g = m / Mg; a
//     transposed convolution of dY with W)
//   dW[m, c, j] = sum_{n, o} dY[n, m, o] * X[n, g * Cg + c, o * s + j * d - pad_begin]
//   dB[m] = sum_{n, o} dY[n, m, o]
class ConvGradKernel : public Kernel {
 public:
  explicit ConvGradKernel(const KernelInfo& info)
      : attrs_(read_window_attrs(info.node, /*with_dilations=*/true, /*with_ceil_mode=*/false)),
        group_(info.node.attr_int("group", 1)) {
    OT_CHECK(group_ >= 1, "{}: group = {} must be >= 1", info.node.label(), group_);
  }

  void run(KernelContext& ctx) override {
    const Node& node = ctx.node();
    const Tensor& dy = ctx.input(0);
    const Tensor& x = ctx.input(1);
    const Tensor& w = ctx.input(2);
    check_conv_operands(node, x, w, group_, false);
    const WindowGeometry g = forward_window_geometry(node, attrs_, spatial_of(x.shape()), kernel_of(node, attrs_, w));
    check_window_grad_dy(node, dy, x, window_output_shape(x.dim(0), w.dim(0), g), true);
    Tensor* dx = ctx.output_wanted(0) ? &ctx.allocate_output(0, x.dtype(), x.shape()) : nullptr;
    Tensor* dw = ctx.output_wanted(1) ? &ctx.allocate_output(1, x.dtype(), w.shape()) : nullptr;
    Tensor* db = ctx.output_wanted(2) ? &ctx.allocate_output(2, x.dtype(), {w.dim(0)}) : nullptr;
    if (x.dtype() == DType::Float64) return run_reference<double>(dy, x, w, g, dx, dw, db);
    if (x.dtype() != DType::Float32)
      return via_float32_grads(dy, x, w, dx, dw, db, [&](const Tensor& dy32, const Tensor& x32, const Tensor& w32,
                                                         Tensor* dx32, Tensor* dw32, Tensor* db32) {
        run_float32(dy32, x32, w32, g, dx32, dw32, db32);
      });
    run_float32(dy, x, w, g, dx, dw, db);
  }

 private:
  // The geometry of dX as a transposed convolution of dY: the same window, output X's size.
  static WindowGeometry data_geometry(WindowGeometry g, const Shape& x_shape) {
    g.out = spatial_of(x_shape);
    return g;
  }

  template <typename T>
  void run_reference(const Tensor& dy, const Tensor& x, const Tensor& w, const WindowGeometry& g, Tensor* dx,
                     Tensor* dw, Tensor* db) const {
    if (dx != nullptr)
      conv_transpose_ref<T>(dy.data<T>(), dy.shape(), w.data<T>(), w.shape(), nullptr, group_,
                            data_geometry(g, x.shape()), dx->data<T>());
    if (dw != nullptr)
      conv_backward_weights_ref<T>(x.data<T>(), x.shape(), dy.data<T>(), dy.shape(), group_, g, w.shape(),
                                   dw->data<T>(), db != nullptr ? db->data<T>() : nullptr);
    else if (db != nullptr)
      channel_sum_ref<T>(dy.data<T>(), dy.shape(), db->data<T>());
  }

  void run_float32(const Tensor& dy, const Tensor& x, const Tensor& w, const WindowGeometry& g, Tensor* dx, Tensor* dw,
                   Tensor* db) {
    if (x.numel() == 0 || dy.numel() == 0) return run_reference<float>(dy, x, w, g, dx, dw, db);
    const auto key = std::make_tuple(x.shape(), w.shape(), dx != nullptr, dw != nullptr, db != nullptr);
    auto it = plans_.find(key);
    if (it == plans_.end()) {
      const DnnlConvGeometry c(x.shape(), w.shape(), dy.shape(), group_, g);
      it = plans_.emplace(key, std::make_unique<ConvGradPlan>(c, dx != nullptr, dw != nullptr, db != nullptr)).first;
    }
    ConvGradPlan& p = *it->second;
    p.run(dy.data<float>(), x.data<float>(), w.data<float>(), p.has_data() ? dx->data<float>() : nullptr,
          p.has_weights() ? dw->data<float>() : nullptr,
          p.has_weights() && db != nullptr ? db->data<float>() : nullptr);
    // The parts oneDNN rejected (and dB alone, which has no oneDNN primitive of its own).
    if (dx != nullptr && !p.has_data()) run_reference<float>(dy, x, w, g, dx, nullptr, nullptr);
    if ((dw != nullptr || db != nullptr) && !p.has_weights()) run_reference<float>(dy, x, w, g, nullptr, dw, db);
  }

  WindowAttrs attrs_;
  int64_t group_;
  std::map<std::tuple<Shape, Shape, bool, bool, bool>, std::unique_ptr<ConvGradPlan>> plans_;
};

// ---- ConvTransposeGrad -------------------------------------------------------------------

// ConvTransposeGrad(dY, X, W) -> (dX, dW, dB), each output optional: the gradients of
// Y = ConvTranspose(X, W, B) with X [N, C, in...], W [C, M / group, k...], B [M],
// dY [N, M, out...]. Attributes: ConvTranspose-11's (group, strides, dilations, pads,
// auto_pad, kernel_shape, output_padding, output_shape) with version 11's SAME split (the
// rule rewrites version 1's). The forward pass scatters X[n, c, i] * W[c, m, j] into
// Y[n, g * Mg + m, i * s + j * d - pad_begin] (g = c / Cg), so, over the same window:
//   dX[n, c, i] = sum_{m, j} dY[n, g * Mg + m, i * s + j * d - pad_begin] * W[c, m, j]
//     (a forward convolution of dY with W, output X's size)
//   dW[c, m, j] = sum_{n, i} X[n, c, i] * dY[n, g * Mg + m, i * s + j * d - pad_begin]
//     (that convolution's weights gradient, with X as its output gradient)
//   dB[m] = sum_{n, o} dY[n, m, o]
class ConvTransposeGradKernel : public Kernel {
 public:
  explicit ConvTransposeGradKernel(const KernelInfo& info)
      : attrs_(read_window_attrs(info.node, /*with_dilations=*/true, /*with_ceil_mode=*/false)),
        group_(info.node.attr_int("group", 1)),
        output_padding_(info.node.attr_ints("output_padding", {})),
        output_shape_(info.node.attr_ints("output_shape", {})) {
    OT_CHECK(group_ >= 1, "{}: group = {} must be >= 1", info.node.label(), group_);
  }

  void run(KernelContext& ctx) override {
    const Node& node = ctx.node();
    const Tensor& dy = ctx.input(0);
    const Tensor& x = ctx.input(1);
    const Tensor& w = ctx.input(2);
    check_conv_operands(node, x, w, group_, true);
    const WindowGeometry forward = conv_transpose_geometry(node, attrs_, output_padding_, output_shape_, true,
                                                           spatial_of(x.shape()), kernel_of(node, attrs_, w));
    check_window_grad_dy(node, dy, x, window_output_shape(x.dim(0), w.dim(1) * group_, forward), true);
    // The convolution dY -> X over the same window.
    WindowGeometry g = forward;
    g.out = spatial_of(x.shape());
    Tensor* dx = ctx.output_wanted(0) ? &ctx.allocate_output(0, x.dtype(), x.shape()) : nullptr;
    Tensor* dw = ctx.output_wanted(1) ? &ctx.allocate_output(1, x.dtype(), w.shape()) : nullptr;
    Tensor* db = ctx.output_wanted(2) ? &ctx.allocate_output(2, x.dtype(), {dy.dim(1)}) : nullptr;
    if (x.dtype() == DType::Float64) return run_reference<double>(dy, x, w, g, dx, dw, db);
    if (x.dtype() != DType::Float32)
      return via_float32_grads(dy, x, w, dx, dw, db, [&](const Tensor& dy32, const Tensor& x32, const Tensor& w32,
                                                         Tensor* dx32, Tensor* dw32, Tensor* db32) {
        run_float32(dy32, x32, w32, g, dx32, dw32, db32);
      });
    run_float32(dy, x, w, g, dx, dw, db);
  }

 private:
  template <typename T>
  void run_reference(const Tensor& dy, const Tensor& x, const Tensor& w, const WindowGeometry& g, Tensor* dx,
                     Tensor* dw, Tensor* db) const {
    if (dx != nullptr) conv_ref<T>(dy.data<T>(), dy.shape(), w.data<T>(), w.shape(), nullptr, group_, g, dx->data<T>());
    if (dw != nullptr)
      conv_backward_weights_ref<T>(dy.data<T>(), dy.shape(), x.data<T>(), x.shape(), group_, g, w.shape(),
                                   dw->data<T>(), nullptr);
    if (db != nullptr) channel_sum_ref<T>(dy.data<T>(), dy.shape(), db->data<T>());
  }

  // dX: a forward convolution of dY; dW: the weights gradient of that convolution, with X
  // as its diff_dst (ConvGradPlan's weights part, src = dY).
  struct Plans {
    std::unique_ptr<DnnlPrimitive> data;
    std::unique_ptr<ConvGradPlan> weights;
  };

  void run_float32(const Tensor& dy, const Tensor& x, const Tensor& w, const WindowGeometry& g, Tensor* dx, Tensor* dw,
                   Tensor* db) {
    if (x.numel() == 0 || dy.numel() == 0) return run_reference<float>(dy, x, w, g, dx, dw, db);
    const auto key = std::make_tuple(x.shape(), w.shape(), dx != nullptr, dw != nullptr);
    auto it = plans_.find(key);
    if (it == plans_.end()) {
      const DnnlConvGeometry c(dy.shape(), w.shape(), x.shape(), group_, g);
      Plans p;
      if (dx != nullptr) p.data = conv_forward_step(c);
      if (dw != nullptr) p.weights = std::make_unique<ConvGradPlan>(c, false, true, false);
      it = plans_.emplace(key, std::move(p)).first;
    }
    Plans& p = it->second;
    if (dx != nullptr && p.data)
      p.data->run({dy.data<float>(), w.data<float>(), dx->data<float>()});
    else if (dx != nullptr)
      run_reference<float>(dy, x, w, g, dx, nullptr, nullptr);
    if (dw != nullptr && p.weights->has_weights())
      p.weights->run(/*dy=*/x.data<float>(), /*x=*/dy.data<float>(), w.data<float>(), nullptr, dw->data<float>(),
                     nullptr);
    else if (dw != nullptr)
      run_reference<float>(dy, x, w, g, nullptr, dw, nullptr);
    if (db != nullptr) channel_sum_ref<float>(dy.data<float>(), dy.shape(), db->data<float>());
  }

  WindowAttrs attrs_;
  int64_t group_;
  std::vector<int64_t> output_padding_, output_shape_;
  std::map<std::tuple<Shape, Shape, bool, bool>, Plans> plans_;
};

// ---- pooling gradients -------------------------------------------------------------------

// MaxPoolGrad(dY, X[, Indices]) -> dX: the gradient of Y = MaxPool(X) (or GlobalMaxPool
// with global = 1), X [N, C, in...], dY [N, C, out...], Indices (int64, dY's shape) the
// forward MaxPool's second output. Attributes: the forward MaxPool's (kernel_shape,
// strides, pads, auto_pad, dilations, ceil_mode, storage_order) and global.
// dX = dY routed to the argmax of each window (the first maximum), summed where windows
// overlap:
//   with Indices: dX.flat[Indices[o]] += dY[o] (column-major spatial indices with
//     storage_order = 1), a scatter; X is read for its shape only.
//   without (MaxPool-1, GlobalMaxPool): the argmax is recomputed from X; float32 runs
//     oneDNN's max pooling forward (training, for its workspace) then backward.
class MaxPoolGradKernel : public Kernel {
 public:
  explicit MaxPoolGradKernel(const KernelInfo& info)
      : window_(info.node), column_major_(info.node.attr_int("storage_order", 0) != 0) {}

  void run(KernelContext& ctx) override {
    const Node& node = ctx.node();
    const Tensor& dy = ctx.input(0);
    const Tensor& x = ctx.input(1);
    const WindowGeometry g = window_.checked_geometry(node, dy, x);
    Tensor& dx = ctx.allocate_output(0, x.dtype(), x.shape());
    if (ctx.has_input(2)) {
      const Tensor& indices = ctx.input(2);
      OT_CHECK(indices.dtype() == DType::Int64 && indices.shape() == dy.shape(),
               "{}: Indices {} must be int64 with dY's shape {}", node.label(), indices.describe(),
               shape_str(dy.shape()));
      if (x.dtype() == DType::Float64) return scatter<double>(node, dy, indices, x.shape(), dx);
      return scatter<float>(node, dy, indices, x.shape(), dx);
    }
    if (x.dtype() == DType::Float64)
      return max_pool_backward_ref<double>(x.data<double>(), x.shape(), dy.data<double>(), g, dx.data<double>());
    if (x.numel() > 0 && dy.numel() > 0) {
      auto it = plans_.find(x.shape());
      if (it == plans_.end()) it = plans_.emplace(x.shape(), build(x.shape(), g)).first;
      if (it->second) {
        Plan& p = *it->second;
        p.forward->run({x.data<float>()});
        p.backward->run({dy.data<float>(), dx.data<float>()});
        return;
      }
    }
    max_pool_backward_ref<float>(x.data<float>(), x.shape(), dy.data<float>(), g, dx.data<float>());
  }

 private:
  // dX.flat[Indices[o]] += dY[o], Indices decoded as the forward MaxPool wrote them.
  template <typename T>
  void scatter(const Node& node, const Tensor& dy, const Tensor& indices, const Shape& x_shape, Tensor& dx) const {
    const Shape spatial = spatial_of(x_shape);
    const int64_t plane_size = shape_numel(spatial), total = shape_numel(x_shape);
    const std::vector<int64_t> row_strides = strides_of(spatial);
    const int64_t* idx = indices.data<int64_t>();
    const T* g = dy.data<T>();
    T* out = dx.data<T>();
    for (int64_t o = 0; o < dy.numel(); ++o) {
      if (idx[o] < 0) continue;  // a window holding no input position
      OT_CHECK(idx[o] < total, "{}: index {} at position {} of Indices is outside X {}", node.label(), idx[o], o,
               shape_str(x_shape));
      int64_t at = idx[o];
      if (column_major_) {  // first spatial axis fastest
        int64_t rest = at % plane_size;
        at -= rest;
        for (size_t a = 0; a < spatial.size(); ++a) {
          at += (rest % spatial[a]) * row_strides[a];
          rest /= spatial[a];
        }
      }
      out[at] += g[o];
    }
  }

  struct Plan {
    std::unique_ptr<DnnlPrimitive> forward, backward;  // sharing the workspace
  };

  static std::unique_ptr<Plan> build(const Shape& x_shape, const WindowGeometry& g) {
    try {
      const DnnlPoolGeometry p(x_shape, g);
      const auto alg = dnnl::algorithm::pooling_max;
      const auto fwd = p.forward_pd(alg, dnnl::prop_kind::forward_training);
      const auto bwd = p.backward_pd(alg, fwd);
      const memory workspace(fwd.workspace_desc(), cpu_engine());
      auto plan = std::make_unique<Plan>();
      plan->forward = std::make_unique<DnnlPrimitive>(dnnl::pooling_v2_forward(fwd));
      plan->forward->bind(DNNL_ARG_SRC, p.src, fwd.src_desc(), false);
      plan->forward->own(DNNL_ARG_DST, memory(fwd.dst_desc(), cpu_engine()));
      plan->forward->own(DNNL_ARG_WORKSPACE, workspace);
      plan->backward = std::make_unique<DnnlPrimitive>(dnnl::pooling_v2_backward(bwd));
      plan->backward->bind(DNNL_ARG_DIFF_DST, p.dst, bwd.diff_dst_desc(), false);
      plan->backward->bind(DNNL_ARG_DIFF_SRC, p.src, bwd.diff_src_desc(), true);
      plan->backward->own(DNNL_ARG_WORKSPACE, workspace);
      return plan;
    } catch (const dnnl::error&) {
      return nullptr;
    }
  }

  PoolGradWindow window_;
  bool column_major_;
  std::map<Shape, std::unique_ptr<Plan>> plans_;  // null: oneDNN rejected the shape
};

// AveragePoolGrad(dY, X) -> dX: the gradient of Y = AveragePool(X) (or GlobalAveragePool
// with global = 1), X [N, C, in...] (only its shape is read), dY [N, C, out...].
// Attributes: the forward AveragePool's (kernel_shape, strides, pads, auto_pad,
// count_include_pad, ceil_mode) and global.
//   dX[i] = sum over the windows o holding i of dY[o] / count(o)
// count(o): the window's positions inside X, or with count_include_pad inside the padded X.
// float32 runs oneDNN's pooling backward (avg_include / avg_exclude_padding), except where
// an include-padding ceil_mode window reaches past the end padding (oneDNN would divide by
// the full kernel size).
class AveragePoolGradKernel : public Kernel {
 public:
  explicit AveragePoolGradKernel(const KernelInfo& info)
      : window_(info.node), include_pad_(info.node.attr_int("count_include_pad", 0) != 0) {}

  void run(KernelContext& ctx) override {
    const Node& node = ctx.node();
    const Tensor& dy = ctx.input(0);
    const Tensor& x = ctx.input(1);
    const WindowGeometry g = window_.checked_geometry(node, dy, x);
    Tensor& dx = ctx.allocate_output(0, x.dtype(), x.shape());
    if (x.dtype() == DType::Float64)
      return average_pool_backward_ref<double>(x.shape(), dy.data<double>(), g, include_pad_, dx.data<double>());
    if (x.numel() > 0 && dy.numel() > 0) {
      auto it = plans_.find(x.shape());
      if (it == plans_.end()) it = plans_.emplace(x.shape(), build(x.shape(), g)).first;
      if (it->second) return it->second->run({dy.data<float>(), dx.data<float>()});
    }
    average_pool_backward_ref<float>(x.shape(), dy.data<float>(), g, include_pad_, dx.data<float>());
  }

 private:
  std::unique_ptr<DnnlPrimitive> build(const Shape& x_shape, const WindowGeometry& g) const {
    for (size_t i = 0; i < g.rank(); ++i)
      if (include_pad_ &&
          (g.out[i] - 1) * g.strides[i] + g.kernel[i] > x_shape[i + 2] + g.pads_begin[i] + g.pads_end[i])
        return nullptr;
    try {
      const DnnlPoolGeometry p(x_shape, g);
      const auto alg =
          include_pad_ ? dnnl::algorithm::pooling_avg_include_padding : dnnl::algorithm::pooling_avg_exclude_padding;
      const auto bwd = p.backward_pd(alg, p.forward_pd(alg, dnnl::prop_kind::forward_training));
      auto step = std::make_unique<DnnlPrimitive>(dnnl::pooling_v2_backward(bwd));
      step->bind(DNNL_ARG_DIFF_DST, p.dst, bwd.diff_dst_desc(), false);
      step->bind(DNNL_ARG_DIFF_SRC, p.src, bwd.diff_src_desc(), true);
      return step;
    } catch (const dnnl::error&) {
      return nullptr;
    }
  }

  PoolGradWindow window_;
  bool include_pad_;
  std::map<Shape, std::unique_ptr<DnnlPrimitive>> plans_;  // null: reference
};

}  // namespace

ONNX_TRAIN_REGISTER_KERNELS(conv_pool_grad) {
  registry.add<ConvGradKernel>("ConvGrad", {1}, kProjectDomain);
  registry.add<ConvTransposeGradKernel>("ConvTransposeGrad", {1}, kProjectDomain);
  registry.add<MaxPoolGradKernel>("MaxPoolGrad", {1}, kProjectDomain);
  registry.add<AveragePoolGradKernel>("AveragePoolGrad", {1}, kProjectDomain);
}

}  // namespace onnx_train
