// The optimizers of optimizers.h: one fused elementwise pass per parameter (two for LAMB),
// split between OpenMP threads for large parameters. The math is in the header.
#include "onnx_train/optimizers.h"

#include <omp.h>

#include <algorithm>
#include <cmath>
#include <initializer_list>

#include "runtime/core/dispatch.h"
#include "runtime/core/parallel.h"

namespace onnx_train {

namespace {

// f(TypeTag<T>) for the parameter dtypes the optimizers support.
template <typename F>
void visit_param_dtype(const Param& param, F&& f) {
  switch (param.value->dtype()) {
    case DType::Float32: f(TypeTag<float>{}); return;
    case DType::Float64: f(TypeTag<double>{}); return;
    default: OT_FAIL("optimizer: parameter '{}' is {}, not float32 or float64", param.name, param.value->describe());
  }
}

// --- SGD ---------------------------------------------------------------------------------

class Sgd : public Optimizer {
 public:
  explicit Sgd(OptimizerOptions options) : Optimizer(std::move(options)) {}

 protected:
  std::vector<std::string> slot_names() const override {
    if (options_.momentum != 0) return {"momentum_buffer"};
    return {};
  }

  void update(const Param& param, ParamState& state, double lr, double wd) override {
    visit_param_dtype(param, [&](auto tag) {
      using T = typename decltype(tag)::type;
      T* p = param.value->data<T>();
      const T* g = param.grad->data<T>();
      T* buf = options_.momentum != 0 ? state.slots[0].data<T>() : nullptr;
      const T wd_t = static_cast<T>(wd), momentum = static_cast<T>(options_.momentum);
      const T keep = static_cast<T>(1 - options_.dampening), neg_lr = static_cast<T>(-lr);
      const bool first = state.step == 1, nesterov = options_.nesterov;
      parallel_for(param.value->numel(), [&](int64_t i) {
        T d = g[i];
        if (wd != 0) d += wd_t * p[i];
        if (buf) {
          buf[i] = first ? d : buf[i] * momentum + keep * d;  // the first buffer is the gradient
          d = nesterov ? d + momentum * buf[i] : buf[i];
        }
        p[i] += neg_lr * d;
      });
    });
  }
};

// --- Adam and AdamW ----------------------------------------------------------------------

class Adam : public Optimizer {
 public:
  Adam(OptimizerOptions options, bool decoupled) : Optimizer(std::move(options)), decoupled_(decoupled) {}

 protected:
  std::vector<std::string> slot_names() const override {
    if (options_.amsgrad) return {"exp_avg", "exp_avg_sq", "max_exp_avg_sq"};
    return {"exp_avg", "exp_avg_sq"};
  }

  void update(const Param& param, ParamState& state, double lr, double wd) override {
    const double beta1 = options_.beta1, beta2 = options_.beta2;
    const double t = static_cast<double>(state.step);
    const double step_size = lr / (1 - std::pow(beta1, t));
    const double bias_correction2_sqrt = std::sqrt(1 - std::pow(beta2, t));
    visit_param_dtype(param, [&](auto tag) {
      using T = typename decltype(tag)::type;
      T* p = param.value->data<T>();
      const T* g = param.grad->data<T>();
      T* m = state.slots[0].data<T>();
      T* v = state.slots[1].data<T>();
      T* v_max = options_.amsgrad ? state.slots[2].data<T>() : nullptr;
      // AdamW scales p by (1 - lr wd); Adam adds wd p to the gradient (L2).
      const bool decoupled = decoupled_ && wd != 0, coupled = !decoupled_ && wd != 0;
      const T shrink = static_cast<T>(1 - lr * wd), wd_t = static_cast<T>(wd);
      const T b1 = static_cast<T>(beta1), b2 = static_cast<T>(beta2);
      const T one_minus_b1 = static_cast<T>(1 - beta1), one_minus_b2 = static_cast<T>(1 - beta2);
      const T bc2_sqrt = static_cast<T>(bias_correction2_sqrt), eps = static_cast<T>(*options_.eps);
      const T neg_step_size = static_cast<T>(-step_size);
      parallel_for(param.value->numel(), [&](int64_t i) {
        if (decoupled) p[i] *= shrink;
        T grad = g[i];
        if (coupled) grad += wd_t * p[i];
        m[i] = m[i] * b1 + one_minus_b1 * grad;
        v[i] = v[i] * b2 + one_minus_b2 * grad * grad;
        T second = v[i];
        if (v_max) second = v_max[i] = std::max(v_max[i], v[i]);
        const T denom = std::sqrt(second) / bc2_sqrt + eps;
        p[i] += neg_step_size * m[i] / denom;
      });
    });
  }

 private:
  bool decoupled_;
};

// --- Adagrad -----------------------------------------------------------------------------

class Adagrad : public Optimizer {
 public:
  explicit Adagrad(OptimizerOptions options) : Optimizer(std::move(options)) {}

 protected:
  std::vector<std::string> slot_names() const override { return {"sum"}; }
  double slot_init(size_t) const override { return options_.initial_accumulator_value; }

  void update(const Param& param, ParamState& state, double lr, double wd) override {
    const double clr = lr / (1 + static_cast<double>(state.step - 1) * options_.lr_decay);
    visit_param_dtype(param, [&](auto tag) {
      using T = typename decltype(tag)::type;
      T* p = param.value->data<T>();
      const T* g = param.grad->data<T>();
      T* sum = state.slots[0].data<T>();
      const T wd_t = static_cast<T>(wd), eps = static_cast<T>(*options_.eps), neg_clr = static_cast<T>(-clr);
      parallel_for(param.value->numel(), [&](int64_t i) {
        T grad = g[i];
        if (wd != 0) grad += wd_t * p[i];
        sum[i] += grad * grad;
        p[i] += neg_clr * grad / (std::sqrt(sum[i]) + eps);
      });
    });
  }
};

// --- RMSprop -----------------------------------------------------------------------------

class RmsProp : public Optimizer {
 public:
  explicit RmsProp(OptimizerOptions options) : Optimizer(std::move(options)) {}

 protected:
  // square_avg, then momentum_buffer if momentum > 0, then grad_avg if centered.
  std::vector<std::string> slot_names() const override {
    std::vector<std::string> names = {"square_avg"};
    if (options_.momentum > 0) names.push_back("momentum_buffer");
    if (options_.centered) names.push_back("grad_avg");
    return names;
  }

  void update(const Param& param, ParamState& state, double lr, double wd) override {
    visit_param_dtype(param, [&](auto tag) {
      using T = typename decltype(tag)::type;
      T* p = param.value->data<T>();
      const T* g = param.grad->data<T>();
      T* square_avg = state.slots[0].data<T>();
      size_t next = 1;
      T* buf = options_.momentum > 0 ? state.slots[next++].data<T>() : nullptr;
      T* grad_avg = options_.centered ? state.slots[next].data<T>() : nullptr;
      const T wd_t = static_cast<T>(wd), alpha = static_cast<T>(options_.alpha);
      const T one_minus_alpha = static_cast<T>(1 - options_.alpha), eps = static_cast<T>(*options_.eps);
      const T momentum = static_cast<T>(options_.momentum), neg_lr = static_cast<T>(-lr);
      parallel_for(param.value->numel(), [&](int64_t i) {
        T grad = g[i];
        if (wd != 0) grad += wd_t * p[i];
        square_avg[i] = square_avg[i] * alpha + one_minus_alpha * grad * grad;
        T avg;
        if (grad_avg) {
          grad_avg[i] = grad_avg[i] * alpha + one_minus_alpha * grad;
          avg = std::sqrt(square_avg[i] - grad_avg[i] * grad_avg[i]) + eps;
        } else {
          avg = std::sqrt(square_avg[i]) + eps;
        }
        if (buf) {
          buf[i] = buf[i] * momentum + grad / avg;
          p[i] += neg_lr * buf[i];
        } else {
          p[i] += neg_lr * grad / avg;
        }
      });
    });
  }
};

// --- LAMB --------------------------------------------------------------------------------

class Lamb : public Optimizer {
 public:
  explicit Lamb(OptimizerOptions options) : Optimizer(std::move(options)) {}

 protected:
  std::vector<std::string> slot_names() const override { return {"exp_avg", "exp_avg_sq"}; }

  // Pass 1 updates m and v and sums ||p||^2 and ||u||^2 per block of kBlock elements (blocks
  // summed in order, so the result does not depend on the thread count); pass 2 recomputes u
  // from the new m, v and the unchanged p and applies p -= lr r u.
  void update(const Param& param, ParamState& state, double lr, double wd) override {
    constexpr int64_t kBlock = 1 << 12;
    const double t = static_cast<double>(state.step);
    const double bias_correction1 = 1 - std::pow(options_.beta1, t);
    const double bias_correction2 = 1 - std::pow(options_.beta2, t);
    visit_param_dtype(param, [&](auto tag) {
      using T = typename decltype(tag)::type;
      T* p = param.value->data<T>();
      const T* g = param.grad->data<T>();
      T* m = state.slots[0].data<T>();
      T* v = state.slots[1].data<T>();
      const T b1 = static_cast<T>(options_.beta1), b2 = static_cast<T>(options_.beta2);
      const T one_minus_b1 = static_cast<T>(1 - options_.beta1), one_minus_b2 = static_cast<T>(1 - options_.beta2);
      const T bc1 = static_cast<T>(bias_correction1), bc2 = static_cast<T>(bias_correction2);
      const T eps = static_cast<T>(*options_.eps), wd_t = static_cast<T>(wd);
      auto direction = [&](int64_t i) { return (m[i] / bc1) / (std::sqrt(v[i] / bc2) + eps) + wd_t * p[i]; };

      const int64_t n = param.value->numel();
      const int64_t blocks = (n + kBlock - 1) / kBlock;
      block_sums_.resize(std::max(block_sums_.size(), static_cast<size_t>(2 * blocks)));
      double* sums = block_sums_.data();  // [blocks, 2]: ||p||^2, ||u||^2 of each block
#pragma omp parallel for if (n >= kParallelMinElements) schedule(static)
      for (int64_t block = 0; block < blocks; ++block) {
        double p_sq = 0, u_sq = 0;
        for (int64_t i = block * kBlock, end = std::min(n, i + kBlock); i < end; ++i) {
          m[i] = m[i] * b1 + one_minus_b1 * g[i];
          v[i] = v[i] * b2 + one_minus_b2 * g[i] * g[i];
          const double u = direction(i);
          p_sq += static_cast<double>(p[i]) * p[i];
          u_sq += u * u;
        }
        sums[2 * block] = p_sq;
        sums[2 * block + 1] = u_sq;
      }
      double p_sq = 0, u_sq = 0;
      for (int64_t block = 0; block < blocks; ++block) {
        p_sq += sums[2 * block];
        u_sq += sums[2 * block + 1];
      }
      const double trust_ratio = p_sq > 0 && u_sq > 0 ? std::sqrt(p_sq) / std::sqrt(u_sq) : 1.0;
      const T neg_scale = static_cast<T>(-lr * trust_ratio);
      parallel_for(n, [&](int64_t i) { p[i] += neg_scale * direction(i); });
    });
  }

 private:
  std::vector<double> block_sums_;  // grows to the largest parameter's block count, then reused
};

}  // namespace

// --- Optimizer ---------------------------------------------------------------------------

void Optimizer::step(const std::vector<Param>& params, double lr) {
  // Every parameter is checked before any is updated, so an error leaves all of them as they were.
  for (const Param& param : params) {
    OT_CHECK(param.value && param.value->defined(), "optimizer: parameter '{}' has no value tensor", param.name);
    OT_CHECK(param.value->dtype() == DType::Float32 || param.value->dtype() == DType::Float64,
             "optimizer: parameter '{}' is {}; only float32 and float64 parameters can be optimized", param.name,
             param.value->describe());
    OT_CHECK(param.grad && param.grad->defined(),
             "optimizer: parameter '{}' has no gradient; leave a parameter without a gradient out of the step",
             param.name);
    OT_CHECK(param.grad->shape() == param.value->shape() && param.grad->dtype() == param.value->dtype(),
             "optimizer: the gradient of parameter '{}' is {} but the parameter is {}; pass the gradient of "
             "this parameter",
             param.name, param.grad->describe(), param.value->describe());
    check_loaded_state(param);
  }
  const double weight_decay = *options_.weight_decay;
  for (const Param& param : params) {
    ParamState& state = state_for(param);
    ++state.step;
    update(param, state, lr, param.decay ? weight_decay : 0.0);
  }
}

Optimizer::ParamState& Optimizer::state_for(const Param& param) {
  auto [it, created] = states_.try_emplace(param.name);
  ParamState& state = it->second;
  if (created) {
    const std::vector<std::string> names = slot_names();
    for (size_t slot = 0; slot < names.size(); ++slot) {
      Tensor t(param.value->dtype(), param.value->shape());
      const double init = slot_init(slot);
      if (init != 0)
        visit_param_dtype(param, [&](auto tag) {
          using T = typename decltype(tag)::type;
          std::fill_n(t.data<T>(), t.numel(), static_cast<T>(init));
        });
      state.slots.push_back(std::move(t));
    }
  }
  return state;
}

// State loaded from a checkpoint is checked against the parameter at its first use.
void Optimizer::check_loaded_state(const Param& param) const {
  const auto found = states_.find(param.name);
  if (found == states_.end()) return;
  const std::vector<Tensor>& slots = found->second.slots;
  for (size_t slot = 0; slot < slots.size(); ++slot)
    OT_CHECK(slots[slot].shape() == param.value->shape() && slots[slot].dtype() == param.value->dtype(),
             "optimizer: state '{}/{}' is {} but the parameter is {}; the checkpoint does not belong to this model",
             param.name, slot_names()[slot], slots[slot].describe(), param.value->describe());
}

std::map<std::string, Tensor> Optimizer::state() const {
  const std::vector<std::string> names = slot_names();
  std::map<std::string, Tensor> out;
  for (const auto& [name, state] : states_) {
    out[name + "/step"] = Tensor::scalar<int64_t>(state.step);
    for (size_t slot = 0; slot < names.size(); ++slot) out[name + "/" + names[slot]] = state.slots[slot].clone();
  }
  return out;
}

void Optimizer::load_state(const std::map<std::string, Tensor>& state) {
  const std::vector<std::string> names = slot_names();
  std::map<std::string, ParamState> loaded;
  // Parameter names may contain '/', slot names do not: split at the last '/'.
  for (const auto& [key, tensor] : state) {
    const size_t cut = key.rfind('/');
    OT_CHECK(cut != std::string::npos, "optimizer: state key '{}' is not '<parameter>/<slot>'", key);
    const std::string name = key.substr(0, cut), slot = key.substr(cut + 1);
    ParamState& param_state = loaded[name];
    param_state.slots.resize(names.size());
    if (slot == "step") {
      OT_CHECK(tensor.dtype() == DType::Int64 && tensor.numel() == 1,
               "optimizer: state '{}' is {}, not an int64 scalar", key, tensor.describe());
      param_state.step = tensor.data<int64_t>()[0];
      continue;
    }
    const auto found = std::find(names.begin(), names.end(), slot);
    OT_CHECK(found != names.end(), "optimizer: state '{}' has slot '{}', which this optimizer ({}) does not keep", key,
             slot, options_.kind);
    param_state.slots[found - names.begin()] = tensor.clone();
  }
  for (const auto& [name, param_state] : loaded) {
    OT_CHECK(param_state.step > 0, "optimizer: state of parameter '{}' has no '{}/step'", name, name);
    for (size_t slot = 0; slot < names.size(); ++slot)
      OT_CHECK(param_state.slots[slot].defined(), "optimizer: state of parameter '{}' lacks '{}/{}'", name, name,
               names[slot]);
  }
  states_ = std::move(loaded);
}

std::unique_ptr<Optimizer> make_optimizer(const OptimizerOptions& options) {
  const std::string& kind = options.kind;
  OT_CHECK(
      kind == "sgd" || kind == "adam" || kind == "adamw" || kind == "adagrad" || kind == "rmsprop" || kind == "lamb",
      "optimizer: unknown kind '{}'; expected sgd, adam, adamw, adagrad, rmsprop or lamb", kind);
  // An option the kind does not read is an error, not silently ignored.
  const OptimizerOptions unset;
  auto only_for = [&](bool set, const char* option, std::initializer_list<const char*> kinds) {
    if (!set) return;
    for (const char* k : kinds)
      if (kind == k) return;
    OT_FAIL("optimizer: option {} does not apply to {}", option, kind);
  };
  only_for(options.momentum != unset.momentum, "momentum", {"sgd", "rmsprop"});
  only_for(options.dampening != unset.dampening, "dampening", {"sgd"});
  only_for(options.nesterov, "nesterov", {"sgd"});
  only_for(options.beta1 != unset.beta1 || options.beta2 != unset.beta2, "beta1/beta2", {"adam", "adamw", "lamb"});
  only_for(options.amsgrad, "amsgrad", {"adam", "adamw"});
  only_for(options.alpha != unset.alpha, "alpha", {"rmsprop"});
  only_for(options.centered, "centered", {"rmsprop"});
  only_for(options.lr_decay != unset.lr_decay || options.initial_accumulator_value != unset.initial_accumulator_value,
           "lr_decay/initial_accumulator_value", {"adagrad"});
  only_for(options.eps.has_value(), "eps", {"adam", "adamw", "adagrad", "rmsprop", "lamb"});

  OptimizerOptions filled = options;
  if (!filled.weight_decay) filled.weight_decay = kind == "adamw" ? 1e-2 : 0.0;
  if (!filled.eps) filled.eps = kind == "adagrad" ? 1e-10 : kind == "lamb" ? 1e-6 : 1e-8;
  OT_CHECK(*filled.weight_decay >= 0 && *filled.eps >= 0 && filled.momentum >= 0 && filled.alpha >= 0 &&
               filled.lr_decay >= 0 && filled.initial_accumulator_value >= 0,
           "optimizer: weight_decay, eps, momentum, alpha, lr_decay and initial_accumulator_value must be >= 0");
  OT_CHECK(filled.beta1 >= 0 && filled.beta1 < 1 && filled.beta2 >= 0 && filled.beta2 < 1,
           "optimizer: beta1 {} and beta2 {} must be in [0, 1)", filled.beta1, filled.beta2);
  OT_CHECK(!filled.nesterov || (filled.momentum > 0 && filled.dampening == 0),
           "optimizer: nesterov momentum requires momentum > 0 and dampening 0 (as torch.optim.SGD)");

  if (kind == "sgd") return std::make_unique<Sgd>(filled);
  if (kind == "adam" || kind == "adamw") return std::make_unique<Adam>(filled, kind == "adamw");
  if (kind == "adagrad") return std::make_unique<Adagrad>(filled);
  if (kind == "rmsprop") return std::make_unique<RmsProp>(filled);
  return std::make_unique<Lamb>(filled);
}

}  // namespace onnx_train
