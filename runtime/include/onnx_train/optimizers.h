// onnx_train/optimizers.h: first-order optimizers that update parameter tensors in place:
// SGD, Adam, AdamW, Adagrad, RMSprop (each equal to torch.optim's single-tensor
// path) and LAMB (torch has none; formula below).
//
// Use:
//   OptimizerOptions options;
//   options.kind = "adamw";                      // PyTorch's defaults for the kind apply
//   auto optimizer = make_optimizer(options);
//   std::vector<Param> params = {{"fc.weight", &w, &w_grad, /*decay=*/true},
//                                {"fc.bias", &b, &b_grad, /*decay=*/false}};
//   for (...) optimizer->step(params, schedule(step));   // lr is given per step
//   auto saved = optimizer->state();             // checkpoint: clones of the state tensors
//   fresh->load_state(saved);                    // continues bit for bit
//
// Parameters are float32 or float64; their state has the parameter's dtype and shape and is
// created (zero, or Adagrad's initial_accumulator_value, as PyTorch does) the first time a
// parameter is seen; later steps do not allocate. The optimizer keys state by name, so the
// caller passes the same (unique) names every step; a parameter may be left out of a step (no
// gradient) and, as in PyTorch, its step count then does not advance. Weight decay applies
// only where Param::decay is true (the caller clears it for biases and normalisation scales,
// the equivalent of a PyTorch param group with weight_decay=0).
//
// Math per element, g the gradient, p the parameter, t this parameter's step count (1 on its
// first step), lr the step's learning rate, wd = weight_decay if decay else 0. Operations
// run in the parameter's dtype in PyTorch's order, with scalar coefficients in double.
//   sgd:     g += wd p;  if momentum: b = (t == 1 ? g : momentum b + (1 - dampening) g),
//            g = nesterov ? g + momentum b : b;   p -= lr g
//   adam:    g += wd p;  m = b1 m + (1 - b1) g;  v = b2 v + (1 - b2) g^2;
//            (amsgrad: vmax = max(vmax, v), used for v below)
//            p -= lr / (1 - b1^t) * m / (sqrt(v) / sqrt(1 - b2^t) + eps)
//   adamw:   p *= 1 - lr wd, then adam without the g += wd p
//   adagrad: g += wd p;  s += g^2;  p -= lr / (1 + (t - 1) lr_decay) * g / (sqrt(s) + eps)
//   rmsprop: g += wd p;  v = alpha v + (1 - alpha) g^2;
//            centered: a = alpha a + (1 - alpha) g, d = sqrt(v - a^2) + eps; else d = sqrt(v) + eps
//            momentum > 0: b = momentum b + g / d, p -= lr b;  else p -= lr g / d
//   lamb:    (You et al. 2019, "Large Batch Optimization for Deep Learning", Algorithm 2 with
//            bias correction and phi = identity, as in common implementations)
//            m = b1 m + (1 - b1) g;  v = b2 v + (1 - b2) g^2;
//            u = (m / (1 - b1^t)) / (sqrt(v / (1 - b2^t)) + eps) + wd p
//            r = ||p|| / ||u|| (2-norms over the whole parameter), r = 1 if either norm is 0
//            p -= lr r u
//            LAMB is two passes over a parameter (moments and the norms, then the update)
//            since r needs the whole of u; the norms are summed in double.
//
// Defaults (PyTorch's, per kind): betas (0.9, 0.999); eps 1e-8, but 1e-10 for adagrad and
// 1e-6 for lamb; weight_decay 0, but 1e-2 for adamw; rmsprop alpha 0.99. Leave eps and
// weight_decay unset to get the kind's default.
//
// state() names a tensor "<parameter name>/<slot>" with PyTorch's state_dict slot names:
// step (int64 scalar, every kind), momentum_buffer (sgd and rmsprop with momentum), exp_avg and
// exp_avg_sq (adam, adamw, lamb), max_exp_avg_sq (amsgrad), sum (adagrad), square_avg and
// grad_avg (rmsprop, the latter if centered).
#pragma once

#include <map>
#include <memory>
#include <optional>
#include <string>
#include <vector>

#include "onnx_train/tensor.h"

namespace onnx_train {

// One parameter in one step: its value (updated in place) and its gradient, same shape.
struct Param {
  std::string name;
  Tensor* value = nullptr;
  const Tensor* grad = nullptr;
  bool decay = true;  // apply weight_decay to this parameter
};

struct OptimizerOptions {
  std::string kind;                                    // sgd adam adamw adagrad rmsprop lamb
  double momentum = 0, dampening = 0;                  // sgd (momentum also rmsprop)
  bool nesterov = false;                               // sgd
  std::optional<double> weight_decay;                  // unset: 0, adamw 1e-2
  double beta1 = 0.9, beta2 = 0.999;                   // adam adamw lamb
  std::optional<double> eps;                           // unset: 1e-8, adagrad 1e-10, lamb 1e-6
  bool amsgrad = false;                                // adam adamw
  double alpha = 0.99;                                 // rmsprop
  bool centered = false;                               // rmsprop
  double lr_decay = 0, initial_accumulator_value = 0;  // adagrad
};

class Optimizer {
 public:
  virtual ~Optimizer() = default;

  // One update of every parameter in `params` with learning rate `lr`. Throws Error naming
  // the parameter if a gradient's shape or dtype differs from the parameter's.
  void step(const std::vector<Param>& params, double lr);

  // Copies of all state tensors ("<name>/<slot>", see above), for checkpoints.
  std::map<std::string, Tensor> state() const;
  // Replaces all state with copies of `state` (as returned by state() of an optimizer of the
  // same kind and options). Shapes are checked against the parameters at the next step.
  void load_state(const std::map<std::string, Tensor>& state);

  // The options with the kind's defaults filled in.
  const OptimizerOptions& options() const { return options_; }

  // The state slots this optimizer keeps per parameter besides "step" (depends on the
  // options), and the value slot `slot` starts from (0 except Adagrad's sum).
  virtual std::vector<std::string> slot_names() const = 0;
  virtual double slot_init(size_t slot) const {
    (void)slot;
    return 0;
  }

 protected:
  // The state of one parameter: its step count and one tensor per slot of slot_names().
  struct ParamState {
    int64_t step = 0;
    std::vector<Tensor> slots;
  };

  explicit Optimizer(OptimizerOptions options) : options_(std::move(options)) {}

  // Updates one parameter; state.step is already incremented; `wd` is 0 for no-decay params.
  virtual void update(const Param& param, ParamState& state, double lr, double wd) = 0;

  OptimizerOptions options_;

 private:
  // The state of `param`, created on its first step.
  ParamState& state_for(const Param& param);
  void check_loaded_state(const Param& param) const;

  std::map<std::string, ParamState> states_;
};

// The optimizer `options.kind` with the kind's defaults for unset options. Throws Error for
// an unknown kind, an option the kind does not use (amsgrad for sgd), or out-of-range options
// as PyTorch does (negative weight_decay, eps, momentum, alpha, lr_decay or initial
// accumulator; betas outside [0, 1); nesterov without momentum or with dampening).
std::unique_ptr<Optimizer> make_optimizer(const OptimizerOptions& options);

}  // namespace onnx_train
