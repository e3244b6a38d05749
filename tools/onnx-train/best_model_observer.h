// tools/onnx-train/best_model_observer.h: --save-best METRIC, attached to the TrainLoop: keeps
// the best model of the run as well as the newest. After each validation whose metric
// (val_loss or val_accuracy) beats the best so far, the inference model with these weights
// is written to --save-best-path (by default the export's name with ".best" before ".onnx",
// ".trained" left out: mlp.best.onnx beside mlp.trained.onnx, out/a.best.onnx beside
// -o out/a.onnx), and, with --checkpoint-dir, a checkpoint DIR/best.ckpt a run can --resume=
// from (never removed by --keep-checkpoints, never taken by a bare --resume), and a line says so:
//   new best val loss 0.3121 at step 400: wrote mlp.best.onnx, ck/best.ckpt
// An epoch's validation is acted on at the epoch's end, after the epoch's line; the extra
// validation of a --max-steps stop is left out (a resumed run could not know it). The export at
// the end of the run keeps the last weights (as Hugging Face's load_best_model_at_end=False).
// The best value and its step survive a resume (cli.best).
#pragma once

#include <cmath>
#include <cstdint>
#include <functional>
#include <optional>
#include <string>

#include "tools/onnx-train/metrics_log.h"
#include "tools/onnx-train/progress.h"
#include "tools/onnx-train/train_loop.h"
#include "tools/onnx-train/validation_metric.h"

namespace onnx_train::cli {

class BestModelObserver : public TrainLoopObserver {
 public:
  // `write_model(path)` writes the inference model with the session's weights; `checkpoint` ""
  // writes no checkpoint; `log`: where "best" events go (null: nowhere).
  BestModelObserver(const TrainLoop& loop, ValidationMetric metric, std::string model_path, std::string checkpoint,
                    std::function<void(const std::string&)> write_model, ProgressDisplay& progress, MetricsLog* log)
      : loop_(loop),
        metric_(metric),
        model_path_(std::move(model_path)),
        checkpoint_(std::move(checkpoint)),
        write_model_(std::move(write_model)),
        progress_(progress),
        log_(log) {}

  // The default --save-best-path for the model exported to `exported`.
  static std::string default_path(const std::string& exported);

  void on_validation(const ValidationEvent& event) override;
  void on_epoch_end(const EpochEndEvent& event) override;
  void save_state(CheckpointEntries& entries) const override;
  void load_state(const CheckpointEntries& entries) override;

 private:
  // Writes the best model (and checkpoint at `at`) when `totals` beat the best.
  void consider(const EvalTotals& totals, int64_t step, LoopPosition at, const EpochState& state);

  const TrainLoop& loop_;
  ValidationMetric metric_;
  std::string model_path_, checkpoint_;
  std::function<void(const std::string&)> write_model_;
  ProgressDisplay& progress_;
  MetricsLog* log_;
  double best_ = NAN;
  int64_t best_step_ = 0;
};

}  // namespace onnx_train::cli
