// Kernels of the fused activation and softmax gradients, in the project's own domain
// (ai.onnx_train), emitted by gradients/rules/activations.cc.
//
// Elementwise activation gradients (<Op>Grad(dY, V [, min, max]) -> dX, V = X or Y as each
// op says): float32 through oneDNN eltwise_backward where oneDNN 2.6 has the algorithm
// (one primitive per element count and alpha/beta, cached), everything else (float64,
// float16/bfloat16 computing in float, and Selu / HardSigmoid, which oneDNN 2.6 has no
// backward algorithm for) through the plain loop of activation_grad<Op>()
// (reference/activation_math.h; attributes and defaults: activation_params.h).
// Softmax / LogSoftmax gradients: float32 through oneDNN softmax_backward /
// logsoftmax_backward (cached per [outer, n, inner]) where oneDNN has an optimised
// implementation, the rest through softmax_grad_reference (reference/softmax_ref.h).
#include <algorithm>
#include <cmath>
#include <limits>
#include <map>
#include <mutex>
#include <oneapi/dnnl/dnnl.hpp>
#include <optional>
#include <string>
#include <tuple>

#include "runtime/core/dispatch.h"
#include "runtime/core/parallel.h"
#include "runtime/kernels/activation_params.h"
#include "runtime/kernels/dnnl/dnnl_common.h"
#include "runtime/kernels/kernel.h"
#include "runtime/kernels/registry.h"
#include "runtime/kernels/reference/activation_math.h"
#include "runtime/kernels/reference/softmax_ref.h"
#include "runtime/kernels/util.h"

namespace onnx_train {

namespace {

// ---- elementwise activation gradients ---------------------------------------------------------

// The oneDNN eltwise backward algorithm of Op (and whether it reads dst = y rather than src
// = x), or nothing when oneDNN 2.6 has none.
struct DnnlAlgorithm {
  dnnl::algorithm algorithm;
  bool uses_dst;
};

template <Act Op>
std::optional<DnnlAlgorithm> dnnl_algorithm() {
  using dnnl::algorithm;
  if constexpr (Op == Act::Relu) return DnnlAlgorithm{algorithm::eltwise_relu_use_dst_for_bwd, true};
  if constexpr (Op == Act::LeakyRelu) return DnnlAlgorithm{algorithm::eltwise_relu, false};
  if constexpr (Op == Act::Elu) return DnnlAlgorithm{algorithm::eltwise_elu, false};
  if constexpr (Op == Act::Sigmoid) return DnnlAlgorithm{algorithm::eltwise_logistic_use_dst_for_bwd, true};
  if constexpr (Op == Act::Tanh) return DnnlAlgorithm{algorithm::eltwise_tanh_use_dst_for_bwd, true};
  if constexpr (Op == Act::HardSwish) return DnnlAlgorithm{algorithm::eltwise_hardswish, false};
  if constexpr (Op == Act::Softplus) return DnnlAlgorithm{algorithm::eltwise_soft_relu, false};
  if constexpr (Op == Act::Clip) return DnnlAlgorithm{algorithm::eltwise_clip, false};
  return std::nullopt;
}

// oneDNN eltwise_backward on flat float32 buffers, one primitive per (count, alpha, beta).
// Described as 1 x count, as the forward (dnnl/eltwise.cc) does.
class DnnlEltwiseGrad {
 public:
  explicit DnnlEltwiseGrad(DnnlAlgorithm algorithm) : algorithm_(algorithm) {}

  // dx[i] = algorithm'(v[i]) dy[i] for i < count.
  void run(const float* dy, const float* v, float* dx, int64_t count, float alpha, float beta) {
    if (count == 0) return;
    const dnnl::memory::desc md({1, count}, dnnl::memory::data_type::f32, dnnl::memory::format_tag::ab);
    std::lock_guard<std::mutex> lock(mutex_);
    const auto key = std::make_tuple(count, alpha, beta);
    auto it = primitives_.find(key);
    if (it == primitives_.end()) {
      const dnnl::engine& engine = dnnl_common::cpu_engine();
      const dnnl::eltwise_forward::desc forward(dnnl::prop_kind::forward_training, algorithm_.algorithm, md, alpha,
                                                beta);
      const dnnl::eltwise_forward::primitive_desc hint(forward, engine);
      const dnnl::eltwise_backward::desc backward(algorithm_.algorithm, md, md, alpha, beta);
      it = primitives_
               .emplace(key, dnnl::eltwise_backward(dnnl::eltwise_backward::primitive_desc(backward, engine, hint)))
               .first;
    }
    dnnl::stream& stream = dnnl_common::cpu_stream();
    it->second.execute(stream, {{algorithm_.uses_dst ? DNNL_ARG_DST : DNNL_ARG_SRC, dnnl_common::wrap_f32(md, v)},
                                {DNNL_ARG_DIFF_DST, dnnl_common::wrap_f32(md, dy)},
                                {DNNL_ARG_DIFF_SRC, dnnl_common::wrap_f32(md, dx)}});
    stream.wait();
  }

 private:
  DnnlAlgorithm algorithm_;
  std::mutex mutex_;
  std::map<std::tuple<int64_t, float, float>, dnnl::eltwise_backward> primitives_;
};

// <Op>Grad(dY, V [, min, max]) -> dX, in the project domain.
//   dY: gradient of the forward output; V: the forward input X or output Y (per Op, see
//   activation_grad); both of one float type and shape. ClipGrad only: optional scalar
//   inputs min and max (the bounds, as Clip-11 takes them; absent = unbounded).
//   Attributes: those of the forward op, with its defaults (alpha, beta, gamma).
//   dX: V's shape and type, dX = activation_grad<Op>(dY, V) elementwise.
template <Act Op>
class ActivationGradKernel : public Kernel {
 public:
  explicit ActivationGradKernel(const KernelInfo& info)
      : node_(info.node), params_(read_activation_params(Op, info.node)) {
    if (auto algorithm = dnnl_algorithm<Op>()) dnnl_ = std::make_unique<DnnlEltwiseGrad>(*algorithm);
  }

  void run(KernelContext& ctx) override {
    const Tensor& dy = ctx.input(0);
    const Tensor& v = ctx.input(1);
    OT_CHECK(dtype_is_float(dy.dtype()) && dy.dtype() == v.dtype() && dy.shape() == v.shape(),
             "{}: gradient {} and forward value {} must be floating-point tensors of one type and shape", node_.label(),
             dy.describe(), v.describe());
    ActParams p = params_;
    if constexpr (Op == Act::Clip) {
      if (ctx.has_input(2)) p.min = read_bound(ctx.input(2), "min");
      if (ctx.has_input(3)) p.max = read_bound(ctx.input(3), "max");
    }
    Tensor& dx = ctx.allocate_output_to_overwrite(0, dy.dtype(), dy.shape());  // both paths write every element
    if (dy.dtype() == DType::Float32 && dnnl_) {
      float alpha = p.alpha, beta = p.beta;
      if constexpr (Op == Act::Clip) {
        alpha = static_cast<float>(std::max<double>(p.min, -std::numeric_limits<float>::max()));
        beta = static_cast<float>(std::min<double>(p.max, std::numeric_limits<float>::max()));
      }
      dnnl_->run(dy.data<float>(), v.data<float>(), dx.data<float>(), dy.numel(), alpha, beta);
      return;
    }
    visit_float(dy.dtype(), [&](auto tag) {
      using T = typename decltype(tag)::type;
      const T* g = dy.data<T>();
      const T* in = v.data<T>();
      T* out = dx.data<T>();
      parallel_for(
          dy.numel(),
          [&](int64_t i) { out[i] = from_compute<T>(activation_grad<Op>(to_compute(g[i]), to_compute(in[i]), p)); },
          kParallelMinCheapElements);
    });
  }

 private:
  double read_bound(const Tensor& bound, const char* what) const {
    OT_CHECK(dtype_is_float(bound.dtype()) && bound.numel() == 1, "{}: {} is {}; it must be a floating-point scalar",
             node_.label(), what, bound.describe());
    return bound.to_doubles()[0];
  }

  const Node& node_;
  ActParams params_;
  std::unique_ptr<DnnlEltwiseGrad> dnnl_;
};

// ---- softmax gradients ---------------------------------------------------------------------

// oneDNN softmax_backward / logsoftmax_backward on float32, one primitive per shape. The
// tensor is described as [outer, n] when inner == 1 (the common last-axis case, which has
// oneDNN's fast kernels) and as [outer, n, inner] otherwise. Where oneDNN only has its
// generic implementation for the shape and machine (oneDNN 2.6 has jit softmax backward
// kernels for AVX-512 only; "ref:any" elsewhere, measured 2-3x slower than
// softmax_grad_reference on an AVX2 machine), run() returns false and the caller runs the
// loop instead.
class DnnlSoftmaxGrad {
 public:
  explicit DnnlSoftmaxGrad(bool log) : log_(log) {}

  // dx from dy and y over axis 1 of [outer, n, inner]; false (nothing done) when oneDNN has
  // no optimised implementation for it.
  bool run(const float* dy, const float* y, float* dx, int64_t outer, int64_t n, int64_t inner) {
    if (outer == 0 || n == 0 || inner == 0) return true;
    std::lock_guard<std::mutex> lock(mutex_);
    const auto key = std::make_tuple(outer, n, inner);
    auto it = entries_.find(key);
    if (it == entries_.end()) {
      const dnnl::memory::desc desc =
          inner == 1
              ? dnnl::memory::desc({outer, n}, dnnl::memory::data_type::f32, dnnl::memory::format_tag::ab)
              : dnnl::memory::desc({outer, n, inner}, dnnl::memory::data_type::f32, dnnl::memory::format_tag::abc);
      const dnnl::engine& engine = dnnl_common::cpu_engine();
      Entry entry{desc, dnnl::primitive(), false};
      std::string implementation;
      if (log_) {
        const dnnl::logsoftmax_forward::primitive_desc hint(
            dnnl::logsoftmax_forward::desc(dnnl::prop_kind::forward_training, desc, 1), engine);
        const dnnl::logsoftmax_backward::primitive_desc pd(dnnl::logsoftmax_backward::desc(desc, desc, 1), engine,
                                                           hint);
        implementation = pd.impl_info_str();
        entry.primitive = dnnl::logsoftmax_backward(pd);
      } else {
        const dnnl::softmax_forward::primitive_desc hint(
            dnnl::softmax_forward::desc(dnnl::prop_kind::forward_training, desc, 1), engine);
        const dnnl::softmax_backward::primitive_desc pd(dnnl::softmax_backward::desc(desc, desc, 1), engine, hint);
        implementation = pd.impl_info_str();
        entry.primitive = dnnl::softmax_backward(pd);
      }
      entry.optimized = implementation.rfind("ref", 0) != 0;
      it = entries_.emplace(key, std::move(entry)).first;
    }
    if (!it->second.optimized) return false;
    const dnnl::memory::desc& desc = it->second.desc;
    dnnl::stream& stream = dnnl_common::cpu_stream();
    it->second.primitive.execute(stream, {{DNNL_ARG_DST, dnnl_common::wrap_f32(desc, y)},
                                          {DNNL_ARG_DIFF_DST, dnnl_common::wrap_f32(desc, dy)},
                                          {DNNL_ARG_DIFF_SRC, dnnl_common::wrap_f32(desc, dx)}});
    stream.wait();
    return true;
  }

 private:
  struct Entry {
    dnnl::memory::desc desc;
    dnnl::primitive primitive;
    bool optimized;  // not oneDNN's generic "ref" implementation
  };
  bool log_;
  std::mutex mutex_;
  std::map<std::tuple<int64_t, int64_t, int64_t>, Entry> entries_;
};

// SoftmaxGrad(dY, Y) -> dX and LogSoftmaxGrad(dY, Y) -> dX, in the project domain.
//   dY, Y: the gradient and the forward output (Softmax: probabilities; LogSoftmax: log
//   probabilities), one float type and shape; dX has it too.
//   Attributes: axis (int, required, may be negative); coerce_2d (int, default 0): 1 for the
//   Softmax-1/11 form (the tensor is viewed as 2-D [prod(d[:axis]), prod(d[axis:])] and each
//   row is one softmax), 0 for the Softmax-13 form (one softmax along the single axis).
//   Math: see softmax_grad_reference.
template <bool Log>
class SoftmaxGradKernel : public Kernel {
 public:
  explicit SoftmaxGradKernel(const KernelInfo& info)
      : node_(info.node), axis_(info.node.attr_int("axis")), coerce_2d_(info.node.attr_int("coerce_2d", 0) != 0) {}

  void run(KernelContext& ctx) override {
    const Tensor& dy = ctx.input(0);
    const Tensor& y = ctx.input(1);
    OT_CHECK(dtype_is_float(dy.dtype()) && dy.dtype() == y.dtype() && dy.shape() == y.shape(),
             "{}: gradient {} and output {} must be floating-point tensors of one type and shape", node_.label(),
             dy.describe(), y.describe());
    OT_CHECK(y.rank() >= 1, "{}: softmax of a scalar {} has no axis", node_.label(), y.describe());
    const size_t axis = static_cast<size_t>(normalize_axis(axis_, y.rank(), "SoftmaxGrad axis"));
    const Shape& s = y.shape();
    int64_t outer = 1, n = 1, inner = 1;
    for (size_t d = 0; d < s.size(); ++d) (d < axis ? outer : d == axis || coerce_2d_ ? n : inner) *= s[d];
    Tensor& dx = ctx.allocate_output(0, dy.dtype(), s);
    if (dy.dtype() == DType::Float32 && dnnl_.run(dy.data<float>(), y.data<float>(), dx.data<float>(), outer, n, inner))
      return;
    visit_float(dy.dtype(), [&](auto tag) {
      using T = typename decltype(tag)::type;
      softmax_grad_reference<Log, T>(dy.data<T>(), y.data<T>(), dx.data<T>(), outer, n, inner);
    });
  }

 private:
  const Node& node_;
  int64_t axis_;
  bool coerce_2d_;
  DnnlSoftmaxGrad dnnl_{Log};
};

}  // namespace

ONNX_TRAIN_REGISTER_KERNELS(activation_grad) {
  registry.add<ActivationGradKernel<Act::Relu>>("ReluGrad", {1}, kProjectDomain);                // (dY, Y)
  registry.add<ActivationGradKernel<Act::LeakyRelu>>("LeakyReluGrad", {1}, kProjectDomain);      // (dY, X)
  registry.add<ActivationGradKernel<Act::Elu>>("EluGrad", {1}, kProjectDomain);                  // (dY, X)
  registry.add<ActivationGradKernel<Act::Selu>>("SeluGrad", {1}, kProjectDomain);                // (dY, X)
  registry.add<ActivationGradKernel<Act::Sigmoid>>("SigmoidGrad", {1}, kProjectDomain);          // (dY, Y)
  registry.add<ActivationGradKernel<Act::Tanh>>("TanhGrad", {1}, kProjectDomain);                // (dY, Y)
  registry.add<ActivationGradKernel<Act::HardSigmoid>>("HardSigmoidGrad", {1}, kProjectDomain);  // (dY, X)
  registry.add<ActivationGradKernel<Act::HardSwish>>("HardSwishGrad", {1}, kProjectDomain);      // (dY, X)
  registry.add<ActivationGradKernel<Act::Softplus>>("SoftplusGrad", {1}, kProjectDomain);        // (dY, X)
  registry.add<ActivationGradKernel<Act::Clip>>("ClipGrad", {1}, kProjectDomain);                // (dY, X, min?, max?)
  registry.add<SoftmaxGradKernel<false>>("SoftmaxGrad", {1}, kProjectDomain);
  registry.add<SoftmaxGradKernel<true>>("LogSoftmaxGrad", {1}, kProjectDomain);
}

}  // namespace onnx_train
