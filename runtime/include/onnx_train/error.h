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

namespace onnx_train {

class Error : public std::runtime_error {
 public:
  explicit Error(const std::string& message) : std::runtime_error(message) {}
};

// Throws Error with a fmt-formatted message: OT_FAIL("shape {} is not {}", a, b).
#define OT_FAIL(...) throw ::onnx_train::Error(::fmt::format(__VA_ARGS__))

// Throws Error with the formatted message unless `cond` holds.
#define OT_CHECK(cond, ...)            \
  do {                                 \
    if (!(cond)) OT_FAIL(__VA_ARGS__); \
  } while (0)

}  // namespace onnx_train
