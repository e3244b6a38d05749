// The data side of the onnx-train command line, end to end (the real binary, as
// tests/cli/cli_e2e_test.cc runs it): image classes fixed by the training split and kept in
// checkpoints and exported models, the training export too (eval and export use them), layouts
// that are not class folders, and bad samples found before the first step or as the data
// streams, or left out with --skip-bad-samples.
#include <fmt/format.h>
#include <gtest/gtest.h>

#include <filesystem>
#include <map>
#include <random>
#include <string>
#include <vector>

#include "tests/cli/cli_harness.h"
#include "tests/support/data_files.h"

namespace onnx_train::cli_test {
namespace {

using testing::write_png_file;

class DataCli : public CliTest {
 public:
  // A clean failure (CliTest::fails: one error message on stderr holding every part of `says`)
  // that wrote no model.
  CliRun fails(const std::vector<std::string>& args, const std::vector<std::string>& says) {
    CliRun r = CliTest::fails(args, says);
    EXPECT_LACKS(r.out, "wrote ");
    return r;
  }
};

// ---- Models and data

// DIR/x.npy and DIR/label.npy: `n` samples of 3 separable classes in 4 dimensions, with the
// label of sample `bad_label_at` set to 7 and x of sample `nan_at` to NaN (-1: none).
void write_npy(const std::string& dir, int n, int bad_label_at, int nan_at) {
  Samples s = separable(n, 3, 3, nan_at);
  if (bad_label_at >= 0) s.y[bad_label_at] = 7;
  write_npy_pair(dir, s);
}

// ---- Classes

TEST_F(DataCli, ClassesComeFromTheTrainingSplitAndTravelWithTheModel) {
  const std::string model = make_linear(path("colours.onnx"), {3, 6, 6}, 3);
  for (const std::string colour : {"red", "green", "blue"}) write_colour(path("data/train"), colour, 8, colour[0]);
  // The validation split lacks blue: green and red keep the training indices 1 and 2.
  write_colour(path("data/val"), "green", 4, 101);
  write_colour(path("data/val"), "red", 4, 102);
  const CliRun train = ok({model, path("data"), "--epochs", "4", "--batch-size", "8", "--lr", "0.02", "--mean", "0.5",
                           "--std", "0.25", "--checkpoint-dir", path("ck"), "-o", path("out/colours.onnx")});
  EXPECT_HAS(train.out,
             "val:   8 images in 2 class folders of " + path("data/val") + " (PNG/JPEG; 2 of the 3 classes)");
  EXPECT_EQ(number_after(train.out, "val accuracy "), 100.0) << train.show();

  // The exported model keeps the classes and the preprocessing.
  const auto meta = metadata_of(path("out/colours.onnx"));
  ASSERT_EQ(meta.count("data.classes"), 1u);
  EXPECT_EQ(meta.at("data.classes"), "[\"blue\", \"green\", \"red\"]");
  EXPECT_EQ(meta.at("data.mean"), "0.5");
  EXPECT_EQ(meta.at("data.std"), "0.25");
  EXPECT_EQ(meta.at("data.input"), "x");
  EXPECT_EQ(meta.at("data.input_shape"), "3,6,6");

  // eval on a folder of one class: red is class 2 as the model learnt it, normalised by the
  // stored mean and std.
  write_colour(path("eval"), "red", 5, 7);
  const CliRun eval = ok({"eval", path("out/colours.onnx"), path("eval")});
  EXPECT_HAS(eval.out, "classes: the 3 stored in " + path("out/colours.onnx"));
  EXPECT_HAS(eval.out, "normalising by the mean and std stored in");
  EXPECT_HAS(eval.out, "accuracy 100.00% (5 of 5)");

  // A folder spelled unlike the class is an error naming it, not a silent wrong label.
  write_colour(path("eval2"), "red", 2, 8, "Red");
  fails({"eval", path("out/colours.onnx"), path("eval2")},
        {path("eval2/Red"), "'Red' is not one of the 3 classes of the model " + path("out/colours.onnx"),
         "'blue', 'green', 'red'", "rename the folder to 'red'"});

  // A checkpoint keeps them too, and `export` writes them into the model.
  std::vector<std::string> checkpoints;
  for (const auto& e : fs::directory_iterator(path("ck")))
    if (e.path().extension() == ".ckpt") checkpoints.push_back(e.path().string());
  ASSERT_FALSE(checkpoints.empty());
  ok({"export", checkpoints.front(), "-o", path("out/from_ckpt.onnx")});
  const auto exported = metadata_of(path("out/from_ckpt.onnx"));
  ASSERT_EQ(exported.count("data.classes"), 1u);
  EXPECT_EQ(exported.at("data.classes"), meta.at("data.classes"));
  EXPECT_EQ(exported.at("data.mean"), "0.5");
}

// --export-training writes the same data.* entries as the inference export: eval and a later
// fine-tuning run on it know the classes and the preprocessing too.
TEST_F(DataCli, TheTrainingExportCarriesTheClassesAndPreprocessing) {
  const std::string model = make_linear(path("colours.onnx"), {3, 6, 6}, 3);
  for (const std::string colour : {"red", "green", "blue"}) write_colour(path("data/train"), colour, 8, colour[0]);
  ok({model, path("data"), "--epochs", "4", "--batch-size", "8", "--lr", "0.02", "--mean", "0.5", "--std", "0.25", "-o",
      path("out/m.onnx"), "--export-training", path("out/m.training.onnx")});
  const auto inference = metadata_of(path("out/m.onnx"));
  const auto training = metadata_of(path("out/m.training.onnx"));
  for (const std::string key : {"data.classes", "data.mean", "data.std", "data.input", "data.input_shape"}) {
    ASSERT_EQ(inference.count(key), 1u) << key;
    ASSERT_EQ(training.count(key), 1u) << key << " is missing from the training export";
    EXPECT_EQ(training.at(key), inference.at(key)) << key;
  }
  EXPECT_EQ(training.at("data.classes"), "[\"blue\", \"green\", \"red\"]");
  // The training information is there beside them.
  EXPECT_EQ(training.count("onnx_train.step"), 1u);

  // eval on a folder of one class: red is class 2, from the stored classes.
  write_colour(path("eval"), "red", 5, 7);
  const CliRun eval = ok({"eval", path("out/m.training.onnx"), path("eval")});
  EXPECT_HAS(eval.out, "classes: the 3 stored in " + path("out/m.training.onnx"));
  EXPECT_HAS(eval.out, "normalising by the mean and std stored in");
  EXPECT_HAS(eval.out, "accuracy 100.00% (5 of 5)");
}

TEST_F(DataCli, EvalNormalisesByTheStoredMeanAndStdUnlessGivenOthers) {
  const std::string model = make_linear(path("colours.onnx"), {3, 6, 6}, 3);
  for (const std::string colour : {"red", "green", "blue"}) write_colour(path("data/train"), colour, 4, colour[0]);
  ok({model, path("data"), "--max-steps", "1", "--mean", "0.5,0.4,0.3", "--std", "0.25,0.2,0.3", "-o", path("m.onnx")});
  const CliRun stored = ok({"eval", path("m.onnx"), path("data")});
  EXPECT_HAS(stored.out, "normalising by the mean and std stored in the model " + path("m.onnx"));
  const CliRun given = ok({"eval", path("m.onnx"), path("data"), "--mean", "0.5,0.4,0.3", "--std", "0.25,0.2,0.3"});
  EXPECT_LACKS(given.out, "normalising by");
  const CliRun other = ok({"eval", path("m.onnx"), path("data"), "--mean", "0", "--std", "1"});
  const double loss = number_after(stored.out, "loss ");
  EXPECT_EQ(loss, number_after(given.out, "loss ")) << stored.out << given.out;
  EXPECT_NE(loss, number_after(other.out, "loss ")) << stored.out << other.out;
}

TEST_F(DataCli, AValidationFolderSpelledUnlikeATrainingClassIsRefusedBeforeTraining) {
  const std::string model = make_linear(path("colours.onnx"), {3, 6, 6}, 3);
  for (const std::string colour : {"red", "green", "blue"}) write_colour(path("data/train"), colour, 4, colour[0]);
  write_colour(path("data/val"), "green", 2, 101, "Green");
  fails({model, path("data"), "-o", path("out.onnx")},
        {path("data/val/Green"), "not one of the 3 classes of the training data in " + path("data/train"),
         "class names are case-sensitive: rename the folder to 'green'"});
  EXPECT_FALSE(fs::exists(path("out.onnx")));
}

TEST_F(DataCli, AResumedRunKeepsTheClassesItStartedWith) {
  const std::string model = make_linear(path("colours.onnx"), {3, 6, 6}, 3);
  for (const std::string colour : {"red", "green", "blue"}) write_colour(path("data/train"), colour, 4, colour[0]);
  ok({model, path("data"), "--checkpoint-dir", path("ck"), "-o", path("out.onnx")});
  // Renamed since: as many folders as before, but sorted names would renumber the classes.
  fs::rename(path("data/train/blue"), path("data/train/purple"));
  fails({model, path("data"), "--epochs", "2", "--checkpoint-dir", path("ck"), "--resume", "-o", path("out.onnx")},
        {path("data/train/purple"), "'purple' is not one of the 3 classes of the checkpoint " + path("ck/step-"),
         "'blue', 'green', 'red'"});
}

TEST_F(DataCli, AnExtraFolderLevelIsRefusedShowingTheLayout) {
  const std::string model = make_linear(path("colours.onnx"), {3, 6, 6}, 3);
  for (const std::string colour : {"red", "green", "blue"})
    write_colour(path("data/train/images"), colour, 4, colour[0]);
  fails({model, path("data"), "-o", path("out.onnx")},
        {path("data/train") + ": all 12 images are in one class folder, " + path("data/train/images/"),
         "blue/, green/, red/", "one folder level too many", path("data/train") + "/<class>/*.png"});
  EXPECT_FALSE(fs::exists(path("out.onnx")));
}

// ---- Bad samples

TEST_F(DataCli, ABadLabelAtSample999StopsTheRunBeforeTheFirstStep) {
  const std::string model = make_linear(path("mlp.onnx"), {4}, 3);
  write_npy(path("data"), 1200, /*bad_label_at=*/999, /*nan_at=*/-1);
  const CliRun r =
      fails({model, path("data"), "--batch-size", "8", "--log", path("out/log.jsonl"), "-o", path("out/m.onnx")},
            {path("data/label.npy") + ", sample 999: class label 7 of field 'label' is outside [0, 3)",
             "before training", "--skip-bad-samples"});
  // Nothing trained: no step was logged, no epoch finished.
  EXPECT_LACKS(read_file(path("out/log.jsonl")), "\"step\"");
  EXPECT_LACKS(r.out, "epoch 1/1");
}

TEST_F(DataCli, SkipBadSamplesTrainsOnTheRestAndListsThemAtTheEnd) {
  const std::string model = make_linear(path("mlp.onnx"), {4}, 3);
  write_npy(path("data"), 1200, /*bad_label_at=*/999, /*nan_at=*/5);
  const CliRun r = ok({model, path("data"), "--batch-size", "8", "--skip-bad-samples", "-o", path("out/m.onnx")});
  EXPECT_HAS(r.out, "training data: 2 bad samples left out (listed at the end)");
  EXPECT_HAS(r.out, "done: 150 steps");  // 1198 samples in batches of 8
  EXPECT_HAS(r.out, "skipped 2 bad samples:\n  " + path("data/x.npy") + ", sample 5: field 'x' holds nan");
  EXPECT_HAS(r.out, "\n  " + path("data/label.npy") + ", sample 999: class label 7");
  EXPECT_TRUE(fs::exists(path("out/m.onnx")));
}

TEST_F(DataCli, SkippingCannotShortenTheBatchesOfAFixedBatchModel) {
  const std::string model = make_linear(path("mlp8.onnx"), {4}, 3, /*batch=*/8);
  write_npy(path("data"), 40, /*bad_label_at=*/7, /*nan_at=*/-1);
  fails({model, path("data"), "--skip-bad-samples", "-o", path("out/m.onnx")},
        {"the training data has 1 bad sample:\n  " + path("data/label.npy") + ", sample 7: class label 7",
         "the model takes batches of exactly 8 samples", "export the model with a dynamic batch axis"});
  EXPECT_FALSE(fs::exists(path("out/m.onnx")));
}

TEST_F(DataCli, ATruncatedPngStopsTheRunBeforeTrainingOrIsSkipped) {
  const std::string model = make_linear(path("colours.onnx"), {3, 6, 6}, 3);
  for (const std::string colour : {"red", "green", "blue"}) write_colour(path("data/train"), colour, 6, colour[0]);
  const std::string broken = path("data/train/green/img3.png");
  fs::resize_file(broken, fs::file_size(broken) / 2);
  fails({model, path("data"), "--batch-size", "4", "--log", path("out/log.jsonl"), "-o", path("out/m.onnx")},
        {broken, "before training", "--skip-bad-samples"});
  EXPECT_LACKS(read_file(path("out/log.jsonl")), "\"step\"");

  const CliRun r = ok({model, path("data"), "--batch-size", "4", "--skip-bad-samples", "-o", path("out/m.onnx")});
  EXPECT_HAS(r.out, "training data: 1 bad sample left out");
  EXPECT_HAS(r.out, "skipped 1 bad sample:\n  " + broken);
  EXPECT_HAS(r.out, "done: 5 steps");  // 17 images in batches of 4
}

// Data too large to read before the first step is checked as its batches are read: a bad sample
// then stops the run naming it, says that --skip-bad-samples leaves such samples out, and leaves
// a checkpoint from which the run resumed with --skip-bad-samples ends as a run that had it from
// the start. ONNX_TRAIN_DATA_CHECK_SECONDS=0 (a test hook, see check_budget_seconds in
// tools/onnx-train/train_data.h) makes 400 samples take the path of a data set too large to read
// first.
TEST_F(DataCli, ABadSampleMetWhileTheDataStreamsStopsTheRunSayingHowToGoOn) {
  env_.push_back("ONNX_TRAIN_DATA_CHECK_SECONDS=0");
  const std::string model = make_linear(path("mlp.onnx"), {4}, 3);
  write_npy(path("data"), 400, /*bad_label_at=*/300, /*nan_at=*/-1);
  const std::vector<std::string> run_args = {model, path("data"), "--batch-size", "8", "--lr", "0.05"};
  const CliRun stopped =
      fails(plus(run_args, {"--checkpoint-dir", path("ck"), "-o", path("out/resumed.onnx")}),
            {path("data/label.npy") + ", sample 300: class label 7 of field 'label' is outside [0, 3)",
             "found when its batch was read", "leave bad samples out with --skip-bad-samples",
             "the same command with --skip-bad-samples --resume=" + path("ck/step-")});
  EXPECT_HAS(stopped.out, "samples are checked as they are read");
  EXPECT_LACKS(stopped.err, "before training");

  const CliRun resumed = ok(plus(
      run_args, {"--checkpoint-dir", path("ck"), "--resume", "--skip-bad-samples", "-o", path("out/resumed.onnx")}));
  EXPECT_HAS(resumed.out, "resumed from " + path("ck/step-"));
  EXPECT_HAS(resumed.out, "done: 50 steps");  // 400 samples in batches of 8, one of them 7
  EXPECT_HAS(resumed.out, "skipped 1 bad sample:\n  " + path("data/label.npy") + ", sample 300: class label 7");

  const CliRun straight = ok(plus(run_args, {"--skip-bad-samples", "-o", path("out/straight.onnx")}));
  EXPECT_HAS(straight.out, "samples are checked as they are read: a bad one is left out");
  EXPECT_HAS(straight.out, "skipped 1 bad sample:\n  " + path("data/label.npy") + ", sample 300");
  EXPECT_TRUE(read_file(path("out/resumed.onnx")) == read_file(path("out/straight.onnx")))
      << "the resumed run ends with other weights than the run that left the sample out from the start";

  // A bad sample of the validation split, met at the epoch's end, is said the same way.
  write_npy(path("split/train"), 64, /*bad_label_at=*/-1, /*nan_at=*/-1);
  write_npy(path("split/val"), 32, /*bad_label_at=*/-1, /*nan_at=*/20);
  fails({model, path("split"), "--batch-size", "8", "--checkpoint-dir", path("ck2"), "-o", path("out/split.onnx")},
        {path("split/val/x.npy") + ", sample 20: field 'x' holds nan", "found when its batch was read",
         "--skip-bad-samples --resume=" + path("ck2/step-000000008.ckpt")});
  const CliRun after_val = ok({model, path("split"), "--batch-size", "8", "--checkpoint-dir", path("ck2"), "--resume",
                               "--skip-bad-samples", "-o", path("out/split.onnx")});
  EXPECT_HAS(after_val.out, "epoch 1/1: train loss");
  EXPECT_HAS(after_val.out, "skipped 1 bad sample:\n  " + path("split/val/x.npy") + ", sample 20");
}

// eval on data too large to read first says the same of a bad sample.
TEST_F(DataCli, EvalOnStreamedDataNamesABadSampleAndSkipBadSamples) {
  env_.push_back("ONNX_TRAIN_DATA_CHECK_SECONDS=0");
  const std::string model = make_linear(path("mlp.onnx"), {4}, 3);
  write_npy(path("data"), 100, /*bad_label_at=*/-1, /*nan_at=*/60);
  fails({"eval", model, path("data")},
        {path("data/x.npy") + ", sample 60: field 'x' holds nan", "found when its batch was read",
         "leave bad samples out with --skip-bad-samples"});
  const CliRun skipped = ok({"eval", model, path("data"), "--skip-bad-samples"});
  EXPECT_HAS(skipped.out, "99 samples");
}

}  // namespace
}  // namespace onnx_train::cli_test
