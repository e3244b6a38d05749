// tools/onnx-train/best_model_observer.cc: --save-best (best_model_observer.h).
#include "tools/onnx-train/best_model_observer.h"

#include <fmt/format.h>

#include <cstdlib>
#include <filesystem>
#include <sstream>

namespace onnx_train::cli {

namespace fs = std::filesystem;

namespace {

// "<metric> <best, %.17g> <best step>"
constexpr const char* kBestKey = "cli.best";

bool ends_with(const std::string& text, const std::string& end) {
  return text.size() >= end.size() && text.compare(text.size() - end.size(), end.size(), end) == 0;
}

}  // namespace

std::string BestModelObserver::default_path(const std::string& exported) {
  std::string base = exported;
  if (ends_with(base, ".onnx")) base.resize(base.size() - 5);
  if (ends_with(base, ".trained")) base.resize(base.size() - 8);
  return base + ".best.onnx";
}

void BestModelObserver::on_validation(const ValidationEvent& event) {
  // An epoch's validation waits for the epoch's end (its line first, and the epoch done); the
  // extra one of a --max-steps stop is not one of the run's (train_loop.h).
  if (!event.at_steps) return;
  consider(event.totals, event.step, event.at, *event.state);
}

// An epoch's best checkpoint is taken after its end: a run resumed from it starts the next epoch.
void BestModelObserver::on_epoch_end(const EpochEndEvent& event) {
  if (event.validation) consider(*event.validation, event.step, {event.epoch + 1, 0}, EpochState{});
}

void BestModelObserver::consider(const EvalTotals& totals, int64_t step, LoopPosition at, const EpochState& state) {
  const double value = metric_.value(totals);
  if (!metric_.improves(value, best_)) return;
  best_ = value;
  best_step_ = step;
  write_model_(model_path_);
  std::string wrote = model_path_;
  if (!checkpoint_.empty()) {
    // After best_ changed: the checkpoint's own cli.best is this value.
    loop_.session().save_checkpoint(checkpoint_, loop_.checkpoint_entries(at, state));
    wrote += ", " + checkpoint_;
  }
  progress_.message(
      fmt::format("new best {} {} at step {}: wrote {}", metric_.label(), metric_.format(value), step, wrote));
  if (log_)
    log_->log_event("best", {{"metric", metric_.name()},
                             {"value", value},
                             {"step", step},
                             {"path", model_path_}});
}

void BestModelObserver::save_state(CheckpointEntries& entries) const {
  entries[kBestKey] = fmt::format("{} {:.17g} {}", metric_.name(), best_, best_step_);
}

// The best of another metric (the option changed on resume) is not comparable: the watch
// starts afresh.
void BestModelObserver::load_state(const CheckpointEntries& entries) {
  const auto it = entries.find(kBestKey);
  if (it == entries.end()) return;
  std::istringstream in(it->second);
  std::string name, best;
  int64_t step = 0;
  if (!(in >> name >> best >> step) || name != metric_.name()) return;
  best_ = std::strtod(best.c_str(), nullptr);
  best_step_ = step;
}

}  // namespace onnx_train::cli
