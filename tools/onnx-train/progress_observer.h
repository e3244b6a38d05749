// tools/onnx-train/progress_observer.h: what a training run shows on the terminal, attached to
// the TrainLoop: the progress bar with its rate and ETA after every micro-batch, the line of
// each epoch (train and validation loss and accuracy), and the lines of a stop (--max-steps,
// Ctrl-C) and of the validation at a --max-steps stop. The display itself is progress.h; the
// lines before and after the loop (resume, data, summary) are train_command's.
#pragma once

#include <chrono>
#include <cstdint>

#include "tools/onnx-train/progress.h"
#include "tools/onnx-train/train_loop.h"

namespace onnx_train::cli {

class ProgressObserver : public TrainLoopObserver {
 public:
  ProgressObserver(const TrainLoop& loop, ProgressDisplay& progress) : loop_(loop), progress_(progress) {}

  void on_epoch_start(int64_t epoch, int64_t first_batch) override;
  void on_batch(const StepEvent& event) override;
  void on_validation(const ValidationEvent& event) override;
  void on_epoch_end(const EpochEndEvent& event) override;
  void on_stop(const StopEvent& event) override;
  void on_failure(const FailureEvent&, std::string&) override { progress_.finish(); }
  void on_run_end() override { progress_.finish(); }

 private:
  const TrainLoop& loop_;
  ProgressDisplay& progress_;
  // The epoch in progress in this process: its first batch here, when it started, the samples
  // trained since (the rate and the ETA are of this process's work).
  int64_t first_batch_ = 0;
  std::chrono::steady_clock::time_point epoch_start_;
  int64_t epoch_samples_ = 0;
};

}  // namespace onnx_train::cli
