// `onnx-train --version`: what a bug report needs to say which build ran. The version comes
// from CMake's project(VERSION ...) (the ONNX_TRAIN_VERSION definition), the opsets from the
// importer's limits, and oneDNN's version from the library actually loaded, not the headers
// built against.
#include <fmt/format.h>
#include <oneapi/dnnl/dnnl.h>

#include "onnx_train/inspect.h"
#include "tools/onnx-train/subcommands.h"

#ifndef ONNX_TRAIN_VERSION
#error "ONNX_TRAIN_VERSION is defined by CMakeLists.txt from project(VERSION ...)"
#endif

namespace onnx_train::cli {

std::string version_text() {
  const dnnl_version_t* dnnl = dnnl_version();
  const SupportedOpsets opsets = supported_opsets();
  return fmt::format(
      "onnx-train {}\n"
      "ONNX opsets: default domain {} to {} (older models are upgraded to {}; {} to {} are lowered to {} at load)\n"
      "oneDNN {}.{}.{}\n",
      ONNX_TRAIN_VERSION, opsets.oldest, opsets.newest, opsets.oldest, opsets.native + 1, opsets.newest, opsets.native,
      dnnl->major, dnnl->minor, dnnl->patch);
}

}  // namespace onnx_train::cli
