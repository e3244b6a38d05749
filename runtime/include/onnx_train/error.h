// onnx_train/error.h: the one exception type of the project and the one check macro.
//
// Every failure a user can cause (a bad model, bad data, an unsupported op) surfaces as
// onnx_train::Error with a message that names the file, node, op and shapes involved and
// says what to do. Internal invariants use the same macro: a broken invariant is a bug,
// but it still must not crash the process.
#pragma once

#include <fmt/format.h>

#include <stdexcept>
#include <string>
#include <utility>

namespace onnx_train {

class Error : public std::runtime_error {
 public:
  explicit Error(const std::string& message) : std::runtime_error(message) {}
};

// An error about one option a caller set (TrainingOptions::num_classes, ::freeze): option()
// names it as the API spells it, detail() is the message without that name, so a front end
// can speak of its own flag instead ("--num-classes: ..."). context() is where it was met (a
// model file), or empty. what() is "context: option: detail" (without "context: " when empty).
class OptionError : public Error {
 public:
  OptionError(std::string option, std::string detail, std::string context = "")
      : Error((context.empty() ? "" : context + ": ") + option + ": " + detail),
        option_(std::move(option)),
        detail_(std::move(detail)),
        context_(std::move(context)) {}
  const std::string& option() const { return option_; }
  const std::string& detail() const { return detail_; }
  const std::string& context() const { return context_; }

 private:
  std::string option_;
  std::string detail_;
  std::string context_;
};

// A training step stopped before it changed anything because its loss, a gradient or a
// running statistic came out NaN or infinite; what() says which, at which step.
class NonFiniteStep : public Error {
 public:
  using Error::Error;
};

// Throws Error with a fmt-formatted message: OT_FAIL("shape {} is not {}", a, b).
#define OT_FAIL(...) throw ::onnx_train::Error(::fmt::format(__VA_ARGS__))

// Throws Error with the formatted message unless `cond` holds.
#define OT_CHECK(cond, ...)            \
  do {                                 \
    if (!(cond)) OT_FAIL(__VA_ARGS__); \
  } while (0)

// Throws OptionError about `option` with a fmt-formatted detail unless `cond` holds:
// OT_CHECK_OPTION(n >= 1, "num_classes", "{}: a classifier needs at least 1 class", n).
#define OT_CHECK_OPTION(cond, option, ...)                                         \
  do {                                                                             \
    if (!(cond)) throw ::onnx_train::OptionError((option), ::fmt::format(__VA_ARGS__)); \
  } while (0)

}  // namespace onnx_train
