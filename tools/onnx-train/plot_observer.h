// tools/onnx-train/plot_observer.h: the training curves of a run and the --plot chart drawn from
// them, attached to the TrainLoop: each optimizer step's training loss drawn faintly with its
// smoothed line over it, the validation loss, and the train and validation accuracy. The curves
// are kept whether or not there is a --plot file: checkpoints carry them, so that the chart of
// a resumed run shows the whole run. The SVG writer itself is plot.h.
#pragma once

#include <array>
#include <cstdint>
#include <string>
#include <vector>

#include "tools/onnx-train/log_observer.h"
#include "tools/onnx-train/plot.h"
#include "tools/onnx-train/train_loop.h"

namespace onnx_train::cli {

// One curve, its points thinned to at most kMaxPoints so that a checkpoint's size does not grow
// with the run (the whole history in every checkpoint wrote O(steps^2) bytes over a run). It
// keeps its n-th offered point when n is a multiple of its stride, and doubles the stride
// (dropping every other point) when full: a pure function of the points offered, so a resumed
// run keeps the points the uninterrupted run keeps.
struct Curve {
  static constexpr size_t kMaxPoints = 512;
  PlotSeries series;
  int64_t offered = 0, stride = 1;

  void add(double x, double y);
  void compact();
};

// TensorBoard's smoothing of a noisy curve: an exponential moving average over the whole run
// (no restart at epoch boundaries), divided by its bias toward the starting 0:
//   last_n = w * last_(n-1) + (1 - w) * y_n,   last_0 = 0
//   smoothed_n = last_n / (1 - w^n)
// so the first points are their own mean rather than pulled toward 0. w = 1 - 1/span: a span
// of about 1/64 of the run's steps (at least 5), so the line is as smooth in a long run as in a
// short one; chosen at the first point and kept in checkpoints, so a resumed run goes on with
// the same one.
struct Smoothing {
  double weight = 0;  // 0: not chosen yet
  double last = 0;
  int64_t count = 0;

  static double weight_for(int64_t total_steps);
  // The smoothed value after `y`; a non-finite y is left out (NaN: the previous value).
  double add(double y);
  std::string save() const;
  static Smoothing load(const std::string& text);
};

// The curves of a training run, by name. Checkpoints number them in the order of all() (text
// lines "<number> <x> <y>" in cli.history, "<offered> <stride>" pairs in cli.history_strides);
// the chart draws them in the order of series().
struct TrainingCurves {
  Curve train_loss{{"train loss (per step)", {}, false, /*faint=*/true}};  // each optimizer step's loss
  Curve val_loss{{"val loss", {}, false}};                                 // at each epoch's end
  Curve train_accuracy{{"train accuracy", {}, true}};                      // the epoch's, at its end
  Curve val_accuracy{{"val accuracy", {}, true}};                          // at each epoch's end
  Curve smoothed_loss{{"train loss (smoothed)", {}, false}};               // train_loss, smoothed
  Smoothing smoothing;                                                     // of smoothed_loss

  // Older checkpoints hold the first four (their train loss was smoothed per epoch).
  std::array<Curve*, 5> all() { return {&train_loss, &val_loss, &train_accuracy, &val_accuracy, &smoothed_loss}; }
  std::array<const Curve*, 5> all() const {
    return {&train_loss, &val_loss, &train_accuracy, &val_accuracy, &smoothed_loss};
  }
  // The per-step loss under its smoothed line, then validation and accuracies.
  std::vector<PlotSeries> series() const;
  // A training step's loss, on both loss curves; `total_steps` picks the smoothing at the first.
  void add_step(double step, double loss, int64_t total_steps);

  std::string save() const;
  std::string save_strides() const;
  // `strides` is "" in older checkpoints, which kept every point.
  void load(const std::string& text, const std::string& strides);
};

class PlotObserver : public TrainLoopObserver {
 public:
  // `path` "": no chart, the curves are only kept for checkpoints. `options`: the chart's title
  // and axes (log_loss for --plot-log-scale).
  PlotObserver(const TrainLoop& loop, std::string path, PlotOptions options)
      : loop_(loop), path_(std::move(path)), options_(std::move(options)) {}

  void on_epoch_start(int64_t epoch, int64_t first_batch) override;
  void on_batch(const StepEvent& event) override;
  void on_step(const StepEvent& event) override;
  // An epoch's validation only: the one at a --max-steps stop is not an epoch's.
  void on_validation(const ValidationEvent& event) override;
  // The epoch's train accuracy, and the chart rewritten.
  void on_epoch_end(const EpochEndEvent& event) override;
  // The chart rewritten with the steps since the last epoch's end (a --max-steps stop, Ctrl-C).
  void on_run_end() override;
  void save_state(CheckpointEntries& entries) const override;
  void load_state(const CheckpointEntries& entries) override;

 private:
  void write_chart() const;

  const TrainLoop& loop_;
  std::string path_;
  PlotOptions options_;
  TrainingCurves curves_;
  StepLoss step_loss_;
};

}  // namespace onnx_train::cli
