// The rewrite MatMul(x, Transpose(W)) -> FusedMatMul(x, W, trans_b = 1)
// (runtime/transforms/transposed_matmul.h, TrainingOptions::fuse_transposed_weights).
//
// What must hold:
// - the patterns: a Transpose (perm [1, 0] or none) of a 2-D float initializer, or of a Cast
//   of one, read only by MatMuls as their B, is gone and the MatMuls read W; anything else
//   (another reader, a graph output, a non-weight, another perm, the Transpose as A) is left;
// - training a torch-exported GPT (tests/data/recompute/gpt_tiny.onnx: nn.Linear as
//   MatMul(x, Transpose(W)), tied embedding, Dropout) with and without the rewrite gives the
//   same losses within 1e-5 relative (1e-3 in bfloat16, whose products round to 8 bits) and
//   parameters that differ by float rounding only (a mean difference below 1e-5, 1e-3);
// - the training graph has no Transpose of a weight left; the exported model is the model as
//   given (its Transposes, no project op).
#include "runtime/transforms/transposed_matmul.h"

#include <gtest/gtest.h>
#include <onnx/onnx_pb.h>

#include <algorithm>
#include <cmath>
#include <fstream>
#include <map>
#include <random>
#include <string>
#include <vector>

#include "onnx_train/training_session.h"
#include "tests/support/gpt_tiny.h"
#include "tests/support/model_builder.h"

namespace onnx_train {
namespace {

using testing::TempDir;

const std::string& kGpt = testing::kGptTiny;

Node node(const std::string& op, std::vector<std::string> inputs, std::vector<std::string> outputs,
          std::map<std::string, Attribute> attributes = {}) {
  Node n;
  n.name = outputs[0] + "_node";
  n.op_type = op;
  n.since_version = 13;
  n.opset = 13;
  n.inputs = std::move(inputs);
  n.outputs = std::move(outputs);
  n.attributes = std::move(attributes);
  return n;
}

Graph graph_with_weights() {
  Graph g;
  g.opsets[""] = 13;
  g.initializers["W"] = Tensor(DType::Float32, {4, 3});
  g.initializers["V"] = Tensor(DType::Float32, {4, 3});
  g.initializers["T3"] = Tensor(DType::Float32, {2, 4, 3});
  ValueInfo x;
  x.name = "x";
  x.dtype = DType::Float32;
  x.shape = Shape{2, 3};
  g.inputs.push_back(x);
  return g;
}

size_t count(const Graph& g, const std::string& op) {
  size_t n = 0;
  for (const Node& node : g.nodes) n += node.op_type == op ? 1 : 0;
  return n;
}

void add_output(Graph& g, const std::string& name) {
  ValueInfo v;
  v.name = name;
  g.outputs.push_back(v);
}

TEST(TransposedMatMul, TransposeReadByMatMulsGoes) {
  Graph g = graph_with_weights();
  g.nodes.push_back(node("Transpose", {"W"}, {"Wt"}, {{"perm", Attribute::of_ints({1, 0})}}));
  g.nodes.push_back(node("MatMul", {"x", "Wt"}, {"y"}));
  g.nodes.push_back(node("MatMul", {"x", "Wt"}, {"z"}));
  g.nodes.push_back(node("Cast", {"V"}, {"Vh"}, {{"to", Attribute::of_int(static_cast<int64_t>(DType::BFloat16))}}));
  g.nodes.push_back(node("Transpose", {"Vh"}, {"Vt"}));  // no perm: reversed axes
  g.nodes.push_back(node("MatMul", {"x", "Vt"}, {"u"}));
  for (const char* o : {"y", "z", "u"}) add_output(g, o);
  const TransposedMatMuls r = fuse_transposed_matmul(g);
  EXPECT_EQ(r.matmuls, 3u);
  EXPECT_EQ(r.transposes, 2u);
  EXPECT_EQ(count(g, "Transpose"), 0u);
  ASSERT_EQ(count(g, "FusedMatMul"), 3u);
  for (const Node& n : g.nodes) {
    if (n.op_type != "FusedMatMul") continue;
    EXPECT_EQ(n.domain, kProjectDomain);
    EXPECT_EQ(n.since_version, 1);
    EXPECT_EQ(n.attr_int("trans_b"), 1);
    EXPECT_EQ(n.inputs[1], n.outputs[0] == "u" ? "Vh" : "W");
  }
  EXPECT_EQ(g.opsets.at(kProjectDomain), 1);
}

TEST(TransposedMatMul, OtherFormsAreLeft) {
  Graph g = graph_with_weights();
  // Read by a MatMul and an Add.
  g.nodes.push_back(node("Transpose", {"W"}, {"Wt"}, {{"perm", Attribute::of_ints({1, 0})}}));
  g.nodes.push_back(node("MatMul", {"x", "Wt"}, {"y"}));
  g.nodes.push_back(node("Add", {"Wt", "Wt"}, {"s"}));
  // A graph output.
  g.nodes.push_back(node("Transpose", {"V"}, {"Vt"}));
  g.nodes.push_back(node("MatMul", {"x", "Vt"}, {"v"}));
  // Not a weight.
  g.nodes.push_back(node("Transpose", {"x"}, {"xt"}));
  g.nodes.push_back(node("MatMul", {"x", "xt"}, {"q"}));
  // Another perm of a 3-D weight.
  g.nodes.push_back(node("Transpose", {"T3"}, {"T3t"}, {{"perm", Attribute::of_ints({0, 2, 1})}}));
  g.nodes.push_back(node("MatMul", {"x", "T3t"}, {"t"}));
  // The Transpose as A.
  g.nodes.push_back(node("Transpose", {"W"}, {"Wt2"}));
  g.nodes.push_back(node("MatMul", {"Wt2", "x"}, {"a"}));
  for (const char* o : {"y", "s", "Vt", "v", "q", "t", "a"}) add_output(g, o);
  const size_t before = g.nodes.size();
  const TransposedMatMuls r = fuse_transposed_matmul(g);
  EXPECT_EQ(r.matmuls, 0u);
  EXPECT_EQ(g.nodes.size(), before);
  EXPECT_EQ(count(g, "FusedMatMul"), 0u);
}

onnx::ModelProto read_proto(const std::string& path) {
  onnx::ModelProto m;
  std::ifstream in(path, std::ios::binary);
  EXPECT_TRUE(m.ParseFromIstream(&in)) << path;
  return m;
}

size_t count(const onnx::ModelProto& m, const std::string& op) {
  size_t n = 0;
  for (const auto& node : m.graph().node()) n += node.op_type() == op ? 1 : 0;
  return n;
}

// Trains the GPT with and without the rewrite on the same batches: the same losses within
// `tolerance` relative, the same parameters up to float rounding.
void expect_same_training(const std::string& precision, double tolerance) {
  TrainingOptions options;
  options.model_loss = "loss";
  options.learning_rate = 1e-2;
  options.seed = 5;
  options.precision = precision;
  options.fuse_transposed_weights = false;
  TrainingSession plain = TrainingSession::from_file(kGpt, options);
  options.fuse_transposed_weights = true;
  TrainingSession fused = TrainingSession::from_file(kGpt, options);

  TempDir dir;
  plain.export_training_graph(dir.path() + "/plain.onnx");
  fused.export_training_graph(dir.path() + "/fused.onnx");
  const onnx::ModelProto p = read_proto(dir.path() + "/plain.onnx"), f = read_proto(dir.path() + "/fused.onnx");
  const size_t fused_matmuls = count(f, "FusedMatMul");
  EXPECT_GT(fused_matmuls, 0u) << precision;
  EXPECT_EQ(count(p, "FusedMatMul"), 0u);
  EXPECT_LT(count(f, "Transpose"), count(p, "Transpose")) << precision;

  for (int step = 0; step < 4; ++step) {
    const auto feeds = testing::gpt_tiny_batch(3, 100 + static_cast<unsigned>(step));
    const StepResult a = plain.train_step(feeds), b = fused.train_step(feeds);
    EXPECT_NEAR(b.loss, a.loss, tolerance * std::abs(a.loss)) << precision << " step " << step;
  }
  for (const auto& name : plain.parameter_names()) {
    const std::vector<double> x = plain.parameter(name).to_doubles(), y = fused.parameter(name).to_doubles();
    ASSERT_EQ(x.size(), y.size()) << name;
    // AdamW divides by the gradient's scale, so an element whose gradient is mostly rounding
    // noise may move differently: the mean difference, not the largest, is the measure.
    double sum = 0;
    for (size_t i = 0; i < x.size(); ++i) sum += std::abs(x[i] - y[i]);
    EXPECT_LT(sum / static_cast<double>(std::max<size_t>(x.size(), 1)), precision == "bf16" ? 1e-3 : 1e-5)
        << precision << " " << name;
  }

  // The exported model is the model as given: the Transposes are there, no project op.
  fused.export_model(dir.path() + "/model.onnx");
  plain.export_model(dir.path() + "/model_plain.onnx");
  const onnx::ModelProto m = read_proto(dir.path() + "/model.onnx");
  EXPECT_EQ(count(m, "FusedMatMul"), 0u);
  EXPECT_EQ(count(m, "Transpose"), count(read_proto(dir.path() + "/model_plain.onnx"), "Transpose"));
  for (const auto& imp : m.opset_import()) EXPECT_NE(imp.domain(), kProjectDomain);
}

TEST(TransposedMatMul, GptTrainsAsWithoutTheRewrite) { expect_same_training("fp32", 1e-5); }

TEST(TransposedMatMul, GptTrainsAsWithoutTheRewriteInBfloat16) { expect_same_training("bf16", 1e-3); }

}  // namespace
}  // namespace onnx_train
