// TrainingSession::set_profiling / profile() and format_profile (onnx_train/profile.h): the
// forward, backward and optimizer sections hold the nodes and phases they should, with run
// counts and totals that add up, and profiling changes no result. No timing is asserted.
#include "onnx_train/profile.h"

#include <gtest/gtest.h>

#include <algorithm>
#include <cstring>
#include <set>

#include "onnx_train/training_session.h"
#include "tests/support/expect_text.h"
#include "tests/support/mlp_model.h"
#include "tests/support/model_builder.h"

namespace onnx_train {
namespace {

using testing::TempDir;

const ProfileSection& section_named(const Profile& profile, const std::string& name) {
  for (const auto& s : profile.sections)
    if (s.name == name) return s;
  throw std::runtime_error("no section " + name);
}

std::set<std::string> op_types(const ProfileSection& s) {
  std::set<std::string> ops;
  for (const auto& n : s.nodes) ops.insert(n.op_type);
  return ops;
}

bool has_node(const ProfileSection& s, const std::string& name) {
  return std::any_of(s.nodes.begin(), s.nodes.end(), [&](const ProfileNode& n) { return n.name == name; });
}

TEST(TrainingProfile, SplitsForwardBackwardAndOptimizer) {
  TempDir dir;
  TrainingOptions options;
  options.optimizer.kind = "adamw";
  auto session = TrainingSession::from_file(testing::make_mlp(dir.path() + "/mlp.onnx", true), options);
  const auto batch = testing::mlp_batch(16, 3);
  session.train_step(batch);  // set-up, left out of the profile
  session.set_profiling(true);
  for (int i = 0; i < 3; ++i) session.train_step(batch);
  const Profile profile = session.profile();

  ASSERT_EQ(profile.sections.size(), 3u);
  const ProfileSection& forward = section_named(profile, "forward");
  const ProfileSection& backward = section_named(profile, "backward");
  const ProfileSection& optimizer = section_named(profile, "optimizer");
  EXPECT_EQ(forward.runs, 3);
  EXPECT_EQ(backward.runs, 3);
  EXPECT_EQ(optimizer.runs, 3);
  // The model's nodes (by their output names) and the loss are forward; the rest is backward.
  const std::set<std::string> forward_ops = op_types(forward);
  for (const char* op : {"Gemm", "Relu", "BatchNormalization", "Dropout"}) EXPECT_EQ(forward_ops.count(op), 1u) << op;
  // The training form's running-statistic updates are forward too; the gradient builder's
  // nodes (named "grad/...") are all backward.
  int gemms = 0, gradient_nodes = 0;
  for (const auto& n : forward.nodes) {
    gemms += n.op_type == "Gemm";
    EXPECT_NE(n.name.rfind("grad/", 0), 0u) << n.name;
  }
  for (const auto& n : backward.nodes) gradient_nodes += n.name.rfind("grad/", 0) == 0;
  EXPECT_EQ(gemms, 2);
  EXPECT_GT(gradient_nodes, 0);
  EXPECT_FALSE(backward.nodes.empty());
  for (const auto& n : backward.nodes) EXPECT_FALSE(has_node(forward, n.name)) << n.name;
  // The optimizer pass: the non-finite check and the update, which knows its bytes
  // (p, g, exp_avg, exp_avg_sq: 7 accesses of every parameter value).
  ASSERT_TRUE(has_node(optimizer, "non-finite check"));
  ASSERT_TRUE(has_node(optimizer, "adamw update"));
  const ParameterCounts counts = session.parameter_counts();
  for (const auto& n : optimizer.nodes)
    if (n.name == "adamw update") EXPECT_EQ(n.bytes, 7 * 4 * counts.trainable_values);
  for (const auto* s : {&forward, &backward, &optimizer}) {
    double sum = 0;
    for (const auto& n : s->nodes) {
      EXPECT_GE(n.total_ms, 0) << n.name;
      sum += n.total_ms;
    }
    EXPECT_DOUBLE_EQ(s->total_ms(), sum);
    EXPECT_GT(s->total_ms(), 0) << s->name;
  }
  EXPECT_GT(profile.peak_pool_bytes, 0u);
  EXPECT_GE(profile.peak_rss_bytes, profile.peak_pool_bytes);
}

// Accumulation adds its phases; turning profiling on again starts a new profile.
TEST(TrainingProfile, AccumulationPhasesAndRestart) {
  TempDir dir;
  TrainingOptions options;
  options.optimizer.kind = "sgd";
  options.accumulation_steps = 2;
  options.clip_grad_norm = 1.0;
  auto session = TrainingSession::from_file(testing::make_mlp(dir.path() + "/mlp.onnx", false), options);
  const auto batch = testing::mlp_batch(8, 5);
  session.set_profiling(true);
  for (int i = 0; i < 4; ++i) session.train_step(batch);
  Profile profile = session.profile();
  const ProfileSection& optimizer = section_named(profile, "optimizer");
  EXPECT_EQ(optimizer.runs, 2);
  for (const char* phase : {"accumulate gradients", "average gradients", "clip_grad_norm", "sgd update"})
    EXPECT_TRUE(has_node(optimizer, phase)) << phase;
  EXPECT_FALSE(has_node(optimizer, "non-finite check"));  // clipping's norm is the check
  EXPECT_EQ(section_named(profile, "forward").runs, 4);

  session.set_profiling(false);
  session.set_profiling(true);
  profile = session.profile();
  EXPECT_EQ(section_named(profile, "forward").runs, 0);
  EXPECT_EQ(section_named(profile, "optimizer").runs, 0);
  EXPECT_TRUE(section_named(profile, "optimizer").nodes.empty());
}

TEST(TrainingProfile, ChangesNoResult) {
  TempDir dir;
  const std::string model = testing::make_mlp(dir.path() + "/mlp.onnx", true);
  TrainingOptions options;
  options.seed = 3;
  auto plain = TrainingSession::from_file(model, options);
  auto profiled = TrainingSession::from_file(model, options);
  profiled.set_profiling(true);
  for (int i = 0; i < 3; ++i) {
    const auto batch = testing::mlp_batch(8, 10 + i);
    EXPECT_EQ(plain.train_step(batch).loss, profiled.train_step(batch).loss);
  }
  for (const auto& name : plain.parameter_names()) {
    const Tensor a = plain.parameter(name), b = profiled.parameter(name);
    EXPECT_EQ(std::memcmp(a.raw_data(), b.raw_data(), a.nbytes()), 0) << name;
  }
}

TEST(TrainingProfile, FormatListsSectionsOpTypesNodesAndMemory) {
  Profile profile;
  profile.sections.push_back({"forward", 2, {{"conv1", "Conv", 6.0, 0}, {"relu1", "Relu", 2.0, 0}}});
  profile.sections.push_back({"backward", 2, {{"conv1_grad", "ConvGrad", 12.0, 0}}});
  profile.sections.push_back({"optimizer", 2, {{"adamw update", "adamw", 4.0, 4'000'000}}});
  profile.peak_pool_bytes = 5'000'000;
  profile.peak_rss_bytes = 70'000'000;
  const std::string text = format_profile(profile);
  // Per run: forward 4 ms, backward 6, optimizer 2, total 12.
  EXPECT_HAS(text, "profile: ms per run of each section");
  EXPECT_HAS(text, "forward                          4.000  ( 33.3%)  2 runs, 2 nodes");
  EXPECT_HAS(text, "total                           12.000");
  EXPECT_HAS(text, "forward: ms per run by op type (nodes)\n  Conv                             3.000  (1)\n  Relu");
  EXPECT_HAS(text, "backward: slowest nodes, ms per run\n  conv1_grad");
  EXPECT_HAS(text, "2.000  2.0 GB/s");  // 4 MB per run in 2 ms
  EXPECT_HAS(text, "memory: peak intermediates 5.0 MB (buffer pool), peak RSS 70.0 MB");
}

}  // namespace
}  // namespace onnx_train
