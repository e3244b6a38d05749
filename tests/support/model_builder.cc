#include "tests/support/model_builder.h"

#include <cstdlib>
#include <filesystem>

namespace onnx_train::testing {

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
