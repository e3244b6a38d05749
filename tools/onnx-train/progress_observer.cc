// tools/onnx-train/progress_observer.cc: the progress bar and the epoch and stop lines of a
// training run (progress_observer.h).
#include "tools/onnx-train/progress_observer.h"

#include <fmt/format.h>

#include <algorithm>
#include <optional>

namespace onnx_train::cli {

namespace {

// ", accuracy 84.10%" for an accuracy in [0, 1]; "" for none (< 0).
std::string accuracy_text(double accuracy) {
  return accuracy >= 0 ? fmt::format(", accuracy {:.2f}%", 100 * accuracy) : "";
}

}  // namespace

void ProgressObserver::on_run_start() {
  run_start_ = std::chrono::steady_clock::now();
  run_batches_ = 0;
}

void ProgressObserver::on_epoch_start(int64_t, int64_t first_batch) {
  first_batch_ = first_batch;
  epoch_start_ = std::chrono::steady_clock::now();
  epoch_samples_ = 0;
}

ProgressObserver::BatchesLeft ProgressObserver::batches_left(LoopPosition next) const {
  const LoopPlan& plan = loop_.plan();
  const TrainingSession& session = loop_.session();
  const int64_t steps_left = std::max<int64_t>(plan.total_steps() - session.step(), 0);
  const int64_t pending = session.pending_micro_batches();
  const int64_t in_epoch = plan.batches - next.batch;
  // This epoch's steps still to come: its micro-batches left and those pending, the last
  // step of a partial accumulation included.
  const int64_t epoch_steps = (in_epoch + pending + plan.accumulate - 1) / plan.accumulate;
  if (steps_left <= epoch_steps) return {std::clamp<int64_t>(steps_left * plan.accumulate - pending, 0, in_epoch), 0};
  // Whole epochs after this one, then part of one.
  const int64_t after = steps_left - epoch_steps, per_epoch = plan.steps_per_epoch();
  return {in_epoch, after / per_epoch * plan.batches + std::min(after % per_epoch * plan.accumulate, plan.batches)};
}

void ProgressObserver::on_batch(const StepEvent& event) {
  // What the numbers are, once, above the first progress line.
  if (run_batches_ == 0)
    progress_.message(
        "progress: avg loss and avg acc are the epoch's means so far; ETA is the epoch's time left, (run ...) the "
        "whole run's");
  epoch_samples_ += event.samples;
  ++run_batches_;
  const TrainingSession& session = loop_.session();
  const LoopPlan& plan = loop_.plan();
  const auto now = std::chrono::steady_clock::now();
  const double elapsed = std::chrono::duration<double>(now - epoch_start_).count();
  const double run_elapsed = std::chrono::duration<double>(now - run_start_).count();
  StepStatus status;
  status.epoch = event.next.epoch + 1;
  status.epochs = plan.epochs;
  status.batch = event.next.batch;
  status.batches = plan.batches;
  status.step = session.step();
  status.total_steps = plan.total_steps();
  status.loss = event.epoch.totals.loss();
  status.accuracy = event.epoch.totals.accuracy();
  status.lr = session.learning_rate();
  status.samples_per_second = elapsed > 0 ? epoch_samples_ / elapsed : 0;
  // The epoch's ETA: its batches left (fewer when --max-steps ends the run sooner) at this
  // epoch's rate so far. The run's: that, plus the later epochs' batches at the run's rate in
  // this process, which counts the time validations and checkpoints take.
  const BatchesLeft left = batches_left(event.next);
  const double rate = elapsed > 0 ? (event.next.batch - first_batch_) / elapsed : 0;
  const double run_rate = run_elapsed > 0 ? run_batches_ / run_elapsed : 0;
  status.eta_seconds = rate > 0 ? left.epoch / rate : -1;
  if (status.eta_seconds >= 0 && left.later > 0 && run_rate > 0)
    status.run_eta_seconds = status.eta_seconds + left.later / run_rate;
  progress_.update(status);
}

// The first skip of the process is a warning with the step's trace (the first node whose
// output turned NaN or Inf); the count is in the epoch lines and the final summary.
void ProgressObserver::on_skip(const SkipEvent& event) {
  if (skips_shown_++ > 0) return;
  progress_.finish();
  progress_.warning(fmt::format(
      "warning: --skip-nonfinite left out batch {} of epoch {}/{}, nothing was updated (further ones are counted, "
      "not shown): {}",
      event.at.batch + 1, event.at.epoch + 1, loop_.plan().epochs, event.what));
}

// The validations inside an epoch (--eval-every, a --max-steps stop) have a line of their own;
// an epoch's validation is part of the epoch's line.
void ProgressObserver::on_validation(const ValidationEvent& event) {
  if (event.at_steps)
    return progress_.message(fmt::format("validation at step {} (epoch {}/{}): val loss {:.4f}{}", event.step,
                                         event.epoch + 1, loop_.plan().epochs, event.totals.loss(),
                                         accuracy_text(event.totals.accuracy())));
  if (!event.at_stop) return;
  progress_.message(fmt::format("validation at step {} (inside epoch {}/{}): val loss {:.4f}{}", event.step,
                                event.epoch + 1, loop_.plan().epochs, event.totals.loss(),
                                accuracy_text(event.totals.accuracy())));
}

void ProgressObserver::on_epoch_end(const EpochEndEvent& event) {
  std::string line = fmt::format("epoch {}/{}: train loss (epoch mean) {:.4f}{}", event.epoch + 1, loop_.plan().epochs,
                                 event.state.totals.loss(), accuracy_text(event.state.totals.accuracy()));
  if (event.validation)
    line += fmt::format("; val loss {:.4f}{}", event.validation->loss(), accuracy_text(event.validation->accuracy()));
  if (event.state.skipped_nonfinite > 0)
    line += fmt::format("; skipped {} non-finite step{}", event.state.skipped_nonfinite,
                        event.state.skipped_nonfinite == 1 ? "" : "s");
  progress_.finish();
  progress_.message(line);
}

void ProgressObserver::on_stop(const StopEvent& event) {
  progress_.finish();
  const int64_t step = loop_.session().step();
  // An interrupted run prints no summary: its line, which says how to go on, is kept by --quiet.
  if (event.reason == StopReason::Interrupted) {
    progress_.summary(fmt::format("interrupted: saved {} at step {}; continue with the same command and --resume={}",
                                  event.checkpoint, step, event.checkpoint));
    return;
  }
  if (event.reason == StopReason::EarlyStopping) return;  // said by the EarlyStoppingObserver
  const LoopPlan& plan = loop_.plan();
  std::string line = fmt::format("stopped at step {} (--max-steps {}) after batch {} of {} in epoch {}/{}", step,
                                 plan.max_steps, event.at.batch, plan.batches, event.at.epoch + 1, plan.epochs);
  if (!event.checkpoint.empty()) line += fmt::format("; --resume continues from {}", event.checkpoint);
  progress_.message(line);
}

}  // namespace onnx_train::cli
