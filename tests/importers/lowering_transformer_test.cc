// The transformer lowerings (importers/lowerings/transformer.cc, attention.cc) beyond the ONNX
// Runtime fixtures (tests/data/opset_new_cases/transformer.py): what each rule refuses, with one
// message naming the file, the node and what to do; the lowered forms the planner likes (the causal
// bias a constant when the lengths are known, built at run time when not); and RMSNormalization
// on an input of unknown rank (the Flatten form), against the formula.
#include <gtest/gtest.h>
#include <onnx/onnx_pb.h>

#include <cmath>
#include <string>
#include <vector>

#include "gradients/autodiff.h"
#include "importers/onnx_model.h"
#include "onnx_train/session.h"
#include "tests/support/expect_text.h"
#include "tests/support/model_builder.h"

namespace onnx_train {
namespace {

using testing::error_of;
using testing::ModelBuilder;
using testing::TempDir;

constexpr int kFloat = onnx::TensorProto::FLOAT;

// The message of loading `m` (saved in `dir`); a test failure and "" when it loads.
std::string load_message(const ModelBuilder& m, const TempDir& dir) {
  const std::string path = dir.path() + "/model.onnx";
  m.save(path);
  return error_of([&] { load_onnx_model(path); });
}

// An Attention-23 model over Q, K and V of the given shapes (-1: symbolic); attributes go on with m.attr.
ModelBuilder attention_model(const std::vector<int64_t>& q, const std::vector<int64_t>& k,
                             const std::vector<int64_t>& v, std::vector<std::string> inputs = {"q", "k", "v"}) {
  ModelBuilder m(23);
  m.input("q", kFloat, q);
  m.input("k", kFloat, k);
  m.input("v", kFloat, v);
  m.node("Attention", inputs, {"y"});
  m.output("y", kFloat, std::vector<int64_t>(q.size(), -1));
  return m;
}

TEST(LoweringTransformer, GeluRefusesAnUnknownApproximation) {
  TempDir dir;
  ModelBuilder m(20);
  m.input("x", kFloat, {2, 3});
  m.node("Gelu", {"x"}, {"y"});
  m.attr("approximate", "fast");
  m.output("y", kFloat, {2, 3});
  const std::string message = load_message(m, dir);
  testing::expect_contains(message, {"model.onnx", "Gelu", "approximate 'fast' is not one of 'none' and 'tanh'"});
}

TEST(LoweringTransformer, RmsNormalizationRefusesAnAxisOutOfRangeAndIntegers) {
  TempDir dir;
  ModelBuilder m(23);
  m.input("x", kFloat, {2, 3});
  m.input("scale", kFloat, {3});
  m.node("RMSNormalization", {"x", "scale"}, {"y"});
  m.attr("axis", 2);
  m.output("y", kFloat, {2, 3});
  testing::expect_contains(load_message(m, dir), {"RMSNormalization", "axis 2 is out of range for an input of rank 2"});

  ModelBuilder ints(23);
  ints.input("x", onnx::TensorProto::INT32, {2, 3});
  ints.input("scale", onnx::TensorProto::INT32, {3});
  ints.node("RMSNormalization", {"x", "scale"}, {"y"});
  ints.output("y", onnx::TensorProto::INT32, {2, 3});
  testing::expect_contains(load_message(ints, dir), {"RMSNormalization needs 'x' to be float32 or float64, not int32"});
}

// A value of unknown rank (x reshaped to a shape fed at run time) takes the Flatten form:
// y = x / sqrt(mean(x^2 over axes 1..) + eps) * scale.
TEST(LoweringTransformer, RmsNormalizationOfUnknownRankFlattensAtTheAxis) {
  TempDir dir;
  ModelBuilder m(23);
  m.input("x", kFloat, {8});
  m.input("shape", onnx::TensorProto::INT64, {-1});
  m.initializer("scale", Tensor::from<float>({2, 2}, {1.0f, 2.0f, -1.0f, 0.5f}));
  m.node("Reshape", {"x", "shape"}, {"x3"});
  m.node("RMSNormalization", {"x3", "scale"}, {"y"});
  m.attr("axis", 1).attr("epsilon", 0.01f);
  m.output("y", kFloat, {2, 2, 2});
  m.save(dir.path() + "/model.onnx");
  const Graph graph = load_onnx_model(dir.path() + "/model.onnx");
  bool flattens = false;
  for (const Node& n : graph.nodes) flattens = flattens || n.op_type == "Flatten";
  EXPECT_TRUE(flattens) << "a value of unknown rank is normalized as a [N, M] matrix";

  const std::vector<float> x{0.5f, -1.0f, 2.0f, 0.25f, 3.0f, 1.0f, -0.5f, 0.0f};  // [2, 2, 2]
  Session session = Session::from_file(dir.path() + "/model.onnx");
  const std::vector<double> y =
      session.run({{"x", Tensor::from<float>({8}, x)}, {"shape", Tensor::from<int64_t>({3}, {2, 2, 2})}})[0]
          .to_doubles();
  const std::vector<float> scale{1.0f, 2.0f, -1.0f, 0.5f};  // [2, 2]: axes 1 and 2 of x
  ASSERT_EQ(y.size(), 8u);
  for (int b = 0; b < 2; ++b) {
    double mean_square = 0;
    for (int k = 0; k < 4; ++k) mean_square += x[b * 4 + k] * x[b * 4 + k] / 4.0;
    for (int k = 0; k < 4; ++k)
      EXPECT_NEAR(y[b * 4 + k], x[b * 4 + k] / std::sqrt(mean_square + 0.01) * scale[k], 1e-5)
          << "element " << b * 4 + k;
  }
}

TEST(LoweringTransformer, RotaryEmbeddingRefusesWhatItCannotRotate) {
  TempDir dir;
  auto rotary = [](std::vector<int64_t> x, std::vector<int64_t> cache) {
    ModelBuilder m(23);
    m.input("x", kFloat, x);
    m.input("cos", kFloat, cache);
    m.input("sin", kFloat, cache);
    m.input("pos", onnx::TensorProto::INT64, {2, 3});
    m.node("RotaryEmbedding", {"x", "cos", "sin", "pos"}, {"y"});
    m.output("y", kFloat, {});
    return m;
  };
  testing::expect_contains(load_message(rotary({2, 3, 16}, {8, 4}), dir),
                           {"RotaryEmbedding", "a 3-D input needs the num_heads attribute"});
  ModelBuilder odd = rotary({2, 2, 3, 8}, {8, 4});
  odd.attr("rotary_embedding_dim", 3);
  testing::expect_contains(load_message(odd, dir), {"rotary_embedding_dim 3 must be even and at most the head size 8"});
  testing::expect_contains(load_message(rotary({2, 2, 3, 8}, {8, 3}), dir),
                           {"cos_cache has 3 values per position; rotating 8 channels needs 4"});
  testing::expect_contains(load_message(rotary({2, 2, 3, 8}, {2, 8, 4}), dir),
                           {"'cos' has rank 3; the caches are [max_position, rot/2] with position_ids"});
  ModelBuilder flat_positions(23);
  flat_positions.input("x", kFloat, {1, 2, 3, 8});
  flat_positions.input("cos", kFloat, {8, 4});
  flat_positions.input("pos", onnx::TensorProto::INT64, {3});
  flat_positions.node("RotaryEmbedding", {"x", "cos", "cos", "pos"}, {"y"});
  flat_positions.output("y", kFloat, {1, 2, 3, 8});
  testing::expect_contains(load_message(flat_positions, dir), {"position_ids has rank 1; it is [B, S]"});
  ModelBuilder uneven = rotary({2, 3, 10}, {8, 1});
  uneven.attr("num_heads", 4);
  testing::expect_contains(load_message(uneven, dir), {"the hidden size 10 is not a multiple of num_heads 4"});
}

TEST(LoweringTransformer, AttentionRefusesWhatItCannotLower) {
  TempDir dir;
  ModelBuilder flat = attention_model({2, 3, 8}, {2, 3, 8}, {2, 3, 8});
  testing::expect_contains(load_message(flat, dir),
                           {"model.onnx", "Attention", "3-D inputs need the q_num_heads and kv_num_heads attributes"});
  testing::expect_contains(load_message(attention_model({1, 3, 2, 4}, {1, 2, 2, 4}, {1, 2, 2, 4}), dir),
                           {"3 query heads are not a multiple of 2 key/value heads"});
  ModelBuilder mode = attention_model({1, 2, 2, 4}, {1, 2, 2, 4}, {1, 2, 2, 4});
  mode.attr("qk_matmul_output_mode", 4);
  testing::expect_contains(load_message(mode, dir), {"qk_matmul_output_mode 4 is not one of 0, 1, 2, 3"});
  ModelBuilder half = attention_model({1, 2, 2, 4}, {1, 2, 2, 4}, {1, 2, 2, 4});
  half.attr("softmax_precision", 10);
  testing::expect_contains(load_message(half, dir), {"softmax_precision 10 is not supported"});

  ModelBuilder mask = attention_model({1, 2, 2, 4}, {1, 2, 5, 4}, {1, 2, 5, 4}, {"q", "k", "v", "mask"});
  mask.input("mask", onnx::TensorProto::BOOL, {2, 4});
  testing::expect_contains(load_message(mask, dir), {"attn_mask's last dimension is 4, not the 5 keys"});

  ModelBuilder uneven = attention_model({2, 3, 10}, {2, 3, 8}, {2, 3, 8});
  uneven.attr("q_num_heads", 4).attr("kv_num_heads", 2);
  testing::expect_contains(load_message(uneven, dir), {"the hidden size 10 of 'q' is not a multiple of its 4 heads"});
  ModelBuilder no_head_size = attention_model({1, 2, 2, -1}, {1, 2, 2, -1}, {1, 2, 2, 4});
  testing::expect_contains(load_message(no_head_size, dir),
                           {"Attention's default scale (the head size) needs dimension 3 of 'q'"});

  testing::expect_contains(load_message(attention_model({1, 2, 2, 4}, {1, 2, 8}, {1, 2, 2, 4}), dir),
                           {"'k' has rank 3 and Q rank 4; Q, K and V take the same form"});

  ModelBuilder symbolic_heads = attention_model({1, -1, 2, 4}, {1, -1, 2, 4}, {1, -1, 2, 4});
  testing::expect_contains(load_message(symbolic_heads, dir), {"needs dimension 1 of 'q'", "fixed"});
}

// The causal bias is a constant [Sq, T] when the lengths are known, and built with Trilu when not.
TEST(LoweringTransformer, AttentionCausalBiasIsConstantWhenTheLengthsAreKnown) {
  auto trilu_count = [](const std::vector<int64_t>& q) {
    TempDir dir;
    ModelBuilder m = attention_model(q, q, q);
    m.attr("is_causal", 1);
    m.save(dir.path() + "/model.onnx");
    int count = 0;
    for (const Node& n : load_onnx_model(dir.path() + "/model.onnx").nodes) count += n.op_type == "Trilu";
    return count;
  };
  EXPECT_EQ(trilu_count({1, 2, 3, 4}), 0);
  EXPECT_EQ(trilu_count({1, 2, -1, 4}), 1);
}

// The lowered constants are no weights: a float Constant of two or more elements that reaches the
// loss would be taken for a weight an exporter folded and trained (the causal bias is a bool
// constant selecting `lowest`).
TEST(LoweringTransformer, AttentionLeavesNoFloatConstantToTrain) {
  TempDir dir;
  ModelBuilder m = attention_model({1, 2, 3, 4}, {1, 2, 3, 4}, {1, 2, 3, 4}, {"q", "k", "v", "mask"});
  m.input("mask", onnx::TensorProto::BOOL, {3, 3});
  m.attr("is_causal", 1).attr("softcap", 2.0f);
  m.node("ReduceSum", {"y"}, {"loss"});
  m.attr("keepdims", 0);
  m.output("loss", kFloat, {});
  m.save(dir.path() + "/model.onnx");
  Graph graph = load_onnx_model(dir.path() + "/model.onnx");
  EXPECT_TRUE(promote_constant_weights(graph, "loss").empty());
}

}  // namespace
}  // namespace onnx_train
