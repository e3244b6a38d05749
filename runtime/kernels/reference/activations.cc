// Activation ops: Relu, Sigmoid, Tanh, LeakyRelu, Elu, Selu, Celu, PRelu, Softplus, Softsign,
// HardSigmoid, HardSwish, ThresholdedRelu, Shrink.
//
// Each op has a plain reference formula, templated on the compute type (float or double,
// float16/bfloat16 compute in float). For float32 inputs, ops that oneDNN's eltwise
// primitive can express (one algorithm, possibly with eltwise post-ops) run through oneDNN
// (dnnl/eltwise.h); everything else runs the reference. Y has X's shape and type.
#include <algorithm>
#include <cmath>
#include <memory>
#include <optional>
#include <type_traits>

#include "runtime/core/dispatch.h"
#include "runtime/kernels/dnnl/eltwise.h"
#include "runtime/kernels/kernel.h"
#include "runtime/kernels/reference/elementwise_loops.h"

namespace onnx_train {

namespace {

enum class Act {
  Relu,
  Sigmoid,
  Tanh,
  LeakyRelu,
  Elu,
  Selu,
  Celu,
  Softplus,
  Softsign,
  HardSigmoid,
  HardSwish,
  ThresholdedRelu,
  Shrink
};

// Attribute values of an activation (only the ones the op uses are read).
struct ActParams {
  float alpha = 0;
  float beta = 0;
  float gamma = 0;
  float bias = 0;
  float lambd = 0;
};

// The reference formula of each activation.
template <Act Op, typename C>
C activate(C x, const ActParams& p) {
  const C zero{0};
  const C one{1};
  if constexpr (Op == Act::Relu) {
    return x > zero ? x : zero;  // Relu: max(0, x)
  } else if constexpr (Op == Act::Sigmoid) {
    // 1 / (1 + exp(-x)), written so exp never overflows.
    if (x >= zero) return one / (one + std::exp(-x));
    const C e = std::exp(x);
    return e / (one + e);
  } else if constexpr (Op == Act::Tanh) {
    return std::tanh(x);
  } else if constexpr (Op == Act::LeakyRelu) {
    return x < zero ? static_cast<C>(p.alpha) * x : x;  // alpha * x for x < 0
  } else if constexpr (Op == Act::Elu) {
    return x < zero ? static_cast<C>(p.alpha) * std::expm1(x) : x;  // alpha * (exp(x) - 1) for x < 0
  } else if constexpr (Op == Act::Selu) {
    // gamma * (alpha * exp(x) - alpha) for x <= 0, gamma * x otherwise
    const C alpha = static_cast<C>(p.alpha);
    const C gamma = static_cast<C>(p.gamma);
    return x > zero ? gamma * x : gamma * alpha * std::expm1(x);
  } else if constexpr (Op == Act::Celu) {
    // max(0, x) + min(0, alpha * (exp(x / alpha) - 1))
    const C alpha = static_cast<C>(p.alpha);
    return x > zero ? x : alpha * std::expm1(x / alpha);
  } else if constexpr (Op == Act::Softplus) {
    // log(1 + exp(x)), written so exp never overflows.
    return x > zero ? x + std::log1p(std::exp(-x)) : std::log1p(std::exp(x));
  } else if constexpr (Op == Act::Softsign) {
    return x / (one + std::abs(x));  // x / (1 + |x|)
  } else if constexpr (Op == Act::HardSigmoid) {
    // max(0, min(1, alpha * x + beta))
    const C v = static_cast<C>(p.alpha) * x + static_cast<C>(p.beta);
    return std::max(zero, std::min(one, v));
  } else if constexpr (Op == Act::HardSwish) {
    // x * max(0, min(1, x / 6 + 1 / 2))
    const C v = x / C{6} + C{0.5};
    return x * std::max(zero, std::min(one, v));
  } else if constexpr (Op == Act::ThresholdedRelu) {
    return x > static_cast<C>(p.alpha) ? x : zero;  // x for x > alpha, else 0
  } else if constexpr (Op == Act::Shrink) {
    // x + bias for x < -lambd, x - bias for x > lambd, else 0
    const C bias = static_cast<C>(p.bias);
    const C lambd = static_cast<C>(p.lambd);
    if (x < -lambd) return static_cast<C>(x + bias);
    if (x > lambd) return static_cast<C>(x - bias);
    return zero;
  }
}

// Element types an activation takes: floats always; Relu-14 adds signed integers, Shrink
// takes every numeric type.
bool activation_accepts(Act op, int since_version, DType d) {
  if (dtype_is_float(d)) return true;
  const bool is_signed = d == DType::Int8 || d == DType::Int16 || d == DType::Int32 || d == DType::Int64;
  const bool is_unsigned = d == DType::UInt8 || d == DType::UInt16 || d == DType::UInt32 || d == DType::UInt64;
  if (op == Act::Relu) return since_version >= 14 && is_signed;
  if (op == Act::Shrink) return is_signed || is_unsigned;
  return false;
}

// The oneDNN steps that compute the op for float32, or nothing when oneDNN has no match.
template <Act Op>
std::optional<std::vector<EltwiseStep>> dnnl_steps(const ActParams& p) {
  using dnnl::algorithm;
  if constexpr (Op == Act::Relu) return std::vector<EltwiseStep>{{algorithm::eltwise_relu, 0.f, 0.f}};
  if constexpr (Op == Act::LeakyRelu) return std::vector<EltwiseStep>{{algorithm::eltwise_relu, p.alpha, 0.f}};
  if constexpr (Op == Act::Sigmoid) return std::vector<EltwiseStep>{{algorithm::eltwise_logistic, 0.f, 0.f}};
  if constexpr (Op == Act::Tanh) return std::vector<EltwiseStep>{{algorithm::eltwise_tanh, 0.f, 0.f}};
  if constexpr (Op == Act::Elu) return std::vector<EltwiseStep>{{algorithm::eltwise_elu, p.alpha, 0.f}};
  if constexpr (Op == Act::Selu)
    return std::vector<EltwiseStep>{{algorithm::eltwise_elu, p.alpha, 0.f}, {algorithm::eltwise_linear, p.gamma, 0.f}};
  if constexpr (Op == Act::Softplus) return std::vector<EltwiseStep>{{algorithm::eltwise_soft_relu, 0.f, 0.f}};
  if constexpr (Op == Act::HardSwish) return std::vector<EltwiseStep>{{algorithm::eltwise_hardswish, 0.f, 0.f}};
  if constexpr (Op == Act::HardSigmoid)
    return std::vector<EltwiseStep>{{algorithm::eltwise_linear, p.alpha, p.beta}, {algorithm::eltwise_clip, 0.f, 1.f}};
  return std::nullopt;
}

// Reads and checks the attributes `Op` uses, with ONNX's defaults.
template <Act Op>
ActParams read_params(const Node& node) {
  ActParams p;
  if constexpr (Op == Act::LeakyRelu) p.alpha = node.attr_float("alpha", 0.01f);
  if constexpr (Op == Act::Elu || Op == Act::Celu || Op == Act::ThresholdedRelu)
    p.alpha = node.attr_float("alpha", 1.0f);
  if constexpr (Op == Act::Selu) {
    p.alpha = node.attr_float("alpha", 1.67326319217681884765625f);
    p.gamma = node.attr_float("gamma", 1.05070102214813232421875f);
  }
  if constexpr (Op == Act::HardSigmoid) {
    p.alpha = node.attr_float("alpha", 0.2f);
    p.beta = node.attr_float("beta", 0.5f);
  }
  if constexpr (Op == Act::Shrink) {
    p.bias = node.attr_float("bias", 0.0f);
    p.lambd = node.attr_float("lambd", 0.5f);
    OT_CHECK(p.lambd >= 0, "{}: attribute lambd must be >= 0, got {}", node.label(), p.lambd);
  }
  if constexpr (Op == Act::Celu)
    OT_CHECK(p.alpha != 0, "{}: attribute alpha must not be 0 (Celu divides by it)", node.label());
  return p;
}

// Y = activation(X): oneDNN for float32 where it has the op, the reference otherwise.
template <Act Op>
class ActivationKernel : public Kernel {
 public:
  explicit ActivationKernel(const KernelInfo& info) : node_(info.node), params_(read_params<Op>(info.node)) {
    if (auto steps = dnnl_steps<Op>(params_)) dnnl_ = std::make_unique<DnnlEltwise>(std::move(*steps));
  }

  void run(KernelContext& ctx) override {
    const Tensor& x = ctx.input(0);
    OT_CHECK(activation_accepts(Op, node_.since_version, x.dtype()),
             "{}: input has element type {}, which this op does not take at this opset", node_.label(),
             dtype_name(x.dtype()));
    Tensor& y = ctx.allocate_output(0, x.dtype(), x.shape());
    if (x.dtype() == DType::Float32 && dnnl_) {
      dnnl_->run(x.data<float>(), y.data<float>(), x.numel());
      return;
    }
    const ActParams p = params_;
    visit_numeric(x.dtype(), [&](auto tag) {
      using T = typename decltype(tag)::type;
      if constexpr (std::is_integral_v<T> && Op == Act::Relu) {
        map_unary(x.data<T>(), y.data<T>(), x.numel(), [&p](T v) { return activate<Op>(v, p); });
      } else if constexpr (std::is_integral_v<T>) {
        // Integer Shrink compares against float thresholds: compute in double.
        map_unary(x.data<T>(), y.data<T>(), x.numel(),
                  [&p](T v) { return static_cast<T>(activate<Op>(static_cast<double>(v), p)); });
      } else {
        map_unary(x.data<T>(), y.data<T>(), x.numel(),
                  [&p](T v) { return from_compute<T>(activate<Op>(to_compute(v), p)); });
      }
    });
  }

 private:
  const Node& node_;
  ActParams params_;
  std::unique_ptr<DnnlEltwise> dnnl_;
};

// PRelu: Y = X for X >= 0, slope * X otherwise; slope broadcasts to X's shape
// (unidirectionally: Y has X's shape). Floats, plus integers from PRelu-9.
class PReluKernel : public Kernel {
 public:
  explicit PReluKernel(const KernelInfo& info) : node_(info.node) {}

  void run(KernelContext& ctx) override {
    const Tensor& x = ctx.input(0);
    const Tensor& slope = ctx.input(1);
    const DType d = x.dtype();
    OT_CHECK(dtype_is_float(d) || (node_.since_version >= 9 && d != DType::Bool),
             "{}: input has element type {}, which PRelu does not take at this opset", node_.label(), dtype_name(d));
    OT_CHECK(slope.dtype() == d, "{}: slope {} must have the input's type {}", node_.label(), slope.describe(),
             x.describe());
    bool fits = slope.rank() <= x.rank();
    for (int i = 1; fits && i <= slope.rank(); ++i) fits = slope.dim(-i) == 1 || slope.dim(-i) == x.dim(-i);
    // Models exported for PRelu-6 and upgraded by ONNX's version converter keep a per-channel
    // slope [C] for an input [N, C, ...]; that shape cannot broadcast under the opset-7 rule, so
    // it is read the way it was written: as [C, 1, ..., 1].
    Shape slope_shape = slope.shape();
    if (!fits && slope.rank() == 1 && x.rank() >= 3 && slope.dim(0) == x.dim(1)) {
      slope_shape.resize(static_cast<size_t>(x.rank() - 1), 1);
      fits = true;
    }
    OT_CHECK(fits, "{}: slope shape {} does not broadcast to the input shape {}", node_.label(),
             shape_str(slope.shape()), shape_str(x.shape()));
    Tensor& y = ctx.allocate_output(0, d, x.shape());
    visit_numeric(d, [&](auto tag) {
      using T = typename decltype(tag)::type;
      broadcast_binary(x.data<T>(), x.shape(), slope.data<T>(), slope_shape, y.data<T>(), x.shape(), [](T v, T s) {
        const auto c = to_compute(v);
        return c < 0 ? from_compute<T>(to_compute(s) * c) : v;
      });
    });
  }

 private:
  const Node& node_;
};

}  // namespace

void register_activation_kernels(KernelRegistry& registry) {
  registry.add<ActivationKernel<Act::Relu>>("Relu", {6, 13, 14});
  registry.add<ActivationKernel<Act::Sigmoid>>("Sigmoid", {6, 13});
  registry.add<ActivationKernel<Act::Tanh>>("Tanh", {6, 13});
  registry.add<ActivationKernel<Act::LeakyRelu>>("LeakyRelu", {6, 16});
  registry.add<ActivationKernel<Act::Elu>>("Elu", {6});
  registry.add<ActivationKernel<Act::Selu>>("Selu", {6});
  registry.add<ActivationKernel<Act::Celu>>("Celu", {12});
  registry.add<PReluKernel>("PRelu", {7, 9, 16});
  registry.add<ActivationKernel<Act::Softplus>>("Softplus", {1});
  registry.add<ActivationKernel<Act::Softsign>>("Softsign", {1});
  registry.add<ActivationKernel<Act::HardSigmoid>>("HardSigmoid", {6});
  registry.add<ActivationKernel<Act::HardSwish>>("HardSwish", {14});
  registry.add<ActivationKernel<Act::ThresholdedRelu>>("ThresholdedRelu", {10});
  registry.add<ActivationKernel<Act::Shrink>>("Shrink", {9});
}

}  // namespace onnx_train
