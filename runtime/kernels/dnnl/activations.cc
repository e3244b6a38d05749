// The elementwise activation kernels: Relu, Sigmoid, Tanh, LeakyRelu, Elu, Selu, Celu,
// Softplus, Softsign, HardSigmoid, HardSwish, ThresholdedRelu, Shrink (PRelu, which
// broadcasts a slope, is a plain loop in reference/activations.cc).
//
// For float32 inputs, ops that oneDNN's eltwise primitive can express (one algorithm,
// possibly with eltwise post-ops) run through oneDNN (eltwise.h); everything else runs the
// reference formula of reference/activation_math.h. Y has X's shape and type. Attributes and
// their defaults: activation_params.h.
#include <memory>
#include <optional>
#include <type_traits>
#include <vector>

#include "runtime/core/dispatch.h"
#include "runtime/kernels/activation_params.h"
#include "runtime/kernels/dnnl/eltwise.h"
#include "runtime/kernels/kernel.h"
#include "runtime/kernels/registry.h"
#include "runtime/kernels/reference/activation_math.h"
#include "runtime/kernels/reference/elementwise_loops.h"

namespace onnx_train {

namespace {

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

// Y = activation(X): oneDNN for float32 where it has the op, the reference otherwise.
template <Act Op>
class ActivationKernel : public Kernel {
 public:
  explicit ActivationKernel(const KernelInfo& info) : node_(info.node), params_(read_activation_params(Op, info.node)) {
    if (auto steps = dnnl_steps<Op>(params_)) dnnl_ = std::make_unique<DnnlEltwise>(std::move(*steps));
  }

  void run(KernelContext& ctx) override {
    const Tensor& x = ctx.input(0);
    OT_CHECK(activation_accepts(Op, node_.since_version, x.dtype()),
             "{}: input has element type {}, which this op does not take at this opset", node_.label(),
             dtype_name(x.dtype()));
    Tensor& y = ctx.allocate_output_to_overwrite(0, x.dtype(), x.shape());  // every path writes every element
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

}  // namespace

ONNX_TRAIN_REGISTER_KERNELS(activations) {
  registry.add<ActivationKernel<Act::Relu>>("Relu", {6, 13, 14});
  registry.add<ActivationKernel<Act::Sigmoid>>("Sigmoid", {6, 13});
  registry.add<ActivationKernel<Act::Tanh>>("Tanh", {6, 13});
  registry.add<ActivationKernel<Act::LeakyRelu>>("LeakyRelu", {6, 16});
  registry.add<ActivationKernel<Act::Elu>>("Elu", {6});
  registry.add<ActivationKernel<Act::Selu>>("Selu", {6});
  registry.add<ActivationKernel<Act::Celu>>("Celu", {12});
  registry.add<ActivationKernel<Act::Softplus>>("Softplus", {1});
  registry.add<ActivationKernel<Act::Softsign>>("Softsign", {1});
  registry.add<ActivationKernel<Act::HardSigmoid>>("HardSigmoid", {6});
  registry.add<ActivationKernel<Act::HardSwish>>("HardSwish", {14});
  registry.add<ActivationKernel<Act::ThresholdedRelu>>("ThresholdedRelu", {10});
  registry.add<ActivationKernel<Act::Shrink>>("Shrink", {9});
}

}  // namespace onnx_train
