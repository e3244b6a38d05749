// tools/onnx-train/plot_observer.h: the training curves of a run and the --plot chart drawn from
// them, attached to the TrainLoop. The curves are kept whether or not there is a --plot file:
// checkpoints carry them, so that the chart of a resumed run shows the whole run. The SVG
// writer itself is plot.h.
#pragma once

#include <array>
#include <cstdint>
#include <string>
#include <vector>

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

// The curves of a training run, by name. Checkpoints number them in the order of all() (text
// lines "<number> <x> <y>" in cli.history, "<offered> <stride>" pairs in cli.history_strides),
// which is also the order the chart draws them in.
struct TrainingCurves {
  Curve train_loss{{"train loss", {}, false}};         // the smoothed loss, at each optimizer step
  Curve val_loss{{"val loss", {}, false}};             // at each epoch's end
  Curve train_accuracy{{"train accuracy", {}, true}};  // the epoch's, at its end
  Curve val_accuracy{{"val accuracy", {}, true}};      // at each epoch's end

  std::array<Curve*, 4> all() { return {&train_loss, &val_loss, &train_accuracy, &val_accuracy}; }
  std::array<const Curve*, 4> all() const { return {&train_loss, &val_loss, &train_accuracy, &val_accuracy}; }
  std::vector<PlotSeries> series() const;

  std::string save() const;
  std::string save_strides() const;
  // `strides` is "" in older checkpoints, which kept every point.
  void load(const std::string& text, const std::string& strides);
};

class PlotObserver : public TrainLoopObserver {
 public:
  // `path` "": no chart, the curves are only kept for checkpoints. `title`: the chart's.
  PlotObserver(std::string path, std::string title) : path_(std::move(path)), title_(std::move(title)) {}

  void on_step(const StepEvent& event) override;
  // An epoch's validation only: the one at a --max-steps stop is not an epoch's.
  void on_validation(const ValidationEvent& event) override;
  // The epoch's train accuracy, and the chart rewritten.
  void on_epoch_end(const EpochEndEvent& event) override;
  void save_state(CheckpointEntries& entries) const override;
  void load_state(const CheckpointEntries& entries) override;

 private:
  std::string path_, title_;
  TrainingCurves curves_;
};

}  // namespace onnx_train::cli
