// onnx_train/printable.h: text taken from a file (an npy header, a CSV cell, the first bytes
// of a damaged file) goes into error messages escaped: bytes that are not printable ASCII
// become \xNN, so a corrupt file cannot put raw binary, terminal escape sequences or a
// carriage return on the screen. A front end passes every error message through
// printable_message before printing it.
#pragma once

#include <string>
#include <string_view>

namespace onnx_train {

// Every byte outside printable ASCII (0x20..0x7e) as \xNN; a backslash as \\ so that the
// escapes stay unambiguous. printable_bytes("a\x93\n") == "a\\x93\\x0a".
std::string printable_bytes(std::string_view bytes);

// For a whole message about to be printed: control characters other than newline and tab
// (ESC, CR, BEL, DEL...) as \xNN; everything else, UTF-8 file names included, as is.
std::string printable_message(std::string_view message);

}  // namespace onnx_train
