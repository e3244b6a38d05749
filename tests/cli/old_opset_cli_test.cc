// The command line on models exported at an older opset and on exports that lost their training
// structure (tests/data/old_opset/, made by tests/data/make_old_opset.py): the real binary
// (ONNX_TRAIN_CLI) run as a user runs it, as tests/cli/cli_e2e_test.cc does.
//
// `onnx-train MODEL DATA --loss nll|cross-entropy` on torch exports at opsets 9, 10 and 11 trains
// after one note saying the model was upgraded to opset 12; so do `eval`, `graph`, `export` and
// `--export-training`. The exported model keeps the user's opset and passes ONNX's checker; the
// training export is at opset 12. A folded-BatchNorm export, a --freeze pattern that matches
// nothing (said as the command line's option, not the API's), and the parameter count are said
// at the start of training.
#include <gtest/gtest.h>

#include <algorithm>
#include <filesystem>
#include <string>
#include <vector>

#include "importers/onnx_model.h"
#include "onnx_train/session.h"
#include "tests/cli/cli_harness.h"
#include "tests/support/old_opset_models.h"

namespace onnx_train::cli_test {
namespace {

using testing::expect_valid_onnx;
using testing::kOldOpsetDir;
using testing::load_model_proto;
using testing::opset_of;

// DATA/x.npy [n, 1, 8, 8] and DATA/label.npy [n]: the class is the band of rows (top, middle,
// bottom) that holds a bright stripe.
void write_data(const std::string& dir, int64_t n) {
  const auto batch = testing::stripe_batch(n, 3);
  const Tensor& x = batch.at("x");
  const Tensor& y = batch.at("label");
  write_file(dir + "/x.npy", npy("<f4", x.shape(), std::string(static_cast<const char*>(x.raw_data()), x.nbytes())));
  write_file(dir + "/label.npy",
             npy("<i8", y.shape(), std::string(static_cast<const char*>(y.raw_data()), y.nbytes())));
}

class OldOpsetCli : public CliTest {
 protected:
  void SetUp() override {
    CliTest::SetUp();
    write_data(path("data"), 48);
  }
};

TEST_F(OldOpsetCli, TrainsEvaluatesAndExportsWithClassLossesAtOpsets9To11) {
  for (int opset : {9, 10, 11}) {
    for (const std::string loss : {"nll", "cross-entropy"}) {
      SCOPED_TRACE("opset " + std::to_string(opset) + ", --loss " + loss);
      const std::string model = kOldOpsetDir + "/cnn_opset" + std::to_string(opset) + ".onnx";
      const std::string tag = std::to_string(opset) + loss;
      const std::string note =
          "note: " + model + " is at opset " + std::to_string(opset) + ", but the " + loss + " loss needs opset 12";
      const CliRun r =
          run({model, path("data"), "--loss", loss, "--optimizer", "sgd", "--lr", "0.1", "--epochs", "3",
               "--batch-size", "8", "-o", path(tag + ".onnx"), "--export-training", path(tag + ".training.onnx")});
      ASSERT_EQ(r.code, 0) << r.show();
      // One line, once, before the first epoch ends; then the count of what trains.
      EXPECT_EQ(count_of(r.out, note), 1) << r.show();
      EXPECT_HAS(r.out,
                 "upgraded it to opset 12 with ONNX's version converter for training; the exported inference "
                 "model keeps opset " +
                     std::to_string(opset) + "\n");
      EXPECT_LT(r.out.find(note), r.out.find("epoch 1/3")) << r.show();
      EXPECT_HAS(r.out, "parameters: 6 tensors (243 values) trained, 0 tensors (0 values) frozen");
      EXPECT_LACKS(r.err, "error");
      // The exports: the user's opset for inference, opset 12 with the training algorithm.
      EXPECT_EQ(opset_of(path(tag + ".onnx")), opset);
      expect_valid_onnx(path(tag + ".onnx"));
      EXPECT_EQ(opset_of(path(tag + ".training.onnx")), 12);
      expect_valid_onnx(path(tag + ".training.onnx"));
      EXPECT_EQ(load_model_proto(path(tag + ".training.onnx")).training_info_size(), 1);

      // eval on the original and on the trained export: the note again, and a trained model
      // scores better than the untrained one.
      const CliRun before = run({"eval", model, path("data"), "--loss", loss});
      ASSERT_EQ(before.code, 0) << before.show();
      EXPECT_EQ(count_of(before.out, note), 1) << before.show();
      const CliRun after = run({"eval", path(tag + ".onnx"), path("data"), "--loss", loss});
      ASSERT_EQ(after.code, 0) << after.show();
      auto loss_of = [](const std::string& out) {
        const size_t at = out.find("): loss ");  // "MODEL on DATA (all data): loss 0.1234, ..."
        return at == std::string::npos ? -1.0 : std::stod(out.substr(at + 8));
      };
      EXPECT_LT(loss_of(after.out), loss_of(before.out)) << before.show() << after.show();

      // graph writes the training graph, at opset 12.
      const CliRun graph = run({"graph", model, "--loss", loss, "-o", path(tag + ".graph.onnx")});
      ASSERT_EQ(graph.code, 0) << graph.show();
      EXPECT_EQ(count_of(graph.out, note), 1) << graph.show();
      EXPECT_EQ(opset_of(path(tag + ".graph.onnx")), 12);
    }
  }
}

// The trained export at opset 9 runs in ONNX Runtime (tests/cli/ort_compare.js, onnxruntime-node as
// tools/test.sh installs it) and gives onnx-train's outputs.
TEST_F(OldOpsetCli, TrainedOpset9ExportMatchesInOnnxRuntime) {
  const std::string model = kOldOpsetDir + "/cnn_opset9.onnx";
  const CliRun r = run({model, path("data"), "--loss", "cross-entropy", "--optimizer", "sgd", "--lr", "0.1", "--epochs",
                        "2", "--batch-size", "8", "-o", path("trained9.onnx")});
  ASSERT_EQ(r.code, 0) << r.show();
  ASSERT_EQ(opset_of(path("trained9.onnx")), 9);
  const Tensor x = read_tensor_proto_file(kOldOpsetDir + "/input.pb");
  const Tensor y = Session::from_file(path("trained9.onnx")).run({{"x", x}}).at(0);
  const auto compared = compare_in_ort(find_node(), path("trained9.onnx"), x, y, "1e-5", root_);
  EXPECT_EQ(compared.first, 0) << compared.second << "\n" << kOrtInstall;
  EXPECT_HAS(compared.second, "max abs diff");
}

// training-graph differentiates a value of the model itself (no loss is appended), so the model
// keeps its opset: the backward graph of an opset-9 export, built at opset 9.
TEST_F(OldOpsetCli, TrainingGraphOfAnOldOpsetModel) {
  const std::string model = kOldOpsetDir + "/cnn_opset9.onnx";
  const CliRun r = run({"training-graph", model, "--loss", "log_probs", "-o", path("tg.onnx")});
  ASSERT_EQ(r.code, 0) << r.show();
  EXPECT_HAS(r.out, "gradients of 6 values");
  EXPECT_EQ(opset_of(path("tg.onnx")), 9);
}

TEST_F(OldOpsetCli, FoldedExportUnmatchedFreezeAndTheParameterCountAreSaid) {
  const std::string model = kOldOpsetDir + "/cnn_folded.onnx";
  const CliRun r = run(
      {model, path("data"), "--loss", "nll", "--freeze", "^layer", "--epochs", "1", "-o", path("folded.trained.onnx")});
  ASSERT_EQ(r.code, 0) << r.show();
  EXPECT_HAS(r.out, "note: " + model +
                        " was exported for inference and lost its training structure: its BatchNormalization was "
                        "folded into Conv");
  // In the command line's terms: the option as typed, not the API's "freeze pattern".
  EXPECT_HAS(r.out, "note: --freeze '^layer' matches no parameter and freezes nothing");
  EXPECT_HAS(r.out, "and --freeze / --train-only patterns cannot name those layers");
  EXPECT_LACKS(r.out, "freeze pattern");
  // fc.weight [3, 64], fc.bias [3], the folded Conv's weight [4, 1, 3, 3] and bias [4].
  EXPECT_HAS(r.out, "parameters: 4 tensors (235 values) trained, 0 tensors (0 values) frozen");
  EXPECT_LT(r.out.find("lost its training structure"), r.out.find("epoch 1/1")) << r.show();

  // A training-form export with a pattern that matches: no such notes, and the count splits.
  const CliRun kept = run({kOldOpsetDir + "/cnn_opset11.onnx", path("data"), "--loss", "nll", "--freeze", "^conv\\.",
                           "--epochs", "1", "-o", path("kept.onnx")});
  ASSERT_EQ(kept.code, 0) << kept.show();
  EXPECT_LACKS(kept.out, "lost its training structure");
  EXPECT_LACKS(kept.out, "matches no parameter");
  EXPECT_HAS(kept.out, "parameters: 4 tensors (203 values) trained, 2 tensors (40 values) frozen");
}

// `graph` and `eval` print the session's notes too, with --train-only as typed (of two patterns,
// the one that selects nothing).
TEST_F(OldOpsetCli, PatternNotesNameTheCommandLineOptions) {
  const std::string model = kOldOpsetDir + "/cnn_opset11.onnx";
  const CliRun graph =
      run({"graph", model, "--loss", "nll", "--train-only", "^fc\\.", "--train-only", "^head", "-o", path("g.onnx")});
  ASSERT_EQ(graph.code, 0) << graph.show();
  EXPECT_HAS(graph.out, "note: --train-only '^head' matches no parameter and selects nothing");
  EXPECT_LACKS(graph.out, "'^fc\\.' matches no parameter");
  EXPECT_LACKS(graph.out, "train_only pattern");
  const CliRun eval = run({"eval", model, path("data"), "--loss", "nll", "--freeze", "^layer"});
  ASSERT_EQ(eval.code, 0) << eval.show();
  EXPECT_HAS(eval.out, "note: --freeze '^layer' matches no parameter and freezes nothing");
  EXPECT_LACKS(eval.out, "freeze pattern");
}

// `export CHECKPOINT` builds the session the run trained, and says what it changed in the model
// as the run did: an opset-9 model trained with a class loss was upgraded, and the export keeps
// opset 9.
TEST_F(OldOpsetCli, ExportFromACheckpointSaysTheOpsetUpgrade) {
  const std::string model = kOldOpsetDir + "/cnn_opset9.onnx";
  const CliRun train = run({model, path("data"), "--loss", "nll", "--optimizer", "sgd", "--epochs", "1", "--batch-size",
                            "8", "--checkpoint-dir", path("ck"), "-o", path("trained.onnx")});
  ASSERT_EQ(train.code, 0) << train.show();
  std::string checkpoint;
  for (const auto& e : fs::directory_iterator(path("ck")))
    if (e.path().extension() == ".ckpt") checkpoint = std::max(checkpoint, e.path().string());
  ASSERT_FALSE(checkpoint.empty()) << train.show();
  const CliRun exported = run({"export", checkpoint, "-o", path("out/exported.onnx")});
  ASSERT_EQ(exported.code, 0) << exported.show();
  const std::string note = "note: " + model + " is at opset 9, but the nll loss needs opset 12";
  EXPECT_EQ(count_of(exported.out, note), 1) << exported.show();
  EXPECT_LT(exported.out.find(note), exported.out.find("wrote ")) << exported.show();
  EXPECT_EQ(opset_of(path("out/exported.onnx")), 9);
  expect_valid_onnx(path("out/exported.onnx"));
}

}  // namespace
}  // namespace onnx_train::cli_test
