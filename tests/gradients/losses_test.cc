// Losses appended to an inference graph (gradients/losses.h): value and gradient parity
// with PyTorch, and the errors for outputs, labels and options that do not fit.
//
// Fixtures are made by tests/data/make_loss_parity.py (regenerate with
// /usr/bin/python3 tests/data/make_loss_parity.py): each case is y = x * w (then
// LogSoftmax over axis 1 for NLL) with w of shape x.shape[1:], its loss options in
// case.txt, and PyTorch's loss and d loss / d w. The test builds the same model, appends
// the loss, runs it, then builds the backward graph with respect to w and runs that.
// Tolerance rtol 1e-5, atol 1e-6: both sides compute in float32.
#include "gradients/losses.h"

#include <gtest/gtest.h>

#include <algorithm>
#include <cmath>
#include <filesystem>
#include <fstream>
#include <iostream>
#include <map>

#include "gradients/autodiff.h"
#include "importers/onnx_model.h"
#include "runtime/exec/plan.h"
#include "tests/support/model_builder.h"
#include "tests/support/onnx_test_case.h"

namespace onnx_train {
namespace {

using testing::feeds_for;
using testing::max_abs_difference;
using testing::output_index;

namespace fs = std::filesystem;
using testing::ModelBuilder;
using testing::TempDir;

const std::string kLossParityDir = std::string(ONNX_TRAIN_SOURCE_DIR) + "/tests/data/loss_parity";
const testing::Tolerance kTolerance{1e-5, 1e-6};

std::vector<std::string> loss_parity_cases() {
  std::vector<std::string> names;
  if (!fs::is_directory(kLossParityDir)) return names;
  for (const auto& e : fs::directory_iterator(kLossParityDir))
    if (fs::exists(e.path() / "case.txt")) names.push_back(e.path().filename().string());
  std::sort(names.begin(), names.end());
  return names;
}

// case.txt: one "key value" a line.
std::map<std::string, std::string> read_case(const std::string& path) {
  std::map<std::string, std::string> entries;
  std::ifstream in(path);
  std::string key, value;
  while (in >> key >> value) entries[key] = value;
  return entries;
}

// The test model y = x * w (then LogSoftmax(axis 1) when `log_softmax`), x [N, dims...]
// with a symbolic batch, y the only graph output; saved to `dir` and loaded.
Graph make_model(const std::string& dir, const Tensor& w, bool log_softmax, int opset = 13) {
  ModelBuilder m(opset);
  std::vector<int64_t> dims{-1};
  dims.insert(dims.end(), w.shape().begin(), w.shape().end());
  m.input("x", onnx::TensorProto::FLOAT, dims);
  m.initializer("w", w);
  if (log_softmax) {
    m.node("Mul", {"x", "w"}, {"xw"});
    m.node("LogSoftmax", {"xw"}, {"y"});
    m.attr("axis", 1);
  } else {
    m.node("Mul", {"x", "w"}, {"y"});
  }
  m.output("y", onnx::TensorProto::FLOAT, dims);
  m.save(dir + "/model.onnx");
  return load_onnx_model(dir + "/model.onnx");
}

class LossParity : public ::testing::TestWithParam<std::string> {};

TEST_P(LossParity, ValueAndGradientMatchPyTorch) {
  const std::string dir = kLossParityDir + "/" + GetParam();
  const auto entries = read_case(dir + "/case.txt");
  LossOptions options;
  options.kind = parse_loss_kind(entries.at("kind"));
  options.reduction = entries.at("reduction");
  options.label_smoothing = std::stof(entries.at("label_smoothing"));
  options.ignore_index = std::stoll(entries.at("ignore_index"));
  options.huber_delta = std::stof(entries.at("huber_delta"));
  options.label_dtype = entries.at("label_dtype") == "int32" ? DType::Int32 : DType::Int64;
  options.class_axis = entries.at("class_axis") == "last" ? -1 : 1;
  const std::map<std::string, Tensor> values{{"x", read_tensor_proto_file(dir + "/x.pb")},
                                             {"label", read_tensor_proto_file(dir + "/label.pb")}};
  const Tensor w = read_tensor_proto_file(dir + "/w.pb");

  TempDir tmp;
  Graph graph = make_model(tmp.path(), w, entries.at("model") == "log_softmax");
  const AppendedLoss appended = append_loss(graph, options);
  EXPECT_EQ(appended.label, "label");
  const ValueInfo* label = graph.find_value_info("label");
  ASSERT_NE(label, nullptr);
  EXPECT_EQ(label->dtype, values.at("label").dtype());
  ASSERT_TRUE(label->shape.has_value());
  EXPECT_EQ(label->shape->size(), values.at("label").shape().size());
  EXPECT_EQ(label->shape->front(), -1);  // the symbolic batch carries over
  {
    Plan forward(graph, KernelRegistry::global(), dir);
    const auto got = forward.run(feeds_for(graph, values));
    EXPECT_EQ(testing::compare_tensors(read_tensor_proto_file(dir + "/loss.pb"),
                                       got[output_index(graph, appended.loss)], kTolerance),
              "");
  }
  const GradientGraph grads = build_gradient_graph(graph, appended.loss, {"w"});
  Plan plan(graph, KernelRegistry::global(), dir);
  const auto got = plan.run(feeds_for(graph, values));
  const Tensor expected_loss = read_tensor_proto_file(dir + "/loss.pb");
  const Tensor expected_grad = read_tensor_proto_file(dir + "/w_grad.pb");
  const Tensor& loss = got[output_index(graph, appended.loss)];
  const Tensor& grad = got[output_index(graph, grads.gradients.at("w"))];
  EXPECT_EQ(testing::compare_tensors(expected_loss, loss, kTolerance), "");
  EXPECT_EQ(testing::compare_tensors(expected_grad, grad, kTolerance), "");
  std::cout << fmt::format("[loss parity] {}: loss {:.6g} (error {:.3g}), gradient max abs error {:.3g}\n", GetParam(),
                           expected_loss.to_doubles()[0], max_abs_difference(expected_loss, loss),
                           max_abs_difference(expected_grad, grad));
}

INSTANTIATE_TEST_SUITE_P(Fixtures, LossParity, ::testing::ValuesIn(loss_parity_cases()),
                         [](const auto& info) { return info.param; });

// The message of the Error that append_loss throws ("" if none); the graph must be unchanged then.
std::string append_error(Graph& graph, const LossOptions& options) {
  const size_t nodes = graph.nodes.size(), inputs = graph.inputs.size(), outputs = graph.outputs.size();
  try {
    append_loss(graph, options);
  } catch (const Error& e) {
    EXPECT_EQ(graph.nodes.size(), nodes);
    EXPECT_EQ(graph.inputs.size(), inputs);
    EXPECT_EQ(graph.outputs.size(), outputs);
    return e.what();
  }
  return "";
}

void expect_error(Graph& graph, const LossOptions& options, const std::string& expected) {
  const std::string message = append_error(graph, options);
  EXPECT_NE(message.find(expected), std::string::npos) << "message: " << message;
}

TEST(Losses, ParseLossKind) {
  EXPECT_EQ(parse_loss_kind("cross-entropy"), LossKind::CrossEntropy);
  EXPECT_EQ(parse_loss_kind("nll"), LossKind::NLL);
  EXPECT_EQ(parse_loss_kind("mse"), LossKind::MSE);
  EXPECT_EQ(parse_loss_kind("l1"), LossKind::L1);
  EXPECT_EQ(parse_loss_kind("huber"), LossKind::Huber);
  EXPECT_EQ(parse_loss_kind("bce-with-logits"), LossKind::BCEWithLogits);
  try {
    parse_loss_kind("hinge");
    FAIL() << "an unknown loss must be refused";
  } catch (const Error& e) {
    EXPECT_NE(std::string(e.what()).find("unknown loss 'hinge'; the losses are: cross-entropy, nll, mse, l1, huber, "
                                         "bce-with-logits"),
              std::string::npos)
        << e.what();
  }
}

TEST(Losses, DefaultsToTheFirstOutputAndAvoidsNameClashes) {
  TempDir tmp;
  Graph graph = make_model(tmp.path(), Tensor::from<float>({3}, {1, 2, 3}), false);
  graph.value_info["loss"] = ValueInfo{};  // "loss" is taken: the loss gets another name
  graph.value_info["loss"].name = "loss";
  const AppendedLoss appended = append_loss(graph, {LossKind::MSE});
  EXPECT_EQ(appended.loss, "loss_1");
  EXPECT_EQ(graph.outputs.back().name, "loss_1");
  EXPECT_EQ(graph.outputs.back().shape, Shape{});
  EXPECT_EQ(graph.inputs.back().name, "label");
  EXPECT_EQ(graph.inputs.back().dtype, DType::Float32);
  EXPECT_EQ(graph.inputs.back().shape, (Shape{-1, 3}));
}

TEST(Losses, ClearErrors) {
  TempDir tmp;
  Graph graph = make_model(tmp.path(), Tensor::from<float>({3}, {1, 2, 3}), false);
  LossOptions options{LossKind::CrossEntropy};
  options.output = "logits";
  expect_error(graph, options, "cross-entropy loss: 'logits' is not a value of the graph; name one of its outputs: y");

  // A rank-1 output has no class axis.
  ModelBuilder m(13);
  m.input("x", onnx::TensorProto::FLOAT, {-1});
  m.node("Neg", {"x"}, {"s"});
  m.output("s", onnx::TensorProto::FLOAT, {-1});
  m.save(tmp.path() + "/rank1.onnx");
  Graph rank1 = load_onnx_model(tmp.path() + "/rank1.onnx");
  expect_error(rank1, {LossKind::CrossEntropy},
               "cross-entropy loss: the output 's' has shape [-1], but the loss needs scores of shape [N, C]");

  options = {LossKind::MSE};
  options.label = "x";
  expect_error(graph, options, "mse loss: the label name 'x' is already a value of the graph; choose another");
  options = {LossKind::MSE};
  options.reduction = "none";
  expect_error(graph, options, "mse loss: reduction 'none' is not supported; use mean or sum");
  options = {LossKind::MSE};
  options.label_smoothing = 0.1f;
  expect_error(graph, options, "label smoothing applies to the cross-entropy loss only");
  options = {LossKind::Huber};
  options.huber_delta = 0;
  expect_error(graph, options, "delta must be positive");
  options = {LossKind::NLL};
  options.label_dtype = DType::Float32;
  expect_error(graph, options, "nll loss: class labels are int64 or int32, not float32");

  // An integer output does not fit any loss.
  ModelBuilder ints(13);
  ints.input("i", onnx::TensorProto::INT64, {2, 3});
  ints.node("Identity", {"i"}, {"j"});
  ints.output("j", onnx::TensorProto::INT64, {2, 3});
  ints.save(tmp.path() + "/ints.onnx");
  Graph int_graph = load_onnx_model(tmp.path() + "/ints.onnx");
  expect_error(int_graph, {LossKind::L1}, "l1 loss: the output 'j' is int64; the loss needs a float32 or float64");

  // The class losses need SoftmaxCrossEntropyLoss / NegativeLogLikelihoodLoss (opset 12).
  Graph old = make_model(tmp.path(), Tensor::from<float>({3}, {1, 2, 3}), false, 11);
  expect_error(old, {LossKind::CrossEntropy},
               "the model is at opset 11, but the loss is built from SoftmaxCrossEntropyLoss which ONNX defines from "
               "opset 12; convert the model first");
}

// The regression losses need no opset-12 op: Huber at opset 11 against a hand-computed value.
TEST(Losses, RegressionLossAtAnOlderOpset) {
  TempDir tmp;
  Graph graph = make_model(tmp.path(), Tensor::from<float>({2}, {1, 2}), false, 11);
  LossOptions options{LossKind::Huber};
  options.reduction = "sum";
  const AppendedLoss appended = append_loss(graph, options);
  const GradientGraph grads = build_gradient_graph(graph, appended.loss, {"w"});
  Plan plan(graph, KernelRegistry::global(), tmp.path());
  // y = [0.5, 4], t = [0, 1]: d = [0.5, 3]: 0.5 * 0.25 + (3 - 0.5) = 2.625;
  // dw = x * [0.5, 1] = [0.25, 2]
  const auto got = plan.run({Tensor::from<float>({1, 2}, {0.5f, 2}), Tensor::from<float>({1, 2}, {0, 1})});
  EXPECT_FLOAT_EQ(got[output_index(graph, appended.loss)].to_doubles()[0], 2.625);
  EXPECT_EQ(got[output_index(graph, grads.gradients.at("w"))].to_doubles(), (std::vector<double>{0.25, 2}));
}

// The graph with the loss and its backward graph is a valid ONNX model: saved, it passes
// ONNX's checker and shape inference on reload (with int32 labels and label smoothing,
// which emit the most nodes).
TEST(Losses, TrainingGraphPassesTheOnnxChecker) {
  TempDir tmp;
  Graph graph = make_model(tmp.path(), Tensor::from<float>({3, 2}, {1, 2, 3, 4, 5, 6}), false);
  LossOptions options{LossKind::CrossEntropy};
  options.label_smoothing = 0.1f;
  options.label_dtype = DType::Int32;
  options.class_axis = 1;  // [N, 3, 2]: 3 classes, 2 positions
  const AppendedLoss appended = append_loss(graph, options);
  build_gradient_graph(graph, appended.loss, {"w"});
  save_onnx_model(graph, tmp.path() + "/training.onnx");
  const Graph reloaded = load_onnx_model(tmp.path() + "/training.onnx");
  const ValueInfo* label = reloaded.find_value_info("label");
  ASSERT_NE(label, nullptr);
  EXPECT_EQ(label->dtype, DType::Int32);
  EXPECT_EQ(label->shape, (Shape{-1, 2}));
  EXPECT_EQ(reloaded.outputs.size(), 3u);  // y, loss, w_grad
}

}  // namespace
}  // namespace onnx_train

namespace onnx_train {
namespace {

// The class axis: unset, the last of a rank-3 output ([batch, tokens, classes]) and axis 1 of any
// other rank; set, 1 or the last (negative counts from the end); anything else is an OptionError.
TEST(Losses, ClassAxisResolution) {
  LossOptions options;
  EXPECT_EQ(resolved_class_axis(options, 2), 1);
  EXPECT_EQ(resolved_class_axis(options, 3), 2);
  EXPECT_EQ(resolved_class_axis(options, 4), 1);
  options.class_axis = -1;
  EXPECT_EQ(resolved_class_axis(options, 4), 3);
  EXPECT_EQ(resolved_class_axis(options, 2), 1);
  options.class_axis = 1;
  EXPECT_EQ(resolved_class_axis(options, 3), 1);
  options.class_axis = 2;
  try {
    resolved_class_axis(options, 4);
    ADD_FAILURE() << "axis 2 of a rank-4 output was taken";
  } catch (const OptionError& e) {
    EXPECT_EQ(e.option(), "loss.class_axis");
    EXPECT_NE(std::string(e.what()).find("rank 4"), std::string::npos) << e.what();
  }
}

// A [N, T, C] output with the default options takes [N, T] labels; with class_axis 1, [N, C].
TEST(Losses, LabelShapeFollowsTheClassAxis) {
  testing::TempDir tmp;
  testing::ModelBuilder m(13);
  m.input("x", onnx::TensorProto::FLOAT, {-1, 5, 7});
  m.node("Identity", {"x"}, {"y"});
  m.output("y", onnx::TensorProto::FLOAT, {-1, 5, 7});
  m.save(tmp.path() + "/model.onnx");
  Graph last = load_onnx_model(tmp.path() + "/model.onnx");
  Graph first = last;
  append_loss(last, LossOptions{});
  EXPECT_EQ(last.find_value_info("label")->shape, (Shape{-1, 5}));
  LossOptions axis1;
  axis1.class_axis = 1;
  append_loss(first, axis1);
  EXPECT_EQ(first.find_value_info("label")->shape, (Shape{-1, 7}));
}

}  // namespace
}  // namespace onnx_train
