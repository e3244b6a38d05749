// For the tests of hostile inputs (files built to crash, exhaust or fool the readers): the
// error such a file must end in, and whether a message would put raw bytes on a terminal.
#pragma once

#include <gtest/gtest.h>

#include <exception>
#include <functional>
#include <string>
#include <typeinfo>

#include "onnx_train/error.h"
#include "tests/support/expect_text.h"

namespace onnx_train::testing::hostile {

// The message of the onnx_train::Error `f` throws; a test failure for no exception or another
// type (a std::bad_alloc or std::out_of_range escaping is the bug these tests look for).
inline std::string error_of(const std::function<void()>& f) {
  try {
    f();
  } catch (const Error& e) {
    return e.what();
  } catch (const std::exception& e) {
    ADD_FAILURE() << "a " << typeid(e).name() << " escaped instead of onnx_train::Error: " << e.what();
    return "";
  }
  ADD_FAILURE() << "no Error thrown";
  return "";
}

// True when `text` holds a byte that is not printable ASCII, newline or tab.
inline bool has_raw_binary(const std::string& text) {
  for (unsigned char c : text)
    if ((c < 0x20 && c != '\n' && c != '\t') || c >= 0x7f) return true;
  return false;
}

}  // namespace onnx_train::testing::hostile
