// tools/onnx-train/metrics_log.h: the --log FILE metrics log, one JSON object per line
// (JSON Lines), readable with pandas.read_json(path, lines=True) or `jq`:
//   {"step": 12, "epoch": 1, "loss": 0.4312, "lr": 0.001, "grad_norm": 1.7}
//   {"step": 938, "epoch": 1, "val_loss": 0.3921, "val_accuracy": 0.861}
//   {"event": "checkpoint", "path": "runs/ckpt-938.bin"}
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
#include <utility>
#include <vector>

namespace onnx_train::cli {

class MetricsLog {
 public:
  // Creates (or truncates) `path`; append: adds to it instead, for a resumed run. If the old
  // file's last line was cut short (a crash mid-write), the new lines start on a line of their own.
  explicit MetricsLog(const std::string& path, bool append = false);

  // {"step": s, "epoch": e, "loss": l, "lr": r, extra...}; an extra may not reuse those four names.
  void log_step(int64_t step, int64_t epoch, double loss, double lr,
                const std::vector<std::pair<std::string, double>>& extra = {});
  // {"step": s, "epoch": e, "val_loss": l, "val_accuracy": a}; without an accuracy, no such key.
  void log_validation(int64_t step, int64_t epoch, double val_loss, std::optional<double> val_accuracy);
  // {"event": event, field: value...}; a field may not be named "event".
  void log_event(const std::string& event, const std::vector<std::pair<std::string, std::string>>& fields);

  const std::string& path() const { return path_; }

 private:
  void write_line(const std::string& line);

  struct Closer {
    void operator()(std::FILE* file) const { std::fclose(file); }
  };
  std::string path_;
  std::unique_ptr<std::FILE, Closer> file_;
};

// The JSON text of a string (with its quotes) and of a number (null for NaN and infinities).
std::string json_string(const std::string& text);
std::string json_number(double value);

}  // namespace onnx_train::cli
