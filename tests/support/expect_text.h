// Expectations on text (error messages, a run's output): which parts it must hold and which
// it must not, with the whole text in the failure message so a failing test shows what it got;
// and error_of, which turns a call that should fail into its message.
#pragma once

#include <gtest/gtest.h>

#include <exception>
#include <functional>
#include <initializer_list>
#include <string>
#include <typeinfo>

#include "onnx_train/error.h"

#ifndef EXPECT_HAS
#define EXPECT_HAS(text, part) \
  EXPECT_NE((text).find(part), std::string::npos) << "expected '" << (part) << "' in:\n" << (text)
#endif
#ifndef EXPECT_LACKS
#define EXPECT_LACKS(text, part) \
  EXPECT_EQ((text).find(part), std::string::npos) << "unexpected '" << (part) << "' in:\n" << (text)
#endif

namespace onnx_train::testing {

// The message of the onnx_train::Error that `f` throws. Throwing nothing, or another exception
// type (a std::bad_alloc or std::out_of_range escaping is a bug: the library throws only
// Error), is a test failure and gives "".
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

// `text` is an error message ("" stands for "no error was thrown") holding every one of `parts`.
inline void expect_contains(const std::string& text, std::initializer_list<std::string> parts) {
  EXPECT_FALSE(text.empty()) << "expected an Error";
  for (const std::string& part : parts)
    EXPECT_NE(text.find(part), std::string::npos) << "'" << part << "' in: " << text;
}

}  // namespace onnx_train::testing
