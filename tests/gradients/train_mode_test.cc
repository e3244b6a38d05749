// Train and eval forms (runtime/transforms/train_mode.h): parity with PyTorch's train()/eval() for
// BatchNormalization, the Dropout training behaviour, and the round trip back to eval form.
//
// Fixtures are made by tests/data/make_train_mode_parity.py (regenerate with
// /usr/bin/python3 tests/data/make_train_mode_parity.py): a Conv-ReLU-BatchNorm2d(momentum
// 0.1)-Dropout(0)-pool-Linear-BatchNorm1d(momentum 0.3) model exported by torch in eval form
// at opsets 9 and 15, with PyTorch's train() output, running statistics after the step and
// MSE-loss gradients, and its eval() output with the updated statistics. Tolerance rtol
// 1e-5, atol 1e-6: both sides compute in float32.
#include "runtime/transforms/train_mode.h"

#include <gtest/gtest.h>

#include <algorithm>
#include <cmath>
#include <iostream>
#include <map>

#include "gradients/autodiff.h"
#include "gradients/losses.h"
#include "importers/onnx_model.h"
#include "runtime/exec/plan.h"
#include "tests/support/model_builder.h"
#include "tests/support/onnx_test_case.h"

namespace onnx_train {
namespace {

using testing::feeds_for;
using testing::max_abs_difference;
using testing::output_index;

using testing::ModelBuilder;
using testing::TempDir;

const std::string kParityDir = std::string(ONNX_TRAIN_SOURCE_DIR) + "/tests/data/train_mode_parity";
const testing::Tolerance kTolerance{1e-5, 1e-6};

// Compares with the fixture `file` and returns the max abs error, for the log.
double check(const std::string& dir, const std::string& file, const Tensor& actual) {
  const Tensor expected = read_tensor_proto_file(dir + "/" + file);
  EXPECT_EQ(testing::compare_tensors(expected, actual, kTolerance), "") << file;
  return max_abs_difference(expected, actual);
}

const Node& node_named(const Graph& graph, const std::string& name) {
  for (const Node& n : graph.nodes)
    if (n.name == name) return n;
  OT_FAIL("no node '{}'", name);
}

class TrainModeParity : public ::testing::TestWithParam<std::string> {};

// One training step's forward pass, running statistics and gradients match torch's train().
TEST_P(TrainModeParity, TrainingFormMatchesPyTorchTrain) {
  const std::string dir = kParityDir + "/" + GetParam();
  Graph graph = load_onnx_model(dir + "/model.onnx");
  const TrainingForm form = to_training_form(graph, 1);
  ASSERT_EQ(form.running_stats.size(), 2u);
  EXPECT_TRUE(form.dropout_nodes.empty());  // torch's eval export drops Dropout
  const AppendedLoss loss = append_loss(graph, {LossKind::MSE, "y"});
  const GradientGraph grads = build_gradient_graph(graph, loss.loss, {"conv.weight", "bn2.weight"});
  Plan plan(graph, KernelRegistry::global(), dir);
  const auto got = plan.run(feeds_for(
      graph, {{"x", read_tensor_proto_file(dir + "/x.pb")}, {"label", read_tensor_proto_file(dir + "/label.pb")}}));
  double worst_stat = 0, worst_grad = 0;
  const double y_error = check(dir, "train_y.pb", got[output_index(graph, "y")]);
  const char* const bn_names[] = {"bn1", "bn2"};
  for (size_t i = 0; i < 2; ++i) {
    const RunningStat& s = form.running_stats[i];
    const std::string bn = bn_names[i];
    EXPECT_EQ(s.mean, bn + ".running_mean");
    EXPECT_EQ(s.var, bn + ".running_var");
    worst_stat = std::max(worst_stat, check(dir, bn + "_running_mean.pb", got[output_index(graph, s.updated_mean)]));
    worst_stat = std::max(worst_stat, check(dir, bn + "_running_var.pb", got[output_index(graph, s.updated_var)]));
  }
  for (const std::string w : {"conv.weight", "bn2.weight"})
    worst_grad = std::max(worst_grad, check(dir, w + "_grad.pb", got[output_index(graph, grads.gradients.at(w))]));
  std::cout << fmt::format(
      "[train mode parity] {}: max abs error output {:.3g}, running stats {:.3g}, gradients {:.3g}\n", GetParam(),
      y_error, worst_stat, worst_grad);
}

// Back in eval form with the updated statistics copied in, the output is torch's eval().
TEST_P(TrainModeParity, EvalFormWithUpdatedStatisticsMatchesPyTorchEval) {
  const std::string dir = kParityDir + "/" + GetParam();
  const Graph exported = load_onnx_model(dir + "/model.onnx");
  Graph graph = exported;
  const TrainingForm form = to_training_form(graph, 1);
  std::vector<Tensor> updated;
  {
    Plan plan(graph, KernelRegistry::global(), dir);
    const auto got = plan.run(feeds_for(graph, {{"x", read_tensor_proto_file(dir + "/x.pb")}}));
    for (const RunningStat& s : form.running_stats) {
      updated.push_back(got[output_index(graph, s.updated_mean)]);
      updated.push_back(got[output_index(graph, s.updated_var)]);
    }
  }
  to_eval_form(graph);
  // The round trip gives the exported graph back.
  ASSERT_EQ(graph.nodes.size(), exported.nodes.size());
  ASSERT_EQ(graph.outputs.size(), exported.outputs.size());
  for (size_t i = 0; i < graph.nodes.size(); ++i) {
    const Node &a = graph.nodes[i], &b = exported.nodes[i];
    EXPECT_EQ(a.name, b.name);
    EXPECT_EQ(a.inputs, b.inputs) << a.name;
    EXPECT_EQ(a.outputs, b.outputs) << a.name;
    EXPECT_EQ(a.since_version, b.since_version) << a.name;
    ASSERT_EQ(a.attributes.size(), b.attributes.size()) << a.name;
    if (a.op_type == "BatchNormalization") {
      EXPECT_EQ(a.attr_float("momentum"), b.attr_float("momentum")) << a.name;
      EXPECT_EQ(a.attr_int("training_mode", 0), 0) << a.name;
    }
  }
  for (size_t i = 0; i < form.running_stats.size(); ++i) {
    graph.initializers[form.running_stats[i].mean] = updated[2 * i];
    graph.initializers[form.running_stats[i].var] = updated[2 * i + 1];
  }
  Plan plan(graph, KernelRegistry::global(), dir);
  const auto got = plan.run(feeds_for(graph, {{"x", read_tensor_proto_file(dir + "/x.pb")}}));
  std::cout << fmt::format("[train mode parity] {}: eval output after the step, max abs error {:.3g}\n", GetParam(),
                           check(dir, "eval_y.pb", got[output_index(graph, "y")]));
}

INSTANTIATE_TEST_SUITE_P(Fixtures, TrainModeParity, ::testing::Values("opset9", "opset15"),
                         [](const auto& info) { return info.param; });

// torch's training-mode export (BatchNormalization with its statistics outputs, Dropout with
// a training_mode input) becomes inference form: torch's eval() output.
TEST(TrainMode, EvalFormOfATrainingModeExport) {
  const std::string dir = kParityDir + "/opset15_training_export";
  Graph graph = load_onnx_model(dir + "/model.onnx");
  const size_t nodes = graph.nodes.size();
  to_eval_form(graph);
  EXPECT_EQ(graph.nodes.size(), nodes - 1);  // the Constant true of Dropout's training_mode
  for (const Node& n : graph.nodes) {
    if (n.op_type == "BatchNormalization") {
      EXPECT_EQ(n.attr_int("training_mode"), 0);
      EXPECT_EQ(n.outputs.size(), 1u);
    }
    if (n.op_type == "Dropout") EXPECT_EQ(n.inputs.size(), 2u);
  }
  Plan plan(graph, KernelRegistry::global(), dir);
  const auto got = plan.run(feeds_for(graph, {{"x", read_tensor_proto_file(dir + "/x.pb")}}));
  EXPECT_EQ(
      testing::compare_tensors(read_tensor_proto_file(dir + "/eval_y.pb"), got[output_index(graph, "y")], kTolerance),
      "");
  // And from there into training form.
  const TrainingForm form = to_training_form(graph, 3);
  EXPECT_EQ(form.running_stats.size(), 2u);
  EXPECT_EQ(form.dropout_nodes.size(), 1u);
}

TEST(TrainMode, RefusesAGraphAlreadyInTrainingFormAndLeavesItUnchanged) {
  Graph graph = load_onnx_model(kParityDir + "/opset15/model.onnx");
  to_training_form(graph, 1);
  const size_t nodes = graph.nodes.size(), outputs = graph.outputs.size();
  try {
    to_training_form(graph, 1);
    FAIL() << "a training-form graph must be refused";
  } catch (const Error& e) {
    EXPECT_NE(std::string(e.what()).find("already in training form"), std::string::npos) << e.what();
  }
  EXPECT_EQ(graph.nodes.size(), nodes);
  EXPECT_EQ(graph.outputs.size(), outputs);
}

// y = Dropout(x * w) (ratio 0.5), x, w [4000], at `opset` (Dropout-10: the ratio attribute;
// Dropout-13: the default ratio input, 0.5).
Graph dropout_model(const std::string& dir, int opset) {
  ModelBuilder m(opset);
  m.input("x", onnx::TensorProto::FLOAT, {4000});
  m.initializer("w", Tensor::from<float>({4000}, std::vector<float>(4000, 1.5f)));
  m.node("Mul", {"x", "w"}, {"xw"});
  onnx::NodeProto* node = &m.node("Dropout", {"xw"}, {"y"});
  node->set_name("drop");
  if (opset < 12) {
    auto* ratio = node->add_attribute();
    ratio->set_name("ratio");
    ratio->set_type(onnx::AttributeProto::FLOAT);
    ratio->set_f(0.5f);
  }
  m.output("y", onnx::TensorProto::FLOAT, {4000});
  m.save(dir + "/model.onnx");
  return load_onnx_model(dir + "/model.onnx");
}

Tensor run_once(const Graph& graph, const Tensor& x) {
  return Plan(graph, KernelRegistry::global(), "dropout").run({x})[0];
}

class TrainModeDropout : public ::testing::TestWithParam<int> {};

TEST_P(TrainModeDropout, DropsHalfScalesByTwoAndIsReproducible) {
  TempDir tmp;
  const Graph exported = dropout_model(tmp.path(), GetParam());
  const Tensor x = Tensor::from<float>({4000}, std::vector<float>(4000, 1.0f));
  const std::vector<double> xw(4000, 1.5);
  EXPECT_EQ(run_once(exported, x).to_doubles(), xw);  // eval form: identity

  Graph graph = exported;
  const TrainingForm form = to_training_form(graph, 42);
  EXPECT_EQ(form.dropout_nodes, std::vector<std::string>{"drop"});
  const Tensor first = run_once(graph, x);
  int dropped = 0;
  for (double v : first.to_doubles()) {
    EXPECT_TRUE(v == 0 || v == 3.0) << v;  // kept elements (1.5) scaled by 1 / (1 - 0.5)
    dropped += v == 0;
  }
  EXPECT_GT(dropped, 1800);  // binomial(4000, 0.5): mean 2000, standard deviation 32
  EXPECT_LT(dropped, 2200);
  EXPECT_EQ(run_once(graph, x).to_doubles(), first.to_doubles());  // same seed, fresh plan: same mask

  Graph other = exported;
  to_training_form(other, 43);
  EXPECT_NE(run_once(other, x).to_doubles(), first.to_doubles());

  to_eval_form(graph);
  ASSERT_EQ(graph.nodes.size(), 2u);
  const Node& drop = node_named(graph, "drop");
  EXPECT_EQ(drop.since_version, node_named(exported, "drop").since_version);
  EXPECT_EQ(drop.inputs, node_named(exported, "drop").inputs);
  EXPECT_FALSE(drop.has_attr("seed"));
  if (GetParam() < 12) EXPECT_EQ(drop.attr_float("ratio"), 0.5f);
  EXPECT_EQ(run_once(graph, x).to_doubles(), xw);
}

// The backward pass goes through the forward pass's mask: with L = mean((y - 0)^2),
// y = Dropout(x * w), dL/dw = 2 / n * y * mask * 2 * x = 2 / 4000 * 3 * 2 = 0.003 where
// kept (y = 3) and 0 where dropped.
TEST_P(TrainModeDropout, GradientUsesTheSameMask) {
  TempDir tmp;
  Graph graph = dropout_model(tmp.path(), GetParam());
  to_training_form(graph, 7);
  const AppendedLoss loss = append_loss(graph, {LossKind::MSE, "y"});
  const GradientGraph grads = build_gradient_graph(graph, loss.loss, {"w"});
  Plan plan(graph, KernelRegistry::global(), "dropout");
  const auto got = plan.run(feeds_for(graph, {{"x", Tensor::from<float>({4000}, std::vector<float>(4000, 1.0f))},
                                              {"label", Tensor::from<float>({4000}, std::vector<float>(4000, 0.f))}}));
  const std::vector<double> y = got[output_index(graph, "y")].to_doubles();
  const std::vector<double> dw = got[output_index(graph, grads.gradients.at("w"))].to_doubles();
  int kept = 0;
  for (size_t i = 0; i < y.size(); ++i) {
    kept += y[i] != 0;
    EXPECT_NEAR(dw[i], y[i] != 0 ? 0.003 : 0.0, 1e-9) << i;
  }
  EXPECT_GT(kept, 1800);
  EXPECT_LT(kept, 2200);
}

INSTANTIATE_TEST_SUITE_P(Opsets, TrainModeDropout, ::testing::Values(10, 13),
                         [](const auto& info) { return "opset" + std::to_string(info.param); });

}  // namespace
}  // namespace onnx_train
