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

void ProgressObserver::on_epoch_start(int64_t, int64_t first_batch) {
  first_batch_ = first_batch;
  epoch_start_ = std::chrono::steady_clock::now();
  epoch_samples_ = 0;
}

void ProgressObserver::on_batch(const StepEvent& event) {
  epoch_samples_ += event.samples;
  const TrainingSession& session = loop_.session();
  const LoopPlan& plan = loop_.plan();
  const double elapsed = std::chrono::duration<double>(std::chrono::steady_clock::now() - epoch_start_).count();
  StepStatus status;
  status.epoch = event.next.epoch + 1;
  status.epochs = plan.epochs;
  status.batch = event.next.batch;
  status.batches = plan.batches;
  status.step = session.step();
  status.total_steps = plan.total_steps();
  status.loss = event.epoch.smoothed;
  status.accuracy = event.epoch.totals.accuracy();
  status.lr = session.learning_rate();
  status.samples_per_second = elapsed > 0 ? epoch_samples_ / elapsed : 0;
  // ETA: the batches left in this epoch, or fewer when --max-steps ends the run sooner, at this
  // epoch's rate so far.
  const double rate = elapsed > 0 ? (event.next.batch - first_batch_) / elapsed : 0;
  const int64_t left =
      std::min(plan.batches - event.next.batch,
               (status.total_steps - session.step()) * plan.accumulate - session.pending_micro_batches());
  status.eta_seconds = rate > 0 ? std::max<int64_t>(left, 0) / rate : -1;
  progress_.update(status);
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
  std::string line = fmt::format("epoch {}/{}: train loss {:.4f}{}", event.epoch + 1, loop_.plan().epochs,
                                 event.state.totals.loss(), accuracy_text(event.state.totals.accuracy()));
  if (event.validation)
    line += fmt::format("; val loss {:.4f}{}", event.validation->loss(), accuracy_text(event.validation->accuracy()));
  progress_.finish();
  progress_.message(line);
}

void ProgressObserver::on_stop(const StopEvent& event) {
  progress_.finish();
  const int64_t step = loop_.session().step();
  if (event.reason == StopReason::Interrupted) {
    progress_.message(fmt::format("interrupted: saved {} at step {}; continue with the same command and --resume={}",
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
