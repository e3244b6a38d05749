// tools/onnx-train/log_observer.cc: the --log records of the training loop (log_observer.h).
#include "tools/onnx-train/log_observer.h"

#include <fmt/format.h>

#include <cstdlib>
#include <optional>

namespace onnx_train::cli {

namespace {

// The run's totals so far, in checkpoints: "<samples> <seconds>".
constexpr const char* kRunTotalsKey = "cli.run_totals";

}  // namespace

void StepLoss::add(double loss, int64_t samples) {
  loss_sum_ += loss * static_cast<double>(samples);
  samples_ += samples;
}

double StepLoss::take(double fallback) {
  const double loss = samples_ > 0 ? loss_sum_ / static_cast<double>(samples_) : fallback;
  *this = StepLoss{};
  return loss;
}

void MetricsLogObserver::on_run_start() { start_ = std::chrono::steady_clock::now(); }

double MetricsLogObserver::run_seconds() const {
  return earlier_seconds_ + std::chrono::duration<double>(std::chrono::steady_clock::now() - start_).count();
}

// No optimizer step spans two epochs (an epoch's partial accumulation is stepped at its end).
void MetricsLogObserver::on_epoch_start(int64_t, int64_t) { step_loss_ = StepLoss{}; }

void MetricsLogObserver::on_batch(const StepEvent& event) {
  samples_ += event.samples;
  step_loss_.add(event.result.loss, event.samples);
}

void MetricsLogObserver::on_step(const StepEvent& event) {
  const StepResult& r = event.result;
  const double loss = step_loss_.take(r.loss);
  if (!log_) return;
  LogFields extra;
  if (r.grad_norm) extra.emplace_back("grad_norm", *r.grad_norm);
  extra.emplace_back("samples", samples_);
  extra.emplace_back("epoch_loss_mean", event.epoch.totals.loss());
  if (event.epoch.skipped_nonfinite > 0) extra.emplace_back("epoch_skipped_nonfinite", event.epoch.skipped_nonfinite);
  extra.emplace_back("time", run_seconds());
  log_->log_step(r.step, event.next.epoch + 1, loss, r.learning_rate, extra);
}

// {"event": "skipped_nonfinite", "epoch": e, "batch": b, "skipped": run total, "epoch_skipped": n}
void MetricsLogObserver::on_skip(const SkipEvent& event) {
  if (!log_) return;
  log_->log_event("skipped_nonfinite", {{"epoch", event.at.epoch + 1},
                                        {"batch", event.at.batch + 1},
                                        {"skipped", event.skipped},
                                        {"epoch_skipped", event.epoch.skipped_nonfinite}});
}

void MetricsLogObserver::on_validation(const ValidationEvent& event) {
  if (!log_) return;
  std::optional<double> accuracy;
  if (event.totals.accuracy() >= 0) accuracy = event.totals.accuracy();
  if (!event.at_stop) {
    log_->log_validation(event.step, event.epoch + 1, event.totals.loss(), accuracy);
    return;
  }
  LogFields fields = {{"step", event.step}, {"loss", event.totals.loss()}};
  if (accuracy) fields.emplace_back("accuracy", *accuracy);
  log_->log_event("validation_at_stop", fields);
}

void MetricsLogObserver::on_failure(const FailureEvent& event, std::string&) {
  if (log_) log_->log_event("stopped", {{"reason", event.what}});
}

void MetricsLogObserver::save_state(CheckpointEntries& entries) const {
  entries.insert({kRunTotalsKey, fmt::format("{} {:.17g}", samples_, run_seconds())});
}

void MetricsLogObserver::load_state(const CheckpointEntries& entries) {
  const auto it = entries.find(kRunTotalsKey);
  if (it == entries.end()) return;  // an older checkpoint: counted from this resume
  char* end = nullptr;
  samples_ = std::strtoll(it->second.c_str(), &end, 10);
  earlier_seconds_ = std::strtod(end, nullptr);
}

}  // namespace onnx_train::cli
