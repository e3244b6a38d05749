// The one decision of what trains (runtime/train/parameters.h), as its three callers see it:
// TrainingSession, write_training_graph and inspect_model report the same set; bad patterns
// and non-finite steps come out as typed errors.
#include <gtest/gtest.h>

#include <algorithm>
#include <functional>
#include <limits>
#include <map>
#include <string>
#include <vector>

#include "onnx_train/inspect.h"
#include "onnx_train/training.h"
#include "onnx_train/training_session.h"
#include "tests/support/mlp_model.h"
#include "tests/support/model_builder.h"

namespace onnx_train {
namespace {

using testing::ModelBuilder;
using testing::TempDir;

std::vector<std::string> sorted(std::vector<std::string> names) {
  std::sort(names.begin(), names.end());
  return names;
}

// The session's and inspect's split of the same model under the same options.
void expect_same_split(const std::string& model, const TrainingOptions& options) {
  const ModelReport report = inspect_model(model, options);
  TrainingSession s = TrainingSession::from_file(model, options);
  EXPECT_EQ(report.trainable, s.parameter_names());
  EXPECT_EQ(report.buffers, s.buffer_names());
  EXPECT_EQ(report.notes, s.notes());  // none of these models is upgraded for its loss
  EXPECT_EQ(static_cast<int64_t>(report.frozen.size()), s.parameter_counts().frozen_tensors);
  int64_t trainable_values = 0;
  for (const auto& p : report.initializers)
    if (p.role == ParameterRole::Trainable) trainable_values += p.values;
  EXPECT_EQ(trainable_values, s.parameter_counts().trainable_values);
}

TEST(Parameters, InspectReportsWhatTheSessionTrains) {
  TempDir dir;
  const std::string mlp = testing::make_mlp(dir.path() + "/mlp.onnx", /*bn_and_dropout=*/true);
  TrainingOptions options;
  expect_same_split(mlp, options);
  options.freeze = {"^fc1\\.", "^layer"};  // the second matches nothing: both say so
  expect_same_split(mlp, options);
  EXPECT_EQ(inspect_model(mlp, options).notes.size(), 1u);
  options.train_only = {"^fc2\\.", "^bn\\."};
  expect_same_split(mlp, options);
  options.freeze.clear();
  options.train_only = {"weight$"};
  options.num_classes = 5;  // a new head: its fresh weights are what trains
  expect_same_split(mlp, options);

  const ModelReport report = inspect_model(mlp, options);
  EXPECT_EQ(report.trainable, (std::vector<std::string>{"bn.weight", "fc1.weight", "fc2.weight"}));
  EXPECT_EQ(sorted(report.frozen), (std::vector<std::string>{"bn.bias", "fc1.bias", "fc2.bias"}));
  EXPECT_EQ(report.buffers, (std::vector<std::string>{"bn.running_mean", "bn.running_var"}));
  EXPECT_EQ(report.outputs.at(0).shape, (Shape{-1, 5}));
}

// Only the output the loss reads decides what trains: a second output's own weights are not
// trained by a loss on the first (inspect used to count every output).
TEST(Parameters, OnlyTheLossOutputDecides) {
  TempDir dir;
  ModelBuilder m(13);
  m.input("x", onnx::TensorProto::FLOAT, {-1, 4});
  m.initializer("w", Tensor::from<float>({4, 3}, std::vector<float>(12, 0.5f)));
  m.initializer("aux", Tensor::from<float>({4}, {1, 2, 3, 4}));
  m.node("MatMul", {"x", "w"}, {"logits"});
  m.node("Mul", {"x", "aux"}, {"side"});
  m.output("logits", onnx::TensorProto::FLOAT, {-1, 3});
  m.output("side", onnx::TensorProto::FLOAT, {-1, 4});
  const std::string model = dir.path() + "/two_outputs.onnx";
  m.save(model);
  const ModelReport report = inspect_model(model);
  EXPECT_EQ(report.trainable, (std::vector<std::string>{"w"}));
  for (const auto& p : report.initializers)
    if (p.name == "aux") EXPECT_EQ(p.role, ParameterRole::NotTrained);
  expect_same_split(model, {});
}

// The graph written for a value (here the MLP's logits) differentiates what a session with a
// loss on that value trains, train_only included.
TEST(Parameters, WriteTrainingGraphHonoursTrainOnly) {
  TempDir dir;
  const std::string mlp = testing::make_mlp(dir.path() + "/mlp.onnx", /*bn_and_dropout=*/true);
  TrainingGraphOptions options;
  options.loss = "logits";
  EXPECT_EQ(write_training_graph(mlp, dir.path() + "/all.onnx", options).trainable,
            (std::vector<std::string>{"bn.bias", "bn.weight", "fc1.bias", "fc1.weight", "fc2.bias", "fc2.weight"}));
  options.train_only = {"^fc2\\.", "^bn\\."};
  options.freeze = {"bias$"};
  const TrainingGraphInfo info = write_training_graph(mlp, dir.path() + "/some.onnx", options);
  EXPECT_EQ(info.trainable, (std::vector<std::string>{"bn.weight", "fc2.weight"}));
  EXPECT_EQ(info.gradients.count("fc1.weight"), 0u);
  TrainingOptions session_options;
  session_options.train_only = options.train_only;
  session_options.freeze = options.freeze;
  EXPECT_EQ(TrainingSession::from_file(mlp, session_options).parameter_names(), info.trainable);
  expect_same_split(mlp, session_options);
}

// A bad regex names the option as the API spells it; the detail is the rest of the message.
TEST(Parameters, BadPatternsAreOptionErrors) {
  TempDir dir;
  const std::string mlp = testing::make_mlp(dir.path() + "/mlp.onnx", /*bn_and_dropout=*/false);
  const std::string detail = "pattern '(' is not a valid regular expression: ";
  auto expect_option_error = [&](const std::function<void()>& f, const std::string& option) {
    try {
      f();
      ADD_FAILURE() << "no error for " << option;
    } catch (const OptionError& e) {
      EXPECT_EQ(e.option(), option);
      EXPECT_EQ(e.detail().rfind(detail, 0), 0u) << e.detail();
      EXPECT_EQ(std::string(e.what()).rfind(option + ": " + detail, 0), 0u) << e.what();
    }
  };
  TrainingOptions freeze;
  freeze.freeze = {"("};
  expect_option_error([&] { TrainingSession::from_file(mlp, freeze); }, "freeze");
  expect_option_error([&] { inspect_model(mlp, freeze); }, "freeze");
  TrainingGraphOptions only;
  only.loss = "logits";
  only.train_only = {"fc", "("};
  expect_option_error([&] { write_training_graph(mlp, dir.path() + "/t.onnx", only); }, "train_only");
  TrainingOptions no_decay;
  no_decay.no_decay = std::vector<std::string>{"("};
  expect_option_error([&] { TrainingSession::from_file(mlp, no_decay); }, "no_decay");
}

// A step stopped by NaN is a NonFiniteStep, whether the loss or only the gradients show it.
TEST(Parameters, NonFiniteStepsAreTyped) {
  TempDir dir;
  const std::string mlp = testing::make_mlp(dir.path() + "/mlp.onnx", /*bn_and_dropout=*/false);
  TrainingSession s = TrainingSession::from_file(mlp);
  Tensor x(DType::Float32, {2, 4});
  for (int64_t i = 0; i < x.numel(); ++i) x.data<float>()[i] = 0.25f * static_cast<float>(i);
  Tensor label = Tensor::from<int64_t>({2}, {0, 1});
  s.train_step({{"x", x}, {"label", label}});
  x.data<float>()[1] = std::numeric_limits<float>::quiet_NaN();
  try {
    s.train_step({{"x", x}, {"label", label}});
    ADD_FAILURE() << "a NaN input trained";
  } catch (const NonFiniteStep& e) {
    EXPECT_NE(std::string(e.what()).find("nothing was updated"), std::string::npos) << e.what();
  }
  EXPECT_EQ(s.step(), 1);
}

// inspect_model marks the fresh head num_classes makes; inspect_checkpoint names a
// checkpoint's tensors by role: optimizer slots as optimizer state, buffers as running
// statistics (an earlier inspect called the optimizer's moments running statistics).
TEST(Parameters, InspectNamesTheNewHeadAndACheckpointsTensorsByRole) {
  TempDir dir;
  const std::string mlp = testing::make_mlp(dir.path() + "/mlp.onnx", /*bn_and_dropout=*/true);
  TrainingOptions options;
  options.num_classes = 5;
  const ModelReport report = inspect_model(mlp, options);
  EXPECT_EQ(report.head.old_classes, 3);
  EXPECT_EQ(report.head.new_classes, 5);
  EXPECT_EQ(report.head.output, "logits");
  for (const auto& p : report.initializers)
    EXPECT_EQ(p.new_head, p.name == "fc2.weight" || p.name == "fc2.bias") << p.name;
  EXPECT_EQ(inspect_model(mlp).head.new_classes, 0);

  TrainingSession s = TrainingSession::from_file(mlp);
  Tensor x(DType::Float32, {2, 4});
  for (int64_t i = 0; i < x.numel(); ++i) x.data<float>()[i] = 0.25f * static_cast<float>(i);
  s.train_step({{"x", x}, {"label", Tensor::from<int64_t>({2}, {0, 1})}});
  const std::string ckpt = dir.path() + "/a.ckpt";
  s.save_checkpoint(ckpt);
  EXPECT_TRUE(is_checkpoint(ckpt));
  EXPECT_FALSE(is_checkpoint(mlp));
  const CheckpointReport c = inspect_checkpoint(ckpt);
  EXPECT_EQ(c.step, 1);
  EXPECT_EQ(c.optimizer, "adamw");
  std::map<std::string, CheckpointTensorReport> by_key;
  for (const auto& t : c.tensors) by_key[t.key] = t;
  using Kind = CheckpointTensorReport::Kind;
  ASSERT_TRUE(by_key.count("optimizer/fc2.weight/exp_avg_sq"));
  const CheckpointTensorReport& moment = by_key.at("optimizer/fc2.weight/exp_avg_sq");
  EXPECT_EQ(moment.kind, Kind::OptimizerState);
  EXPECT_EQ(moment.of, "fc2.weight");
  EXPECT_EQ(moment.slot, "exp_avg_sq");
  EXPECT_EQ(moment.describe, "adamw second moment (exp_avg_sq) of fc2.weight");
  ASSERT_TRUE(by_key.count("buffer/bn.running_var"));
  EXPECT_EQ(by_key.at("buffer/bn.running_var").kind, Kind::RunningStatistic);
  EXPECT_EQ(by_key.at("parameter/fc1.weight").kind, Kind::Parameter);
  EXPECT_EQ(by_key.at("parameter/fc1.weight").values, 32);
  // Parameters first, then running statistics, then optimizer state.
  EXPECT_TRUE(std::is_sorted(c.tensors.begin(), c.tensors.end(), [](const auto& a, const auto& b) {
    return static_cast<int>(a.kind) < static_cast<int>(b.kind);
  }));
  EXPECT_EQ(optimizer_slot_description("sgd", "momentum_buffer"), "sgd momentum buffer (momentum_buffer)");
  EXPECT_EQ(optimizer_slot_description("adagrad", "sum"), "adagrad sum of squared gradients (sum)");
}

}  // namespace
}  // namespace onnx_train
