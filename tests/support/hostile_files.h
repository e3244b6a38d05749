// For the tests of hostile inputs (files built to crash, exhaust or fool the readers): whether
// a message would put raw bytes on a terminal. The error such a file must end in is
// error_of (tests/support/expect_text.h), which fails the test when another exception escapes.
#pragma once

#include <string>

#include "tests/support/expect_text.h"

namespace onnx_train::testing::hostile {

// True when `text` holds a byte that is not printable ASCII, newline or tab.
inline bool has_raw_binary(const std::string& text) {
  for (unsigned char c : text)
    if ((c < 0x20 && c != '\n' && c != '\t') || c >= 0x7f) return true;
  return false;
}

}  // namespace onnx_train::testing::hostile
