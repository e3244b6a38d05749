// `inspect` as training would see the model (--num-classes), on a checkpoint and on a model
// onnx-train exported; the training.* metadata every export writes and eval reads back; and
// the hints that name --num-classes when the data's classes and the model's outputs differ.
// The real binary, through tests/cli/cli_harness.h.
#include <fmt/format.h>
#include <gtest/gtest.h>

#include <map>
#include <random>
#include <regex>
#include <string>
#include <vector>

#include "tests/cli/cli_harness.h"
#include "tests/support/data_files.h"

namespace onnx_train::cli_test {
namespace {

using testing::write_png_file;

class InspectMetadataCli : public CliTest {};

// The line of `text` holding `part` ("(none)" when there is none).
std::string line_with(const std::string& text, const std::string& part) {
  const size_t at = text.find(part);
  if (at == std::string::npos) return "(none)";
  const size_t begin = text.rfind('\n', at) + 1;
  return text.substr(begin, text.find('\n', at) - begin);
}

onnx::ModelProto proto_of(const std::string& model) {
  onnx::ModelProto proto;
  EXPECT_TRUE(proto.ParseFromString(read_file(model))) << model;
  return proto;
}

// The size of the last axis of the model's first output: a classifier's classes.
int64_t classes_of(const std::string& model) {
  const onnx::ModelProto proto = proto_of(model);
  const auto& shape = proto.graph().output(0).type().tensor_type().shape();
  return shape.dim_size() > 0 ? shape.dim(shape.dim_size() - 1).dim_value() : -1;
}

void write_colours(const std::string& dir, int per_class, unsigned seed) {
  for (const std::string colour : {"red", "green", "blue"}) write_colour(dir, colour, per_class, seed + colour[0]);
}

// ---- inspect

TEST_F(InspectMetadataCli, NumClassesShowsTheOutputsAndTheNewHeadAsTrainingMakesThem) {
  const std::string model = make_mlp(path("mlp.onnx"), false);  // logits [N, 3] from fc2 [3, 8]
  const CliRun as_is = ok({"inspect", model});
  EXPECT_HAS(line_with(as_is.out, "  logits "), "float32[N, 3]");
  EXPECT_HAS(line_with(as_is.out, "fc2.weight"), "float32[3, 8]");
  EXPECT_LACKS(as_is.out, "new");

  const CliRun five = ok({"inspect", model, "--num-classes", "5"});
  EXPECT_HAS(line_with(five.out, "  logits "), "float32[N, 5]");
  EXPECT_HAS(line_with(five.out, "  logits "), "--num-classes 5: a new 5-way head; the model file's is 3-way");
  EXPECT_HAS(line_with(five.out, "fc2.weight"), "float32[5, 8]");
  EXPECT_HAS(line_with(five.out, "fc2.weight"), "trainable, new (the 5-way head");
  EXPECT_HAS(line_with(five.out, "fc2.bias"), "trainable, new");
  EXPECT_LACKS(line_with(five.out, "fc1.weight"), "new");
  // 32 + 8 (fc1) + 40 + 5 (the new head).
  EXPECT_HAS(five.out, "85 of 85 values trainable");
}

TEST_F(InspectMetadataCli, ACheckpointShowsItsRunParametersRunningStatisticsAndOptimizerState) {
  const std::string model = make_mlp(path("mlp.onnx"), true);  // BatchNormalization and Dropout
  write_npy_data(path("data"), separable(32, 1));
  ok({model, path("data"), "--batch-size", "8", "--epochs", "2", "--checkpoint-dir", path("ck"), "--quiet", "-o",
      path("m.onnx")});
  const std::string ckpt = path("ck/step-000000008.ckpt");
  ASSERT_TRUE(fs::exists(ckpt)) << joined(tree(path("ck")));

  const CliRun r = ok({"inspect", ckpt});
  EXPECT_HAS(r.out, "checkpoint " + ckpt + ": step 8, after epoch 2 (of 32 training samples)");
  EXPECT_LACKS(r.out, "cli.");  // the command line's bookkeeping for --resume
  EXPECT_HAS(r.out, "optimizer adamw");
  EXPECT_HAS(r.out, "the run: onnx-train " + model + " " + path("data") + " --batch-size 8 --epochs 2");
  // Each tensor under what it is: the trained values, BatchNormalization's running statistics,
  // and the optimizer's moments named as such, never as running statistics.
  const size_t parameters = r.out.find("parameters (trained):"),
               statistics = r.out.find("running statistics (BatchNormalization"),
               optimizer = r.out.find("optimizer state:");
  ASSERT_TRUE(parameters != std::string::npos && statistics != std::string::npos && optimizer != std::string::npos)
      << r.out;
  EXPECT_LT(parameters, statistics);
  EXPECT_LT(statistics, optimizer);
  const std::string parameter_part = r.out.substr(parameters, statistics - parameters),
                    statistic_part = r.out.substr(statistics, optimizer - statistics),
                    optimizer_part = r.out.substr(optimizer);
  EXPECT_HAS(parameter_part, "fc2.weight");
  EXPECT_HAS(statistic_part, "bn.running_mean");
  EXPECT_HAS(statistic_part, "bn.running_var");
  EXPECT_LACKS(statistic_part, "exp_avg");
  EXPECT_HAS(line_with(optimizer_part, "optimizer/fc2.weight/exp_avg "), "adamw first moment (exp_avg) of fc2.weight");
  EXPECT_HAS(line_with(optimizer_part, "optimizer/fc2.weight/exp_avg_sq"),
             "adamw second moment (exp_avg_sq) of fc2.weight");
  EXPECT_LACKS(optimizer_part, "running");

  // The checkpoint's run decides the options: giving some is a mistake, said as such.
  fails({"inspect", ckpt, "--num-classes", "5"}, {ckpt, "--num-classes does not apply"});
}

TEST_F(InspectMetadataCli, SgdMomentumIsNamedAsMomentum) {
  const std::string model = make_mlp(path("mlp.onnx"), false);
  write_npy_data(path("data"), separable(16, 1));
  ok({model, path("data"), "--batch-size", "8", "--optimizer", "sgd", "--momentum", "0.9", "--checkpoint-dir",
      path("ck"), "--quiet", "-o", path("m.onnx")});
  const CliRun r = ok({"inspect", path("ck/step-000000002.ckpt")});
  EXPECT_HAS(line_with(r.out, "optimizer/fc1.bias/momentum_buffer"),
             "sgd momentum buffer (momentum_buffer) of fc1.bias");
}

// ---- Metadata in the export, and what reads it

TEST_F(InspectMetadataCli, EveryExportCarriesTheClassesPreprocessingAndTrainingSummary) {
  const std::string model = make_linear(path("colours.onnx"), {3, 6, 6}, 3);
  write_colours(path("data/train"), 8, 1);
  write_colours(path("data/val"), 4, 50);
  const CliRun train =
      ok({model, path("data"), "--epochs", "3", "--batch-size", "8", "--lr", "0.02", "--mean", "0.5", "--std", "0.25",
          "--checkpoint-dir", path("ck"), "--export-training", path("t.train.onnx"), "-o", path("t.onnx")});
  const auto meta = metadata_of(path("t.onnx"));
  const auto at = [&](const std::string& key) {
    const auto it = meta.find(key);
    return it == meta.end() ? std::string("(missing)") : it->second;
  };
  EXPECT_EQ(at("data.classes"), "[\"blue\", \"green\", \"red\"]");
  EXPECT_EQ(at("data.input_shape"), "3,6,6");
  EXPECT_EQ(at("data.input_size"), "6,6");
  EXPECT_EQ(at("data.mean"), "0.5");
  EXPECT_EQ(at("training.loss"), "cross-entropy");
  EXPECT_EQ(at("training.label"), "label");
  EXPECT_EQ(at("training.output"), "logits");
  EXPECT_EQ(at("training.optimizer"), "adamw");
  EXPECT_EQ(at("training.lr"), "0.02");
  EXPECT_EQ(at("training.schedule"), "constant");
  EXPECT_EQ(at("training.batch_size"), "8");
  EXPECT_EQ(at("training.samples"), "24");
  EXPECT_EQ(at("training.steps"), "9");
  EXPECT_EQ(at("training.epochs"), "3");
  EXPECT_EQ(at("training.base_model"), "colours.onnx");
  EXPECT_EQ(at("training.onnx_train_version"), "0.14.0");
  EXPECT_EQ(at("training.date"), "2023-11-14T22:13:20Z");  // SOURCE_DATE_EPOCH, set by cli_harness.h
  // The summary line's numbers, as the run printed them.
  const std::string done = train.out.substr(train.out.find("done: "));
  EXPECT_NEAR(std::stod(at("training.train_loss")), number_after(done, "train loss "), 1e-4) << done;
  EXPECT_NEAR(std::stod(at("training.val_loss")), number_after(done, "val loss "), 1e-4) << done;
  EXPECT_NEAR(100 * std::stod(at("training.val_accuracy")), number_after(done, "val accuracy "), 1e-2) << done;
  // The model's own producer stays.
  EXPECT_EQ(proto_of(path("t.onnx")).producer_name(), proto_of(model).producer_name());

  // --export-training writes the same entries.
  const auto training_meta = metadata_of(path("t.train.onnx"));
  for (const std::string key : {"training.loss", "training.steps", "training.val_loss", "data.classes"}) {
    ASSERT_TRUE(training_meta.count(key)) << key;
    EXPECT_EQ(training_meta.at(key), at(key)) << key;
  }

  // Without SOURCE_DATE_EPOCH: the time of the export.
  env_.push_back("SOURCE_DATE_EPOCH=");
  ok({"export", path("ck/step-000000006.ckpt"), "-o", path("now.onnx")});
  EXPECT_TRUE(std::regex_match(metadata_of(path("now.onnx")).at("training.date"),
                               std::regex(R"(20\d\d-\d\d-\d\dT\d\d:\d\d:\d\dZ)")))
      << metadata_of(path("now.onnx")).at("training.date");
  env_.pop_back();

  // `export CHECKPOINT` knows the run from the checkpoint: options, steps, epochs, and the
  // results of the epoch it ends; the last one's export is the run's.
  ok({"export", path("ck/step-000000006.ckpt"), "-o", path("e.onnx")});
  const auto exported = metadata_of(path("e.onnx"));
  EXPECT_EQ(exported.at("training.steps"), "6");
  EXPECT_EQ(exported.at("training.epochs"), "2");
  EXPECT_EQ(exported.at("training.lr"), "0.02");
  EXPECT_EQ(exported.at("data.classes"), at("data.classes"));
  ASSERT_TRUE(exported.count("training.val_loss"));
  EXPECT_NE(exported.at("training.val_loss"), at("training.val_loss"));  // epoch 2's, not 3's
  ok({"export", path("ck/step-000000009.ckpt"), "-o", path("last.onnx")});
  EXPECT_EQ(metadata_of(path("last.onnx")), meta);
  // The checkpoint itself names its classes.
  const CliRun inspected = ok({"inspect", path("ck/step-000000006.ckpt")});
  EXPECT_HAS(inspected.out, "classes (3): blue, green, red");
  EXPECT_HAS(inspected.out, "  results: train loss ");
  EXPECT_HAS(inspected.out, fmt::format(", val loss {:.4f}", std::stod(exported.at("training.val_loss"))));

  // inspect says it in words.
  const CliRun r = ok({"inspect", path("t.onnx")});
  EXPECT_HAS(r.out, "metadata (written by onnx-train):");
  EXPECT_HAS(r.out, "classes (3): blue, green, red");
  EXPECT_HAS(r.out, "input 'x': images of C,H,W 3,6,6, mean 0.5, std 0.25");
  EXPECT_HAS(r.out,
             "trained with: --loss cross-entropy on output 'logits' (labels 'label'), --optimizer adamw --lr "
             "0.02 --schedule constant, --batch-size 8");
  EXPECT_HAS(r.out, "trained for: 9 steps, 3 epochs of 24 samples");
  EXPECT_HAS(r.out, "results: train loss ");
  EXPECT_HAS(r.out, "by onnx-train 0.14.0, from colours.onnx");
}

TEST_F(InspectMetadataCli, EvalTakesTheLossLabelAndOutputFromTheModel) {
  const std::string model = make_mlp(path("mlp.onnx"), false);
  const Samples s = separable(24, 1);
  write_file(path("data/x.npy"), x_npy(s));
  write_file(path("data/target.npy"), y_npy(s));  // labels under another name
  ok({model, path("data"), "--label", "target", "--batch-size", "8", "--quiet", "-o", path("t.onnx")});
  EXPECT_EQ(metadata_of(path("t.onnx")).at("training.label"), "target");

  // The trained model knows its labels are 'target'; the original does not.
  const CliRun eval = ok({"eval", path("t.onnx"), path("data")});
  EXPECT_HAS(eval.out, "as the model was trained: --loss=cross-entropy --label=target --output=logits");
  EXPECT_HAS(eval.out, "(all data): loss ");
  EXPECT_HAS(eval.out, "24 samples");
  fails({"eval", model, path("data")}, {"label"});
  // Flags given win over the stored ones.
  const CliRun told = run({"eval", path("t.onnx"), path("data"), "--label", "label"});
  EXPECT_NE(told.code, 0) << told.show();
  EXPECT_LACKS(told.out, "--label=target");

  // A stored value that is no longer valid is named as the file's, with the flag that overrides it.
  onnx::ModelProto proto;
  ASSERT_TRUE(proto.ParseFromString(read_file(path("t.onnx"))));
  for (auto& entry : *proto.mutable_metadata_props())
    if (entry.key() == "training.loss") entry.set_value("bogus");
  write_file(path("changed.onnx"), proto.SerializeAsString());
  fails({"eval", path("changed.onnx"), path("data")},
        {"--loss bogus: unknown kind", "taken from the training.* metadata of " + path("changed.onnx"),
         "give --loss, --label or --output to override it"});
  ok({"eval", path("changed.onnx"), path("data"), "--loss", "cross-entropy", "--label", "target"});
}

// ---- Hints that name --num-classes

TEST_F(InspectMetadataCli, FewerClassFoldersThanOutputsAskForNumClassesOrKeepHead) {
  const std::string model = make_linear(path("wide.onnx"), {3, 6, 6}, 10);
  write_colours(path("data/train"), 4, 1);
  fails({model, path("data"), "--batch-size", "8", "-o", path("t.onnx")},
        {path("data") + ": the data has 3 classes (blue, green, red) and the model's output 'logits' has 10",
         "pass --num-classes 3 to give it a new 3-way head", "--keep-head"});
  EXPECT_FALSE(fs::exists(path("t.onnx")));
  ok({model, path("data"), "--batch-size", "8", "--keep-head", "--quiet", "-o", path("kept.onnx")});
  EXPECT_EQ(classes_of(path("kept.onnx")), 10);
  ok({model, path("data"), "--batch-size", "8", "--num-classes", "3", "--quiet", "-o", path("three.onnx")});
  EXPECT_EQ(classes_of(path("three.onnx")), 3);

  // More class folders than outputs: the count --num-classes needs.
  const std::string narrow = make_linear(path("narrow.onnx"), {3, 6, 6}, 2);
  fails({narrow, path("data"), "--batch-size", "8", "-o", path("n.onnx")},
        {"3 class folders (blue, green, red)", "pass --num-classes 3 to give the model a new 3-way head"});
}

TEST_F(InspectMetadataCli, LabelsPastTheOutputsNameTheNumClassesTheyNeed) {
  const std::string model = make_mlp(path("mlp.onnx"), false);  // 3 classes
  write_npy_data(path("data"), separable(24, 1, /*classes=*/5));
  fails({model, path("data"), "--batch-size", "8", "-o", path("t.onnx")},
        {path("data/train/label.npy") + ", sample ", "is outside [0, 3): the model's output 'logits' has 3 classes",
         "the labels go up to 4", "if the data has 5 classes, pass --num-classes 5 to give the model a new 5-way head",
         "--skip-bad-samples"});
  ok({model, path("data"), "--batch-size", "8", "--num-classes", "5", "--quiet", "-o", path("t.onnx")});
}

}  // namespace
}  // namespace onnx_train::cli_test
