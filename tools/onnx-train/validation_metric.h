// tools/onnx-train/validation_metric.h: the validation metric that --early-stopping and
// --save-best watch ("val_loss" or "val_accuracy", as Keras and Hugging Face's Trainer name
// them): its value in a validation, whether a value improves on the best so far, and how it is
// said. The loss improves downwards, the accuracy (a fraction in [0, 1]) upwards.
#pragma once

#include <fmt/format.h>

#include <cmath>
#include <string>

#include "onnx_train/error.h"
#include "tools/onnx-train/train_common.h"

namespace onnx_train::cli {

class ValidationMetric {
 public:
  // `flag` names the option in the message of a name that is neither metric.
  static ValidationMetric parse(const std::string& flag, const std::string& name) {
    std::string lower;
    for (char c : name) lower += c == '-' ? '_' : static_cast<char>(std::tolower(static_cast<unsigned char>(c)));
    OT_CHECK(lower == "val_loss" || lower == "val_accuracy", "{} takes val_loss or val_accuracy, got '{}'", flag, name);
    return ValidationMetric(lower == "val_accuracy");
  }

  bool is_accuracy() const { return accuracy_; }
  std::string name() const { return accuracy_ ? "val_accuracy" : "val_loss"; }   // as the flag takes it
  std::string label() const { return accuracy_ ? "val accuracy" : "val loss"; }  // as lines say it

  double value(const EvalTotals& totals) const { return accuracy_ ? totals.accuracy() : totals.loss(); }
  // Whether `value` beats `best` by more than `min_delta` (Keras's min_delta); any value beats
  // no best yet (NaN). A NaN value never improves.
  bool improves(double value, double best, double min_delta = 0) const {
    if (std::isnan(value)) return false;
    if (std::isnan(best)) return true;
    return accuracy_ ? value > best + min_delta : value < best - min_delta;
  }
  // "0.3121" for a loss, "93.75%" for an accuracy.
  std::string format(double value) const {
    return accuracy_ ? fmt::format("{:.2f}%", 100 * value) : fmt::format("{:.4f}", value);
  }

 private:
  explicit ValidationMetric(bool accuracy) : accuracy_(accuracy) {}
  bool accuracy_;
};

}  // namespace onnx_train::cli
