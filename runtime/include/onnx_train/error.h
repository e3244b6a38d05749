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

// What kind of input or condition a failure is about, so that a front end, a test or a script
// can tell a malformed model from malformed data or an input too large for the limits without
// parsing the message. Boundaries set it (importing a model, opening data, reading a
// checkpoint: see with_category below) on errors thrown deeper without one.
enum class ErrorCategory {
  Unspecified,    // not yet classified (an internal invariant, or below every boundary)
  Usage,          // an option or argument the caller gave
  Model,          // a malformed, inconsistent or unsupported-in-shape ONNX model
  Data,           // a malformed data file (npy, npz, CSV, IDX, images, TensorProto sets)
  Checkpoint,     // a malformed or mismatched checkpoint file
  ResourceLimit,  // an input that declares more memory (or decompressed bytes) than allowed
  Unsupported,    // a valid model using an op, version or type this runtime does not run
  NonFinite,      // a training step produced NaN or infinite values
  Io,             // a file that cannot be opened, read or written
  Distributed,    // another rank of a data-parallel run did not answer in time, or failed
};

// The category's name as tests, logs and the command line print it ("model", "resource-limit").
const char* category_name(ErrorCategory category);

class Error : public std::runtime_error {
 public:
  explicit Error(const std::string& message, ErrorCategory category = ErrorCategory::Unspecified)
      : std::runtime_error(message), category_(category) {}
  ErrorCategory category() const { return category_; }
  // Sets the category unless one is set already: the innermost classification wins.
  void classify(ErrorCategory category) {
    if (category_ == ErrorCategory::Unspecified) category_ = category;
  }

 private:
  ErrorCategory category_;
};

// An error about one option a caller set (TrainingOptions::num_classes, ::freeze): option()
// names it as the API spells it, detail() is the message without that name, so a front end
// can speak of its own flag instead ("--num-classes: ..."). context() is where it was met (a
// model file), or empty. what() is "context: option: detail" (without "context: " when empty).
class OptionError : public Error {
 public:
  OptionError(std::string option, std::string detail, std::string context = "")
      : Error((context.empty() ? "" : context + ": ") + option + ": " + detail, ErrorCategory::Usage),
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
  explicit NonFiniteStep(const std::string& message) : Error(message, ErrorCategory::NonFinite) {}
};

// Throws Error with a fmt-formatted message: OT_FAIL("shape {} is not {}", a, b).
#define OT_FAIL(...) throw ::onnx_train::Error(::fmt::format(__VA_ARGS__))

// Throws Error of a category: OT_FAIL_AS(ErrorCategory::ResourceLimit, "{}: {} bytes", path, n).
#define OT_FAIL_AS(category, ...) throw ::onnx_train::Error(::fmt::format(__VA_ARGS__), (category))

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

// Runs fn(); an Error escaping it without a category gets `category` (a boundary: everything
// thrown while importing a model is about the model unless said otherwise).
template <typename Fn>
decltype(auto) with_category(ErrorCategory category, Fn&& fn) {
  try {
    return fn();
  } catch (Error& e) {
    e.classify(category);
    throw;
  }
}

}  // namespace onnx_train
