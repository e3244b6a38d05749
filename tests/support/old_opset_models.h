// The models exported at an older opset (tests/data/old_opset/, made by
// tests/data/make_old_opset.py), what the tests ask of the files they and their exports are, and
// the data their CNN learns; shared by the library's tests (tests/train/old_opset_test.cc) and
// the command line's (tests/cli/old_opset_cli_test.cc), so both train on the same stripes.
#pragma once

#include <gtest/gtest.h>
#include <onnx/checker.h>
#include <onnx/onnx_pb.h>

#include <map>
#include <random>
#include <string>

#include "importers/proto_io.h"
#include "onnx_train/tensor.h"

namespace onnx_train::testing {

inline const std::string kOldOpsetDir = std::string(ONNX_TRAIN_SOURCE_DIR) + "/tests/data/old_opset";

inline onnx::ModelProto load_model_proto(const std::string& path) {
  onnx::ModelProto model;
  parse_proto_file(path, model, "ONNX model");
  return model;
}

// The version of the default domain ("" or "ai.onnx") that `model` imports; -1 when none.
inline int default_opset(const onnx::ModelProto& model) {
  for (const auto& imp : model.opset_import())
    if (imp.domain().empty() || imp.domain() == "ai.onnx") return static_cast<int>(imp.version());
  return -1;
}

inline int opset_of(const std::string& path) { return default_opset(load_model_proto(path)); }

// ONNX's own checker (the full model check, as onnx.checker.check_model) accepts the file.
inline void expect_valid_onnx(const std::string& path) {
  try {
    onnx::checker::check_model(path);
  } catch (const std::exception& e) {
    ADD_FAILURE() << path << ": the ONNX checker rejects it: " << e.what();
  }
}

// A batch of n 8 x 8 images, x [n, 1, 8, 8] and label [n], whose class (i % 3) is the band of
// rows (top, middle, bottom) that holds a bright stripe: learnable by the fixtures' CNN in a few
// steps.
inline std::map<std::string, Tensor> stripe_batch(int64_t n, uint64_t seed) {
  std::mt19937 rng(static_cast<uint32_t>(seed));
  std::normal_distribution<float> noise(0.f, 0.3f);
  Tensor x(DType::Float32, {n, 1, 8, 8});
  Tensor label(DType::Int64, {n});
  for (int64_t i = 0; i < n; ++i) {
    const int64_t c = i % 3;
    label.data<int64_t>()[i] = c;
    for (int64_t p = 0; p < 64; ++p) {
      const int64_t row = p / 8;
      x.data<float>()[i * 64 + p] = noise(rng) + (row / 3 == c ? 2.f : 0.f);
    }
  }
  return {{"x", x}, {"label", label}};
}

}  // namespace onnx_train::testing
