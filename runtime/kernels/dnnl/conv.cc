// Convolution ops: Conv-1/11, ConvTranspose-1/11 and FusedConv-1 (ai.onnx_train: Conv with
// its bias, a summed residual and an activation as oneDNN post-ops), 1 to 3 spatial axes.
//
// float32 runs on oneDNN (convolution_forward / deconvolution_forward): one primitive per
// (input shape, weight shape, bias present), built on first use and cached in the kernel,
// with format_tag::any for src, weights and dst so oneDNN picks its blocked layouts, and
// reorders only at the boundaries to and from our plain row-major tensors (DnnlPrimitive
// and the convolution descriptor shared with the gradients, primitive.h). float64 runs
// the reference loops (reference/conv_ref.h), as does float32 when oneDNN rejects a
// geometry (say, ConvTranspose cropping more than it computes); float16 and bfloat16 are
// widened to float32 and narrowed back.
#include <algorithm>
#include <cmath>
#include <cstring>
#include <map>
#include <memory>
#include <tuple>

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

// Checks the inputs common to Conv and ConvTranspose: same floating-point type, ranks
// 3 to 5, channel counts that fit `group`, bias [M]. `transpose`: w is [C, M / group, k...]
// instead of [M, C / group, k...].
void check_operands(const Node& node, const Tensor& x, const Tensor& w, const Tensor* bias, int64_t group,
                    bool transpose) {
  OT_CHECK(dtype_is_float(x.dtype()), "{}: input X has type {}; Conv ops take float16, bfloat16, float32 or float64",
           node.label(), dtype_name(x.dtype()));
  OT_CHECK(w.dtype() == x.dtype() && (bias == nullptr || bias->dtype() == x.dtype()),
           "{}: X {}, W {}{} must share one element type", node.label(), x.describe(), w.describe(),
           bias != nullptr ? ", B " + bias->describe() : std::string());
  OT_CHECK(x.rank() >= 3 && x.rank() <= 5, "{}: input X {} must be [N, C, spatial...] with 1 to 3 spatial axes",
           node.label(), x.describe());
  OT_CHECK(w.rank() == x.rank(), "{}: weights W {} must have the rank of X {}", node.label(), w.describe(),
           x.describe());
  const int64_t channels = x.dim(1);
  if (!transpose) {
    OT_CHECK(w.dim(0) % group == 0 && w.dim(1) * group == channels,
             "{}: W {} does not fit X {} with group = {}: W must be [M, C / group, k...] with M divisible by group",
             node.label(), w.describe(), x.describe(), group);
  } else {
    OT_CHECK(w.dim(0) == channels && channels % group == 0,
             "{}: W {} does not fit X {} with group = {}: W must be [C, M / group, k...] with C divisible by group",
             node.label(), w.describe(), x.describe(), group);
  }
  const int64_t maps = transpose ? w.dim(1) * group : w.dim(0);
  OT_CHECK(bias == nullptr || (bias->rank() == 1 && bias->dim(0) == maps),
           "{}: bias B {} must be a vector of the {} output channels", node.label(), bias->describe(), maps);
}

// Row-major strides of the kernel's spatial dims.
memory::dims kernel_strides(const Shape& kernel) {
  memory::dims s(kernel.size());
  int64_t stride = 1;
  for (size_t i = kernel.size(); i-- > 0;) {
    s[i] = stride;
    stride *= kernel[i];
  }
  return s;
}

// Our plain weights as oneDNN sees them. Conv W [M, C/G, k...]: oihw, or goihw with M split
// into [G, M/G]. ConvTranspose W [C, M/G, k...] is read as oneDNN's [(G,) M/G, C/G, k...]
// through strides (an "iohw" view).
memory::desc user_weights_desc(bool transpose, const Shape& w_shape, int64_t group) {
  const Shape kernel = spatial_of(w_shape);
  if (!transpose) {
    if (group == 1) return plain_f32_desc(w_shape);
    Shape grouped{group, w_shape[0] / group, w_shape[1]};
    grouped.insert(grouped.end(), kernel.begin(), kernel.end());
    return plain_f32_desc(grouped);
  }
  const int64_t k_size = shape_numel(kernel), cg = w_shape[0] / group, mg = w_shape[1];
  const memory::dims k_strides = kernel_strides(kernel);
  memory::dims dims, strides;
  if (group > 1) {
    dims.push_back(group);
    strides.push_back(cg * mg * k_size);
  }
  dims.insert(dims.end(), {mg, cg});
  strides.insert(strides.end(), {k_size, mg * k_size});
  dims.insert(dims.end(), kernel.begin(), kernel.end());
  strides.insert(strides.end(), k_strides.begin(), k_strides.end());
  return memory::desc(dims, memory::data_type::f32, strides);
}

// The oneDNN deconvolution of ConvTranspose x [N, C, in...] -> y [N, M, out...], its weights
// read in place through user_weights (an "iohw" view of W). oneDNN's output size formula is
// exact for a deconvolution: out = (in - 1) * s + dk - pad_begin - pad_end.
dnnl::deconvolution_forward::primitive_desc deconvolution_pd(const Shape& x_shape, const memory::desc& user_weights,
                                                             bool has_bias, const WindowGeometry& g,
                                                             const Shape& y_shape) {
  memory::dims strides, dilates, pad_l, pad_r;
  for (size_t i = 0; i < g.rank(); ++i) {
    const int64_t dk = (g.kernel[i] - 1) * g.dilations[i] + 1;
    strides.push_back(g.strides[i]);
    dilates.push_back(g.dilations[i] - 1);  // oneDNN counts the gaps: 0 = dense
    pad_l.push_back(g.pads_begin[i]);
    // As the convolution y -> x it is the adjoint of.
    pad_r.push_back(dnnl_end_padding(y_shape[i + 2], x_shape[i + 2], dk, g.strides[i], g.pads_begin[i], true));
  }
  const auto prop = dnnl::prop_kind::forward_training;
  const auto alg = dnnl::algorithm::deconvolution_direct;
  using Desc = dnnl::deconvolution_forward::desc;
  const memory::desc src = DnnlConvGeometry::any(x_shape), dst = DnnlConvGeometry::any(y_shape);
  const memory::desc weights = DnnlConvGeometry::any(Shape(user_weights.dims()));
  const memory::desc bias = plain_f32_desc({y_shape[1]});
  const Desc d = has_bias ? Desc(prop, alg, src, weights, bias, dst, strides, dilates, pad_l, pad_r)
                          : Desc(prop, alg, src, weights, dst, strides, dilates, pad_l, pad_r);
  return {d, cpu_engine()};
}

// What a FusedConv (ai.onnx_train, runtime/transforms/fuse_conv.h) does after the
// convolution and its bias: y = act(conv(x, w) + b + z), z a tensor of y's shape (the
// residual of an Add) when `sum`, act one of
//   None: v,  Relu: max(v, 0),  Clip: min(max(v, low), high),  Sigmoid: 1 / (1 + exp(-v)),
//   Swish: v * sigmoid(v).
// A plain Conv has the empty epilogue. oneDNN runs it as post-ops (sum, then eltwise).
struct ConvEpilogue {
  enum class Act { None, Relu, Clip, Sigmoid, Swish };
  Act act = Act::None;
  float low = 0, high = 0;  // Clip's bounds
  bool sum = false;

  static ConvEpilogue of_node(const Node& node) {
    ConvEpilogue e;
    const std::string act = node.attr_string("activation", "");
    e.sum = node.has_input(3);
    if (act == "Relu") {
      e.act = Act::Relu;
    } else if (act == "Clip") {
      const std::vector<float> bounds = node.attr_floats("activation_params");
      OT_CHECK(bounds.size() == 2 && bounds[0] <= bounds[1],
               "{}: Clip activation_params must be [min, max] with min <= max", node.label());
      e.act = Act::Clip;
      e.low = bounds[0];
      e.high = bounds[1];
    } else if (act == "Sigmoid") {
      e.act = Act::Sigmoid;
    } else if (act == "Swish") {
      e.act = Act::Swish;
    } else {
      OT_CHECK(act.empty(), "{}: activation '{}' is none of Relu, Clip, Sigmoid, Swish", node.label(), act);
    }
    return e;
  }

  // The oneDNN post-ops; `with_sum` false leaves the sum out (z broadcast: done by loops).
  dnnl::primitive_attr attr(bool with_sum) const {
    dnnl::post_ops ops;
    if (sum && with_sum) ops.append_sum(1.f);
    if (act == Act::Relu) ops.append_eltwise(1.f, dnnl::algorithm::eltwise_relu, 0.f, 0.f);
    if (act == Act::Clip) ops.append_eltwise(1.f, dnnl::algorithm::eltwise_clip, low, high);
    if (act == Act::Sigmoid) ops.append_eltwise(1.f, dnnl::algorithm::eltwise_logistic, 0.f, 0.f);
    if (act == Act::Swish) ops.append_eltwise(1.f, dnnl::algorithm::eltwise_swish, 1.f, 0.f);
    dnnl::primitive_attr a;
    a.set_post_ops(ops);
    return a;
  }

  // The reference: y = act(y + z), z broadcast to y's shape (null: no sum), in place.
  template <typename T>
  void apply(T* y, const Shape& y_shape, const T* z, const Shape& z_shape) const {
    const int64_t n = shape_numel(y_shape);
    StridedWalk walk(y_shape, {z != nullptr ? broadcast_strides(z_shape, y_shape) : strides_of(y_shape)});
    for (int64_t i = 0; i < n; ++i, walk.next()) {
      T v = y[i] + (z != nullptr ? z[walk.offset(0)] : T(0));
      if (act == Act::Relu) v = std::max(v, T(0));
      if (act == Act::Clip) v = std::min(std::max(v, T(low)), T(high));
      if (act == Act::Sigmoid) v = T(1) / (T(1) + std::exp(-v));
      if (act == Act::Swish) v = v / (T(1) + std::exp(-v));
      y[i] = v;
    }
  }
};

// The primitive of one set of shapes, run({x, w[, b], y[, z]}), or null when oneDNN rejects
// the geometry. Layouts are left to oneDNN (format_tag::any; the bias is plain), with
// reorders from and to our plain tensors where it picks others; `constant_weights` keeps the
// reordered weights and bias from one run to the next (they never change while the plan lives).
template <typename Primitive>
std::unique_ptr<DnnlPrimitive> bound_conv(const typename Primitive::primitive_desc& pd, const Shape& x_shape,
                                          const memory::desc& user_weights, bool has_bias, bool with_sum,
                                          bool constant_weights, const Shape& y_shape) {
  auto step = std::make_unique<DnnlPrimitive>(Primitive(pd));
  step->bind(DNNL_ARG_SRC, plain_f32_desc(x_shape), pd.src_desc(), false);
  const memory::desc user_bias = plain_f32_desc({y_shape[1]});
  if (constant_weights) {
    step->bind_constant(DNNL_ARG_WEIGHTS, user_weights, pd.weights_desc());
    if (has_bias) step->bind_constant(DNNL_ARG_BIAS, user_bias, pd.bias_desc());
  } else {
    step->bind(DNNL_ARG_WEIGHTS, user_weights, pd.weights_desc(), false);
    if (has_bias) step->bind(DNNL_ARG_BIAS, user_bias, pd.bias_desc(), false);
  }
  step->bind(DNNL_ARG_DST, plain_f32_desc(y_shape), pd.dst_desc(), true);
  if (with_sum) step->bind_accumulated(plain_f32_desc(y_shape), DNNL_ARG_DST);
  return step;
}

// What one convolution node runs: its epilogue and whether its weights are constant.
struct ConvSetup {
  bool transpose = false;
  ConvEpilogue epilogue;
  bool constant_weights = false;
};

std::unique_ptr<DnnlPrimitive> build_plan(const ConvSetup& setup, const Shape& x_shape, const Shape& w_shape,
                                          bool has_bias, bool with_sum, const WindowGeometry& g, int64_t group,
                                          const Shape& y_shape) {
  const memory::desc user_weights = user_weights_desc(setup.transpose, w_shape, group);
  try {
    if (setup.transpose)
      return bound_conv<dnnl::deconvolution_forward>(deconvolution_pd(x_shape, user_weights, has_bias, g, y_shape),
                                                     x_shape, user_weights, has_bias, false, setup.constant_weights,
                                                     y_shape);
    const auto pd = DnnlConvGeometry(x_shape, w_shape, y_shape, group, g)
                        .forward_pd(has_bias, setup.epilogue.attr(with_sum));
    return bound_conv<dnnl::convolution_forward>(pd, x_shape, user_weights, has_bias, with_sum,
                                                 setup.constant_weights, y_shape);
  } catch (const dnnl::error&) {
    return nullptr;
  }
}

// The reference loops of a (de)convolution with its epilogue, any float type T.
template <typename T>
void conv_reference(const ConvSetup& setup, const Tensor& x, const Tensor& w, const Tensor* b, const Tensor* z,
                    const WindowGeometry& g, int64_t group, Tensor& y) {
  const T* bias = b != nullptr ? b->data<T>() : nullptr;
  if (setup.transpose)
    conv_transpose_ref<T>(x.data<T>(), x.shape(), w.data<T>(), w.shape(), bias, group, g, y.data<T>());
  else
    conv_ref<T>(x.data<T>(), x.shape(), w.data<T>(), w.shape(), bias, group, g, y.data<T>());
  setup.epilogue.apply<T>(y.data<T>(), y.shape(), z != nullptr ? z->data<T>() : nullptr,
                          z != nullptr ? z->shape() : Shape{});
}

// The (de)convolution of one node for every combination of shapes it has seen.
class DnnlConvolutions {
 public:
  explicit DnnlConvolutions(ConvSetup setup) : setup_(setup) {}

  // y = act(conv(x, w) + b + z) in float32 (b and z may be null). Uses oneDNN when it can
  // express the geometry, else the reference loops; a z that y's shape only broadcasts from
  // is added by loops after an unfused convolution.
  void run(const Tensor& x, const Tensor& w, const Tensor* b, const Tensor* z, const WindowGeometry& g,
           int64_t group, Tensor& y) {
    if (y.numel() == 0) return;
    const bool with_sum = z != nullptr && z->shape() == y.shape();
    const auto key = std::make_tuple(x.shape(), w.shape(), b != nullptr, with_sum);
    auto it = plans_.find(key);
    if (it == plans_.end()) {
      ConvSetup setup = setup_;
      if (z != nullptr && !with_sum) setup.epilogue = ConvEpilogue();
      it = plans_.emplace(key, build_plan(setup, x.shape(), w.shape(), b != nullptr, with_sum, g, group, y.shape()))
               .first;
    }
    if (!it->second) {
      std::memset(y.raw_data(), 0, y.nbytes());  // the reference loops accumulate into y
      return conv_reference<float>(setup_, x, w, b, z, g, group, y);
    }
    std::vector<const float*> data{x.data<float>(), w.data<float>()};
    if (b != nullptr) data.push_back(b->data<float>());
    data.push_back(y.data<float>());
    if (with_sum) data.push_back(z->data<float>());
    it->second->run(data);
    if (z != nullptr && !with_sum) setup_.epilogue.apply<float>(y.data<float>(), y.shape(), z->data<float>(), z->shape());
  }

  const ConvSetup& setup() const { return setup_; }

 private:
  ConvSetup setup_;
  std::map<std::tuple<Shape, Shape, bool, bool>, std::unique_ptr<DnnlPrimitive>> plans_;  // null: reference
};

// Runs a Conv, ConvTranspose or FusedConv in the element type of x: float64 on the reference
// loops, float32 through `dnnl`, float16/bfloat16 through float32 copies.
void run_conv(DnnlConvolutions& dnnl, const Tensor& x, const Tensor& w, const Tensor* b, const Tensor* z,
              const WindowGeometry& g, int64_t group, Tensor& y) {
  if (x.dtype() == DType::Float64) {
    std::memset(y.raw_data(), 0, y.nbytes());  // the reference loops accumulate into y
    return conv_reference<double>(dnnl.setup(), x, w, b, z, g, group, y);
  }
  if (x.dtype() == DType::Float32) return dnnl.run(x, w, b, z, g, group, y);
  const Tensor b32 = b != nullptr ? to_float32(*b) : Tensor();
  const Tensor z32 = z != nullptr ? to_float32(*z) : Tensor();
  Tensor y32(DType::Float32, y.shape());
  dnnl.run(to_float32(x), to_float32(w), b != nullptr ? &b32 : nullptr, z != nullptr ? &z32 : nullptr, g, group, y32);
  store_float32(y32, y);
}

// Conv-1/11 (Transpose = false): y = conv(x, w) + b with x [N, C, in...], w [M, C / group, k...],
// b [M], y [N, M, out...] (window rules in conv_window.h; kernel_shape defaults to W's dims).
//
// ConvTranspose-1/11 (Transpose = true): the adjoint of Conv, x [N, C, in...],
// w [C, M / group, k...], b [M], y [N, M, out...]. Per spatial axis, with dk = (k - 1) * d + 1,
// the full (uncropped) extent is full = s * (in - 1) + output_padding + dk, and
//   explicit pads:          out = full - pad_begin - pad_end
//   output_shape or SAME_*: out = output_shape (SAME_*: in * s); total = full - out is
//                           cropped as pads (pads attributes are ignored):
//     version 11: SAME_UPPER -> begin = floor(total / 2), otherwise begin = total - floor(total / 2)
//     version 1:  SAME_UPPER -> begin = total - floor(total / 2), otherwise begin = floor(total / 2)
//     (each version's formula as its schema states it; a negative total extends the output)
//   VALID:                  out = full
// (conv_transpose_geometry in reference/conv_pool_grad_ref.h, shared with the gradient.)
// Output positions no input reaches hold the bias alone.
//
// FusedConv-1 (ai.onnx_train, Transpose = false; made by runtime/transforms/fuse_conv.h):
// y = act(conv(x, w) + b + z), Conv's inputs and attributes plus z (input 3, optional, of y's
// shape) and `activation` ("", Relu, Clip, Sigmoid, Swish) with `activation_params` (Clip: [min, max]);
// `constant_weights` = 1 promises W and B never change while the plan lives, so their
// reordered copies are kept between runs.
template <bool Transpose>
class ConvKernel : public Kernel {
 public:
  explicit ConvKernel(const KernelInfo& info)
      : attrs_(read_window_attrs(info.node, /*with_dilations=*/true, /*with_ceil_mode=*/false)),
        group_(info.node.attr_int("group", 1)),
        dnnl_(ConvSetup{Transpose, ConvEpilogue::of_node(info.node), info.node.attr_int("constant_weights", 0) != 0}) {
    const Node& node = info.node;
    OT_CHECK(group_ >= 1, "{}: group = {} must be >= 1", node.label(), group_);
    if constexpr (Transpose) {
      output_padding_ = node.attr_ints("output_padding", {});
      output_shape_ = node.attr_ints("output_shape", {});
      for (int64_t v : output_padding_)
        OT_CHECK(v >= 0, "{}: output_padding {} must be non-negative", node.label(), shape_str(output_padding_));
      for (int64_t v : output_shape_)
        OT_CHECK(v > 0, "{}: output_shape {} must be positive", node.label(), shape_str(output_shape_));
    }
  }

  void run(KernelContext& ctx) override {
    const Node& node = ctx.node();
    const Tensor& x = ctx.input(0);
    const Tensor& w = ctx.input(1);
    const Tensor* b = ctx.has_input(2) ? &ctx.input(2) : nullptr;
    const Tensor* z = ctx.has_input(3) ? &ctx.input(3) : nullptr;
    check_operands(node, x, w, b, group_, Transpose);
    OT_CHECK(z == nullptr || z->dtype() == x.dtype(), "{}: the summed input Z {} must have X's type {}", node.label(),
             z->describe(), dtype_name(x.dtype()));
    const Shape in = spatial_of(x.shape());
    const std::vector<int64_t> kernel = kernel_of(node, attrs_, w);
    const WindowGeometry g = Transpose ? conv_transpose_geometry(node, attrs_, output_padding_, output_shape_,
                                                                 node.since_version >= 11, in, kernel)
                                       : forward_window_geometry(node, attrs_, in, kernel);
    const int64_t maps = Transpose ? w.dim(1) * group_ : w.dim(0);
    // Not zero-filled: oneDNN writes every element; the reference paths clear it first (run_conv).
    Tensor& y = ctx.allocate_output_to_overwrite(0, x.dtype(), window_output_shape(x.dim(0), maps, g));
    OT_CHECK(z == nullptr || broadcast_shapes(z->shape(), y.shape()) == y.shape(),
             "{}: the summed input Z {} does not broadcast to the output's shape {}", node.label(), z->describe(),
             shape_str(y.shape()));
    run_conv(dnnl_, x, w, b, z, g, group_, y);
  }

 private:
  WindowAttrs attrs_;
  int64_t group_;
  std::vector<int64_t> output_padding_, output_shape_;  // ConvTranspose only
  DnnlConvolutions dnnl_;
};

}  // namespace

ONNX_TRAIN_REGISTER_KERNELS(conv) {
  registry.add<ConvKernel<false>>("Conv", {1, 11});
  registry.add<ConvKernel<true>>("ConvTranspose", {1, 11});
  registry.add<ConvKernel<false>>("FusedConv", {1}, kProjectDomain);
}

}  // namespace onnx_train
