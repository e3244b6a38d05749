// The optimizers of optimizers.h: one fused, vectorised elementwise pass per parameter (two for
// LAMB), split between OpenMP threads for large parameters. The math is in the header.
#include "onnx_train/optimizers.h"

#include <omp.h>

#include <algorithm>
#include <cmath>
#include <initializer_list>
#include <type_traits>

#include "runtime/core/dispatch.h"
#include "runtime/core/parallel.h"
#include "runtime/core/parallel_ranges.h"

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

// f(std::true_type) or f(std::false_type): a run-time switch made a compile-time one, so the
// fused loops below carry no per-element branch on their options.
template <typename F>
void with_flag(bool on, F&& f) {
  if (on)
    f(std::true_type{});
  else
    f(std::false_type{});
}

// NOTE: the loops below are `#pragma omp simd` over restrict pointers (p, g and each state
// slot are distinct tensors), in the parameter's type, with the operations in the order the
// scalar formulas of optimizers.h give (no FMA contraction across them: results are those of
// the element-by-element code, bit for bit, whatever the vector width or thread count).

// --- SGD ---------------------------------------------------------------------------------

template <typename T>
struct SgdCoefficients {
  T wd, momentum, keep, neg_lr;  // keep = 1 - dampening
};

// d = g + wd p; buf = first ? d : momentum buf + keep d; d = nesterov ? d + momentum buf : buf;
// p += -lr d. Shapes: p, g, buf [n] (buf unused without momentum).
template <typename T, bool kDecay, bool kMomentum, bool kFirst, bool kNesterov>
void sgd_range(T* __restrict p, const T* __restrict g, T* __restrict buf, int64_t begin, int64_t end,
               SgdCoefficients<T> c) {
#pragma omp simd
  for (int64_t i = begin; i < end; ++i) {
    T d = g[i];
    if constexpr (kDecay) d += c.wd * p[i];
    if constexpr (kMomentum) {
      const T b = kFirst ? d : buf[i] * c.momentum + c.keep * d;  // the first buffer is the gradient
      buf[i] = b;
      d = kNesterov ? d + c.momentum * b : b;
    }
    p[i] += c.neg_lr * d;
  }
}

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
      const SgdCoefficients<T> c{static_cast<T>(wd), static_cast<T>(options_.momentum),
                                 static_cast<T>(1 - options_.dampening), static_cast<T>(-lr)};
      with_flag(wd != 0, [&](auto decay) {
        with_flag(buf != nullptr, [&](auto momentum) {
          with_flag(state.step == 1, [&](auto first) {
            with_flag(options_.nesterov, [&](auto nesterov) {
              parallel_ranges(param.value->numel(), [&](int64_t begin, int64_t end) {
                sgd_range<T, decay(), momentum(), first(), nesterov()>(p, g, buf, begin, end, c);
              });
            });
          });
        });
      });
    });
  }
};

// --- Adam and AdamW ----------------------------------------------------------------------

template <typename T>
struct AdamCoefficients {
  T shrink, wd, b1, b2, one_minus_b1, one_minus_b2, bc2_sqrt, eps, neg_step_size;
};

// AdamW: p *= 1 - lr wd; Adam: g += wd p. Then m = b1 m + (1 - b1) g,
// v = b2 v + (1 - b2) g g, (amsgrad: v_max = max(v_max, v), used for v), p += -step_size m /
// (sqrt(v) / sqrt(1 - b2^t) + eps). Shapes: p, g, m, v, v_max [n] (v_max only with amsgrad).
template <typename T, bool kDecoupled, bool kCoupled, bool kAmsgrad>
void adam_range(T* __restrict p, const T* __restrict g, T* __restrict m, T* __restrict v, T* __restrict v_max,
                int64_t begin, int64_t end, AdamCoefficients<T> c) {
#pragma omp simd
  for (int64_t i = begin; i < end; ++i) {
    T param = p[i];
    if constexpr (kDecoupled) param *= c.shrink;
    T grad = g[i];
    if constexpr (kCoupled) grad += c.wd * param;
    const T m_new = m[i] * c.b1 + c.one_minus_b1 * grad;
    const T v_new = v[i] * c.b2 + c.one_minus_b2 * grad * grad;
    m[i] = m_new;
    v[i] = v_new;
    T second = v_new;
    if constexpr (kAmsgrad) second = v_max[i] = std::max(v_max[i], v_new);
    const T denom = std::sqrt(second) / c.bc2_sqrt + c.eps;
    p[i] = param + c.neg_step_size * m_new / denom;
  }
}

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
      const AdamCoefficients<T> c{static_cast<T>(1 - lr * wd),        static_cast<T>(wd),
                                  static_cast<T>(beta1),              static_cast<T>(beta2),
                                  static_cast<T>(1 - beta1),          static_cast<T>(1 - beta2),
                                  static_cast<T>(bias_correction2_sqrt), static_cast<T>(*options_.eps),
                                  static_cast<T>(-step_size)};
      // AdamW scales p by (1 - lr wd); Adam adds wd p to the gradient (L2).
      with_flag(decoupled_ && wd != 0, [&](auto decoupled) {
        with_flag(!decoupled_ && wd != 0, [&](auto coupled) {
          with_flag(v_max != nullptr, [&](auto amsgrad) {
            parallel_ranges(param.value->numel(), [&](int64_t begin, int64_t end) {
              adam_range<T, decoupled(), coupled(), amsgrad()>(p, g, m, v, v_max, begin, end, c);
            });
          });
        });
      });
    });
  }

 private:
  bool decoupled_;
};

// --- Adagrad -----------------------------------------------------------------------------

// g += wd p; sum += g g; p += -clr g / (sqrt(sum) + eps). Shapes: p, g, sum [n].
template <typename T, bool kDecay>
void adagrad_range(T* __restrict p, const T* __restrict g, T* __restrict sum, int64_t begin, int64_t end, T wd,
                   T eps, T neg_clr) {
#pragma omp simd
  for (int64_t i = begin; i < end; ++i) {
    T grad = g[i];
    if constexpr (kDecay) grad += wd * p[i];
    const T s = sum[i] + grad * grad;
    sum[i] = s;
    p[i] += neg_clr * grad / (std::sqrt(s) + eps);
  }
}

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
      with_flag(wd != 0, [&](auto decay) {
        parallel_ranges(param.value->numel(), [&](int64_t begin, int64_t end) {
          adagrad_range<T, decay()>(p, g, sum, begin, end, wd_t, eps, neg_clr);
        });
      });
    });
  }
};

// --- RMSprop -----------------------------------------------------------------------------

template <typename T>
struct RmsPropCoefficients {
  T wd, alpha, one_minus_alpha, eps, momentum, neg_lr;
};

// g += wd p; sq = alpha sq + (1 - alpha) g g; centered: ga = alpha ga + (1 - alpha) g and
// avg = sqrt(sq - ga ga) + eps, else avg = sqrt(sq) + eps; momentum: buf = momentum buf +
// g / avg, p += -lr buf; else p += -lr g / avg. Shapes: p, g, sq, buf, ga [n].
template <typename T, bool kDecay, bool kCentered, bool kMomentum>
void rmsprop_range(T* __restrict p, const T* __restrict g, T* __restrict square_avg, T* __restrict buf,
                   T* __restrict grad_avg, int64_t begin, int64_t end, RmsPropCoefficients<T> c) {
#pragma omp simd
  for (int64_t i = begin; i < end; ++i) {
    T grad = g[i];
    if constexpr (kDecay) grad += c.wd * p[i];
    const T sq = square_avg[i] * c.alpha + c.one_minus_alpha * grad * grad;
    square_avg[i] = sq;
    T avg;
    if constexpr (kCentered) {
      const T ga = grad_avg[i] * c.alpha + c.one_minus_alpha * grad;
      grad_avg[i] = ga;
      avg = std::sqrt(sq - ga * ga) + c.eps;
    } else {
      avg = std::sqrt(sq) + c.eps;
    }
    if constexpr (kMomentum) {
      const T b = buf[i] * c.momentum + grad / avg;
      buf[i] = b;
      p[i] += c.neg_lr * b;
    } else {
      p[i] += c.neg_lr * grad / avg;
    }
  }
}

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
      const RmsPropCoefficients<T> c{static_cast<T>(wd),       static_cast<T>(options_.alpha),
                                     static_cast<T>(1 - options_.alpha), static_cast<T>(*options_.eps),
                                     static_cast<T>(options_.momentum), static_cast<T>(-lr)};
      with_flag(wd != 0, [&](auto decay) {
        with_flag(grad_avg != nullptr, [&](auto centered) {
          with_flag(buf != nullptr, [&](auto momentum) {
            parallel_ranges(param.value->numel(), [&](int64_t begin, int64_t end) {
              rmsprop_range<T, decay(), centered(), momentum()>(p, g, square_avg, buf, grad_avg, begin, end, c);
            });
          });
        });
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
