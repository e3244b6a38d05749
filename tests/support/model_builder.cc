#include "tests/support/model_builder.h"

#include <cstdlib>
#include <filesystem>

#include "onnx_train/session.h"

namespace onnx_train::testing {

std::string load_error(const std::string& model_path) {
  try {
    Session::from_file(model_path);
  } catch (const Error& e) {
    return e.what();
  }
  return "";
}

TempDir::TempDir() {
  std::string pattern = (std::filesystem::temp_directory_path() / "onnx-train-test-XXXXXX").string();
  OT_CHECK(mkdtemp(pattern.data()) != nullptr, "cannot create a temporary directory");
  path_ = pattern;
}

TempDir::~TempDir() {
  std::error_code ec;
  std::filesystem::remove_all(path_, ec);
}

}  // namespace onnx_train::testing
