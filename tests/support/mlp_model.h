// The small models that training tests build: a 4-feature MLP for 3 (or more) classes, its
// weights drawn from a seeded generator so that a test may compare against exact values.
#pragma once

#include <onnx/onnx_pb.h>

#include <filesystem>
#include <map>
#include <random>
#include <string>
#include <vector>

#include "onnx_train/tensor.h"
#include "tests/support/model_builder.h"
#include "tests/support/random_tensors.h"

namespace onnx_train::testing {

// What make_mlp builds around x [N, 4] -> Gemm(8) -> Relu -> Gemm(classes) -> logits.
struct MlpOptions {
  bool batch_norm = false;  // a BatchNormalization after the first Gemm
  bool dropout = false;     // a Dropout (ratio 0.3) after the Relu
  bool fc1_bias = true;     // the first Gemm's bias (drawn either way, so the other weights stay)
  int64_t classes = 3;
  // > 0: an initializer of that many floats that no node reads. It is exported with the model
  // but is no parameter, so it makes the export much larger than a checkpoint.
  int64_t unused_values = 0;
  unsigned seed = 7;
  // The order the weights are drawn (and stored) in: fc1, fc2, unused, bn (false), or fc1,
  // bn, fc2 (true). Each test keeps the order its expected numbers were made with.
  bool batch_norm_drawn_before_fc2 = false;
};

// The MLP of `options`, saved as `path` (its folders are made). The weights are drawn from
// std::mt19937(seed) in a fixed order (random_tensor: 0.5 N(0, 1), biases 0.1 N(0, 1),
// BatchNormalization's scale and variance 1 + 0.1 N(0, 1), its mean 0.2 N(0, 1)).
inline std::string make_mlp(const std::string& path, const MlpOptions& options) {
  std::mt19937 rng(options.seed);
  ModelBuilder m(13);
  m.input("x", onnx::TensorProto::FLOAT, {-1, 4});
  m.initializer("fc1.weight", random_tensor({8, 4}, rng));
  const Tensor fc1_bias = random_tensor({8}, rng, 0.1f);
  if (options.fc1_bias) m.initializer("fc1.bias", fc1_bias);
  auto batch_norm_weights = [&] {
    m.initializer("bn.weight", random_tensor({8}, rng, 0.1f, 1.f));
    m.initializer("bn.bias", random_tensor({8}, rng, 0.1f));
    m.initializer("bn.running_mean", random_tensor({8}, rng, 0.2f));
    m.initializer("bn.running_var", random_tensor({8}, rng, 0.1f, 1.f));
  };
  if (options.batch_norm && options.batch_norm_drawn_before_fc2) batch_norm_weights();
  m.initializer("fc2.weight", random_tensor({options.classes, 8}, rng));
  m.initializer("fc2.bias", random_tensor({options.classes}, rng, 0.1f));
  if (options.unused_values > 0) m.initializer("unused.table", random_tensor({options.unused_values}, rng));
  if (options.batch_norm && !options.batch_norm_drawn_before_fc2) batch_norm_weights();

  std::vector<std::string> fc1_inputs = {"x", "fc1.weight"};
  if (options.fc1_bias) fc1_inputs.push_back("fc1.bias");
  m.node("Gemm", fc1_inputs, {"h"});
  m.attr("transB", 1);
  std::string last = "h";
  if (options.batch_norm) {
    m.node("BatchNormalization", {"h", "bn.weight", "bn.bias", "bn.running_mean", "bn.running_var"}, {"hn"});
    last = "hn";
  }
  m.node("Relu", {last}, {"r"});
  last = "r";
  if (options.dropout) {
    m.initializer("drop.ratio", Tensor::scalar<float>(0.3f));
    m.node("Dropout", {"r", "drop.ratio"}, {"d"});
    last = "d";
  }
  m.node("Gemm", {last, "fc2.weight", "fc2.bias"}, {"logits"});
  m.attr("transB", 1);
  m.output("logits", onnx::TensorProto::FLOAT, {-1, options.classes});
  const std::filesystem::path parent = std::filesystem::path(path).parent_path();
  if (!parent.empty()) std::filesystem::create_directories(parent);
  m.save(path);
  return path;
}

// The MLP with BatchNormalization and Dropout both or neither (so that it has train and eval
// behaviours or not), and the other options as named.
inline std::string make_mlp(const std::string& path, bool bn_and_dropout, int64_t unused_values = 0,
                            int64_t classes = 3, unsigned seed = 7) {
  MlpOptions options;
  options.batch_norm = options.dropout = bn_and_dropout;
  options.unused_values = unused_values;
  options.classes = classes;
  options.seed = seed;
  return make_mlp(path, options);
}

// A batch for the MLP: three noisy classes in 4 dimensions, x [n, 4] and label [n] (the class of
// each row, its centre plus normal noise of deviation `deviation`), drawn from `seed`.
inline std::map<std::string, Tensor> mlp_batch(int n, unsigned seed, float deviation = 0.5f) {
  std::mt19937 rng(seed);
  std::normal_distribution<float> noise(0.f, deviation);
  static const float centers[3][4] = {{2, 0, 0, 1}, {-2, 1, 0, -1}, {0, -2, 2, 0}};
  Tensor x(DType::Float32, {n, 4});
  Tensor label(DType::Int64, {n});
  for (int i = 0; i < n; ++i) {
    const int c = static_cast<int>(rng() % 3);
    label.data<int64_t>()[i] = c;
    for (int j = 0; j < 4; ++j) x.data<float>()[i * 4 + j] = centers[c][j] + noise(rng);
  }
  return {{"x", x}, {"label", label}};
}

}  // namespace onnx_train::testing
