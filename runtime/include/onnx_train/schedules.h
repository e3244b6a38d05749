// onnx_train/schedules.h: learning-rate schedules as pure functions of the step,
// each equal to a torch.optim.lr_scheduler scheduler stepped once per optimizer step.
//
// Use:
//   ScheduleOptions options = parse_schedule("cosine:base_lr=0.1,total_steps=1000,warmup_steps=100");
//   for (int64_t step = 0; step < options.total_steps; ++step)
//     optimizer->step(params, learning_rate(options, step));   // step 0 is the first update
//
// learning_rate() keeps no state: resuming from a checkpoint needs only the step count.
// `step` counts optimizer steps from 0, so learning_rate(o, s) is what PyTorch's optimizer
// uses in its (s+1)-th step() when scheduler.step() follows every optimizer.step().
//
// Kinds, with e the step of the main schedule (e = step - warmup_steps) and
// T = total_steps - warmup_steps (PyTorch equivalent in brackets):
//   constant         base_lr                                               [ConstantLR(factor=1)]
//   step             base_lr gamma^floor(e / step_size)                    [StepLR]
//   multistep        base_lr gamma^(number of milestones <= e)             [MultiStepLR]
//                    (a milestone listed twice counts twice, as in PyTorch's Counter)
//   exponential      base_lr gamma^e                                       [ExponentialLR]
//   cosine           eta_min + (base_lr - eta_min) (1 + cos(pi e / T)) / 2 [CosineAnnealingLR(T_max=T)]
//                    past T the cosine goes on (rising again), as PyTorch's does
//   cosine-restarts  the same within a cycle: e -> e_cur, T -> T_i, where cycle i has length
//                    T_i = t0 t_mult^i and e_cur counts from the cycle's start
//                                                                          [CosineAnnealingWarmRestarts]
//   linear           base_lr (start_factor + (end_factor - start_factor) min(e, T) / T)
//                                                                          [LinearLR(total_iters=T)]
//   onecycle         starts at max_lr / div_factor, anneals to max_lr over pct_start T - 1
//                    steps and then to (max_lr / div_factor) / final_div_factor at step T - 1
//                    (three_phase: up, back down to the start over the same count, then to
//                    the minimum); anneal cos: end + (start - end) (1 + cos(pi pct)) / 2,
//                    linear: start + (end - start) pct. base_lr is not used: as in PyTorch,
//                    onecycle sets the rate itself. Steps past T are an error, as in PyTorch
//                    (step T itself is allowed).                            [OneCycleLR]
//                    NOTE: PyTorch's OneCycleLR also cycles momentum by default; that is the
//                    optimizer's business and not modelled here.
//
// Warm-up (warmup_steps > 0): for step < warmup_steps the rate is
//   lr0 (f + (1 - f) step / warmup_steps),  f = warmup_start_factor,
// lr0 the main schedule's rate at its step 0 (base_lr; max_lr / div_factor for onecycle); from
// step warmup_steps on it is the main schedule at e = step - warmup_steps. This is PyTorch's
// SequentialLR([LinearLR(f, 1.0, total_iters=warmup_steps), main], milestones=[warmup_steps]):
// NOTE: at the milestone SequentialLR switches to the main scheduler (main.step(0)) before the
// warm-up reaches factor 1, so the last warm-up step uses lr0 (f + (1 - f)(W - 1) / W), with
// W = warmup_steps, and the step after it lr0 exactly; step_size, milestones and T count steps after the warm-up.
// f = 0 is allowed here (PyTorch's recursive LinearLR divides by zero there).
//
// Precision: PyTorch computes most of these recursively (lr *= factor each step); the closed
// forms here equal them up to rounding: 5000 steps of CosineAnnealingLR, ExponentialLR, StepLR
// and LinearLR stay within 1e-13 relative of them (tests/optim/schedules_test.cc checks 60
// recorded PyTorch steps per case at rtol 1e-9).
//
// Defaults are PyTorch's, except for linear: start_factor 1 and end_factor 0 make it a decay
// to zero (PyTorch's LinearLR defaults, 1/3 to 1, are a warm-up, which warmup_steps gives).
#pragma once

#include <cstdint>
#include <string>
#include <vector>

namespace onnx_train {

struct ScheduleOptions {
  std::string kind;                 // one of schedule_kinds()
  double base_lr = 0;               // the optimizer's lr (all kinds but onecycle)
  int64_t total_steps = 0;          // optimizer steps in the run, warm-up included (cosine, linear, onecycle)
  int64_t warmup_steps = 0;         // linear warm-up length; 0: none
  double warmup_start_factor = 0;   // warm-up starts at lr0 * this, in [0, 1]
  int64_t step_size = 0;            // step
  std::vector<int64_t> milestones;  // multistep: steps after the warm-up, any order
  double gamma = 0.1;               // step, multistep, exponential (PyTorch's StepLR default)
  double eta_min = 0;               // cosine, cosine-restarts
  int64_t t0 = 0, t_mult = 1;       // cosine-restarts: first cycle length, growth factor
  double start_factor = 1.0, end_factor = 0.0;                      // linear: factors of base_lr at e = 0 and e >= T
  double max_lr = 0;                                                // onecycle
  double pct_start = 0.3, div_factor = 25, final_div_factor = 1e4;  // onecycle (PyTorch's defaults)
  std::string anneal = "cos";                                       // onecycle: cos or linear
  bool three_phase = false;                                         // onecycle
};

// "constant", "step", "multistep", "exponential", "cosine", "cosine-restarts", "linear", "onecycle"
std::vector<std::string> schedule_kinds();

// Throws Error naming the first option that is missing or out of range for the kind.
void validate_schedule(const ScheduleOptions& options);

// The learning rate of optimizer step `step` (from 0). Validates the options; throws Error
// for a negative step or a onecycle step past total_steps.
double learning_rate(const ScheduleOptions& options, int64_t step);

// Reads "kind" or "kind:key=value,key=value,..." with keys named as the fields above
// (milestones as 10/20/30, three_phase as 0/1/true/false), e.g.
//   "onecycle:max_lr=0.4,total_steps=1000,anneal=linear". The result is validated.
ScheduleOptions parse_schedule(const std::string& spec);

// The options as a parse_schedule spec naming every option of the kind, so that
// parse_schedule(format_schedule(o)) gives the same learning rates as o (checkpoints store it).
std::string format_schedule(const ScheduleOptions& options);

}  // namespace onnx_train
