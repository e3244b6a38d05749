// tools/onnx-train/log_observer.h: the --log JSON Lines file of a training run, attached to the
// TrainLoop: a record per optimizer step, per epoch's validation, the validation at a --max-steps
// stop, and the error a run stops with. The records and their keys are listed in metrics_log.h;
// the "resumed" and "checkpoint" events are written by train_command and the CheckpointObserver,
// which own them.
#pragma once

#include <chrono>
#include <cstdint>

#include "tools/onnx-train/metrics_log.h"
#include "tools/onnx-train/train_loop.h"

namespace onnx_train::cli {

// The training loss of one optimizer step: the mean over the samples of the micro-batches it
// accumulated (--accumulate), each micro-batch's loss being the mean over its own samples:
//   step loss = sum_i(loss_i * samples_i) / sum_i(samples_i)
class StepLoss {
 public:
  void add(double loss, int64_t samples);
  // The step's loss, and a fresh start for the next step; `fallback` when no micro-batch was added.
  double take(double fallback);

 private:
  double loss_sum_ = 0;
  int64_t samples_ = 0;
};

class MetricsLogObserver : public TrainLoopObserver {
 public:
  // `log` null: nothing is written, but the run's sample count and time are still kept in
  // checkpoints, so that a resumed run given --log counts from the run's beginning.
  explicit MetricsLogObserver(MetricsLog* log) : log_(log) {}

  void on_run_start() override;
  void on_epoch_start(int64_t epoch, int64_t first_batch) override;
  void on_batch(const StepEvent& event) override;
  // {"step", "epoch", "loss", "lr"[, "grad_norm"], "samples", "epoch_loss_mean", "time"}
  void on_step(const StepEvent& event) override;
  void on_skip(const SkipEvent& event) override;
  // {"step", "epoch", "val_loss"[, "val_accuracy"]}, or at a --max-steps stop
  // {"event": "validation_at_stop", "step", "loss"[, "accuracy"]} (not an epoch's validation)
  void on_validation(const ValidationEvent& event) override;
  // {"event": "stopped", "reason": the error}
  void on_failure(const FailureEvent& event, std::string& message) override;
  void save_state(CheckpointEntries& entries) const override;
  void load_state(const CheckpointEntries& entries) override;

 private:
  // Seconds since the run began: the earlier runs' (from the checkpoint) and this process's.
  double run_seconds() const;

  MetricsLog* log_;
  StepLoss step_loss_;
  int64_t samples_ = 0;         // trained since the run began
  double earlier_seconds_ = 0;  // of the runs before a resume, up to the checkpoint
  std::chrono::steady_clock::time_point start_ = std::chrono::steady_clock::now();
};

}  // namespace onnx_train::cli
