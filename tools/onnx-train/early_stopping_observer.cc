// tools/onnx-train/early_stopping_observer.cc: --early-stopping (early_stopping_observer.h).
#include "tools/onnx-train/early_stopping_observer.h"

#include <fmt/format.h>

#include <cstdlib>
#include <sstream>

namespace onnx_train::cli {

namespace {

// "<metric> <best, %.17g> <best step> <validations since>"
constexpr const char* kEarlyStoppingKey = "cli.early_stopping";

}  // namespace

void EarlyStoppingObserver::on_validation(const ValidationEvent& event) {
  if (event.at_stop) return;  // not one of the run's validations (train_loop.h)
  const double value = metric_.value(event.totals);
  if (metric_.improves(value, best_, min_delta_)) {
    best_ = value;
    best_step_ = event.step;
    waited_ = 0;
  } else {
    ++waited_;
  }
}

std::string EarlyStoppingObserver::why() const {
  // With a min delta, smaller gains counted as none: say so, or the numbers seem to disagree.
  const std::string by = min_delta_ > 0 ? fmt::format(" by more than {:g}", min_delta_) : "";
  return fmt::format("{} has not improved{} for {} validation{} (best {} at step {})", metric_.label(), by, waited_,
                     waited_ == 1 ? "" : "s", metric_.format(best_), best_step_);
}

void EarlyStoppingObserver::on_stop(const StopEvent& event) {
  if (event.reason != StopReason::EarlyStopping) return;
  std::string line = "early stopping: " + why();
  if (!event.checkpoint.empty()) line += fmt::format("; saved {}", event.checkpoint);
  progress_.summary(line);  // why the run ended early: --quiet keeps it
  if (log_)
    log_->log_event("early_stopping", {{"metric", metric_.name()},
                                       {"best", best_},
                                       {"best_step", best_step_},
                                       {"validations_without_improvement", waited_}});
}

void EarlyStoppingObserver::save_state(CheckpointEntries& entries) const {
  entries[kEarlyStoppingKey] = fmt::format("{} {:.17g} {} {}", metric_.name(), best_, best_step_, waited_);
}

// A checkpoint that watched another metric (the option changed on resume) starts the watch
// afresh: its best is not comparable.
void EarlyStoppingObserver::load_state(const CheckpointEntries& entries) {
  const auto it = entries.find(kEarlyStoppingKey);
  if (it == entries.end()) return;
  std::istringstream in(it->second);
  std::string name, best;
  int64_t step = 0, waited = 0;
  if (!(in >> name >> best >> step >> waited) || name != metric_.name()) return;
  best_ = std::strtod(best.c_str(), nullptr);
  best_step_ = step;
  waited_ = waited;
}

}  // namespace onnx_train::cli
