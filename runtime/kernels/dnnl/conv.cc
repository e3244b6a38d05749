// Convolution ops: Conv-1/11 and ConvTranspose-1/11, 1 to 3 spatial axes.
//
// float32 runs on oneDNN (convolution_forward / deconvolution_forward): one primitive per
// (input shape, weight shape, bias present), built on first use and cached in the kernel,
// with format_tag::any for src, weights and dst so oneDNN picks its blocked layouts, and
// reorders only at the boundaries to and from our plain row-major tensors. float64 runs
// the reference loops (reference/conv_ref.h), as does float32 when oneDNN rejects a
// geometry (say, ConvTranspose cropping more than it computes); float16 and bfloat16 are
// widened to float32 and narrowed back.
#include <algorithm>
#include <map>
#include <memory>
#include <tuple>
#include <unordered_map>

#include "runtime/kernels/dnnl/dnnl_common.h"
#include "runtime/kernels/kernel.h"
#include "runtime/kernels/reference/conv_pool_grad_ref.h"
#include "runtime/kernels/reference/conv_ref.h"
#include "runtime/kernels/reference/conv_window.h"

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

// One oneDNN (de)convolution for fixed shapes: the primitive and its memory objects.
// user_* wrap our plain tensors (data handles set per run); src/weights/dst are what the
// primitive works on: the same objects when its chosen layout is plain, else buffers of
// its own with reorders in between.
struct DnnlConvPlan {
  dnnl::primitive primitive;
  memory user_src, user_weights, user_dst, bias;
  memory src, weights, dst;
  dnnl::reorder src_reorder, weights_reorder, dst_reorder;
  bool reorder_src = false, reorder_weights = false, reorder_dst = false, has_bias = false;

  void run(const float* x, const float* w, const float* b, float* y) {
    user_src.set_data_handle(const_cast<float*>(x));
    user_weights.set_data_handle(const_cast<float*>(w));
    user_dst.set_data_handle(y);
    dnnl::stream& stream = cpu_stream();
    if (reorder_src) src_reorder.execute(stream, user_src, src);
    if (reorder_weights) weights_reorder.execute(stream, user_weights, weights);
    std::unordered_map<int, memory> args{{DNNL_ARG_SRC, src}, {DNNL_ARG_WEIGHTS, weights}, {DNNL_ARG_DST, dst}};
    if (has_bias) {
      bias.set_data_handle(const_cast<float*>(b));
      args[DNNL_ARG_BIAS] = bias;
    }
    primitive.execute(stream, args);
    if (reorder_dst) dst_reorder.execute(stream, dst, user_dst);
    stream.wait();
  }
};

// Uses `user` directly when the primitive wants its layout, else a new buffer of layout
// `wanted` and the reorder between them (user -> buffer for inputs, buffer -> user for the
// output).
void bind(const memory& user, const memory::desc& wanted, bool is_output, memory& used, dnnl::reorder& reorder,
          bool& needs_reorder) {
  needs_reorder = wanted != user.get_desc();
  if (!needs_reorder) {
    used = user;
    return;
  }
  used = memory(wanted, cpu_engine());
  reorder = is_output ? dnnl::reorder(used, user) : dnnl::reorder(user, used);
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

// A forward (de)convolution problem for oneDNN: descriptors with the layouts left to
// oneDNN (format_tag::any; the bias is plain), and the window in oneDNN's terms.
struct ConvProblem {
  memory::desc src, weights, bias, dst;
  memory::dims strides, dilates, pad_l, pad_r;
  bool has_bias = false;
};

// Creates the primitive (convolution_forward or deconvolution_forward) in `plan` and
// returns the layouts it chose for src, weights and dst. Throws dnnl::error when oneDNN
// rejects the problem.
template <typename Primitive>
std::tuple<memory::desc, memory::desc, memory::desc> create_primitive(dnnl::algorithm algorithm, const ConvProblem& p,
                                                                      DnnlConvPlan& plan) {
  using Desc = typename Primitive::desc;
  const auto prop = dnnl::prop_kind::forward_training;
  const Desc desc = p.has_bias
                        ? Desc(prop, algorithm, p.src, p.weights, p.bias, p.dst, p.strides, p.dilates, p.pad_l, p.pad_r)
                        : Desc(prop, algorithm, p.src, p.weights, p.dst, p.strides, p.dilates, p.pad_l, p.pad_r);
  const typename Primitive::primitive_desc pd(desc, cpu_engine());
  plan.primitive = Primitive(pd);
  return {pd.src_desc(), pd.weights_desc(), pd.dst_desc()};
}

// Builds the plan for one set of shapes, or returns null when oneDNN rejects the geometry.
std::unique_ptr<DnnlConvPlan> build_plan(bool transpose, const Shape& x_shape, const Shape& w_shape, bool has_bias,
                                         const WindowGeometry& g, int64_t group, const Shape& y_shape) {
  using tag = memory::format_tag;
  const auto f32 = memory::data_type::f32;
  const size_t r = g.rank();
  const memory::desc user_weights = user_weights_desc(transpose, w_shape, group);
  ConvProblem p;
  p.src = memory::desc(to_dims(x_shape), f32, tag::any);
  p.weights = memory::desc(user_weights.dims(), f32, tag::any);
  p.dst = memory::desc(to_dims(y_shape), f32, tag::any);
  p.bias = plain_f32_desc({y_shape[1]});
  p.has_bias = has_bias;
  p.strides.assign(g.strides.begin(), g.strides.end());
  p.dilates.resize(r);
  p.pad_l.assign(g.pads_begin.begin(), g.pads_begin.end());
  p.pad_r.resize(r);
  for (size_t i = 0; i < r; ++i) {
    p.dilates[i] = g.dilations[i] - 1;  // oneDNN counts the gaps: 0 = dense
    // The end padding that makes oneDNN's output size formula give exactly our output size.
    const int64_t dk = (g.kernel[i] - 1) * g.dilations[i] + 1;
    const int64_t in = x_shape[i + 2], out = y_shape[i + 2];
    p.pad_r[i] = transpose ? (in - 1) * g.strides[i] + dk - p.pad_l[i] - out : g.pads_end[i];
  }
  auto plan = std::make_unique<DnnlConvPlan>();
  memory::desc src, weights, dst;
  try {
    std::tie(src, weights, dst) =
        transpose ? create_primitive<dnnl::deconvolution_forward>(dnnl::algorithm::deconvolution_direct, p, *plan)
                  : create_primitive<dnnl::convolution_forward>(dnnl::algorithm::convolution_direct, p, *plan);
  } catch (const dnnl::error&) {
    return nullptr;
  }
  plan->user_src = unbound_memory(plain_f32_desc(x_shape));
  plan->user_weights = unbound_memory(user_weights);
  plan->user_dst = unbound_memory(plain_f32_desc(y_shape));
  plan->has_bias = has_bias;
  if (has_bias) plan->bias = unbound_memory(p.bias);
  bind(plan->user_src, src, false, plan->src, plan->src_reorder, plan->reorder_src);
  bind(plan->user_weights, weights, false, plan->weights, plan->weights_reorder, plan->reorder_weights);
  bind(plan->user_dst, dst, true, plan->dst, plan->dst_reorder, plan->reorder_dst);
  return plan;
}

// The (de)convolution of one node for every combination of shapes it has seen.
class DnnlConvolutions {
 public:
  explicit DnnlConvolutions(bool transpose) : transpose_(transpose) {}

  // y = conv(x, w) + b in float32 (b may be null). Uses oneDNN when it can express the
  // geometry, else the reference loops.
  void run(const Tensor& x, const Tensor& w, const Tensor* b, const WindowGeometry& g, int64_t group, Tensor& y) {
    const float* bias = b != nullptr ? b->data<float>() : nullptr;
    if (y.numel() == 0) return;
    auto key = std::make_tuple(x.shape(), w.shape(), b != nullptr);
    auto it = plans_.find(key);
    if (it == plans_.end())
      it = plans_.emplace(key, build_plan(transpose_, x.shape(), w.shape(), b != nullptr, g, group, y.shape())).first;
    if (it->second) {
      it->second->run(x.data<float>(), w.data<float>(), bias, y.data<float>());
    } else if (transpose_) {
      conv_transpose_ref<float>(x.data<float>(), x.shape(), w.data<float>(), w.shape(), bias, group, g,
                                y.data<float>());
    } else {
      conv_ref<float>(x.data<float>(), x.shape(), w.data<float>(), w.shape(), bias, group, g, y.data<float>());
    }
  }

 private:
  bool transpose_;
  std::map<std::tuple<Shape, Shape, bool>, std::unique_ptr<DnnlConvPlan>> plans_;  // null: reference
};

// Runs a Conv or ConvTranspose in the element type of x: float64 on the reference loops,
// float32 through `dnnl`, float16/bfloat16 through float32 copies.
void run_conv(DnnlConvolutions& dnnl, bool transpose, const Tensor& x, const Tensor& w, const Tensor* b,
              const WindowGeometry& g, int64_t group, Tensor& y) {
  if (x.dtype() == DType::Float64) {
    const double* bias = b != nullptr ? b->data<double>() : nullptr;
    if (transpose)
      conv_transpose_ref<double>(x.data<double>(), x.shape(), w.data<double>(), w.shape(), bias, group, g,
                                 y.data<double>());
    else
      conv_ref<double>(x.data<double>(), x.shape(), w.data<double>(), w.shape(), bias, group, g, y.data<double>());
    return;
  }
  if (x.dtype() == DType::Float32) {
    dnnl.run(x, w, b, g, group, y);
    return;
  }
  const Tensor b32 = b != nullptr ? to_float32(*b) : Tensor();
  Tensor y32(DType::Float32, y.shape());
  dnnl.run(to_float32(x), to_float32(w), b != nullptr ? &b32 : nullptr, g, group, y32);
  store_float32(y32, y);
}

// Conv-1/11: y = conv(x, w) + b with x [N, C, in...], w [M, C / group, k...], b [M],
// y [N, M, out...] (window rules in conv_window.h; kernel_shape defaults to W's dims).
class ConvKernel : public Kernel {
 public:
  explicit ConvKernel(const KernelInfo& info)
      : attrs_(read_window_attrs(info.node, /*with_dilations=*/true, /*with_ceil_mode=*/false)),
        group_(info.node.attr_int("group", 1)),
        dnnl_(false) {
    OT_CHECK(group_ >= 1, "{}: group = {} must be >= 1", info.node.label(), group_);
  }

  void run(KernelContext& ctx) override {
    const Node& node = ctx.node();
    const Tensor& x = ctx.input(0);
    const Tensor& w = ctx.input(1);
    const Tensor* b = ctx.has_input(2) ? &ctx.input(2) : nullptr;
    check_operands(node, x, w, b, group_, false);
    const WindowGeometry g = forward_window_geometry(node, attrs_, spatial_of(x.shape()), kernel_of(node, attrs_, w));
    Tensor& y = ctx.allocate_output(0, x.dtype(), window_output_shape(x.dim(0), w.dim(0), g));
    run_conv(dnnl_, false, x, w, b, g, group_, y);
  }

 private:
  WindowAttrs attrs_;
  int64_t group_;
  DnnlConvolutions dnnl_;
};

// ConvTranspose-1/11: the adjoint of Conv, x [N, C, in...], w [C, M / group, k...], b [M],
// y [N, M, out...]. Per spatial axis, with dk = (k - 1) * d + 1, the full (uncropped)
// extent is full = s * (in - 1) + output_padding + dk, and
//   explicit pads:          out = full - pad_begin - pad_end
//   output_shape or SAME_*: out = output_shape (SAME_*: in * s); total = full - out is
//                           cropped as pads (pads attributes are ignored):
//     version 11: SAME_UPPER -> begin = floor(total / 2), otherwise begin = total - floor(total / 2)
//     version 1:  SAME_UPPER -> begin = total - floor(total / 2), otherwise begin = floor(total / 2)
//     (each version's formula as its schema states it; a negative total extends the output)
//   VALID:                  out = full
// (conv_transpose_geometry in reference/conv_pool_grad_ref.h, shared with the gradient.)
// Output positions no input reaches hold the bias alone.
class ConvTransposeKernel : public Kernel {
 public:
  explicit ConvTransposeKernel(const KernelInfo& info)
      : attrs_(read_window_attrs(info.node, /*with_dilations=*/true, /*with_ceil_mode=*/false)),
        group_(info.node.attr_int("group", 1)),
        output_padding_(info.node.attr_ints("output_padding", {})),
        output_shape_(info.node.attr_ints("output_shape", {})),
        dnnl_(true) {
    const Node& node = info.node;
    OT_CHECK(group_ >= 1, "{}: group = {} must be >= 1", node.label(), group_);
    for (int64_t v : output_padding_)
      OT_CHECK(v >= 0, "{}: output_padding {} must be non-negative", node.label(), shape_str(output_padding_));
    for (int64_t v : output_shape_)
      OT_CHECK(v > 0, "{}: output_shape {} must be positive", node.label(), shape_str(output_shape_));
  }

  void run(KernelContext& ctx) override {
    const Node& node = ctx.node();
    const Tensor& x = ctx.input(0);
    const Tensor& w = ctx.input(1);
    const Tensor* b = ctx.has_input(2) ? &ctx.input(2) : nullptr;
    check_operands(node, x, w, b, group_, true);
    const WindowGeometry g = geometry(node, spatial_of(x.shape()), kernel_of(node, attrs_, w));
    Tensor& y = ctx.allocate_output(0, x.dtype(), window_output_shape(x.dim(0), w.dim(1) * group_, g));
    run_conv(dnnl_, true, x, w, b, g, group_, y);
  }

 private:
  WindowGeometry geometry(const Node& node, const Shape& in, const std::vector<int64_t>& kernel) const {
    return conv_transpose_geometry(node, attrs_, output_padding_, output_shape_, node.since_version >= 11, in, kernel);
  }

  WindowAttrs attrs_;
  int64_t group_;
  std::vector<int64_t> output_padding_, output_shape_;
  DnnlConvolutions dnnl_;
};

}  // namespace

void register_conv_kernels(KernelRegistry& registry) {
  registry.add<ConvKernel>("Conv", {1, 11});
  registry.add<ConvTransposeKernel>("ConvTranspose", {1, 11});
}

}  // namespace onnx_train
