// tools/onnx-train/log_observer.h: the --log JSON Lines file of a training run, attached to the
// TrainLoop: a line per optimizer step, per epoch's validation, the validation at a --max-steps
// stop, and the error a run stops with. The file format is metrics_log.h; the "resumed" and
// "checkpoint" events are written by train_command and the CheckpointObserver, which own them.
#pragma once

#include "tools/onnx-train/metrics_log.h"
#include "tools/onnx-train/train_loop.h"

namespace onnx_train::cli {

class MetricsLogObserver : public TrainLoopObserver {
 public:
  explicit MetricsLogObserver(MetricsLog& log) : log_(log) {}

  // {"step", "epoch", "loss", "lr"[, "grad_norm" when clipping computed it]}
  void on_step(const StepEvent& event) override;
  // {"step", "epoch", "val_loss"[, "val_accuracy"]}, or at a --max-steps stop
  // {"event": "validation_at_stop", "step", "loss"[, "accuracy"]} (not an epoch's validation)
  void on_validation(const ValidationEvent& event) override;
  // {"event": "stopped", "reason": the error}
  void on_failure(const FailureEvent& event, std::string& message) override;

 private:
  MetricsLog& log_;
};

}  // namespace onnx_train::cli
