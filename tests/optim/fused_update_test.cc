// The fused, vectorised optimizer passes (runtime/optim/optimizers.cc) against plain
// element-by-element references of the same formulas (optimizers.h), written here one scalar
// statement per operation in the order the formulas give: float32 and float64 results must be
// equal bit for bit, for every option that changes the loop (weight decay, momentum, Nesterov,
// the first step, AMSGrad, centred RMSprop), at sizes that leave a vector remainder and at a size
// split over threads.
#include <gtest/gtest.h>

#include <cmath>
#include <cstring>
#include <functional>
#include <string>
#include <vector>

#include "onnx_train/optimizers.h"

namespace onnx_train {
namespace {

// The state of one parameter as the references keep it: value, then one vector per slot.
template <typename T>
struct RefState {
  std::vector<T> p;
  std::vector<std::vector<T>> slots;
};

template <typename T>
void sgd_reference(const OptimizerOptions& o, RefState<T>& s, const std::vector<T>& g, double lr, double wd, int step) {
  const T wd_t = static_cast<T>(wd), momentum = static_cast<T>(o.momentum);
  const T keep = static_cast<T>(1 - o.dampening), neg_lr = static_cast<T>(-lr);
  for (size_t i = 0; i < g.size(); ++i) {
    T d = g[i];
    if (wd != 0) d += wd_t * s.p[i];
    if (o.momentum != 0) {
      T& buf = s.slots[0][i];
      buf = step == 1 ? d : buf * momentum + keep * d;
      d = o.nesterov ? d + momentum * buf : buf;
    }
    s.p[i] += neg_lr * d;
  }
}

template <typename T>
void adam_reference(const OptimizerOptions& o, bool decoupled, RefState<T>& s, const std::vector<T>& g, double lr,
                    double wd, int step) {
  const double step_size = lr / (1 - std::pow(o.beta1, step));
  const T bc2_sqrt = static_cast<T>(std::sqrt(1 - std::pow(o.beta2, step)));
  const T b1 = static_cast<T>(o.beta1), b2 = static_cast<T>(o.beta2);
  const T c1 = static_cast<T>(1 - o.beta1), c2 = static_cast<T>(1 - o.beta2), eps = static_cast<T>(*o.eps);
  for (size_t i = 0; i < g.size(); ++i) {
    if (decoupled && wd != 0) s.p[i] *= static_cast<T>(1 - lr * wd);
    T grad = g[i];
    if (!decoupled && wd != 0) grad += static_cast<T>(wd) * s.p[i];
    T& m = s.slots[0][i];
    T& v = s.slots[1][i];
    m = m * b1 + c1 * grad;
    v = v * b2 + c2 * grad * grad;
    T second = v;
    if (o.amsgrad) second = s.slots[2][i] = std::max(s.slots[2][i], v);
    const T denom = std::sqrt(second) / bc2_sqrt + eps;
    s.p[i] += static_cast<T>(-step_size) * m / denom;
  }
}

template <typename T>
void adagrad_reference(const OptimizerOptions& o, RefState<T>& s, const std::vector<T>& g, double lr, double wd,
                       int step) {
  const T neg_clr = static_cast<T>(-(lr / (1 + (step - 1) * o.lr_decay))), eps = static_cast<T>(*o.eps);
  for (size_t i = 0; i < g.size(); ++i) {
    T grad = g[i];
    if (wd != 0) grad += static_cast<T>(wd) * s.p[i];
    T& sum = s.slots[0][i];
    sum += grad * grad;
    s.p[i] += neg_clr * grad / (std::sqrt(sum) + eps);
  }
}

template <typename T>
void rmsprop_reference(const OptimizerOptions& o, RefState<T>& s, const std::vector<T>& g, double lr, double wd) {
  const T alpha = static_cast<T>(o.alpha), rest = static_cast<T>(1 - o.alpha), eps = static_cast<T>(*o.eps);
  const T momentum = static_cast<T>(o.momentum), neg_lr = static_cast<T>(-lr);
  size_t next = 1;
  std::vector<T>* buf = o.momentum > 0 ? &s.slots[next++] : nullptr;
  std::vector<T>* grad_avg = o.centered ? &s.slots[next] : nullptr;
  for (size_t i = 0; i < g.size(); ++i) {
    T grad = g[i];
    if (wd != 0) grad += static_cast<T>(wd) * s.p[i];
    T& sq = s.slots[0][i];
    sq = sq * alpha + rest * grad * grad;
    T avg;
    if (grad_avg) {
      T& ga = (*grad_avg)[i];
      ga = ga * alpha + rest * grad;
      avg = std::sqrt(sq - ga * ga) + eps;
    } else {
      avg = std::sqrt(sq) + eps;
    }
    if (buf) {
      (*buf)[i] = (*buf)[i] * momentum + grad / avg;
      s.p[i] += neg_lr * (*buf)[i];
    } else {
      s.p[i] += neg_lr * grad / avg;
    }
  }
}

template <typename T>
void reference_step(const OptimizerOptions& o, RefState<T>& s, const std::vector<T>& g, double lr, double wd,
                    int step) {
  if (o.kind == "sgd") return sgd_reference(o, s, g, lr, wd, step);
  if (o.kind == "adam" || o.kind == "adamw") return adam_reference(o, o.kind == "adamw", s, g, lr, wd, step);
  if (o.kind == "adagrad") return adagrad_reference(o, s, g, lr, wd, step);
  return rmsprop_reference(o, s, g, lr, wd);
}

// Three steps of `options` on n values of type T, fused and reference, compared bit for bit.
template <typename T>
void expect_fused_equals_reference(OptimizerOptions options, int64_t n, double wd) {
  options.weight_decay = wd;
  auto optimizer = make_optimizer(options);
  const DType dtype = sizeof(T) == 4 ? DType::Float32 : DType::Float64;
  Tensor p(dtype, {n}), g(dtype, {n});
  RefState<T> ref;
  ref.p.resize(n);
  for (int64_t i = 0; i < n; ++i) ref.p[i] = p.data<T>()[i] = static_cast<T>(std::sin(0.37 * i));
  const OptimizerOptions& resolved = optimizer->options();
  for (size_t slot = 0; slot < optimizer->slot_names().size(); ++slot)
    ref.slots.emplace_back(n, static_cast<T>(optimizer->slot_init(slot)));
  std::vector<T> grad(n);
  for (int step = 1; step <= 3; ++step) {
    for (int64_t i = 0; i < n; ++i) grad[i] = g.data<T>()[i] = static_cast<T>(std::cos(0.11 * i * step) * (1 + i % 3));
    optimizer->step({{"p", &p, &g, true}}, 1e-2);
    reference_step(resolved, ref, grad, 1e-2, wd, step);
  }
  const std::string what = options.kind + " n=" + std::to_string(n) + " wd=" + std::to_string(wd) +
                           " momentum=" + std::to_string(options.momentum) + (options.nesterov ? " nesterov" : "") +
                           (options.amsgrad ? " amsgrad" : "") + (options.centered ? " centered" : "") +
                           (sizeof(T) == 4 ? " float32" : " float64");
  EXPECT_EQ(std::memcmp(p.data<T>(), ref.p.data(), n * sizeof(T)), 0) << what;
  const auto state = optimizer->state();
  for (size_t slot = 0; slot < ref.slots.size(); ++slot) {
    const Tensor& t = state.at("p/" + optimizer->slot_names()[slot]);
    EXPECT_EQ(std::memcmp(t.data<T>(), ref.slots[slot].data(), n * sizeof(T)), 0)
        << what << " slot " << optimizer->slot_names()[slot];
  }
}

std::vector<OptimizerOptions> every_loop_variant() {
  std::vector<OptimizerOptions> out;
  auto add = [&](const char* kind, const std::function<void(OptimizerOptions&)>& set) {
    OptimizerOptions o;
    o.kind = kind;
    set(o);
    out.push_back(o);
  };
  add("sgd", [](OptimizerOptions&) {});
  add("sgd", [](OptimizerOptions& o) { o.momentum = 0.9; });
  add("sgd", [](OptimizerOptions& o) { o.momentum = 0.9, o.dampening = 0.1; });
  add("sgd", [](OptimizerOptions& o) { o.momentum = 0.9, o.nesterov = true; });
  add("adam", [](OptimizerOptions&) {});
  add("adam", [](OptimizerOptions& o) { o.amsgrad = true; });
  add("adamw", [](OptimizerOptions&) {});
  add("adamw", [](OptimizerOptions& o) { o.amsgrad = true; });
  add("adagrad", [](OptimizerOptions& o) { o.lr_decay = 0.01, o.initial_accumulator_value = 0.1; });
  add("rmsprop", [](OptimizerOptions&) {});
  add("rmsprop", [](OptimizerOptions& o) { o.momentum = 0.9; });
  add("rmsprop", [](OptimizerOptions& o) { o.centered = true; });
  add("rmsprop", [](OptimizerOptions& o) { o.momentum = 0.5, o.centered = true; });
  return out;
}

TEST(FusedOptimizerUpdate, EqualsElementByElementReference) {
  for (const OptimizerOptions& o : every_loop_variant())
    for (int64_t n : {int64_t{1}, int64_t{37}, int64_t{(1 << 16) + 5}})
      for (double wd : {0.0, 0.05}) {
        expect_fused_equals_reference<float>(o, n, wd);
        expect_fused_equals_reference<double>(o, n, wd);
      }
}

}  // namespace
}  // namespace onnx_train
