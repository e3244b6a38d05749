// Optimizer steps of the ai.onnx.preview.training domain (version 1): Adagrad, Momentum
// (standard and Nesterov) and Adam. These are the update rules the training runtime applies.
//
// Each node updates n tensors at once. Inputs: R (learning rate, float or double scalar),
// T (update count, int64 scalar), then X_1..X_n (the tensors), G_1..G_n (their gradients),
// then the optimizer state: H_1..H_n (Adagrad), V_1..V_n (Momentum), V_1..V_n, H_1..H_n
// (Adam). Outputs in the same order: X_new_1..X_new_n, then the new state tensors.
// X, G and the state tensors of one variable must have the same shape and element type
// (float32 or float64); every output has that shape and type. Each element is updated from
// the same element of the inputs only, so an output may share storage with its input.
//
// Scalar factors (learning rate, bias corrections) are computed in double and the elementwise
// rule in the element type, one `omp simd` loop per tensor (each element depends on the same
// element only, so an output sharing its input's storage is still right), split over threads
// for large tensors.
#include <cmath>
#include <string>
#include <type_traits>

#include "runtime/core/dispatch.h"
#include "runtime/core/parallel_ranges.h"
#include "runtime/kernels/kernel.h"
#include "runtime/kernels/registry.h"

namespace onnx_train {

namespace {


// Calls f with TypeTag<float> or TypeTag<double>: the element types optimizers update
// (checked by OptimizerKernel::variable_input).
template <typename F>
void visit_float32_or_64(DType dtype, F&& f) {
  if (dtype == DType::Float32)
    f(TypeTag<float>{});
  else
    f(TypeTag<double>{});
}

// The node's layout: n variables, each with its X, G and `state_count` state tensors.
class OptimizerKernel : public Kernel {
 protected:
  // `state_names` names the state inputs after X and G ("H", or "V", or "V, H").
  OptimizerKernel(const KernelInfo& info, int state_count, const char* state_names)
      : node_(info.node), per_variable_inputs_(2 + state_count) {
    const size_t inputs = node_.inputs.size();
    const size_t outputs = node_.outputs.size();
    OT_CHECK(inputs > 2 && (inputs - 2) % per_variable_inputs_ == 0,
             "{}: has {} inputs; expected R, T, then X_1..X_n, G_1..G_n, {} for each of n >= 1 tensors "
             "(2 + {} * n inputs)",
             node_.label(), inputs, state_names, per_variable_inputs_);
    variables_ = static_cast<int64_t>((inputs - 2) / per_variable_inputs_);
    OT_CHECK(outputs == static_cast<size_t>(variables_ * (1 + state_count)),
             "{}: has {} outputs for {} tensors; expected {} (X_new_1..X_new_n, then the new {})", node_.label(),
             outputs, variables_, variables_ * (1 + state_count), state_names);
    for (size_t i = 0; i < inputs; ++i)
      OT_CHECK(!node_.inputs[i].empty(), "{}: input {} is omitted; every input of an optimizer is required",
               node_.label(), i);
    for (size_t i = 0; i < outputs; ++i)
      OT_CHECK(!node_.outputs[i].empty(), "{}: output {} is omitted; every output of an optimizer is required",
               node_.label(), i);
  }

  // Input `kind` of variable i: 0 = X, 1 = G, 2.. = the state tensors in their order.
  // Checked against X: same shape and element type.
  const Tensor& variable_input(const KernelContext& ctx, int kind, int64_t i) const {
    const Tensor& t = ctx.input(static_cast<size_t>(2 + kind * variables_ + i));
    if (kind == 0) {
      OT_CHECK(t.dtype() == DType::Float32 || t.dtype() == DType::Float64,
               "{}: tensor X_{} is {}; optimizers update float32 or float64 tensors", node_.label(), i + 1,
               t.describe());
    } else {
      const Tensor& x = variable_input(ctx, 0, i);
      OT_CHECK(t.dtype() == x.dtype() && t.shape() == x.shape(),
               "{}: input {} is {} but X_{} is {}; the gradient and state of a tensor must have its shape and type",
               node_.label(), 2 + kind * variables_ + i, t.describe(), i + 1, x.describe());
    }
    return t;
  }

  // Output `kind` of variable i (0 = X_new, 1.. = the new state tensors), allocated like x.
  template <typename T>
  T* variable_output(KernelContext& ctx, int kind, int64_t i, const Tensor& x) const {
    return ctx.allocate_output(static_cast<size_t>(kind * variables_ + i), x.dtype(), x.shape()).data<T>();
  }

  // The learning rate R: a float or double scalar.
  double learning_rate(const KernelContext& ctx) const {
    const Tensor& r = ctx.input(0);
    OT_CHECK((r.dtype() == DType::Float32 || r.dtype() == DType::Float64) && r.numel() == 1,
             "{}: R is {}; the learning rate must be a float or double scalar", node_.label(), r.describe());
    return r.to_doubles()[0];
  }

  // The update count T: an int64 scalar >= 0 (0 at the first update).
  int64_t update_count(const KernelContext& ctx) const {
    const Tensor& t = ctx.input(1);
    OT_CHECK(t.dtype() == DType::Int64 && t.numel() == 1, "{}: T is {}; the update count must be an int64 scalar",
             node_.label(), t.describe());
    const int64_t count = t.data<int64_t>()[0];
    OT_CHECK(count >= 0, "{}: T is {}; the update count cannot be negative", node_.label(), count);
    return count;
  }

  const Node& node_;
  const int per_variable_inputs_;
  int64_t variables_ = 0;
};

// Adagrad:
//   r = R / (1 + T * decay_factor)
//   G_reg = norm_coefficient * X + G
//   H_new = H + G_reg * G_reg
//   X_new = X - r * G_reg / (sqrt(H_new) + epsilon)
// Inputs R, T, X..., G..., H...; outputs X_new..., H_new...
class AdagradKernel : public OptimizerKernel {
 public:
  explicit AdagradKernel(const KernelInfo& info)
      : OptimizerKernel(info, 1, "H_1..H_n"),
        decay_factor_(info.node.attr_float("decay_factor", 0.f)),
        epsilon_(info.node.attr_float("epsilon", 1e-6f)),
        norm_coefficient_(info.node.attr_float("norm_coefficient", 0.f)) {}

  void run(KernelContext& ctx) override {
    const double rate = learning_rate(ctx) / (1.0 + static_cast<double>(update_count(ctx)) * decay_factor_);
    for (int64_t i = 0; i < variables_; ++i) {
      const Tensor& x = variable_input(ctx, 0, i);
      const Tensor& g = variable_input(ctx, 1, i);
      const Tensor& h = variable_input(ctx, 2, i);
      visit_float32_or_64(x.dtype(), [&](auto tag) {
        using T = typename decltype(tag)::type;
        update<T>(x.data<T>(), g.data<T>(), h.data<T>(), variable_output<T>(ctx, 0, i, x),
                  variable_output<T>(ctx, 1, i, x), x.numel(), rate);
      });
    }
  }

 private:
  template <typename T>
  void update(const T* x, const T* g, const T* h, T* x_new, T* h_new, int64_t n,
              double rate) const {
    const T r = static_cast<T>(rate), eps = static_cast<T>(epsilon_), lambda = static_cast<T>(norm_coefficient_);
    parallel_ranges(n, [&](int64_t begin, int64_t end) {
#pragma omp simd
      for (int64_t j = begin; j < end; ++j) {
        const T g_reg = lambda * x[j] + g[j];
        const T h_next = h[j] + g_reg * g_reg;
        x_new[j] = x[j] - r * g_reg / (std::sqrt(h_next) + eps);
        h_new[j] = h_next;
      }
    });
  }

  const double decay_factor_, epsilon_, norm_coefficient_;
};

// Momentum (mode "standard" or "nesterov"):
//   G_reg = norm_coefficient * X + G
//   beta_adjusted = T > 0 ? beta : 1
//   V_new = alpha * V + beta_adjusted * G_reg
//   standard: X_new = X - R * V_new
//   nesterov: X_new = X - R * (G_reg + alpha * V_new)
// Inputs R, T, X..., G..., V...; outputs X_new..., V_new...
class MomentumKernel : public OptimizerKernel {
 public:
  explicit MomentumKernel(const KernelInfo& info)
      : OptimizerKernel(info, 1, "V_1..V_n"),
        alpha_(info.node.attr_float("alpha")),
        beta_(info.node.attr_float("beta")),
        norm_coefficient_(info.node.attr_float("norm_coefficient")) {
    const std::string mode = info.node.attr_string("mode");
    OT_CHECK(mode == "standard" || mode == "nesterov", "{}: mode is '{}'; it must be 'standard' or 'nesterov'",
             node_.label(), mode);
    nesterov_ = mode == "nesterov";
  }

  void run(KernelContext& ctx) override {
    const double rate = learning_rate(ctx);
    const double beta_adjusted = update_count(ctx) > 0 ? beta_ : 1.0;
    for (int64_t i = 0; i < variables_; ++i) {
      const Tensor& x = variable_input(ctx, 0, i);
      const Tensor& g = variable_input(ctx, 1, i);
      const Tensor& v = variable_input(ctx, 2, i);
      visit_float32_or_64(x.dtype(), [&](auto tag) {
        using T = typename decltype(tag)::type;
        update<T>(x.data<T>(), g.data<T>(), v.data<T>(), variable_output<T>(ctx, 0, i, x),
                  variable_output<T>(ctx, 1, i, x), x.numel(), rate, beta_adjusted);
      });
    }
  }

 private:
  template <typename T>
  void update(const T* x, const T* g, const T* v, T* x_new, T* v_new, int64_t n, double rate,
              double beta_adjusted) const {
    const T r = static_cast<T>(rate), alpha = static_cast<T>(alpha_), beta = static_cast<T>(beta_adjusted),
            lambda = static_cast<T>(norm_coefficient_);
    const auto fused = [&](auto nesterov) {
      parallel_ranges(n, [&](int64_t begin, int64_t end) {
#pragma omp simd
        for (int64_t j = begin; j < end; ++j) {
          const T g_reg = lambda * x[j] + g[j];
          const T v_next = alpha * v[j] + beta * g_reg;
          x_new[j] = nesterov() ? x[j] - r * (g_reg + alpha * v_next) : x[j] - r * v_next;
          v_new[j] = v_next;
        }
      });
    };
    if (nesterov_)
      fused(std::true_type{});
    else
      fused(std::false_type{});
  }

  const double alpha_, beta_, norm_coefficient_;
  bool nesterov_ = false;
};

// Adam:
//   G_reg = norm_coefficient * X + G
//   V_new = alpha * V + (1 - alpha) * G_reg
//   H_new = beta * H + (1 - beta) * G_reg * G_reg
//   R_adjusted = T > 0 ? R * sqrt(1 - beta^T) / (1 - alpha^T) : R
//   X_new = (1 - norm_coefficient_post) * (X - R_adjusted * V_new / (sqrt(H_new) + epsilon))
// Inputs R, T, X..., G..., V..., H...; outputs X_new..., V_new..., H_new...
class AdamKernel : public OptimizerKernel {
 public:
  explicit AdamKernel(const KernelInfo& info)
      : OptimizerKernel(info, 2, "V_1..V_n, H_1..H_n"),
        alpha_(info.node.attr_float("alpha", 0.9f)),
        beta_(info.node.attr_float("beta", 0.999f)),
        epsilon_(info.node.attr_float("epsilon", 1e-6f)),
        norm_coefficient_(info.node.attr_float("norm_coefficient", 0.f)),
        norm_coefficient_post_(info.node.attr_float("norm_coefficient_post", 0.f)) {}

  void run(KernelContext& ctx) override {
    const double rate = learning_rate(ctx);
    const int64_t count = update_count(ctx);
    const double steps = static_cast<double>(count);
    const double rate_adjusted =
        count > 0 ? rate * std::sqrt(1.0 - std::pow(beta_, steps)) / (1.0 - std::pow(alpha_, steps)) : rate;
    for (int64_t i = 0; i < variables_; ++i) {
      const Tensor& x = variable_input(ctx, 0, i);
      const Tensor& g = variable_input(ctx, 1, i);
      const Tensor& v = variable_input(ctx, 2, i);
      const Tensor& h = variable_input(ctx, 3, i);
      visit_float32_or_64(x.dtype(), [&](auto tag) {
        using T = typename decltype(tag)::type;
        update<T>(x.data<T>(), g.data<T>(), v.data<T>(), h.data<T>(), variable_output<T>(ctx, 0, i, x),
                  variable_output<T>(ctx, 1, i, x), variable_output<T>(ctx, 2, i, x), x.numel(), rate_adjusted);
      });
    }
  }

 private:
  template <typename T>
  void update(const T* x, const T* g, const T* v, const T* h, T* x_new, T* v_new,
              T* h_new, int64_t n, double rate_adjusted) const {
    const T r = static_cast<T>(rate_adjusted), alpha = static_cast<T>(alpha_), beta = static_cast<T>(beta_),
            eps = static_cast<T>(epsilon_), lambda = static_cast<T>(norm_coefficient_),
            keep = static_cast<T>(1.0 - norm_coefficient_post_);
    parallel_ranges(n, [&](int64_t begin, int64_t end) {
#pragma omp simd
      for (int64_t j = begin; j < end; ++j) {
        const T g_reg = lambda * x[j] + g[j];
        const T v_next = alpha * v[j] + (T(1) - alpha) * g_reg;
        const T h_next = beta * h[j] + (T(1) - beta) * g_reg * g_reg;
        x_new[j] = keep * (x[j] - r * v_next / (std::sqrt(h_next) + eps));
        v_new[j] = v_next;
        h_new[j] = h_next;
      }
    });
  }

  const double alpha_, beta_, epsilon_, norm_coefficient_, norm_coefficient_post_;
};

}  // namespace

ONNX_TRAIN_REGISTER_KERNELS(training_optimizer) {
  registry.add<AdagradKernel>("Adagrad", {1}, kOnnxTrainingDomain);
  registry.add<MomentumKernel>("Momentum", {1}, kOnnxTrainingDomain);
  registry.add<AdamKernel>("Adam", {1}, kOnnxTrainingDomain);
}

}  // namespace onnx_train
