// Running models: feeds, dynamic shapes, old-style inputs, memory, failures mid-run.
#include "onnx_train/session.h"

#include <gtest/gtest.h>

#include "tests/support/model_builder.h"

namespace onnx_train {
namespace {

using testing::ModelBuilder;
using testing::TempDir;

TEST(Session, OldStyleInitializersAsInputsCanBeOverridden) {
  TempDir dir;
  ModelBuilder m(9, /*ir_version=*/3);
  m.input("x", onnx::TensorProto::FLOAT, {3});
  m.input("w", onnx::TensorProto::FLOAT, {3});
  m.initializer("w", Tensor::from<float>({3}, {1, 2, 3}));
  m.node("Add", {"x", "w"}, {"y"});
  m.output("y", onnx::TensorProto::FLOAT, {3});
  m.save(dir.path() + "/model.onnx");
  Session s = Session::from_file(dir.path() + "/model.onnx");
  ASSERT_EQ(s.inputs().size(), 1u);
  ASSERT_EQ(s.overridable_initializers().size(), 1u);
  const Tensor x = Tensor::from<float>({3}, {10, 20, 30});
  EXPECT_EQ(s.run({{"x", x}})[0].to_doubles(), (std::vector<double>{11, 22, 33}));
  EXPECT_EQ(s.run({{"x", x}, {"w", Tensor::from<float>({3}, {0, 0, 1})}})[0].to_doubles(),
            (std::vector<double>{10, 20, 31}));
  EXPECT_EQ(s.run({{"x", x}})[0].to_doubles(), (std::vector<double>{11, 22, 33}));  // restored
}

TEST(Session, DynamicBatchAndSteadyStateAllocations) {
  TempDir dir;
  ModelBuilder m(13);
  m.input("x", onnx::TensorProto::FLOAT, {-1, 4});
  m.initializer("w", Tensor::from<float>({4}, {1, 2, 3, 4}));
  m.node("Mul", {"x", "w"}, {"a"});
  m.node("Relu", {"a"}, {"b"});
  m.node("Add", {"b", "w"}, {"y"});
  m.output("y", onnx::TensorProto::FLOAT, {-1, 4});
  m.save(dir.path() + "/model.onnx");
  Session s = Session::from_file(dir.path() + "/model.onnx");
  EXPECT_EQ(s.inputs()[0].describe(), "float32[N, 4]");
  for (int64_t batch : {8, 3}) {
    Tensor x(DType::Float32, {batch, 4});
    for (int64_t i = 0; i < x.numel(); ++i) x.data<float>()[i] = static_cast<float>(i % 5) - 2.0f;
    const Tensor y = s.run({{"x", x}})[0];
    ASSERT_EQ(y.shape(), (Shape{batch, 4}));
    for (int64_t i = 0; i < x.numel(); ++i) {
      const float w = static_cast<float>(i % 4 + 1);
      EXPECT_EQ(y.data<float>()[i], std::max(0.0f, x.data<float>()[i] * w) + w);
    }
  }
  // Same shape again: every intermediate comes from the pool, nothing new from the system.
  Tensor x(DType::Float32, {3, 4});
  s.run({{"x", x}});
  const size_t before = s.memory_stats().system_allocations;
  for (int i = 0; i < 3; ++i) s.run({{"x", x}});
  EXPECT_EQ(s.memory_stats().system_allocations, before);
}

TEST(Session, FeedErrorsNameTheInput) {
  TempDir dir;
  ModelBuilder m(13);
  m.input("x", onnx::TensorProto::FLOAT, {-1, 4});
  m.node("Relu", {"x"}, {"y"});
  m.output("y", onnx::TensorProto::FLOAT, {-1, 4});
  m.save(dir.path() + "/model.onnx");
  Session s = Session::from_file(dir.path() + "/model.onnx");
  auto error_of = [&](const std::map<std::string, Tensor>& feeds) -> std::string {
    try {
      s.run(feeds);
    } catch (const Error& e) {
      return e.what();
    }
    return "";
  };
  EXPECT_NE(error_of({}).find("input 'x' (float32[N, 4]) was not given"), std::string::npos);
  EXPECT_NE(error_of({{"x", Tensor(DType::Float64, {2, 4})}}).find("must be float32[N, 4], got float64[2, 4]"),
            std::string::npos);
  EXPECT_NE(error_of({{"x", Tensor(DType::Float32, {2, 5})}}).find("dimension 1 must be 4"), std::string::npos);
  EXPECT_NE(error_of({{"x", Tensor(DType::Float32, {2, 4})}, {"z", Tensor(DType::Float32, {1})}}).find("no input 'z'"),
            std::string::npos);
}

TEST(Session, AFailedRunNamesTheNodeAndLeavesTheSessionUsable) {
  TempDir dir;
  ModelBuilder m(13);
  m.input("x", onnx::TensorProto::FLOAT, {-1, 4});
  m.input("shape", onnx::TensorProto::INT64, {2});
  m.initializer("w", Tensor::from<float>({4}, {1, 1, 1, 1}));
  m.node("Add", {"x", "w"}, {"a"});
  m.node("Reshape", {"a", "shape"}, {"y"}).set_name("reshape_y");
  m.output("y", onnx::TensorProto::FLOAT, {-1, -1});
  m.save(dir.path() + "/model.onnx");
  Session s = Session::from_file(dir.path() + "/model.onnx");
  const Tensor x(DType::Float32, {2, 4});
  try {
    s.run({{"x", x}, {"shape", Tensor::from<int64_t>({2}, {3, 5})}});
    FAIL() << "a reshape of 8 elements to [3, 5] must fail";
  } catch (const Error& e) {
    const std::string err = e.what();
    EXPECT_NE(err.find("node 'reshape_y' (Reshape, opset 13) failed on inputs (float32[2, 4], int64[2])"),
              std::string::npos)
        << err;
  }
  const Tensor y = s.run({{"x", x}, {"shape", Tensor::from<int64_t>({2}, {4, 2})}})[0];
  EXPECT_EQ(y.shape(), (Shape{4, 2}));
  EXPECT_EQ(y.to_doubles(), std::vector<double>(8, 1.0));
}

// Intermediates die at their last use, so a chain of 20 ops over a 4 MB tensor peaks at a
// few tensors' worth of memory, not twenty.
TEST(Session, PeakMemoryFollowsLivenessNotGraphSize) {
  TempDir dir;
  ModelBuilder m(13);
  m.input("x", onnx::TensorProto::FLOAT, {1024, 1024});
  std::string prev = "x";
  for (int i = 0; i < 20; ++i) {
    const std::string out = i == 19 ? "y" : "t" + std::to_string(i);
    m.node(i % 2 == 0 ? "Neg" : "Relu", {prev}, {out});
    prev = out;
  }
  m.output("y", onnx::TensorProto::FLOAT, {1024, 1024});
  m.save(dir.path() + "/model.onnx");
  Session s = Session::from_file(dir.path() + "/model.onnx");
  const Tensor x(DType::Float32, {1024, 1024});
  s.run({{"x", x}});
  const size_t tensor_bytes = 1024 * 1024 * 4;
  EXPECT_LE(s.memory_stats().peak_bytes_in_use, 2 * tensor_bytes);
  EXPECT_LE(s.memory_stats().system_allocations, 2u);
}

}  // namespace
}  // namespace onnx_train
