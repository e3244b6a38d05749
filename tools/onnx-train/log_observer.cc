// tools/onnx-train/log_observer.cc: the --log lines of the training loop (log_observer.h).
#include "tools/onnx-train/log_observer.h"

#include <fmt/format.h>

#include <optional>
#include <utility>
#include <vector>

namespace onnx_train::cli {

void MetricsLogObserver::on_step(const StepEvent& event) {
  const StepResult& r = event.result;
  std::vector<std::pair<std::string, double>> extra;
  if (r.grad_norm) extra.emplace_back("grad_norm", *r.grad_norm);
  log_.log_step(r.step, event.next.epoch + 1, r.loss, r.learning_rate, extra);
}

void MetricsLogObserver::on_validation(const ValidationEvent& event) {
  std::optional<double> accuracy;
  if (event.totals.accuracy() >= 0) accuracy = event.totals.accuracy();
  if (!event.at_stop) {
    log_.log_validation(event.step, event.epoch + 1, event.totals.loss(), accuracy);
    return;
  }
  std::vector<std::pair<std::string, std::string>> fields = {{"step", std::to_string(event.step)},
                                                             {"loss", fmt::format("{:.9g}", event.totals.loss())}};
  if (accuracy) fields.emplace_back("accuracy", fmt::format("{:.9g}", *accuracy));
  log_.log_event("validation_at_stop", fields);
}

void MetricsLogObserver::on_failure(const FailureEvent& event, std::string&) {
  log_.log_event("stopped", {{"reason", event.what}});
}

}  // namespace onnx_train::cli
