// Loading models of opsets 18-20 with the reduction, shape, indexing and bitwise op versions
// (importers/lowerings/reduce_shape.cc, indexing.cc): the forms they lower to where a test of
// the lowered graph says more than the ONNX Runtime fixtures (tests/data/opset_new/), values
// only known at run time (a symbolic dimension, axes or pads fed as inputs), and the refusals:
// each one message naming the node and what to do.
#include <gtest/gtest.h>

#include "importers/onnx_model.h"
#include "onnx_train/session.h"
#include "onnx_train/training_session.h"
#include "tests/support/expect_text.h"
#include "tests/support/model_builder.h"

namespace onnx_train {
namespace {

using testing::expect_contains;
using testing::load_error;
using testing::ModelBuilder;
using testing::TempDir;

constexpr int kFloat = onnx::TensorProto::FLOAT;
constexpr int kInt64 = onnx::TensorProto::INT64;

Tensor int64s(const std::vector<int64_t>& values) {
  return Tensor::from<int64_t>({static_cast<int64_t>(values.size())}, values);
}

std::string saved(const ModelBuilder& m, const TempDir& dir) {
  const std::string path = dir.path() + "/model.onnx";
  m.save(path);
  return path;
}

const Node* find_op(const Graph& g, const std::string& op) {
  for (const Node& n : g.nodes)
    if (n.op_type == op) return &n;
  return nullptr;
}

TEST(LoweringData, ReduceWithConstantAxesBecomesTheAttributeForm) {
  TempDir dir;
  ModelBuilder m(18);
  m.input("x", kFloat, {2, 3, 4});
  m.initializer("axes", int64s({-1, 0}));
  m.node("ReduceMean", {"x", "axes"}, {"y"});
  m.attr("keepdims", 0);
  m.output("y", kFloat, {3});
  const Graph g = load_onnx_model(saved(m, dir));
  const Node* mean = find_op(g, "ReduceMean");
  ASSERT_NE(mean, nullptr);
  EXPECT_EQ(mean->since_version, 13);
  EXPECT_EQ(mean->inputs.size(), 1u);
  EXPECT_EQ(mean->attr_ints("axes"), (std::vector<int64_t>{-1, 0}));
  EXPECT_EQ(mean->attr_int("keepdims"), 0);
}

TEST(LoweringData, ReduceMeanOverAxesFedAtRunTime) {
  TempDir dir;
  ModelBuilder m(18);
  m.input("x", kFloat, {2, 3});
  m.input("axes", kInt64, {1});
  m.node("ReduceMean", {"x", "axes"}, {"y"});
  m.output("y", kFloat, {-1, -1});
  Session s = Session::from_file(saved(m, dir));
  const Tensor x = Tensor::from<float>({2, 3}, {1, 2, 3, 4, 5, 9});
  std::vector<Tensor> y = s.run({{"x", x}, {"axes", int64s({1})}});
  EXPECT_EQ(y[0].shape(), (Shape{2, 1}));
  EXPECT_EQ(y[0].to_doubles(), (std::vector<double>{2, 6}));
  y = s.run({{"x", x}, {"axes", int64s({-2})}});
  EXPECT_EQ(y[0].shape(), (Shape{1, 3}));
  EXPECT_EQ(y[0].to_doubles(), (std::vector<double>{2.5, 3.5, 6}));
}

TEST(LoweringData, SplitNumOutputsOverASymbolicDimension) {
  // The axis size is known only at run time: the sizes ceil(d / 3), ..., the rest are computed then.
  TempDir dir;
  ModelBuilder m(18);
  m.input("x", kFloat, {-1});
  m.node("Split", {"x"}, {"a", "b", "c"});
  m.attr("num_outputs", 3);
  for (const char* o : {"a", "b", "c"}) m.output(o, kFloat, {-1});
  Session s = Session::from_file(saved(m, dir));
  std::vector<Tensor> y = s.run({{"x", Tensor::from<float>({7}, {0, 1, 2, 3, 4, 5, 6})}});
  EXPECT_EQ(y[0].to_doubles(), (std::vector<double>{0, 1, 2}));
  EXPECT_EQ(y[1].to_doubles(), (std::vector<double>{3, 4, 5}));
  EXPECT_EQ(y[2].to_doubles(), (std::vector<double>{6}));
  y = s.run({{"x", Tensor::from<float>({6}, {0, 1, 2, 3, 4, 5})}});
  EXPECT_EQ(y[2].to_doubles(), (std::vector<double>{4, 5}));
}

TEST(LoweringData, PadOfSomeAxesWithPadsFedAtRunTime) {
  TempDir dir;
  ModelBuilder m(18);
  m.input("x", kFloat, {1, 2});
  m.input("pads", kInt64, {2});
  m.initializer("axes", int64s({-1}));
  m.node("Pad", {"x", "pads", "", "axes"}, {"y"});
  m.output("y", kFloat, {-1, -1});
  Session s = Session::from_file(saved(m, dir));
  const std::vector<Tensor> y = s.run({{"x", Tensor::from<float>({1, 2}, {1, 2})}, {"pads", int64s({2, 1})}});
  EXPECT_EQ(y[0].shape(), (Shape{1, 5}));
  EXPECT_EQ(y[0].to_doubles(), (std::vector<double>{0, 0, 1, 2, 0}));
}

TEST(LoweringData, Col2ImInOneDimension) {
  // x [1, C * K = 2, L = 2], image 3, block 2: y[0] = x[0, 0], y[1] = x[1, 0] + x[0, 1], y[2] = x[1, 1].
  TempDir dir;
  ModelBuilder m(18);
  m.input("x", kFloat, {1, 2, 2});
  m.initializer("image", int64s({3}));
  m.initializer("block", int64s({2}));
  m.node("Col2Im", {"x", "image", "block"}, {"y"});
  m.output("y", kFloat, {1, 1, 3});
  Session s = Session::from_file(saved(m, dir));
  const std::vector<Tensor> y = s.run({{"x", Tensor::from<float>({1, 2, 2}, {1, 2, 10, 20})}});
  EXPECT_EQ(y[0].shape(), (Shape{1, 1, 3}));
  EXPECT_EQ(y[0].to_doubles(), (std::vector<double>{1, 12, 20}));
}

TEST(LoweringData, Col2ImAddsNoTrainableWeight) {
  // The one-hot ConvTranspose weight of the lowered Col2Im is a constant of the op, not a
  // weight: only the model's own initializer trains.
  TempDir dir;
  ModelBuilder m(18);
  m.input("x", kFloat, {1, 8, 6});
  m.initializer("image", int64s({3, 4}));
  m.initializer("block", int64s({2, 2}));
  m.initializer("w", Tensor::from<float>({1}, {2}));
  m.node("Col2Im", {"x", "image", "block"}, {"y"});
  m.node("Mul", {"y", "w"}, {"z"});
  m.node("ReduceSum", {"z"}, {"loss"});
  m.attr("keepdims", 0);
  m.output("loss", kFloat, {});
  TrainingOptions options;
  options.model_loss = "loss";
  const TrainingSession session = TrainingSession::from_file(saved(m, dir), options);
  EXPECT_EQ(session.parameter_names(), (std::vector<std::string>{"w"}));
}

// The message of loading a one-node model at `opset` built by `build`.
std::string refusal(int opset, const std::function<void(ModelBuilder&)>& build) {
  TempDir dir;
  ModelBuilder m(opset);
  build(m);
  return load_error(saved(m, dir));
}

TEST(LoweringData, ReduceMaxOverAxesKnownOnlyAtRunTimeIsRefused) {
  const std::string msg = refusal(18, [](ModelBuilder& m) {
    m.input("x", kFloat, {2, 3});
    m.input("axes", kInt64, {1});
    m.node("ReduceMax", {"x", "axes"}, {"y"});
    m.output("y", kFloat, {-1, -1});
  });
  expect_contains(msg, {"ReduceMax", "axes 'axes' is not a constant", "initializer or a Constant"});
}

TEST(LoweringData, SplitRefusals) {
  std::string msg = refusal(18, [](ModelBuilder& m) {
    m.input("x", kFloat, {5});
    m.node("Split", {"x"}, {"a", "b", "c", "d"});
    m.attr("num_outputs", 4);
    for (const char* o : {"a", "b", "c", "d"}) m.output(o, kFloat, {-1});
  });
  expect_contains(msg, {"Split", "num_outputs=4 cannot split 5 elements"});
  msg = refusal(18, [](ModelBuilder& m) {
    m.input("x", kFloat, {6});
    m.node("Split", {"x"}, {"a", "b"});
    m.attr("num_outputs", 3);
    for (const char* o : {"a", "b"}) m.output(o, kFloat, {-1});
  });
  expect_contains(msg, {"num_outputs=3 but the node has 2 outputs"});
  msg = refusal(18, [](ModelBuilder& m) {
    m.input("x", kFloat, {6});
    m.node("Split", {"x"}, {"a", "b"});
    for (const char* o : {"a", "b"}) m.output(o, kFloat, {-1});
  });
  expect_contains(msg, {"either the split input or the num_outputs attribute"});
}

TEST(LoweringData, PadRefusals) {
  std::string msg = refusal(18, [](ModelBuilder& m) {
    m.input("x", kFloat, {}).mutable_type()->mutable_tensor_type()->clear_shape();  // rank unknown
    m.initializer("axes", int64s({0}));
    m.initializer("pads", int64s({1, 1}));
    m.node("Pad", {"x", "pads", "", "axes"}, {"y"});
    m.output("y", kFloat, {-1, -1});
  });
  expect_contains(msg, {"Pad", "rank", "padding only some axes"});
  msg = refusal(18, [](ModelBuilder& m) {
    m.input("x", kFloat, {2, 3});
    m.initializer("pads", int64s({1, 1, 1, 1}));
    m.node("Pad", {"x", "pads"}, {"y"});
    m.attr("mode", "wrap");
    m.output("y", kFloat, {-1, -1});
  });
  expect_contains(msg, {"mode 'wrap' is not a mode of Pad-18", "wrap from opset 19"});
  msg = refusal(19, [](ModelBuilder& m) {
    m.input("x", kFloat, {2, 3});
    m.initializer("pads", int64s({1, 1}));
    m.initializer("axes", int64s({2}));
    m.node("Pad", {"x", "pads", "", "axes"}, {"y"});
    m.output("y", kFloat, {-1, -1});
  });
  expect_contains(msg, {"axis 2 is out of range for an input of rank 2"});
}

TEST(LoweringData, CenterCropPadNeedsTheRank) {
  const std::string msg = refusal(18, [](ModelBuilder& m) {
    m.input("x", kFloat, {}).mutable_type()->mutable_tensor_type()->clear_shape();  // rank unknown
    m.initializer("shape", int64s({2, 2}));
    m.node("CenterCropPad", {"x", "shape"}, {"y"});
    m.output("y", kFloat, {2, 2});
  });
  expect_contains(msg, {"CenterCropPad", "rank"});
}

TEST(LoweringData, ScatterAndBitwiseRefusals) {
  std::string msg = refusal(18, [](ModelBuilder& m) {
    m.input("data", kFloat, {3});
    m.input("updates", kFloat, {1});
    m.initializer("indices", int64s({1}));
    m.node("ScatterElements", {"data", "indices", "updates"}, {"y"});
    m.attr("reduction", "mean");
    m.output("y", kFloat, {3});
  });
  expect_contains(msg, {"ScatterElements", "reduction 'mean' is not one of none, add, mul, max, min"});
  msg = refusal(18, [](ModelBuilder& m) {
    m.input("a", kFloat, {3});
    m.input("b", kFloat, {3});
    m.node("BitwiseAnd", {"a", "b"}, {"y"});
    m.output("y", kFloat, {3});
  });
  expect_contains(msg, {"BitwiseAnd", "bitwise ops take integer types"});
}

TEST(LoweringData, DftAxisMustBeConstant) {
  const std::string msg = refusal(20, [](ModelBuilder& m) {
    m.input("x", kFloat, {2, 8, 1});
    m.input("axis", kInt64, {});
    m.node("DFT", {"x", "", "axis"}, {"y"});
    m.output("y", kFloat, {2, 8, 2});
  });
  expect_contains(msg, {"DFT", "axis"});
}

}  // namespace
}  // namespace onnx_train
