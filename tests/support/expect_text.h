// Expectations on text (error messages, a run's output): which parts it must hold and which
// it must not, with the whole text in the failure message so a failing test shows what it got.
#pragma once

#include <gtest/gtest.h>

#include <initializer_list>
#include <string>

#ifndef EXPECT_HAS
#define EXPECT_HAS(text, part) \
  EXPECT_NE((text).find(part), std::string::npos) << "expected '" << (part) << "' in:\n" << (text)
#endif
#ifndef EXPECT_LACKS
#define EXPECT_LACKS(text, part) \
  EXPECT_EQ((text).find(part), std::string::npos) << "unexpected '" << (part) << "' in:\n" << (text)
#endif

namespace onnx_train::testing {

// `text` is an error message ("" stands for "no error was thrown") holding every one of `parts`.
inline void expect_contains(const std::string& text, std::initializer_list<std::string> parts) {
  EXPECT_FALSE(text.empty()) << "expected an Error";
  for (const std::string& part : parts)
    EXPECT_NE(text.find(part), std::string::npos) << "'" << part << "' in: " << text;
}

}  // namespace onnx_train::testing
