// Kernels of ConvGrad, ConvTransposeGrad and the pooling gradients (MaxPoolGrad,
// AveragePoolGrad, LpPoolGrad, MaxUnpoolGrad, RoiAlignGrad, MaxRoiPoolGrad), in the project's own domain
// (ai.onnx_train).
//
// float32 runs on oneDNN's backward primitives (convolution_backward_data /
// convolution_backward_weights with a forward hint, pooling_v2_backward), built once per
// input shape and cached in the kernel, with format_tag::any for the convolution operands
// and reorders only at the boundaries to and from our plain row-major tensors. float64,
// and any geometry oneDNN rejects, runs the plain-loop references
// (reference/conv_pool_grad_ref.h, conv_ref.h). LpPoolGrad is plain loops for both types
// (oneDNN has no Lp pooling), as are MaxUnpoolGrad (a gather) and the region poolings. Every kernel takes its forward
// node's window attributes and resolves them against the shapes of its inputs exactly as the forward kernel does.
#include <algorithm>
#include <cmath>
#include <map>
#include <memory>
#include <tuple>
#include <unordered_map>
#include <vector>

#include "runtime/kernels/dnnl/dnnl_common.h"
#include "runtime/kernels/families.h"
#include "runtime/kernels/kernel.h"
#include "runtime/kernels/reference/conv_pool_grad_ref.h"
#include "runtime/kernels/reference/conv_ref.h"
#include "runtime/kernels/reference/conv_window.h"
#include "runtime/kernels/util.h"

namespace onnx_train {

namespace {

using dnnl::memory;
using namespace dnnl_common;

// ---- oneDNN plumbing ---------------------------------------------------------------------

// One oneDNN primitive with its arguments bound to our plain tensors. Each tensor argument
// has a user memory (our buffer, handle set per run) and the memory the primitive uses:
// the same object when the primitive wants the plain layout, else a buffer of its own with
// a reorder in between (user -> buffer before an input is read, buffer -> user after an
// output is written). Internal arguments (workspace, scratch dst) are owned memory.
class BoundPrimitive {
 public:
  explicit BoundPrimitive(dnnl::primitive primitive) : primitive_(std::move(primitive)) {}

  // Adds a tensor argument; run() takes its data pointer at this argument's position.
  void bind(int arg, const memory::desc& user_desc, const memory::desc& wanted, bool output) {
    Operand t;
    t.arg = arg;
    t.output = output;
    t.user = unbound_memory(user_desc);
    t.reorder_needed = wanted != user_desc;
    if (t.reorder_needed) {
      t.used = memory(wanted, cpu_engine());
      t.reorder = output ? dnnl::reorder(t.used, t.user) : dnnl::reorder(t.user, t.used);
    } else {
      t.used = t.user;
    }
    tensors_.push_back(std::move(t));
  }
  // Adds an internal argument.
  void own(int arg, const memory& m) { internal_[arg] = m; }

  // Runs with `data[i]` the buffer of the i-th bound tensor argument.
  void run(const std::vector<const float*>& data) {
    dnnl::stream& stream = cpu_stream();
    std::unordered_map<int, memory> args = internal_;
    for (size_t i = 0; i < tensors_.size(); ++i) {
      Operand& t = tensors_[i];
      t.user.set_data_handle(const_cast<float*>(data[i]));
      if (!t.output && t.reorder_needed) t.reorder.execute(stream, t.user, t.used);
      args[t.arg] = t.used;
    }
    primitive_.execute(stream, args);
    for (Operand& t : tensors_)
      if (t.output && t.reorder_needed) t.reorder.execute(stream, t.used, t.user);
    stream.wait();
  }

 private:
  struct Operand {
    int arg = 0;
    bool output = false, reorder_needed = false;
    memory user, used;
    dnnl::reorder reorder;
  };
  dnnl::primitive primitive_;
  std::vector<Operand> tensors_;
  std::unordered_map<int, memory> internal_;
};

// The oneDNN form of a convolution src [N, I, in...] (*) weights -> dst [N, O, out...] with
// our plain weights w_shape [O, I / group, k...] (grouped: [group, O / group, I / group, k...]).
struct DnnlConvGeometry {
  Shape src, weights, dst;  // weights: oneDNN's (grouped) dims
  memory::dims strides, dilates, pad_l, pad_r;

  DnnlConvGeometry(const Shape& src_shape, const Shape& w_shape, const Shape& dst_shape, int64_t group,
                   const WindowGeometry& g)
      : src(src_shape), dst(dst_shape) {
    weights = w_shape;
    if (group > 1) {
      weights[0] /= group;
      weights.insert(weights.begin(), group);
    }
    for (size_t i = 0; i < g.rank(); ++i) {
      const int64_t dk = (g.kernel[i] - 1) * g.dilations[i] + 1, in = src_shape[i + 2], out = dst_shape[i + 2];
      strides.push_back(g.strides[i]);
      dilates.push_back(g.dilations[i] - 1);  // oneDNN counts the gaps: 0 = dense
      pad_l.push_back(g.pads_begin[i]);
      // Any end padding in [least, least + s) gives oneDNN's output size formula our output
      // size and the same windows: the smallest non-negative one where there is one.
      const int64_t least = (out - 1) * g.strides[i] + dk - in - g.pads_begin[i];
      pad_r.push_back(least >= 0 ? least : std::min<int64_t>(0, least + g.strides[i] - 1));
    }
  }

  memory::desc any(const Shape& s) const {
    return memory::desc(to_dims(s), memory::data_type::f32, memory::format_tag::any);
  }

  // The forward descriptor (also the hint of the backward primitives).
  dnnl::convolution_forward::primitive_desc forward_pd(bool with_bias) const {
    const auto prop = dnnl::prop_kind::forward_training;
    const auto alg = dnnl::algorithm::convolution_direct;
    const memory::desc bias = plain_f32_desc({dst[1]});
    const dnnl::convolution_forward::desc d =
        with_bias ? dnnl::convolution_forward::desc(prop, alg, any(src), any(weights), bias, any(dst), strides, dilates,
                                                    pad_l, pad_r)
                  : dnnl::convolution_forward::desc(prop, alg, any(src), any(weights), any(dst), strides, dilates,
                                                    pad_l, pad_r);
    return {d, cpu_engine()};
  }
};

// dst = conv(src, weights); run({src, weights, dst}). Null when oneDNN rejects the geometry.
std::unique_ptr<BoundPrimitive> conv_forward_step(const DnnlConvGeometry& c) {
  try {
    const auto pd = c.forward_pd(false);
    auto step = std::make_unique<BoundPrimitive>(dnnl::convolution_forward(pd));
    step->bind(DNNL_ARG_SRC, plain_f32_desc(to_dims(c.src)), pd.src_desc(), false);
    step->bind(DNNL_ARG_WEIGHTS, plain_f32_desc(to_dims(c.weights)), pd.weights_desc(), false);
    step->bind(DNNL_ARG_DST, plain_f32_desc(to_dims(c.dst)), pd.dst_desc(), true);
    return step;
  } catch (const dnnl::error&) {
    return nullptr;
  }
}

// diff_src from diff_dst and weights; run({diff_dst, weights, diff_src}).
std::unique_ptr<BoundPrimitive> conv_backward_data_step(const DnnlConvGeometry& c) {
  try {
    const auto hint = c.forward_pd(false);
    const dnnl::convolution_backward_data::desc d(dnnl::algorithm::convolution_direct, c.any(c.src), c.any(c.weights),
                                                  c.any(c.dst), c.strides, c.dilates, c.pad_l, c.pad_r);
    const dnnl::convolution_backward_data::primitive_desc pd(d, cpu_engine(), hint);
    auto step = std::make_unique<BoundPrimitive>(dnnl::convolution_backward_data(pd));
    step->bind(DNNL_ARG_DIFF_DST, plain_f32_desc(to_dims(c.dst)), pd.diff_dst_desc(), false);
    step->bind(DNNL_ARG_WEIGHTS, plain_f32_desc(to_dims(c.weights)), pd.weights_desc(), false);
    step->bind(DNNL_ARG_DIFF_SRC, plain_f32_desc(to_dims(c.src)), pd.diff_src_desc(), true);
    return step;
  } catch (const dnnl::error&) {
    return nullptr;
  }
}

// diff_weights (and diff_bias) from src and diff_dst; run({src, diff_dst, diff_weights[, diff_bias]}).
std::unique_ptr<BoundPrimitive> conv_backward_weights_step(const DnnlConvGeometry& c, bool with_bias) {
  try {
    const auto hint = c.forward_pd(with_bias);
    const auto alg = dnnl::algorithm::convolution_direct;
    const memory::desc bias = plain_f32_desc({c.dst[1]});
    const dnnl::convolution_backward_weights::desc d =
        with_bias ? dnnl::convolution_backward_weights::desc(alg, c.any(c.src), c.any(c.weights), bias, c.any(c.dst),
                                                             c.strides, c.dilates, c.pad_l, c.pad_r)
                  : dnnl::convolution_backward_weights::desc(alg, c.any(c.src), c.any(c.weights), c.any(c.dst),
                                                             c.strides, c.dilates, c.pad_l, c.pad_r);
    const dnnl::convolution_backward_weights::primitive_desc pd(d, cpu_engine(), hint);
    auto step = std::make_unique<BoundPrimitive>(dnnl::convolution_backward_weights(pd));
    step->bind(DNNL_ARG_SRC, plain_f32_desc(to_dims(c.src)), pd.src_desc(), false);
    step->bind(DNNL_ARG_DIFF_DST, plain_f32_desc(to_dims(c.dst)), pd.diff_dst_desc(), false);
    step->bind(DNNL_ARG_DIFF_WEIGHTS, plain_f32_desc(to_dims(c.weights)), pd.diff_weights_desc(), true);
    if (with_bias) step->bind(DNNL_ARG_DIFF_BIAS, bias, pd.diff_bias_desc(), true);
    return step;
  } catch (const dnnl::error&) {
    return nullptr;
  }
}

// The pooling descriptor pieces of a window geometry over x [N, C, in...]. The end padding
// is widened where ceil_mode keeps a window that reaches past pads_end (as the forward
// kernel does): padding never counts in a max or an exclude-padding average.
struct DnnlPoolGeometry {
  memory::desc src, dst;
  memory::dims strides, kernel, dilation, pad_l, pad_r;

  DnnlPoolGeometry(const Shape& x_shape, const WindowGeometry& g)
      : src(plain_f32_desc(to_dims(x_shape))),
        dst(plain_f32_desc(to_dims(window_output_shape(x_shape[0], x_shape[1], g)))) {
    for (size_t i = 0; i < g.rank(); ++i) {
      const int64_t dk = (g.kernel[i] - 1) * g.dilations[i] + 1;
      strides.push_back(g.strides[i]);
      kernel.push_back(g.kernel[i]);
      dilation.push_back(g.dilations[i] - 1);
      pad_l.push_back(g.pads_begin[i]);
      pad_r.push_back(std::max(g.pads_end[i], (g.out[i] - 1) * g.strides[i] + dk - x_shape[i + 2] - g.pads_begin[i]));
    }
  }

  dnnl::pooling_v2_forward::primitive_desc forward_pd(dnnl::algorithm alg) const {
    const dnnl::pooling_v2_forward::desc d(dnnl::prop_kind::forward_training, alg, src, dst, strides, kernel, dilation,
                                           pad_l, pad_r);
    return {d, cpu_engine()};
  }
  dnnl::pooling_v2_backward::primitive_desc backward_pd(dnnl::algorithm alg,
                                                        const dnnl::pooling_v2_forward::primitive_desc& hint) const {
    const dnnl::pooling_v2_backward::desc d(alg, src, dst, strides, kernel, dilation, pad_l, pad_r);
    return {d, cpu_engine(), hint};
  }
};

// ---- shared checks -----------------------------------------------------------------------

void check_float(const Node& node, const Tensor& t, const char* name) {
  OT_CHECK(t.dtype() == DType::Float32 || t.dtype() == DType::Float64,
           "{}: input {} has type {}; {} takes float32 or float64", node.label(), name, dtype_name(t.dtype()),
           node.op_type);
}

void check_dy(const Node& node, const Tensor& dy, const Tensor& x, const Shape& expected) {
  check_float(node, dy, "dY");
  OT_CHECK(dy.dtype() == x.dtype() && dy.shape() == expected,
           "{}: gradient dY {} must have the forward output's shape {} and X's type {}", node.label(), dy.describe(),
           shape_str(expected), dtype_name(x.dtype()));
}

void check_conv_operands(const Node& node, const Tensor& x, const Tensor& w, int64_t group, bool transpose) {
  check_float(node, x, "X");
  OT_CHECK(w.dtype() == x.dtype(), "{}: X {} and W {} must share one element type", node.label(), x.describe(),
           w.describe());
  OT_CHECK(x.rank() >= 3 && x.rank() <= 5 && w.rank() == x.rank(),
           "{}: X {} and W {} must be [N, C, spatial...] and [.., .., k...] with 1 to 3 spatial axes", node.label(),
           x.describe(), w.describe());
  const bool fits =
      transpose ? w.dim(0) == x.dim(1) && x.dim(1) % group == 0 : w.dim(0) % group == 0 && w.dim(1) * group == x.dim(1);
  OT_CHECK(fits, "{}: W {} does not fit X {} with group = {}", node.label(), w.describe(), x.describe(), group);
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
    check_dy(node, dy, x, window_output_shape(x.dim(0), w.dim(0), g));
    Tensor* dx = ctx.output_wanted(0) ? &ctx.allocate_output(0, x.dtype(), x.shape()) : nullptr;
    Tensor* dw = ctx.output_wanted(1) ? &ctx.allocate_output(1, x.dtype(), w.shape()) : nullptr;
    Tensor* db = ctx.output_wanted(2) ? &ctx.allocate_output(2, x.dtype(), {w.dim(0)}) : nullptr;
    if (x.dtype() == DType::Float64) return run_reference<double>(dy, x, w, g, dx, dw, db);
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

  struct Plans {
    std::unique_ptr<BoundPrimitive> data, weights;  // null: oneDNN rejected it, or not wanted
  };

  void run_float32(const Tensor& dy, const Tensor& x, const Tensor& w, const WindowGeometry& g, Tensor* dx, Tensor* dw,
                   Tensor* db) {
    if (x.numel() == 0 || dy.numel() == 0) return run_reference<float>(dy, x, w, g, dx, dw, db);
    const auto key = std::make_tuple(x.shape(), w.shape(), dx != nullptr, dw != nullptr, db != nullptr);
    auto it = plans_.find(key);
    if (it == plans_.end()) {
      const DnnlConvGeometry c(x.shape(), w.shape(), dy.shape(), group_, g);
      Plans p;
      if (dx != nullptr) p.data = conv_backward_data_step(c);
      if (dw != nullptr) p.weights = conv_backward_weights_step(c, db != nullptr);
      it = plans_.emplace(key, std::move(p)).first;
    }
    Plans& p = it->second;
    if (dx != nullptr) {
      if (p.data)
        p.data->run({dy.data<float>(), w.data<float>(), dx->data<float>()});
      else
        run_reference<float>(dy, x, w, g, dx, nullptr, nullptr);
    }
    if (dw != nullptr && p.weights) {
      std::vector<const float*> args{x.data<float>(), dy.data<float>(), dw->data<float>()};
      if (db != nullptr) args.push_back(db->data<float>());
      p.weights->run(args);
    } else if (dw != nullptr || db != nullptr) {
      run_reference<float>(dy, x, w, g, nullptr, dw, db);
    }
  }

  WindowAttrs attrs_;
  int64_t group_;
  std::map<std::tuple<Shape, Shape, bool, bool, bool>, Plans> plans_;
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
    check_dy(node, dy, x, window_output_shape(x.dim(0), w.dim(1) * group_, forward));
    // The convolution dY -> X over the same window.
    WindowGeometry g = forward;
    g.out = spatial_of(x.shape());
    Tensor* dx = ctx.output_wanted(0) ? &ctx.allocate_output(0, x.dtype(), x.shape()) : nullptr;
    Tensor* dw = ctx.output_wanted(1) ? &ctx.allocate_output(1, x.dtype(), w.shape()) : nullptr;
    Tensor* db = ctx.output_wanted(2) ? &ctx.allocate_output(2, x.dtype(), {dy.dim(1)}) : nullptr;
    if (x.dtype() == DType::Float64) return run_reference<double>(dy, x, w, g, dx, dw, db);
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

  struct Plans {
    std::unique_ptr<BoundPrimitive> data, weights;
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
      if (dw != nullptr) p.weights = conv_backward_weights_step(c, false);
      it = plans_.emplace(key, std::move(p)).first;
    }
    Plans& p = it->second;
    if (dx != nullptr && p.data)
      p.data->run({dy.data<float>(), w.data<float>(), dx->data<float>()});
    else if (dx != nullptr)
      run_reference<float>(dy, x, w, g, dx, nullptr, nullptr);
    if (dw != nullptr && p.weights)
      p.weights->run({dy.data<float>(), x.data<float>(), dw->data<float>()});
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

// The window attributes of a pooling gradient node: the forward pool's, or with global = 1
// one window over every spatial position.
class PoolWindow {
 public:
  explicit PoolWindow(const Node& node)
      : attrs_(read_window_attrs(node, /*with_dilations=*/true, /*with_ceil_mode=*/true)),
        global_(node.attr_int("global", 0) != 0) {
    OT_CHECK(global_ || !attrs_.kernel_shape.empty(), "{}: the kernel_shape attribute is required", node.label());
  }

  WindowGeometry geometry(const Node& node, const Tensor& x) const {
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

 private:
  WindowAttrs attrs_;
  bool global_;
};

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
    check_float(node, x, "X");
    const WindowGeometry g = window_.geometry(node, x);
    check_dy(node, dy, x, window_output_shape(x.dim(0), x.dim(1), g));
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
    std::unique_ptr<BoundPrimitive> forward, backward;  // sharing the workspace
  };

  static std::unique_ptr<Plan> build(const Shape& x_shape, const WindowGeometry& g) {
    try {
      const DnnlPoolGeometry p(x_shape, g);
      const auto alg = dnnl::algorithm::pooling_max;
      const auto fwd = p.forward_pd(alg);
      const auto bwd = p.backward_pd(alg, fwd);
      const memory workspace(fwd.workspace_desc(), cpu_engine());
      auto plan = std::make_unique<Plan>();
      plan->forward = std::make_unique<BoundPrimitive>(dnnl::pooling_v2_forward(fwd));
      plan->forward->bind(DNNL_ARG_SRC, p.src, fwd.src_desc(), false);
      plan->forward->own(DNNL_ARG_DST, memory(fwd.dst_desc(), cpu_engine()));
      plan->forward->own(DNNL_ARG_WORKSPACE, workspace);
      plan->backward = std::make_unique<BoundPrimitive>(dnnl::pooling_v2_backward(bwd));
      plan->backward->bind(DNNL_ARG_DIFF_DST, p.dst, bwd.diff_dst_desc(), false);
      plan->backward->bind(DNNL_ARG_DIFF_SRC, p.src, bwd.diff_src_desc(), true);
      plan->backward->own(DNNL_ARG_WORKSPACE, workspace);
      return plan;
    } catch (const dnnl::error&) {
      return nullptr;
    }
  }

  PoolWindow window_;
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
    check_float(node, x, "X");
    const WindowGeometry g = window_.geometry(node, x);
    check_dy(node, dy, x, window_output_shape(x.dim(0), x.dim(1), g));
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
  std::unique_ptr<BoundPrimitive> build(const Shape& x_shape, const WindowGeometry& g) const {
    for (size_t i = 0; i < g.rank(); ++i)
      if (include_pad_ &&
          (g.out[i] - 1) * g.strides[i] + g.kernel[i] > x_shape[i + 2] + g.pads_begin[i] + g.pads_end[i])
        return nullptr;
    try {
      const DnnlPoolGeometry p(x_shape, g);
      const auto alg =
          include_pad_ ? dnnl::algorithm::pooling_avg_include_padding : dnnl::algorithm::pooling_avg_exclude_padding;
      const auto bwd = p.backward_pd(alg, p.forward_pd(alg));
      auto step = std::make_unique<BoundPrimitive>(dnnl::pooling_v2_backward(bwd));
      step->bind(DNNL_ARG_DIFF_DST, p.dst, bwd.diff_dst_desc(), false);
      step->bind(DNNL_ARG_DIFF_SRC, p.src, bwd.diff_src_desc(), true);
      return step;
    } catch (const dnnl::error&) {
      return nullptr;
    }
  }

  PoolWindow window_;
  bool include_pad_;
  std::map<Shape, std::unique_ptr<BoundPrimitive>> plans_;  // null: reference
};

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
    check_float(node, x, "X");
    const WindowGeometry g = window_.geometry(node, x);
    check_dy(node, dy, x, window_output_shape(x.dim(0), x.dim(1), g));
    OT_CHECK(y.shape() == dy.shape() && y.dtype() == x.dtype(), "{}: Y {} must have dY's shape {} and X's type",
             node.label(), y.describe(), shape_str(dy.shape()));
    Tensor& dx = ctx.allocate_output(0, x.dtype(), x.shape());
    if (x.dtype() == DType::Float64)
      return lp_pool_backward_ref<double>(x.data<double>(), x.shape(), y.data<double>(), dy.data<double>(), g, p_,
                                          dx.data<double>());
    lp_pool_backward_ref<float>(x.data<float>(), x.shape(), y.data<float>(), dy.data<float>(), g, p_, dx.data<float>());
  }

 private:
  PoolWindow window_;
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
    check_float(node, x, "X");
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
  check_float(node, x, "X");
  OT_CHECK(x.rank() == 4, "{}: input X {} must be 4-D [N, C, H, W]", node.label(), x.describe());
  check_dy(node, dy, x, {num_rois, x.dim(1), out_h, out_w});
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

void register_conv_pool_grad_kernels(KernelRegistry& registry) {
  registry.add<ConvGradKernel>("ConvGrad", {1}, kProjectDomain);
  registry.add<ConvTransposeGradKernel>("ConvTransposeGrad", {1}, kProjectDomain);
  registry.add<MaxPoolGradKernel>("MaxPoolGrad", {1}, kProjectDomain);
  registry.add<AveragePoolGradKernel>("AveragePoolGrad", {1}, kProjectDomain);
  registry.add<LpPoolGradKernel>("LpPoolGrad", {1}, kProjectDomain);
  registry.add<MaxUnpoolGradKernel>("MaxUnpoolGrad", {1}, kProjectDomain);
  registry.add<RoiAlignGradKernel>("RoiAlignGrad", {1}, kProjectDomain);
  registry.add<MaxRoiPoolGradKernel>("MaxRoiPoolGrad", {1}, kProjectDomain);
}

}  // namespace onnx_train
