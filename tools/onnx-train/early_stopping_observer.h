// tools/onnx-train/early_stopping_observer.h: --early-stopping PATIENCE, attached to the
// TrainLoop: after each validation (at epoch ends, every --eval-every steps) it compares the
// watched metric (--early-stopping-metric, val_loss by default) with the best so far; when the
// metric has not improved by more than --early-stopping-min-delta for PATIENCE validations in
// a row, it asks the loop to stop (should_stop_early), as Keras's EarlyStopping callback does.
// The run then ends as a finished one: its checkpoint written, the model exported, exit 0,
// and a line says why:
//   early stopping: val loss has not improved for 3 validations (best 0.3121 at step 400)
// The best value, its step and the count survive a resume (cli.early_stopping); a run
// resumed from the checkpoint of an early stop has nothing left to do unless a larger
// PATIENCE is given.
#pragma once

#include <cmath>
#include <cstdint>
#include <string>

#include "tools/onnx-train/metrics_log.h"
#include "tools/onnx-train/progress.h"
#include "tools/onnx-train/train_loop.h"
#include "tools/onnx-train/validation_metric.h"

namespace onnx_train::cli {

class EarlyStoppingObserver : public TrainLoopObserver {
 public:
  // `log`: where the "early_stopping" event goes (null: nowhere).
  EarlyStoppingObserver(ValidationMetric metric, int64_t patience, double min_delta, ProgressDisplay& progress,
                        MetricsLog* log)
      : metric_(metric), patience_(patience), min_delta_(min_delta), progress_(progress), log_(log) {}

  void on_validation(const ValidationEvent& event) override;
  bool should_stop_early() const override { return waited_ >= patience_; }
  void on_stop(const StopEvent& event) override;
  void save_state(CheckpointEntries& entries) const override;
  void load_state(const CheckpointEntries& entries) override;

  // "val loss has not improved for 3 validations (best 0.3121 at step 400)"; with a min delta,
  // "has not improved by more than 0.01 for ..."
  std::string why() const;

 private:
  ValidationMetric metric_;
  int64_t patience_;
  double min_delta_;
  ProgressDisplay& progress_;
  MetricsLog* log_;
  double best_ = NAN;
  int64_t best_step_ = 0;
  int64_t waited_ = 0;  // validations since the best
};

}  // namespace onnx_train::cli
