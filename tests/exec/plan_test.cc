// The plan's memory decisions: values derived from weights recomputed for late readers (with
// the same bits as the graph that computes them twice), and the buffer pool's best-fit reuse.
#include "runtime/exec/plan.h"

#include <gtest/gtest.h>

#include "importers/onnx_model.h"
#include "onnx_train/session.h"
#include "tests/support/model_builder.h"
#include "tests/support/random_tensors.h"

namespace onnx_train {
namespace {

using testing::ModelBuilder;
using testing::TempDir;
using testing::random_float32;

// y = MatMul(chain(MatMul(x, Transpose(w))), Transpose(w)), the chain 20 Neg/Relu steps long:
// the second reader of Transpose(w) comes long after the first. With `two_transposes` the
// graph itself computes Transpose(w) again for the second reader (the unrecomputed oracle).
std::string save_late_reader_model(const std::string& dir, bool two_transposes) {
  ModelBuilder m(13);
  m.input("x", onnx::TensorProto::FLOAT, {4, 8});
  m.initializer("w", random_float32({8, 8}, 7));
  m.node("Transpose", {"w"}, {"wt"});
  m.node("MatMul", {"x", "wt"}, {"h0"});
  std::string prev = "h0";
  for (int i = 1; i <= 20; ++i) {
    const std::string out = "h" + std::to_string(i);
    m.node(i % 2 == 0 ? "Neg" : "Relu", {prev}, {out});
    prev = out;
  }
  std::string late = "wt";
  if (two_transposes) {
    m.node("Transpose", {"w"}, {"wt_again"});
    late = "wt_again";
  }
  m.node("MatMul", {prev, late}, {"y"});
  m.output("y", onnx::TensorProto::FLOAT, {4, 8});
  const std::string path = dir + (two_transposes ? "/twice.onnx" : "/once.onnx");
  m.save(path);
  return path;
}

TEST(Plan, RecomputesAWeightTransposeForALateReaderWithTheSameBits) {
  TempDir dir;
  const std::string once = save_late_reader_model(dir.path(), false);
  const std::string twice = save_late_reader_model(dir.path(), true);
  const Graph graph = load_onnx_model(once);
  const Plan plan(graph, KernelRegistry::global(), once);
  EXPECT_EQ(plan.step_count(), graph.nodes.size() + 1);  // Transpose(w) runs again before the late MatMul

  const Tensor x = random_float32({4, 8}, 3);
  Session recomputed = Session::from_file(once);
  Session oracle = Session::from_file(twice);
  for (int run = 0; run < 2; ++run)
    EXPECT_EQ(recomputed.run({{"x", x}})[0].to_doubles(), oracle.run({{"x", x}})[0].to_doubles());
}

TEST(Plan, KeepsANearbyReaderOnOneComputation) {
  TempDir dir;
  ModelBuilder m(13);
  m.input("x", onnx::TensorProto::FLOAT, {4, 8});
  m.initializer("w", random_float32({8, 8}, 7));
  m.node("Transpose", {"w"}, {"wt"});
  m.node("MatMul", {"x", "wt"}, {"h"});
  m.node("MatMul", {"h", "wt"}, {"y"});
  m.output("y", onnx::TensorProto::FLOAT, {4, 8});
  m.save(dir.path() + "/model.onnx");
  const Graph graph = load_onnx_model(dir.path() + "/model.onnx");
  EXPECT_EQ(Plan(graph, KernelRegistry::global(), "model").step_count(), graph.nodes.size());
}

// A freed block serves a smaller request (down to half its size) instead of lying idle while a
// new block is taken from the system; a much smaller request takes a block of its own.
TEST(BufferPool, FreedBlocksServeSmallerRequestsByBestFit) {
  BufferPool pool;
  { Tensor big(DType::Float32, {1000}, &pool); }
  {
    Tensor smaller(DType::Float32, {600}, &pool);
    EXPECT_EQ(pool.stats().system_allocations, 1u);
    for (int64_t i = 0; i < smaller.numel(); ++i) EXPECT_EQ(smaller.data<float>()[i], 0.0f);  // zero-filled
  }
  { Tensor tiny(DType::Float32, {100}, &pool); }
  EXPECT_EQ(pool.stats().system_allocations, 2u);
}

}  // namespace
}  // namespace onnx_train
