// Models exported at an older opset, and exports that lost their training structure
// (tests/data/old_opset/, made by tests/data/make_old_opset.py).
//
// torch.onnx.export(..., opset_version=9/10/11) writes a CNN (Conv-BatchNorm-ReLU-MaxPool-Dropout-
// Linear-LogSoftmax) that the class losses, built from opset-12 ops, used to refuse. The session
// upgrades it with ONNX's version converter and says so in one note; training works, the eval-form
// outputs before training are torch's, and the exported inference model keeps the user's opset,
// passes ONNX's checker and computes what the original file computes with the trained weights.
// A plain eval export (BatchNormalization folded into Conv, weights named "onnx::Conv_18") gets a
// note; so does a freeze pattern that matches nothing; parameter_counts() counts what trains.
#include <gtest/gtest.h>
#include <onnx/onnx_pb.h>

#include <cmath>
#include <fstream>
#include <random>
#include <string>
#include <vector>

#include "importers/onnx_model.h"
#include "importers/tensor_proto.h"
#include "onnx_train/session.h"
#include "onnx_train/training_session.h"
#include "tests/support/model_builder.h"
#include "tests/support/old_opset_models.h"

namespace onnx_train {
namespace {

using testing::default_opset;
using testing::expect_valid_onnx;
using testing::kOldOpsetDir;
using testing::load_model_proto;
using testing::stripe_batch;
using testing::TempDir;

std::string fixture(int opset) { return kOldOpsetDir + "/cnn_opset" + std::to_string(opset) + ".onnx"; }

void expect_close(const Tensor& got, const Tensor& want, double tolerance, const std::string& what) {
  ASSERT_EQ(got.shape(), want.shape()) << what;
  const auto g = got.to_doubles(), w = want.to_doubles();
  for (size_t i = 0; i < g.size(); ++i) ASSERT_NEAR(g[i], w[i], tolerance) << what << " element " << i;
}

// The original file with the session's current weights written in: "the original on the same
// weights". The fixtures are exported in training form, where BatchNormalization-9 with its
// statistics outputs normalises with batch statistics; ONNX's inference form of the same node is
// the one with its first output only (running statistics), so the others are cut off.
std::string original_with_weights(const std::string& original, const TrainingSession& session,
                                  const std::string& path) {
  onnx::ModelProto model = load_model_proto(original);
  for (auto& node : *model.mutable_graph()->mutable_node())
    if (node.op_type() == "BatchNormalization") node.mutable_output()->DeleteSubrange(1, node.output_size() - 1);
  std::vector<std::string> names = session.parameter_names();
  names.insert(names.end(), session.buffer_names().begin(), session.buffer_names().end());
  for (auto& init : *model.mutable_graph()->mutable_initializer()) {
    if (std::find(names.begin(), names.end(), init.name()) == names.end()) continue;
    const std::string name = init.name();
    init.Clear();
    tensor_to_proto(session.parameter(name), init);
    init.set_name(name);
  }
  std::ofstream out(path, std::ios::binary);
  model.SerializeToOstream(&out);
  return path;
}

class OldOpset : public ::testing::TestWithParam<std::tuple<int, LossKind>> {};

TEST_P(OldOpset, UpgradesForTheClassLossTrainsAndExportsAtTheUsersOpset) {
  const auto [opset, kind] = GetParam();
  TempDir tmp;
  const std::string model = fixture(opset);
  ASSERT_EQ(default_opset(load_model_proto(model)), opset);
  TrainingOptions options;
  options.loss.kind = kind;
  options.optimizer.kind = "sgd";
  options.learning_rate = 0.1;
  TrainingSession session = TrainingSession::from_file(model, options);

  // One note, one line: what was upgraded, why, and what the export keeps.
  ASSERT_EQ(session.notes().size(), 1u) << ::testing::PrintToString(session.notes());
  const std::string& note = session.notes()[0];
  const std::string op = kind == LossKind::NLL ? "NegativeLogLikelihoodLoss" : "SoftmaxCrossEntropyLoss";
  EXPECT_NE(note.find(model + " is at opset " + std::to_string(opset) + ", but the " + loss_kind_name(kind) +
                      " loss needs opset 12 (" + op + "): upgraded it to opset 12"),
            std::string::npos)
      << note;
  EXPECT_NE(note.find("the exported inference model keeps opset " + std::to_string(opset)), std::string::npos) << note;
  EXPECT_EQ(note.find('\n'), std::string::npos) << note;

  // Before training, the upgraded model computes torch's eval-mode outputs, and the loss is
  // the mean of -log p[label] over them (cross-entropy on log-probabilities is the same).
  const Tensor x = read_tensor_proto_file(kOldOpsetDir + "/input.pb");
  const Tensor expected = read_tensor_proto_file(kOldOpsetDir + "/expected_log_probs.pb");
  expect_close(session.predict({{"x", x}})[0], expected, 1e-5, "predict before training");
  const Tensor labels = Tensor::from<int64_t>({4}, {0, 2, 1, 2});
  double want = 0;
  for (int64_t i = 0; i < 4; ++i) want -= expected.data<float>()[i * 3 + labels.data<int64_t>()[i]] / 4.0;
  EXPECT_NEAR(session.eval_step({{"x", x}, {"label", labels}}).loss, want, 1e-5);

  // The export before training is the user's model at the user's opset, with torch's outputs.
  session.export_model(tmp.path() + "/untrained.onnx");
  EXPECT_EQ(default_opset(load_model_proto(tmp.path() + "/untrained.onnx")), opset);
  expect_valid_onnx(tmp.path() + "/untrained.onnx");
  expect_close(Session::from_file(tmp.path() + "/untrained.onnx").run({{"x", x}})[0], expected, 1e-5,
               "export before training");

  // Training lowers the loss on its data.
  const auto train = stripe_batch(24, 7);
  const double before = session.eval_step(train).loss;
  for (int step = 0; step < 15; ++step) session.train_step(train);
  const double after = session.eval_step(train).loss;
  EXPECT_LT(after, 0.7 * before) << "before " << before << ", after " << after;

  // The trained export: valid ONNX at the user's opset, and the same outputs as the session and
  // as the original file given the same (trained) weights and running statistics.
  const std::string exported = tmp.path() + "/trained.onnx";
  session.export_model(exported);
  EXPECT_EQ(default_opset(load_model_proto(exported)), opset);
  expect_valid_onnx(exported);
  const Tensor from_export = Session::from_file(exported).run({{"x", x}})[0];
  const std::string same_weights = original_with_weights(model, session, tmp.path() + "/original_trained.onnx");
  expect_close(from_export, Session::from_file(same_weights).run({{"x", x}})[0], 1e-6, "export vs original");
  expect_close(from_export, session.predict({{"x", x}})[0], 1e-6, "export vs session");
  bool moved = false;
  for (int64_t i = 0; i < expected.numel(); ++i)
    moved |= std::abs(from_export.data<float>()[i] - expected.data<float>()[i]) > 1e-3;
  EXPECT_TRUE(moved) << "the export still holds the untrained weights";

  // The training graph and the TrainingInfoProto export hold the loss: opset 12, valid ONNX.
  session.export_training_graph(tmp.path() + "/graph.onnx");
  EXPECT_EQ(default_opset(load_model_proto(tmp.path() + "/graph.onnx")), 12);
  const std::string with_info = tmp.path() + "/training.onnx";
  session.export_training_model(with_info);
  EXPECT_EQ(default_opset(load_model_proto(with_info)), 12);
  expect_valid_onnx(with_info);
  ASSERT_EQ(load_model_proto(with_info).training_info_size(), 1);
  // ... and continues as the session would: already at opset 12, nothing more to say.
  TrainingSession resumed = TrainingSession::from_file(with_info, options);
  EXPECT_TRUE(resumed.notes().empty()) << ::testing::PrintToString(resumed.notes());
  EXPECT_EQ(resumed.step(), session.step());
  expect_close(resumed.predict({{"x", x}})[0], from_export, 1e-6, "continued from the training export");
}

INSTANTIATE_TEST_SUITE_P(Opsets, OldOpset,
                         ::testing::Combine(::testing::Values(9, 10, 11),
                                            ::testing::Values(LossKind::NLL, LossKind::CrossEntropy)),
                         [](const auto& info) {
                           return "opset" + std::to_string(std::get<0>(info.param)) +
                                  (std::get<1>(info.param) == LossKind::NLL ? "_nll" : "_cross_entropy");
                         });

// A loss that any opset has (MSE) changes nothing: no upgrade, no note.
TEST(OldOpsetLoss, RegressionLossLeavesTheOpsetAlone) {
  TrainingOptions options;
  options.loss.kind = LossKind::MSE;
  TrainingSession session = TrainingSession::from_file(fixture(9), options);
  EXPECT_TRUE(session.notes().empty()) << ::testing::PrintToString(session.notes());
  TempDir tmp;
  session.export_training_graph(tmp.path() + "/graph.onnx");
  EXPECT_EQ(default_opset(load_model_proto(tmp.path() + "/graph.onnx")), 9);
}

// Weights in an external-data file survive the upgrade (ONNX's converter forgets where they live).
TEST(OldOpsetLoss, ExternalDataSurvivesTheUpgrade) {
  TempDir tmp;
  onnx::ModelProto model = load_model_proto(fixture(10));
  std::ofstream weights(tmp.path() + "/weights.bin", std::ios::binary);
  int64_t offset = 0;
  for (auto& init : *model.mutable_graph()->mutable_initializer()) {
    ASSERT_FALSE(init.raw_data().empty()) << init.name();
    weights << init.raw_data();
    const int64_t length = static_cast<int64_t>(init.raw_data().size());
    init.clear_raw_data();
    init.set_data_location(onnx::TensorProto::EXTERNAL);
    for (const auto& [key, value] : {std::pair<std::string, std::string>{"location", "weights.bin"},
                                     {"offset", std::to_string(offset)},
                                     {"length", std::to_string(length)}}) {
      auto* entry = init.add_external_data();
      entry->set_key(key);
      entry->set_value(value);
    }
    offset += length;
  }
  weights.close();
  const std::string path = tmp.path() + "/external.onnx";
  std::ofstream(path, std::ios::binary) << model.SerializeAsString();
  TrainingOptions options;
  options.loss.kind = LossKind::NLL;
  TrainingSession session = TrainingSession::from_file(path, options);
  EXPECT_EQ(session.notes().size(), 1u) << ::testing::PrintToString(session.notes());
  expect_close(session.predict({{"x", read_tensor_proto_file(kOldOpsetDir + "/input.pb")}})[0],
               read_tensor_proto_file(kOldOpsetDir + "/expected_log_probs.pb"), 1e-5, "predict");
}

// A model the converter cannot upgrade is refused with one message naming the file, both opsets
// and what to do. ONNX 1.12's Pad 10 -> 11 adapter needs the optional `value` attribute that a
// Pad-2 may leave out.
TEST(OldOpsetLoss, AModelTheConverterCannotUpgradeIsRefusedClearly) {
  TempDir tmp;
  testing::ModelBuilder b(9);
  b.input("x", onnx::TensorProto::FLOAT, {2, 3});
  b.node("Pad", {"x"}, {"padded"});
  b.attr("pads", {0, 0, 0, 1});
  b.initializer("w", Tensor::from<float>({4, 3}, std::vector<float>(12, 0.5f)));
  b.node("MatMul", {"padded", "w"}, {"logits"});
  b.output("logits", onnx::TensorProto::FLOAT, {2, 3});
  const std::string path = tmp.path() + "/pad.onnx";
  b.save(path);
  TrainingOptions options;
  options.loss.kind = LossKind::CrossEntropy;
  try {
    TrainingSession::from_file(path, options);
    FAIL() << "expected an error";
  } catch (const Error& e) {
    const std::string what = e.what();
    EXPECT_NE(what.find(path + ": the model uses opset 9 and ONNX's version converter could not upgrade it to opset "
                               "12, which the cross-entropy loss (SoftmaxCrossEntropyLoss) needs: "),
              std::string::npos)
        << what;
    EXPECT_NE(what.find("Re-export the model with opset_version=12 or more"), std::string::npos) << what;
  }
  // The regression losses need no upgrade: the same model trains with them.
  options.loss.kind = LossKind::MSE;
  EXPECT_TRUE(TrainingSession::from_file(path, options).notes().empty());
}

// ---- Exports that lost their training structure

bool any_note_has(const TrainingSession& s, const std::string& part) {
  for (const auto& n : s.notes())
    if (n.find(part) != std::string::npos) return true;
  return false;
}

TEST(LostTrainingStructure, FoldedBatchNormIsNoted) {
  TrainingOptions options;
  options.loss.kind = LossKind::NLL;
  TrainingSession folded = TrainingSession::from_file(kOldOpsetDir + "/cnn_folded.onnx", options);
  ASSERT_EQ(folded.notes().size(), 1u) << ::testing::PrintToString(folded.notes());
  const std::string& note = folded.notes()[0];
  EXPECT_NE(note.find(kOldOpsetDir + "/cnn_folded.onnx was exported for inference and lost its training structure: its "
                                     "BatchNormalization was folded into Conv"),
            std::string::npos)
      << note;
  EXPECT_NE(note.find("onnx::Conv_"), std::string::npos) << note;
  EXPECT_NE(note.find("training=torch.onnx.TrainingMode.TRAINING"), std::string::npos) << note;
  EXPECT_EQ(note.find('\n'), std::string::npos) << note;

  // The training-form export of the same model says nothing of the kind.
  TrainingSession kept = TrainingSession::from_file(fixture(11), options);
  EXPECT_FALSE(any_note_has(kept, "lost its training structure")) << ::testing::PrintToString(kept.notes());
}

// Generated names without a folded Conv (a transposed MatMul weight, say) are noted as such.
TEST(LostTrainingStructure, GeneratedWeightNamesAreNoted) {
  TempDir tmp;
  testing::ModelBuilder b(13);
  b.input("x", onnx::TensorProto::FLOAT, {2, 4});
  b.initializer("onnx::MatMul_7", Tensor::from<float>({4, 3}, std::vector<float>(12, 0.1f)));
  b.initializer("fc.bias", Tensor::from<float>({3}, {0, 0, 0}));
  b.node("MatMul", {"x", "onnx::MatMul_7"}, {"h"});
  b.node("Add", {"h", "fc.bias"}, {"logits"});
  b.output("logits", onnx::TensorProto::FLOAT, {2, 3});
  b.save(tmp.path() + "/matmul.onnx");
  TrainingSession s = TrainingSession::from_file(tmp.path() + "/matmul.onnx", {});
  EXPECT_TRUE(any_note_has(s, "1 of its 2 trainable weights have names the exporter generated (onnx::MatMul_7)"))
      << ::testing::PrintToString(s.notes());
}

TEST(LostTrainingStructure, PatternsThatMatchNothingAreNoted) {
  TrainingOptions options;
  options.loss.kind = LossKind::NLL;
  options.freeze = {"^layer", "^conv"};
  options.train_only = {"fc\\.", "^head"};
  TrainingSession s = TrainingSession::from_file(fixture(11), options);
  EXPECT_TRUE(any_note_has(s,
                           "freeze pattern '^layer' matches no parameter and freezes nothing; the 6 parameters "
                           "are named bn.bias, bn.weight, conv.bias, conv.weight, ..."))
      << ::testing::PrintToString(s.notes());
  EXPECT_TRUE(any_note_has(s, "train_only pattern '^head' matches no parameter and selects nothing"))
      << ::testing::PrintToString(s.notes());
  EXPECT_FALSE(any_note_has(s, "'^conv'")) << ::testing::PrintToString(s.notes());
  EXPECT_FALSE(any_note_has(s, "'fc\\.'")) << ::testing::PrintToString(s.notes());
}

// The counts add up the fixture's own initializers: what trains and what freeze keeps.
TEST(LostTrainingStructure, ParameterCountsSplitTrainedAndFrozen) {
  const Graph graph = load_onnx_model(fixture(11));
  auto values = [&](const std::vector<std::string>& names) {
    int64_t n = 0;
    for (const auto& name : names) n += graph.initializers.at(name).numel();
    return n;
  };
  TrainingOptions options;
  options.loss.kind = LossKind::NLL;
  options.freeze = {"^conv\\."};
  TrainingSession s = TrainingSession::from_file(fixture(11), options);
  const ParameterCounts counts = s.parameter_counts();
  EXPECT_EQ(counts.trainable_tensors, 4);
  EXPECT_EQ(counts.trainable_values, values({"bn.weight", "bn.bias", "fc.weight", "fc.bias"}));
  EXPECT_EQ(counts.frozen_tensors, 2);
  EXPECT_EQ(counts.frozen_values, values({"conv.weight", "conv.bias"}));
  EXPECT_EQ(static_cast<int64_t>(s.parameter_names().size()), counts.trainable_tensors);
}

}  // namespace
}  // namespace onnx_train
