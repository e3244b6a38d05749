// The transformer fusions (runtime/transforms/fuse_transformer.h): the Slices torch writes
// for a chunk, with bounds computed from Shape at run time, become one Split; the values
// and gradients stay those of the unfused graph; what does not tile is left alone.
#include "runtime/transforms/fuse_transformer.h"

#include <gtest/gtest.h>

#include <algorithm>

#include "importers/onnx_model.h"
#include "onnx_train/session.h"
#include "onnx_train/training.h"
#include "tests/support/model_builder.h"

namespace onnx_train {
namespace {

using testing::ModelBuilder;
using testing::TempDir;

const std::vector<double> kWeights = {0.5, -0.3, 0.8, 1.2, -0.7, 0.25};

// z = x * w, x [N, 6]; a, b, c = z chunked in three along the last axis the way torch
// exports it: c = (dim(z, -1) + 1) / 3, Slices [0, c), [c, 2c), [2c, 3c) (`gap` makes the
// last one start one later); loss = mean(a * b + c).
std::string chunk_model(const std::string& dir, bool gap = false) {
  ModelBuilder m(13);
  m.input("x", onnx::TensorProto::DOUBLE, {-1, 6});
  m.initializer("w", Tensor::from<double>({6}, kWeights));
  m.initializer("last", Tensor::from<int64_t>({1}, {-1}));
  m.initializer("zero", Tensor::from<int64_t>({1}, {0}));
  for (int64_t k : {1, 2, 3}) m.initializer("k" + std::to_string(k), Tensor::from<int64_t>({1}, {k}));
  m.node("Mul", {"x", "w"}, {"z"});
  m.node("Shape", {"z"}, {"shape"});
  m.node("Gather", {"shape", "last"}, {"dim"});
  m.node("Add", {"dim", "k1"}, {"dim1"});
  m.node("Div", {"dim1", "k3"}, {"chunk"});
  for (int64_t k : {1, 2, 3}) m.node("Mul", {"chunk", "k" + std::to_string(k)}, {"end" + std::to_string(k)});
  m.node(gap ? "Add" : "Identity", gap ? std::vector<std::string>{"end2", "k1"} : std::vector<std::string>{"end2"},
         {"start3"});
  m.node("Slice", {"z", "zero", "end1", "last"}, {"a"});
  m.node("Slice", {"z", "end1", "end2", "last"}, {"b"});
  m.node("Slice", {"z", "start3", "end3", "last"}, {"c"});
  m.node("Mul", {"a", "b"}, {"ab"});
  m.node("Add", {"ab", "c"}, {"sum"});
  m.node("ReduceMean", {"sum"}, {"loss"});
  m.output("loss", onnx::TensorProto::DOUBLE, {1, 1});
  m.save(dir + "/chunk.onnx");
  return dir + "/chunk.onnx";
}

size_t count_ops(const Graph& g, const std::string& op) {
  return static_cast<size_t>(
      std::count_if(g.nodes.begin(), g.nodes.end(), [&](const Node& n) { return n.op_type == op; }));
}

TEST(FuseTransformer, TilingChunkSlicesBecomeOneSplit) {
  TempDir dir;
  Graph g = load_onnx_model(chunk_model(dir.path()));
  EXPECT_EQ(fuse_transformer_patterns(g).chunk_splits, 1u);
  EXPECT_EQ(count_ops(g, "Slice"), 0u);
  EXPECT_EQ(count_ops(g, "Split"), 1u);
  EXPECT_EQ(count_ops(g, "Shape"), 0u) << "the bounds' arithmetic has no readers left";
}

TEST(FuseTransformer, SlicesWithAGapStay) {
  TempDir dir;
  Graph g = load_onnx_model(chunk_model(dir.path(), /*gap=*/true));
  EXPECT_EQ(fuse_transformer_patterns(g).chunk_splits, 0u);
  EXPECT_EQ(count_ops(g, "Slice"), 3u);
}

// Loss and weight gradients of the fused training graph against the math of the unfused one:
// loss = 1/(2N) sum_n sum_{k<2} (z[n,k] z[n,k+2] + z[n,k+4]), z = x * w.
TEST(FuseTransformer, FusedGraphKeepsValuesAndGradients) {
  TempDir dir;
  const std::string out = dir.path() + "/training.onnx";
  write_training_graph(chunk_model(dir.path()), out, {"loss", {}, {}});
  Session s = Session::from_file(out);
  const int64_t n = 3;
  Tensor x(DType::Float64, {n, 6});
  for (int64_t i = 0; i < n * 6; ++i) x.data<double>()[i] = 0.1 * static_cast<double>(i) - 0.7;
  const auto got = s.run({{"x", x}});
  const double* xd = x.data<double>();
  double loss = 0;
  std::vector<double> dw(6, 0.0);
  for (int64_t r = 0; r < n; ++r)
    for (int k = 0; k < 2; ++k) {
      const double* row = xd + r * 6;
      const double za = row[k] * kWeights[k], zb = row[k + 2] * kWeights[k + 2];
      loss += (za * zb + row[k + 4] * kWeights[k + 4]) / (2.0 * n);
      dw[k] += row[k] * zb / (2.0 * n);
      dw[k + 2] += row[k + 2] * za / (2.0 * n);
      dw[k + 4] += row[k + 4] / (2.0 * n);
    }
  ASSERT_EQ(got.size(), 2u);  // loss, w_grad
  EXPECT_NEAR(got[0].to_doubles()[0], loss, 1e-12);
  for (int k = 0; k < 6; ++k) EXPECT_NEAR(got[1].to_doubles()[k], dw[k], 1e-12) << k;
}

}  // namespace
}  // namespace onnx_train
