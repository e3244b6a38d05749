// tools/onnx-train/progress_observer.h: what a training run shows on the terminal, attached to
// the TrainLoop: a line saying what the progress numbers are, the progress bar with the epoch's
// mean loss and accuracy so far, the rate and the epoch's and the run's ETA after every
// micro-batch, the line of each epoch (its mean train loss and accuracy, validation loss and
// accuracy), and the lines of a stop (--max-steps, Ctrl-C) and of the validation at a
// --max-steps stop. The display itself is progress.h; the lines before and after the loop
// (resume, data, summary) are train_command's.
#pragma once

#include <chrono>
#include <cstdint>

#include "tools/onnx-train/progress.h"
#include "tools/onnx-train/train_loop.h"

namespace onnx_train::cli {

class ProgressObserver : public TrainLoopObserver {
 public:
  ProgressObserver(const TrainLoop& loop, ProgressDisplay& progress) : loop_(loop), progress_(progress) {}

  void on_run_start() override;
  void on_epoch_start(int64_t epoch, int64_t first_batch) override;
  void on_batch(const StepEvent& event) override;
  void on_skip(const SkipEvent& event) override;
  void on_validation(const ValidationEvent& event) override;
  void on_epoch_end(const EpochEndEvent& event) override;
  void on_stop(const StopEvent& event) override;
  void on_failure(const FailureEvent&, std::string&) override { progress_.finish(); }
  void on_run_end() override { progress_.finish(); }

 private:
  // The micro-batches from `next` (the position after the latest micro-batch) to the run's end:
  // those left in this epoch and those of the epochs after it.
  struct BatchesLeft {
    int64_t epoch = 0, later = 0;
  };
  BatchesLeft batches_left(LoopPosition next) const;

  int64_t skips_shown_ = 0;
  const TrainLoop& loop_;
  ProgressDisplay& progress_;
  // This process's part of the run: when it started and the micro-batches trained since, for
  // the rate of the run's ETA (wall time, so validations and checkpoints count too).
  std::chrono::steady_clock::time_point run_start_;
  int64_t run_batches_ = 0;
  // The epoch in progress in this process: its first batch here, when it started, the samples
  // trained since (the rate and the ETA are of this process's work).
  int64_t first_batch_ = 0;
  std::chrono::steady_clock::time_point epoch_start_;
  int64_t epoch_samples_ = 0;
};

}  // namespace onnx_train::cli
