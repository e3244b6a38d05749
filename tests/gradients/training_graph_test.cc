// The training graph as a file: written, reloaded through ONNX's checker, run.
#include <gtest/gtest.h>

#include <filesystem>

#include "onnx_train/session.h"
#include "onnx_train/training.h"
#include "tests/support/model_builder.h"

namespace onnx_train {
namespace {

using testing::ModelBuilder;
using testing::TempDir;

// loss = mean((tanh(x * w + b) - t)^2) over a [4, 3] batch; w and b are [3].
std::string make_model(const std::string& dir) {
  ModelBuilder m(13);
  m.input("x", onnx::TensorProto::DOUBLE, {-1, 3});
  m.input("t", onnx::TensorProto::DOUBLE, {-1, 3});
  m.initializer("w", Tensor::from<double>({3}, {0.5, -0.3, 0.8}));
  m.initializer("b", Tensor::from<double>({3}, {0.1, 0.2, -0.1}));
  m.initializer("unused_weight", Tensor::from<double>({2}, {1, 2}));
  m.node("Mul", {"x", "w"}, {"xw"});
  m.node("Add", {"xw", "b"}, {"z"});
  m.node("Tanh", {"z"}, {"y"});
  m.node("Sub", {"y", "t"}, {"e"});
  m.node("Mul", {"e", "e"}, {"e2"});
  m.node("ReduceMean", {"e2"}, {"loss"});
  m.output("loss", onnx::TensorProto::DOUBLE, {1, 1});
  m.save(dir + "/model.onnx");
  return dir + "/model.onnx";
}

TEST(TrainingGraph, WrittenFilePassesTheCheckerAndComputesGradients) {
  TempDir dir;
  const std::string model = make_model(dir.path());
  const std::string out = dir.path() + "/training.onnx";
  const TrainingGraphInfo info = write_training_graph(model, out, {"loss", {}, {"x"}});
  EXPECT_EQ(info.trainable, (std::vector<std::string>{"b", "w"}));  // unused_weight does not reach the loss
  EXPECT_EQ(info.gradients.at("w"), "w_grad");
  EXPECT_GT(info.backward_nodes, 0u);

  // Loading runs ONNX's checker and shape inference on the written file.
  Session s = Session::from_file(out);
  ASSERT_EQ(s.outputs().size(), 4u);  // loss, b_grad, w_grad, x_grad
  Tensor x(DType::Float64, {4, 3}), t(DType::Float64, {4, 3});
  for (int64_t i = 0; i < 12; ++i) {
    x.data<double>()[i] = 0.1 * static_cast<double>(i) - 0.5;
    t.data<double>()[i] = 0.05 * static_cast<double>(i % 5);
  }
  const auto got = s.run({{"x", x}, {"t", t}});
  // d loss / d w_j = (2 / 12) * sum_i (y - t) * (1 - y^2) * x_ij, and the same without x for b.
  const double w[3] = {0.5, -0.3, 0.8}, b[3] = {0.1, 0.2, -0.1};
  double dw[3] = {0, 0, 0}, db[3] = {0, 0, 0};
  for (int i = 0; i < 4; ++i)
    for (int j = 0; j < 3; ++j) {
      const double xv = x.data<double>()[i * 3 + j];
      const double y = std::tanh(xv * w[j] + b[j]);
      const double g = 2.0 / 12.0 * (y - t.data<double>()[i * 3 + j]) * (1 - y * y);
      dw[j] += g * xv;
      db[j] += g;
    }
  for (int j = 0; j < 3; ++j) {
    EXPECT_NEAR(got[1].to_doubles()[j], db[j], 1e-12);
    EXPECT_NEAR(got[2].to_doubles()[j], dw[j], 1e-12);
  }
  EXPECT_EQ(got[3].shape(), (Shape{4, 3}));
}

TEST(TrainingGraph, FreezePatternsAndClearErrors) {
  TempDir dir;
  const std::string model = make_model(dir.path());
  const auto info = write_training_graph(model, dir.path() + "/t.onnx", {"loss", {"^w$"}, {}});
  EXPECT_EQ(info.trainable, (std::vector<std::string>{"b"}));
  try {
    write_training_graph(model, dir.path() + "/t2.onnx", {"loss", {"."}, {}});
    FAIL() << "freezing everything leaves nothing to train";
  } catch (const Error& e) {
    EXPECT_NE(std::string(e.what()).find("nothing to train"), std::string::npos) << e.what();
  }
  EXPECT_FALSE(std::filesystem::exists(dir.path() + "/t2.onnx"));  // no half-written file
  try {
    write_training_graph(model, dir.path() + "/t3.onnx", {"no_such_value", {}, {}});
    FAIL() << "an unknown loss must be refused";
  } catch (const Error& e) {
    EXPECT_NE(std::string(e.what()).find("'no_such_value' is not a value of the graph"), std::string::npos) << e.what();
  }
}

// Some exporters store weights as Constant nodes: those that reach the loss become
// trainable initializers; a scalar constant (not a weight) and a constant that only feeds
// a shape stay constants.
TEST(TrainingGraph, ConstantNodeWeightsBecomeTrainable) {
  TempDir dir;
  ModelBuilder m(13);
  m.input("x", onnx::TensorProto::DOUBLE, {2, 3});
  auto constant = [&](const std::string& name, const Tensor& value) {
    auto& n = m.node("Constant", {}, {name});
    auto* a = n.add_attribute();
    a->set_name("value");
    a->set_type(onnx::AttributeProto::TENSOR);
    tensor_to_proto(value, *a->mutable_t());
  };
  constant("w", Tensor::from<double>({3}, {0.5, -0.3, 0.8}));
  constant("half", Tensor::scalar<double>(0.5));
  constant("shape", Tensor::from<int64_t>({2}, {3, 2}));
  m.node("Mul", {"x", "w"}, {"xw"});
  m.node("Mul", {"xw", "half"}, {"h"});
  m.node("Reshape", {"h", "shape"}, {"r"});
  m.node("ReduceSum", {"r"}, {"loss"});
  m.output("loss", onnx::TensorProto::DOUBLE, {1, 1});
  m.save(dir.path() + "/model.onnx");

  const auto info = write_training_graph(dir.path() + "/model.onnx", dir.path() + "/t.onnx", {"loss", {}, {}});
  EXPECT_EQ(info.promoted_constants, (std::vector<std::string>{"w"}));
  EXPECT_EQ(info.trainable, (std::vector<std::string>{"w"}));
  Session s = Session::from_file(dir.path() + "/t.onnx");
  Tensor x = Tensor::from<double>({2, 3}, {1, 2, 3, 4, 5, 6});
  const auto got = s.run({{"x", x}});
  // d loss / d w_j = 0.5 * sum_i x_ij
  EXPECT_EQ(got[1].to_doubles(), (std::vector<double>{2.5, 3.5, 4.5}));
}

}  // namespace
}  // namespace onnx_train
