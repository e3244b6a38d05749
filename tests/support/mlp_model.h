// The small models that training tests build: a 4-feature MLP for 3 (or more) classes, its
// weights drawn from a seeded generator so that a test may compare against exact values.
#pragma once

#include <onnx/onnx_pb.h>

#include <filesystem>
#include <random>
#include <string>

#include "onnx_train/tensor.h"
#include "tests/support/model_builder.h"

namespace onnx_train::testing {

// An INT attribute `name` = `value` on `node`.
inline void set_int(onnx::NodeProto& node, const std::string& name, int64_t value) {
  auto* a = node.add_attribute();
  a->set_name(name);
  a->set_type(onnx::AttributeProto::INT);
  a->set_i(value);
}

// A float32 tensor of `shape`, each value offset + scale * N(0, 1) drawn from `rng`.
inline Tensor random_tensor(const Shape& shape, std::mt19937& rng, float scale = 0.5f, float offset = 0.f) {
  std::normal_distribution<float> normal(0.f, 1.f);
  Tensor t(DType::Float32, shape);
  float* p = t.data<float>();
  for (int64_t i = 0; i < t.numel(); ++i) p[i] = offset + scale * normal(rng);
  return t;
}

// x [N, 4] -> Gemm(8) -> [BatchNormalization] -> Relu -> [Dropout(0.3)] -> Gemm(classes) -> logits,
// saved as `path` (its folders are made). The weights are drawn from std::mt19937(seed) in a
// fixed order, so a test may compare against exact values. `unused_values` > 0 adds an
// initializer of that many floats that no node reads: it is exported with the model but is no
// parameter, so it makes the export much larger than a checkpoint.
inline std::string make_mlp(const std::string& path, bool bn_and_dropout, int64_t unused_values = 0,
                            int64_t classes = 3, unsigned seed = 7) {
  std::mt19937 rng(seed);
  ModelBuilder m(13);
  m.input("x", onnx::TensorProto::FLOAT, {-1, 4});
  m.initializer("fc1.weight", random_tensor({8, 4}, rng));
  m.initializer("fc1.bias", random_tensor({8}, rng, 0.1f));
  m.initializer("fc2.weight", random_tensor({classes, 8}, rng));
  m.initializer("fc2.bias", random_tensor({classes}, rng, 0.1f));
  if (unused_values > 0) m.initializer("unused.table", random_tensor({unused_values}, rng));
  set_int(m.node("Gemm", {"x", "fc1.weight", "fc1.bias"}, {"h"}), "transB", 1);
  std::string last = "h";
  if (bn_and_dropout) {
    m.initializer("bn.weight", random_tensor({8}, rng, 0.1f, 1.f));
    m.initializer("bn.bias", random_tensor({8}, rng, 0.1f));
    m.initializer("bn.running_mean", random_tensor({8}, rng, 0.2f));
    m.initializer("bn.running_var", random_tensor({8}, rng, 0.1f, 1.f));
    m.node("BatchNormalization", {"h", "bn.weight", "bn.bias", "bn.running_mean", "bn.running_var"}, {"hn"});
    last = "hn";
  }
  m.node("Relu", {last}, {"r"});
  last = "r";
  if (bn_and_dropout) {
    m.initializer("drop.ratio", Tensor::scalar<float>(0.3f));
    m.node("Dropout", {"r", "drop.ratio"}, {"d"});
    last = "d";
  }
  set_int(m.node("Gemm", {last, "fc2.weight", "fc2.bias"}, {"logits"}), "transB", 1);
  m.output("logits", onnx::TensorProto::FLOAT, {-1, classes});
  std::filesystem::create_directories(std::filesystem::path(path).parent_path());
  m.save(path);
  return path;
}

}  // namespace onnx_train::testing
