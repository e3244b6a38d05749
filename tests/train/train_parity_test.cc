// Multi-step training parity with PyTorch: 20 optimizer steps of four models (MLP, CNN,
// ResNet block with BatchNormalization in training mode, transformer encoder) under SGD
// with momentum and weight decay, Adam and AdamW with warm-up + cosine and global-norm
// clipping. Fixtures: tests/data/train_parity (made by tests/data/make_train_parity.py).
//
// Compared: the loss of every step and every parameter (and running statistic) after the
// last step, at rtol 1e-4 with atol 1e-6. The fixtures' own float32-vs-float64 runs show how
// far float32 rounding alone moves things: losses 1.6e-7 relative, final weights 4e-7 absolute,
// except one slice (below).
//
// Excluded, with the reason: under Adam/AdamW, the key part of the attention's input
// projection bias (encoder.self_attn.in_proj_bias[16:32]) has a gradient that is exactly
// zero in exact arithmetic (softmax ignores a shift shared by all keys), so in float32 it is
// rounding noise, which Adam normalises into steps of about the learning rate: its final
// value is noise in PyTorch (2.4e-3 between PyTorch's own float32 and float64 runs) and in any
// other implementation. Those 16 elements are checked to stay within a few learning rates of
// their start instead; everything else in the model is compared.
#include <gtest/gtest.h>

#include <cmath>
#include <cstdio>
#include <filesystem>
#include <fstream>
#include <map>
#include <sstream>

#include "onnx_train/training_session.h"

namespace onnx_train {
namespace {

namespace fs = std::filesystem;

const std::string kDataDir = std::string(ONNX_TRAIN_SOURCE_DIR) + "/tests/data/train_parity";

struct ParityCase {
  std::map<std::string, std::vector<std::string>> config;  // key -> values
  std::string dir;
  const std::string& get(const std::string& key) const {
    auto it = config.find(key);
    if (it == config.end() || it->second.empty()) throw std::runtime_error(dir + "/config.txt: no " + key);
    return it->second[0];
  }
  double number(const std::string& key) const { return std::stod(get(key)); }
  bool has(const std::string& key) const { return config.count(key) != 0; }
};

ParityCase read_case(const std::string& name) {
  ParityCase c;
  c.dir = kDataDir + "/" + name;
  std::ifstream in(c.dir + "/config.txt");
  std::string line;
  while (std::getline(in, line)) {
    std::istringstream words(line);
    std::string key, value;
    words >> key;
    while (words >> value) c.config[key].push_back(value);
  }
  return c;
}

std::vector<double> read_numbers(const std::string& path) {
  std::ifstream in(path);
  std::vector<double> out;
  double v = 0;
  while (in >> v) out.push_back(v);
  return out;
}

TrainingOptions options_for(const ParityCase& c) {
  TrainingOptions o;
  o.loss.kind = LossKind::CrossEntropy;
  o.loss.output = c.get("output");
  o.optimizer.kind = c.get("optimizer");
  o.learning_rate = c.number("lr");
  o.optimizer.weight_decay = c.number("weight_decay");
  if (c.has("momentum")) o.optimizer.momentum = c.number("momentum");
  if (c.has("betas")) {
    o.optimizer.beta1 = std::stod(c.config.at("betas").at(0));
    o.optimizer.beta2 = std::stod(c.config.at("betas").at(1));
  }
  if (c.has("eps")) o.optimizer.eps = c.number("eps");
  o.schedule = parse_schedule(c.get("schedule"));
  o.clip_grad_norm = c.number("clip_grad_norm");
  return o;
}

std::vector<double> values_of(const Tensor& t) { return t.to_doubles(); }

class TrainParity : public ::testing::TestWithParam<std::string> {};

TEST_P(TrainParity, LossesAndFinalWeightsMatchPyTorch) {
  const ParityCase c = read_case(GetParam());
  const std::string model_path = kDataDir + "/" + c.get("model");
  TrainingSession session = TrainingSession::from_file(model_path, options_for(c));

  const std::string batches = kDataDir + "/" + c.get("batches_dir");
  const int num_batches = static_cast<int>(c.number("batches"));
  std::vector<std::map<std::string, Tensor>> feeds(num_batches);
  for (int k = 0; k < num_batches; ++k) {
    feeds[k][c.get("input")] = read_tensor_file(fmt::format("{}/batch_{}_x.pb", batches, k));
    feeds[k][session.label_name()] = read_tensor_file(fmt::format("{}/batch_{}_label.pb", batches, k));
  }

  const std::vector<double> torch_losses = read_numbers(c.dir + "/losses.txt");
  const int steps = static_cast<int>(c.number("steps"));
  ASSERT_EQ(torch_losses.size(), static_cast<size_t>(steps));
  double worst_loss = 0;  // max |ours - torch| / |torch| over the steps
  for (int step = 0; step < steps; ++step) {
    const StepResult r = session.train_step(feeds[step % num_batches]);
    ASSERT_TRUE(r.stepped);
    EXPECT_NEAR(r.loss, torch_losses[step], 1e-6 + 1e-4 * std::abs(torch_losses[step])) << "step " << step + 1;
    worst_loss = std::max(worst_loss, std::abs(r.loss - torch_losses[step]) / std::abs(torch_losses[step]));
  }
  EXPECT_EQ(session.step(), steps);

  // Every trained parameter and running statistic has a recorded final value, and back.
  std::set<std::string> ours(session.parameter_names().begin(), session.parameter_names().end());
  ours.insert(session.buffer_names().begin(), session.buffer_names().end());
  std::set<std::string> recorded;
  for (const auto& entry : fs::directory_iterator(c.dir + "/final")) recorded.insert(entry.path().stem().string());
  EXPECT_EQ(ours, recorded);

  const bool adaptive = c.get("optimizer") != "sgd";
  double worst_abs = 0;  // max |ours - torch| over every compared weight
  for (const auto& name : recorded) {
    if (ours.count(name) == 0) continue;
    const std::vector<double> expected = values_of(read_tensor_file(c.dir + "/final/" + name + ".pb"));
    const std::vector<double> got = values_of(session.parameter(name));
    ASSERT_EQ(got.size(), expected.size()) << name;
    const bool key_bias = adaptive && name == "encoder.self_attn.in_proj_bias";
    const int64_t d = static_cast<int64_t>(expected.size()) / 3;  // q, k, v parts
    double worst = 0;
    for (size_t i = 0; i < got.size(); ++i) {
      if (key_bias && static_cast<int64_t>(i) >= d && static_cast<int64_t>(i) < 2 * d) {
        // Noise-driven (see the top): 20 Adam steps move an element by at most ~sum(lr).
        EXPECT_LT(std::abs(got[i] - expected[i]), 0.2) << name << "[" << i << "]";
        continue;
      }
      worst = std::max(worst, std::abs(got[i] - expected[i]) / (1e-6 + 1e-4 * std::abs(expected[i])));
      worst_abs = std::max(worst_abs, std::abs(got[i] - expected[i]));
    }
    EXPECT_LE(worst, 1.0) << name << ": worst |ours - torch| / (1e-6 + 1e-4 |torch|) = " << worst;
  }
  std::printf("%s: losses within %.2g relative, final weights within %.2g absolute of PyTorch\n", GetParam().c_str(),
              worst_loss, worst_abs);
}

INSTANTIATE_TEST_SUITE_P(, TrainParity,
                         ::testing::Values("mlp_sgd", "mlp_adam", "mlp_adamw", "cnn_sgd", "cnn_adam", "cnn_adamw",
                                           "resnet_block_sgd", "resnet_block_adam", "resnet_block_adamw",
                                           "transformer_sgd", "transformer_adam", "transformer_adamw"));

}  // namespace
}  // namespace onnx_train
