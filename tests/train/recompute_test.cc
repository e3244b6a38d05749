// Activation recomputation (runtime/transforms/recompute.h, TrainingOptions::recompute).
//
// Models: a 3-block GPT exported by torch in training form with Dropout 0.1 and its own
// cross-entropy loss (tests/data/make_recompute_gpt.py), and MLP chains of MatMul + Add + Relu
// layers built here. What must hold:
// - the gradients are the same bits: sessions with and without recomputation, fed the same
//   batches, give the same losses and the same parameters after several AdamW steps (a
//   recomputed Dropout drawing a new mask, or a clone reading a wrong value, breaks this);
// - the checkpoints: the output of every GPT block (every second residual Add), and sqrt(n)
//   segments of 4 layers on a 16-layer chain;
// - the memory: the plan's estimated peak of intermediates and the buffer pool's high-water
//   mark fall;
// - a budget too small to meet is an Error with the smallest estimate, one large enough changes
//   nothing, one in between is met;
// - onnx-train graph --recompute writes an ONNX file that loads again.
#include "runtime/transforms/recompute.h"

#include <gtest/gtest.h>

#include <cmath>
#include <cstdio>
#include <cstring>
#include <map>
#include <random>
#include <regex>
#include <set>
#include <string>
#include <vector>

#include "gradients/autodiff.h"
#include "gradients/losses.h"
#include "importers/onnx_model.h"
#include "onnx_train/training_session.h"
#include "runtime/exec/plan.h"
#include "runtime/kernels/registry.h"
#include "runtime/train/load_for_training.h"
#include "runtime/transforms/train_mode.h"
#include "tests/cli/cli_harness.h"
#include "tests/support/gpt_tiny.h"
#include "tests/support/model_builder.h"
#include "tests/support/onnx_test_case.h"
#include "tests/support/random_tensors.h"

namespace onnx_train {
namespace {

using testing::ModelBuilder;
using testing::random_tensor;
using testing::TempDir;

const std::string& kGpt = testing::kGptTiny;

// x [N, width] -> `layers` x (MatMul W_i, Add b_i, Relu) -> MatMul -> logits [N, 3]; the values of
// layer i are named m<i>, a<i>, r<i> (from 1).
std::string make_chain(const std::string& path, int layers, int64_t width) {
  std::mt19937 rng(11);
  ModelBuilder m(13);
  m.input("x", onnx::TensorProto::FLOAT, {-1, width});
  std::string last = "x";
  for (int i = 1; i <= layers; ++i) {
    const std::string n = std::to_string(i);
    m.initializer("w" + n, random_tensor({width, width}, rng, static_cast<float>(1.4 / std::sqrt(width))));
    m.initializer("b" + n, random_tensor({width}, rng, 0.1f));
    m.node("MatMul", {last, "w" + n}, {"m" + n});
    m.node("Add", {"m" + n, "b" + n}, {"a" + n});
    m.node("Relu", {"a" + n}, {"r" + n});
    last = "r" + n;
  }
  m.initializer("head", random_tensor({width, 3}, rng, 0.5f));
  m.node("MatMul", {last, "head"}, {"logits"});
  m.output("logits", onnx::TensorProto::FLOAT, {-1, 3});
  m.save(path);
  return path;
}

// The training graph as TrainingSession builds it: the model in training form, its loss (the
// model's own `model_loss`, else cross-entropy appended on its first output) and the backward
// graph of every trainable initializer; `forward` holds the forward nodes' first outputs.
struct TrainingGraph {
  Graph graph;
  std::set<std::string> forward;
  std::string loss;
};

TrainingGraph training_graph(const std::string& path, const std::string& model_loss = "") {
  TrainingOptions options;
  options.model_loss = model_loss;
  LoadedModel loaded = load_model_for_training(path, session_load_options(options));
  TrainingGraph t{*loaded.model, {}, model_loss};
  if (model_loss.empty()) t.loss = append_loss(t.graph, LossOptions{}).loss;
  to_training_form(t.graph, 0);
  for (const Node& n : t.graph.nodes) t.forward.insert(n.outputs[0]);
  build_gradient_graph(t.graph, t.loss, trainable_initializers(t.graph, t.loss));
  return t;
}

std::map<std::string, Tensor> chain_batch(int64_t batch, int64_t width, unsigned seed) {
  std::mt19937 rng(seed);
  Tensor label(DType::Int64, {batch});
  for (int64_t i = 0; i < batch; ++i) label.data<int64_t>()[i] = static_cast<int64_t>(rng() % 3);
  return {{"x", random_tensor({batch, width}, rng)}, {"label", label}};
}

bool same_bits(const Tensor& a, const Tensor& b) {
  return a.dtype() == b.dtype() && a.shape() == b.shape() && std::memcmp(a.raw_data(), b.raw_data(), a.nbytes()) == 0;
}

// Trains two sessions, without and with recomputation, on the same batches: the same losses
// and, after every step, the same parameters, bit for bit.
template <typename Batch>
void expect_same_training(const std::string& model, TrainingOptions options, Batch batch, int steps) {
  TrainingSession plain = TrainingSession::from_file(model, options);
  options.recompute = true;
  TrainingSession recomputing = TrainingSession::from_file(model, options);
  bool noted = false;
  for (const auto& note : recomputing.notes()) noted = noted || note.rfind("recompute: ", 0) == 0;
  EXPECT_TRUE(noted) << "the session says what it recomputes";
  for (int step = 0; step < steps; ++step) {
    const auto feeds = batch(static_cast<unsigned>(step));
    const StepResult a = plain.train_step(feeds), b = recomputing.train_step(feeds);
    EXPECT_EQ(a.loss, b.loss) << "step " << step;
    for (const auto& name : plain.parameter_names())
      EXPECT_TRUE(same_bits(plain.parameter(name), recomputing.parameter(name)))
          << name << " differs after step " << step;
  }
}

TEST(Recompute, GptWithDropoutTrainsBitForBitAsWithout) {
  TrainingOptions options;
  options.model_loss = "loss";
  options.learning_rate = 1e-2;
  options.seed = 5;
  expect_same_training(
      kGpt, options, [](unsigned step) { return testing::gpt_tiny_batch(3, 100 + step); }, 4);
}

TEST(Recompute, MlpChainTrainsBitForBitAsWithout) {
  TempDir dir;
  const std::string model = make_chain(dir.path() + "/chain.onnx", 16, 8);
  TrainingOptions options;
  options.learning_rate = 1e-2;
  expect_same_training(
      model, options, [](unsigned step) { return chain_batch(6, 8, step); }, 4);
}

// The rewrite adds no kernel state (a recomputed Dropout is a DropoutGrad): a checkpoint of a
// recomputing session resumes in a plain one, and the two go on with the same bits.
TEST(Recompute, CheckpointsResumeInASessionWithoutIt) {
  TempDir dir;
  TrainingOptions options;
  options.model_loss = "loss";
  options.seed = 9;
  options.recompute = true;
  TrainingSession recomputing = TrainingSession::from_file(kGpt, options);
  for (unsigned step = 0; step < 2; ++step) recomputing.train_step(testing::gpt_tiny_batch(2, step));
  recomputing.save_checkpoint(dir.path() + "/run.ckpt");
  options.recompute = false;
  TrainingSession plain = TrainingSession::from_file(kGpt, options);
  plain.load_checkpoint(dir.path() + "/run.ckpt");
  const auto feeds = testing::gpt_tiny_batch(2, 7);
  EXPECT_EQ(recomputing.train_step(feeds).loss, plain.train_step(feeds).loss);
  for (const auto& name : plain.parameter_names())
    EXPECT_TRUE(same_bits(plain.parameter(name), recomputing.parameter(name))) << name;
}

// A model without a chain of articulation values (one layer) is left as it is, with a note.
TEST(Recompute, AModelWithoutAChainIsLeftAsItIs) {
  TempDir dir;
  TrainingGraph t = training_graph(make_chain(dir.path() + "/one.onnx", 0, 4));
  const size_t nodes = t.graph.nodes.size();
  const RecomputeResult r = recompute_activations(t.graph, t.forward, {});
  EXPECT_EQ(t.graph.nodes.size(), nodes);
  ASSERT_EQ(r.notes.size(), 1u);
  EXPECT_NE(r.notes[0].find("nothing is recomputed"), std::string::npos) << r.notes[0];
  // Not even a forward pass: nothing to do either.
  Graph empty;
  EXPECT_EQ(recompute_activations(empty, {}, {}).nodes_added, 0u);
}

// Random ops other than Dropout keep their outputs: a chain whose layers scale by
// RandomNormalLike noise trains as without recomputation, and no clone draws again.
TEST(Recompute, RandomOpsKeepTheirOutputs) {
  TempDir dir;
  std::mt19937 rng(3);
  ModelBuilder m(13);
  m.input("x", onnx::TensorProto::FLOAT, {-1, 8});
  std::string last = "x";
  for (int i = 1; i <= 8; ++i) {
    const std::string n = std::to_string(i);
    m.initializer("w" + n, random_tensor({8, 8}, rng, 0.5f));
    m.node("MatMul", {last, "w" + n}, {"m" + n});
    m.node("RandomNormalLike", {"m" + n}, {"noise" + n});
    m.attr("mean", 1.0f).attr("scale", 0.1f).attr("seed", static_cast<float>(i));
    m.node("Mul", {"m" + n, "noise" + n}, {"a" + n});
    m.node("Relu", {"a" + n}, {"r" + n});
    last = "r" + n;
  }
  m.initializer("head", random_tensor({8, 3}, rng, 0.5f));
  m.node("MatMul", {last, "head"}, {"logits"});
  m.output("logits", onnx::TensorProto::FLOAT, {-1, 3});
  const std::string model = dir.path() + "/noisy.onnx";
  m.save(model);

  TrainingGraph t = training_graph(model);
  const RecomputeResult r = recompute_activations(t.graph, t.forward, {0, 4});
  EXPECT_GT(r.nodes_added, 0u);
  for (const Node& n : t.graph.nodes)
    if (n.name.rfind("recompute/", 0) == 0) EXPECT_NE(n.op_type, "RandomNormalLike") << n.name;
  TrainingOptions options;
  options.learning_rate = 1e-2;
  expect_same_training(
      model, options, [](unsigned step) { return chain_batch(5, 8, 40 + step); }, 3);
}

// The block outputs (every second residual Add) are the checkpoints; the Dropout outputs inside
// the blocks are recomputed from their masks, never drawn again.
TEST(Recompute, GptCheckpointsAreTheBlockOutputs) {
  TrainingGraph t = training_graph(kGpt, "loss");
  const RecomputeResult r = recompute_activations(t.graph, t.forward, {0, 4});
  EXPECT_NE(r.rule.find("transformer block"), std::string::npos) << r.rule;
  // Residual Adds, as torch names them: block i's "/h.i/Add" (attention) and "/h.i/Add_2" (MLP;
  // its "/h.i/Add_1" is GELU's).
  const std::regex residual_add(R"(/h\.[0-9]+/Add(_2)?)");
  std::vector<std::string> residual;
  for (const Node& n : t.graph.nodes)
    if (t.forward.count(n.outputs[0]) != 0 && std::regex_match(n.name, residual_add)) residual.push_back(n.outputs[0]);
  ASSERT_EQ(residual.size(), 6u) << "two residual Adds per block";
  const std::set<std::string> candidates(r.candidates.begin(), r.candidates.end());
  const std::set<std::string> checkpoints(r.checkpoints.begin(), r.checkpoints.end());
  for (size_t i = 0; i < residual.size(); ++i) {
    EXPECT_EQ(candidates.count(residual[i]), 1u) << "residual Add " << i << " '" << residual[i] << "'";
    EXPECT_EQ(checkpoints.count(residual[i]), i % 2) << "residual Add " << i << " '" << residual[i] << "'";
  }
  size_t blocks = 0;
  for (const auto& s : r.segments) blocks += s.recomputed && candidates.count(s.begin) != 0 ? 1 : 0;
  EXPECT_GE(blocks, 3u);
  size_t masked = 0;
  for (const Node& n : t.graph.nodes) {
    if (n.name.rfind("recompute/", 0) != 0) continue;
    EXPECT_NE(n.op_type, "Dropout") << n.name << " would draw a new mask";
    masked += n.op_type == "DropoutGrad" ? 1 : 0;
  }
  EXPECT_GE(masked, 6u) << "the attention and residual Dropouts of every block, from their masks";
  EXPECT_GT(r.nodes_added, 0u);
  EXPECT_LT(r.saved_bytes_after, r.saved_bytes_before);
}

// 16 layers: checkpoints every 4 layers (sqrt(16)), plus the first layer's MatMul (before the
// repeating run) and the logits (its end).
TEST(Recompute, MlpChainGetsSqrtNSegments) {
  TempDir dir;
  TrainingGraph t = training_graph(make_chain(dir.path() + "/chain.onnx", 16, 8));
  const RecomputeResult r = recompute_activations(t.graph, t.forward, {0, 4});
  EXPECT_NE(r.rule.find("sqrt(n)"), std::string::npos) << r.rule;
  EXPECT_NE(r.rule.find("16 layers"), std::string::npos) << r.rule;
  EXPECT_EQ(r.checkpoints, (std::vector<std::string>{"m1", "m5", "m9", "m13", "logits"}));
  size_t recomputed = 0;
  for (const auto& s : r.segments) recomputed += s.recomputed ? 1 : 0;
  EXPECT_EQ(recomputed, 4u);
  sort_topologically(t.graph);  // throws if a clone read a value made after it
}

// The plan's estimated peak of intermediates, and the pool's high-water mark on a run, before
// and after the rewrite.
struct Peaks {
  uint64_t estimated = 0;
  size_t pool = 0;
};

Peaks peaks(const Graph& g, const std::map<std::string, Tensor>& feeds, int64_t batch) {
  Plan plan(g, KernelRegistry::global(), "test");
  Peaks p;
  p.estimated = plan.estimate_memory(batch).intermediates;
  plan.run(testing::feeds_for(g, feeds));
  p.pool = plan.pool().stats().peak_bytes_in_use;
  return p;
}

TEST(Recompute, PeakOfIntermediatesFallsOnDeepModels) {
  TempDir dir;
  {
    // 36 layers of 64 at batch 512: Chen's sqrt(n) bound n / (2 sqrt(n)) = 3 for the saved
    // activations (batch-sized, larger than the weights and their gradients, which the peak
    // also holds).
    const std::string model = make_chain(dir.path() + "/deep.onnx", 36, 64);
    TrainingGraph plain = training_graph(model);
    TrainingGraph rewritten = training_graph(model);
    const RecomputeResult r = recompute_activations(rewritten.graph, rewritten.forward, {0, 512});
    const auto feeds = chain_batch(512, 64, 1);
    const Peaks before = peaks(plain.graph, feeds, 512), after = peaks(rewritten.graph, feeds, 512);
    std::printf(
        "chain 36x64, batch 512: saved %.2f -> %.2f MiB, plan peak %.2f -> %.2f MiB, pool peak %.2f -> %.2f MiB\n",
        r.saved_bytes_before / 1048576.0, r.saved_bytes_after / 1048576.0, before.estimated / 1048576.0,
        after.estimated / 1048576.0, before.pool / 1048576.0, after.pool / 1048576.0);
    EXPECT_GE(static_cast<double>(before.estimated) / after.estimated, 3.0);  // measured 4.0
    EXPECT_GE(static_cast<double>(before.pool) / after.pool, 3.0);            // measured 3.9
  }
  {
    TrainingGraph plain = training_graph(kGpt, "loss");
    TrainingGraph rewritten = training_graph(kGpt, "loss");
    const RecomputeResult r = recompute_activations(rewritten.graph, rewritten.forward, {0, 16});
    const auto feeds = testing::gpt_tiny_batch(16, 1);
    const Peaks before = peaks(plain.graph, feeds, 16), after = peaks(rewritten.graph, feeds, 16);
    std::printf(
        "gpt 3 blocks, batch 16: saved %.2f -> %.2f MiB, plan peak %.2f -> %.2f MiB, pool peak %.2f -> %.2f MiB\n",
        r.saved_bytes_before / 1048576.0, r.saved_bytes_after / 1048576.0, before.estimated / 1048576.0,
        after.estimated / 1048576.0, before.pool / 1048576.0, after.pool / 1048576.0);
    // The head and the loss (logits over 64 classes, twice the width) are kept: 2.7x, 2.3x.
    EXPECT_GE(static_cast<double>(before.estimated) / after.estimated, 2.0);
    EXPECT_GE(static_cast<double>(before.pool) / after.pool, 2.0);
  }
}

TEST(Recompute, BudgetIsMetOrRefusedWithTheSmallestEstimate) {
  const RecomputeResult free_run = [] {
    TrainingGraph t = training_graph(kGpt, "loss");
    return recompute_activations(t.graph, t.forward, {0, 8});
  }();
  {
    TrainingGraph t = training_graph(kGpt, "loss");
    try {
      recompute_activations(t.graph, t.forward, {1024, 8});
      FAIL() << "a 1 KiB budget cannot be met";
    } catch (const Error& e) {
      EXPECT_NE(std::string(e.what()).find("cannot be made that small at batch 8"), std::string::npos) << e.what();
      EXPECT_NE(std::string(e.what()).find("smallest estimate"), std::string::npos) << e.what();
    }
  }
  {
    TrainingGraph t = training_graph(kGpt, "loss");
    const size_t nodes = t.graph.nodes.size();
    const RecomputeResult r = recompute_activations(t.graph, t.forward, {free_run.saved_bytes_before, 8});
    EXPECT_EQ(t.graph.nodes.size(), nodes) << "the activations fit: nothing to recompute";
    ASSERT_EQ(r.notes.size(), 1u);
    EXPECT_NE(r.notes[0].find("nothing is recomputed"), std::string::npos) << r.notes[0];
  }
  {
    // Between the two: met, with fewer segments recomputed than the default when it allows.
    const uint64_t budget = (free_run.saved_bytes_before + free_run.saved_bytes_after) / 2;
    TrainingGraph t = training_graph(kGpt, "loss");
    const RecomputeResult r = recompute_activations(t.graph, t.forward, {budget, 8});
    EXPECT_LE(r.saved_bytes_after, budget);
    EXPECT_GT(r.nodes_added, 0u);
    EXPECT_NE(r.rule.find("greedy"), std::string::npos) << r.rule;
    sort_topologically(t.graph);
  }
}

// Through the session: a budget too small stops it naming the model; one the greedy choice
// meets (keeping some segments) trains as without recomputation, bit for bit.
TEST(Recompute, BudgetThroughTheSession) {
  TrainingOptions options;
  options.model_loss = "loss";
  options.activation_batch = 2;
  options.max_activation_memory = 1;
  try {
    TrainingSession::from_file(kGpt, options);
    FAIL() << "a 1-byte budget cannot be met";
  } catch (const Error& e) {
    EXPECT_NE(std::string(e.what()).find(kGpt), std::string::npos) << "names the model: " << e.what();
  }
  TrainingGraph t = training_graph(kGpt, "loss");
  const RecomputeResult free_run = recompute_activations(t.graph, t.forward, {0, 2});
  options.max_activation_memory = (free_run.saved_bytes_before + free_run.saved_bytes_after) / 2;
  TrainingSession budgeted = TrainingSession::from_file(kGpt, options);
  options.max_activation_memory = 0;
  TrainingSession plain = TrainingSession::from_file(kGpt, options);
  for (unsigned step = 0; step < 2; ++step) {
    const auto feeds = testing::gpt_tiny_batch(2, 20 + step);
    EXPECT_EQ(plain.train_step(feeds).loss, budgeted.train_step(feeds).loss);
  }
  for (const auto& name : plain.parameter_names())
    EXPECT_TRUE(same_bits(plain.parameter(name), budgeted.parameter(name))) << name;
}

TEST(Recompute, GraphCommandWritesAValidOnnxFile) {
  TempDir dir;
  const std::string out = dir.path() + "/recomputed.onnx";
  const auto [code, text] =
      cli_test::shell(std::string(ONNX_TRAIN_CLI) + " graph " + kGpt +
                      " --loss none --output loss --recompute --batch-size 4 -o " + out + " 2>&1");
  ASSERT_EQ(code, 0) << text;
  EXPECT_NE(text.find("note: recompute: "), std::string::npos) << text;
  const Graph g = load_onnx_model(out);  // checks the model and infers its shapes
  size_t clones = 0;
  for (const Node& n : g.nodes) clones += n.name.rfind("recompute/", 0) == 0 ? 1 : 0;
  EXPECT_GT(clones, 50u);
}

}  // namespace
}  // namespace onnx_train
