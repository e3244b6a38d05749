// The driver's bookkeeping: fan-in sums, shared weights, pruning, missing rules.
#include "gradients/autodiff.h"

#include <gtest/gtest.h>

#include "importers/onnx_model.h"
#include "runtime/exec/plan.h"
#include "tests/support/model_builder.h"

namespace onnx_train {
namespace {

using testing::ModelBuilder;
using testing::TempDir;

Graph load(ModelBuilder& m, const TempDir& dir) {
  m.save(dir.path() + "/model.onnx");
  return load_onnx_model(dir.path() + "/model.onnx");
}

std::vector<double> run_graph(const Graph& g, const std::vector<Tensor>& feeds, size_t output) {
  Plan plan(g, KernelRegistry::global(), "test");
  return plan.run(feeds)[output].to_doubles();
}

// loss = sum(w * x + w * w): w feeds two nodes and one node twice.
// d loss / d w = x + 2 w.
TEST(Autodiff, SumsEveryUseOfAValue) {
  TempDir dir;
  ModelBuilder m(13);
  m.input("x", onnx::TensorProto::DOUBLE, {3});
  m.initializer("w", Tensor::from<double>({3}, {1, -2, 3}));
  m.node("Mul", {"w", "x"}, {"a"});
  m.node("Mul", {"w", "w"}, {"b"});
  m.node("Add", {"a", "b"}, {"c"});
  m.node("ReduceSum", {"c"}, {"loss"});
  m.output("loss", onnx::TensorProto::DOUBLE, {1});
  Graph g = load(m, dir);
  const GradientGraph grads = build_gradient_graph(g, "loss", {"w"});
  EXPECT_EQ(grads.gradients.at("w"), "w_grad");
  const auto dw = run_graph(g, {Tensor::from<double>({3}, {10, 20, 30})}, 1);
  EXPECT_EQ(dw, (std::vector<double>{12, 16, 36}));
}

// A shape computed from x (Shape -> int64) and a Greater mask carry no gradient; an
// input that does not reach the loss gets a zero gradient of its own shape.
TEST(Autodiff, PrunesIntegerPathsAndZeroesUnconnectedInputs) {
  TempDir dir;
  ModelBuilder m(13);
  m.input("x", onnx::TensorProto::DOUBLE, {2, 2});
  m.input("unused", onnx::TensorProto::DOUBLE, {5});
  m.node("Shape", {"x"}, {"s"});
  m.node("Reshape", {"x", "s"}, {"r"});
  m.node("Relu", {"x"}, {"y"});
  m.node("Mul", {"y", "x"}, {"z"});
  m.node("ReduceSum", {"z"}, {"loss"});
  m.node("Identity", {"unused"}, {"unused_out"});
  m.output("loss", onnx::TensorProto::DOUBLE, {1, 1});
  m.output("r", onnx::TensorProto::DOUBLE, {2, 2});
  m.output("unused_out", onnx::TensorProto::DOUBLE, {5});
  Graph g = load(m, dir);
  build_gradient_graph(g, "loss", {"x", "unused"});
  Plan plan(g, KernelRegistry::global(), "test");
  const auto out = plan.run({Tensor::from<double>({2, 2}, {1, -2, 3, -4}), Tensor(DType::Float64, {5})});
  // loss = sum(relu(x) * x): d/dx = 2x where x > 0, else 0.
  EXPECT_EQ(out[3].to_doubles(), (std::vector<double>{2, 0, 6, 0}));
  EXPECT_EQ(out[4].to_doubles(), std::vector<double>(5, 0.0));
}

// Float initializers that are settings of an op, not weights (Dropout's ratio, Clip's
// bounds, Pad's fill value, Resize's scales, a loss's class weights) are not trainable.
TEST(Autodiff, SettingsOfOpsAreNotTrainable) {
  TempDir dir;
  ModelBuilder m(13);
  m.input("x", onnx::TensorProto::FLOAT, {1, 1, 2, 2});
  m.input("label", onnx::TensorProto::INT64, {1, 4, 4});
  m.initializer("w", Tensor::from<float>({1}, {2}));
  m.initializer("ratio", Tensor::scalar<float>(0.1f));
  m.initializer("low", Tensor::scalar<float>(-1.f));
  m.initializer("high", Tensor::scalar<float>(1.f));
  m.initializer("pads", Tensor::from<int64_t>({8}, {0, 0, 0, 0, 0, 0, 0, 0}));
  m.initializer("fill", Tensor::scalar<float>(0.5f));
  m.initializer("roi", Tensor::from<float>({0}, {}));
  m.initializer("scales", Tensor::from<float>({4}, {1, 1, 2, 2}));
  m.initializer("class_weights", Tensor::from<float>({2}, {1, 3}));
  m.node("Mul", {"x", "w"}, {"a"});
  m.node("Dropout", {"a", "ratio"}, {"b"});
  m.node("Clip", {"b", "low", "high"}, {"c"});
  m.node("Pad", {"c", "pads", "fill"}, {"d"});
  m.node("Resize", {"d", "roi", "scales"}, {"e"});
  m.node("Concat", {"e", "e"}, {"logits"});
  m.attr("axis", 1);
  m.node("SoftmaxCrossEntropyLoss", {"logits", "label", "class_weights"}, {"loss"});
  m.output("loss", onnx::TensorProto::FLOAT, {});
  Graph g = load(m, dir);
  EXPECT_EQ(trainable_initializers(g, "loss"), (std::vector<std::string>{"w"}));
}

TEST(Autodiff, ReportsEveryNodeWithoutARule) {
  // Two ops of a custom domain, which has no gradient rules, on the path to the loss.
  TempDir dir;
  ModelBuilder m(13);
  m.opset_import("com.example", 1);
  m.input("x", onnx::TensorProto::DOUBLE, {1, 2, 3, 3});
  m.node("Mystery", {"x"}, {"a"}, "com.example").set_name("first");
  m.node("Enigma", {"a"}, {"b"}, "com.example").set_name("second");
  m.node("ReduceSum", {"b"}, {"loss"});
  m.output("loss", onnx::TensorProto::DOUBLE, {1, 1, 1, 1});
  Graph g = load(m, dir);
  try {
    build_gradient_graph(g, "loss", {"x"});
    FAIL() << "com.example ops have no gradient rule";
  } catch (const Error& e) {
    const std::string err = e.what();
    EXPECT_NE(err.find("no gradient rule for 2 nodes"), std::string::npos) << err;
    EXPECT_NE(err.find("node 'first' (com.example.Mystery, opset 1)"), std::string::npos) << err;
    EXPECT_NE(err.find("node 'second' (com.example.Enigma, opset 1)"), std::string::npos) << err;
  }
}

}  // namespace
}  // namespace onnx_train
