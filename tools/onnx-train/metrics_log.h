// tools/onnx-train/metrics_log.h: the --log FILE metrics log, one JSON object per line
// (JSON Lines), readable with pandas.read_json(path, lines=True) or `jq`.
//
// The records of a training run (log_observer.h, checkpoint_observer.h, train_command.cc write
// them), each a flat object; numbers are JSON numbers, never quoted:
//
//   a step: one per optimizer step, the epoch-end step of a partial --accumulate included
//     {"step": 36, "epoch": 2, "loss": 0.4312, "lr": 0.001, "samples": 1152, "epoch_loss_mean": 0.5108,
//      "time": 12.84}   and "grad_norm": 1.7 when --clip-grad-norm computed it
//     step             optimizer steps done, this one included (1, 2, ...)
//     epoch            the epoch it belongs to, from 1
//     loss             the step's training loss: the mean over its samples (all of its micro-batches)
//     lr               the learning rate the step used
//     grad_norm        the global gradient norm before clipping
//     samples          training samples seen since the run began (summed over resumed runs)
//     epoch_loss_mean  the mean training loss of the epoch so far (what the progress bar shows)
//     time             seconds since the run began (summed over resumed runs; wall time, validation included)
//   an epoch's validation:
//     {"step": 40, "epoch": 2, "val_loss": 0.3921, "val_accuracy": 0.861}   (no val_accuracy without one)
//   events, named by "event":
//     {"event": "checkpoint", "path": "ck/step-000000040.ckpt", "step": 40}
//     {"event": "resumed", "from": CHECKPOINT, "step": 40, "changed": "--lr 0.1 -> 0.01"}
//     {"event": "validation_at_stop", "step": 25, "loss": 0.41, "accuracy": 0.85}   (a --max-steps stop)
//     {"event": "stopped", "reason": "the error the run stopped with"}
//
// Numbers are the shortest text that reads back as the same double; NaN and infinities,
// which JSON has no spelling for, are written as null (a diverged run's log stays readable).
// Strings are escaped per RFC 8259, and bytes that are not UTF-8 (a Latin-1 file name)
// become U+FFFD, so every line parses. Each line is flushed as it is written: a run that
// crashes leaves a log whose every complete line is valid.
#pragma once

#include <cstdint>
#include <cstdio>
#include <memory>
#include <optional>
#include <string>
#include <type_traits>
#include <utility>
#include <vector>

namespace onnx_train::cli {

// The JSON text of a string (with its quotes) and of a number (null for NaN and infinities).
std::string json_string(const std::string& text);
std::string json_number(double value);

// A field's value: a number or a string, each written as JSON spells it ("step": 36, "path": "a").
class LogValue {
 public:
  LogValue(double value) : json_(json_number(value)) {}  // NOLINT: implicit, as a field list reads
  template <typename Int, std::enable_if_t<std::is_integral_v<Int> && !std::is_same_v<Int, bool>, int> = 0>
  LogValue(Int value) : json_(std::to_string(value)) {}            // NOLINT
  LogValue(bool value) : json_(value ? "true" : "false") {}        // NOLINT
  LogValue(const std::string& text) : json_(json_string(text)) {}  // NOLINT
  LogValue(const char* text) : json_(json_string(text)) {}         // NOLINT
  const std::string& json() const { return json_; }

 private:
  std::string json_;
};
using LogFields = std::vector<std::pair<std::string, LogValue>>;

class MetricsLog {
 public:
  // Creates (or truncates) `path`; append: adds to it instead, for a resumed run. If the old
  // file's last line was cut short (a crash mid-write), the new lines start on a line of their own.
  explicit MetricsLog(const std::string& path, bool append = false);

  // {"step": s, "epoch": e, "loss": l, "lr": r, extra...}; an extra may not reuse those four names.
  void log_step(int64_t step, int64_t epoch, double loss, double lr, const LogFields& extra = {});
  // {"step": s, "epoch": e, "val_loss": l, "val_accuracy": a}; without an accuracy, no such key.
  void log_validation(int64_t step, int64_t epoch, double val_loss, std::optional<double> val_accuracy);
  // {"event": event, field: value...}; a field may not be named "event".
  void log_event(const std::string& event, const LogFields& fields);

  const std::string& path() const { return path_; }

 private:
  void write_line(const std::string& line);

  struct Closer {
    void operator()(std::FILE* file) const { std::fclose(file); }
  };
  std::string path_;
  std::unique_ptr<std::FILE, Closer> file_;
};

}  // namespace onnx_train::cli
