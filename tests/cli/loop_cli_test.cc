// The training loop as a user drives it from the command line: --max-steps sets the run's
// length (epochs as needed, as in Hugging Face's Trainer), every optimizer step is one line of
// the --log (the step finishing an epoch's partial accumulation too), --eval-every validates
// inside epochs, --early-stopping ends a run that stopped improving (and stays ended on
// resume), --save-best keeps the best model and checkpoint; the epoch lines of a run resumed
// from a mid-epoch checkpoint are those of an uninterrupted run. The real binary, as a user
// runs it (tests/cli/cli_harness.h), on the tiny MLP and separable data.
#include <fmt/format.h>

#include <regex>

#include "onnx_train/training_session.h"
#include "tests/cli/cli_harness.h"

namespace onnx_train::cli_test {
namespace {

// The lines of `out` that match `pattern`, in order.
std::vector<std::string> lines_matching(const std::string& out, const std::string& pattern) {
  std::vector<std::string> lines;
  const std::regex re(pattern);
  for (const auto& line : lines_of(out))
    if (std::regex_search(line, re)) lines.push_back(line);
  return lines;
}

std::vector<std::string> epoch_lines(const std::string& out) { return lines_matching(out, "^epoch [0-9]+/[0-9]+: "); }

// The steps of the --log's optimizer step lines ({"step": s, ..., "loss": ...}), in order.
std::vector<int64_t> logged_steps(const std::string& log) {
  std::vector<int64_t> steps;
  const std::regex step("\"step\": *\"?([0-9]+)");
  for (const auto& line : lines_of(log)) {
    std::smatch m;
    if (line.find("\"loss\"") == std::string::npos || line.find("\"event\"") != std::string::npos) continue;
    if (std::regex_search(line, m, step)) steps.push_back(std::stoll(m[1].str()));
  }
  return steps;
}

// The steps of the --log's validation lines ({"step": s, "epoch": e, "val_loss": ...}), in order.
std::vector<int64_t> validated_steps(const std::string& log) {
  std::vector<int64_t> steps;
  const std::regex step("\"step\": *\"?([0-9]+)");
  for (const auto& line : lines_of(log)) {
    std::smatch m;
    if (line.find("\"val_loss\"") != std::string::npos && std::regex_search(line, m, step))
      steps.push_back(std::stoll(m[1].str()));
  }
  return steps;
}

std::vector<int64_t> one_to(int64_t n) {
  std::vector<int64_t> all;
  for (int64_t i = 1; i <= n; ++i) all.push_back(i);
  return all;
}

class CliLoop : public CliTest {
 protected:
  // 48 training samples in batches of 8: 6 batches an epoch; 32 validation samples.
  std::vector<std::string> mlp_run(bool val = true) {
    const std::string model = make_mlp(path("mlp.onnx"), /*bn_and_dropout=*/false);
    write_npy_data(path("data"), separable(48, 1), val ? 32 : 0);
    return {model, path("data"), "--batch-size", "8", "--seed", "5", "--lr", "0.01"};
  }
};

// `--max-steps 20` with the default --epochs 1 trains 20 steps over the 4 epochs they take
// (6 steps each, the fourth in part); with --epochs given too, it says --max-steps decides.
TEST_F(CliLoop, MaxStepsSetsTheRunsLengthOverAsManyEpochsAsItTakes) {
  const auto common = mlp_run();
  const CliRun r = ok(plus(common, {"--max-steps", "20", "-o", path("a.onnx"), "--log", path("a.jsonl")}));
  EXPECT_HAS(r.out, "done: 20 steps");
  EXPECT_EQ(epoch_lines(r.out).size(), 3u) << r.out;
  EXPECT_HAS(r.out, "epoch 3/4: train loss");
  EXPECT_HAS(r.out, "stopped at step 20 (--max-steps 20) after batch 2 of 6 in epoch 4/4");
  EXPECT_LACKS(r.out, "is not used");
  EXPECT_EQ(logged_steps(read_file(path("a.jsonl"))), one_to(20));

  // Whole epochs: no stop inside one; an explicit --epochs is said to be overridden.
  const CliRun e = ok(plus(common, {"--max-steps", "12", "--epochs", "5", "-o", path("b.onnx")}));
  EXPECT_HAS(e.out, "note: --max-steps 12 sets the run's length: 2 epochs of 6 steps; --epochs 5 is not used");
  EXPECT_EQ(epoch_lines(e.out).size(), 2u) << e.out;
  EXPECT_HAS(e.out, "epoch 2/2: train loss");
  EXPECT_LACKS(e.out, "stopped at step");
  EXPECT_HAS(e.out, "done: 12 steps");
}

// --accumulate 2 over 5 batches an epoch: steps of batches 1-2, 3-4 and 5 alone, the last one
// stepped at the epoch's end. Each is one line of the log, 1..6 over two epochs, once each.
TEST_F(CliLoop, EveryOptimizerStepIsLoggedOnceWithAPartialAccumulation) {
  const std::string model = make_mlp(path("mlp.onnx"), false);
  write_npy_data(path("data"), separable(40, 1));
  const CliRun r = ok({model, path("data"), "--batch-size", "8", "--accumulate", "2", "--epochs", "2", "--log",
                       path("a.jsonl"), "-o", path("a.onnx")});
  EXPECT_HAS(r.out, "done: 6 steps");
  EXPECT_EQ(logged_steps(read_file(path("a.jsonl"))), one_to(6)) << read_file(path("a.jsonl"));
}

// --eval-every 4 with 6 steps an epoch over 3 epochs: validations at steps 4, 8, 12 (the
// second epoch's end: once, not twice), 16 and at the ends of epochs 1 and 3 (6, 18); each
// one logged, and those inside an epoch said on a line of their own.
TEST_F(CliLoop, EvalEveryValidatesInsideEpochsAsWellAsAtTheirEnds) {
  const auto common = mlp_run();
  const CliRun r =
      ok(plus(common, {"--epochs", "3", "--eval-every", "4", "-o", path("a.onnx"), "--log", path("a.jsonl")}));
  const std::string log = read_file(path("a.jsonl"));
  EXPECT_EQ(validated_steps(log), (std::vector<int64_t>{4, 6, 8, 12, 16, 18})) << log;
  EXPECT_EQ(lines_matching(r.out, "^validation at step").size(), 3u) << r.out;
  EXPECT_HAS(r.out, "validation at step 4 (epoch 1/3): val loss ");
  EXPECT_HAS(r.out, "validation at step 16 (epoch 3/3): val loss ");
  EXPECT_LACKS(r.out, "validation at step 12");
  EXPECT_EQ(epoch_lines(r.out).size(), 3u);
  EXPECT_EQ(logged_steps(log), one_to(18));
}

// What watches the validation split needs one: the message names --val-split.
TEST_F(CliLoop, ValidationWatchersWithoutAValidationSplitSayHowToGetOne) {
  const auto common = mlp_run(/*val=*/false);
  for (const std::vector<std::string>& flag :
       {std::vector<std::string>{"--early-stopping", "2"}, {"--save-best", "val_loss"}, {"--eval-every", "3"}})
    fails(plus(common, plus(flag, {"-o", path("a.onnx")})), {flag[0] + " needs a validation split", "--val-split"});
  fails(plus(common, {"--save-best", "val_f1"}), {"--save-best takes val_loss or val_accuracy, got 'val_f1'"});
  EXPECT_FALSE(fs::exists(path("a.onnx")));
  // With --val-split, it runs.
  ok(plus(common, {"--val-split", "0.25", "--early-stopping", "2", "-o", path("a.onnx")}));
}

// A --early-stopping-min-delta no step can beat: every validation after the first counts as no
// improvement, so PATIENCE 2 ends the run at the third validation, exported, exit 0.
TEST_F(CliLoop, EarlyStoppingEndsTheRunAndSaysWhy) {
  const auto common = mlp_run();
  // At epoch ends: the run stops after epoch 3 of 10, with the epoch's checkpoint.
  const CliRun r = ok(plus(common, {"--epochs", "10", "--early-stopping", "2", "--early-stopping-min-delta", "100",
                                    "--checkpoint-dir", path("ck"), "-o", path("a.onnx"), "--log", path("a.jsonl")}));
  EXPECT_EQ(epoch_lines(r.out).size(), 3u) << r.out;
  EXPECT_HAS(r.out, "early stopping: val loss has not improved by more than 100 for 2 validations (best ");
  EXPECT_HAS(r.out, " at step 6); saved " + path("ck/step-000000018.ckpt"));
  EXPECT_HAS(r.out, "done: 18 steps");
  EXPECT_TRUE(fs::exists(path("a.onnx")));
  EXPECT_HAS(read_file(path("a.jsonl")), "\"early_stopping\"");

  // Every --eval-every 1 steps, watching the accuracy: it stops inside the first epoch.
  const CliRun s =
      ok(plus(common, {"--epochs", "10", "--eval-every", "1", "--early-stopping", "2", "--early-stopping-metric",
                       "val_accuracy", "--early-stopping-min-delta", "2", "-o", path("b.onnx")}));
  EXPECT_HAS(s.out, "early stopping: val accuracy has not improved by more than 2 for 2 validations (best ");
  EXPECT_HAS(s.out, "% at step 1)");
  EXPECT_HAS(s.out, "done: 3 steps");
  EXPECT_LACKS(s.out, "stopped at step");
  EXPECT_TRUE(fs::exists(path("b.onnx")));
}

// A run stopped by --max-steps before early stopping would end it, then resumed: it stops at
// the step an uninterrupted run stops at, with the same weights; resumed once more, nothing is
// left to do.
TEST_F(CliLoop, EarlyStoppingSurvivesResume) {
  const auto common = plus(
      mlp_run(), {"--epochs", "10", "--eval-every", "2", "--early-stopping", "3", "--early-stopping-min-delta", "100"});
  // Validations at 2 (the best), 4, 6 (epoch end), 8: the third without improvement stops.
  const CliRun straight = ok(plus(common, {"-o", path("straight.onnx")}));
  EXPECT_HAS(straight.out, "early stopping: val loss has not improved by more than 100 for 3 validations");
  EXPECT_HAS(straight.out, "done: 8 steps");

  const std::vector<std::string> ck = {"--checkpoint-dir", path("ck")};
  const CliRun first = ok(plus(plus(common, ck), {"--max-steps", "5", "-o", path("first.onnx")}));
  EXPECT_HAS(first.out, "done: 5 steps");
  const CliRun resumed = ok(plus(plus(common, ck), {"--resume", "-o", path("resumed.onnx")}));
  EXPECT_HAS(resumed.out, "resumed from " + path("ck/step-000000005.ckpt"));
  EXPECT_HAS(resumed.out, "early stopping: val loss has not improved by more than 100 for 3 validations");
  EXPECT_HAS(resumed.out, "done: 8 steps");
  EXPECT_TRUE(read_file(path("resumed.onnx")) == read_file(path("straight.onnx")));

  const CliRun again = ok(plus(plus(common, ck), {"--resume", "-o", path("again.onnx")}));
  EXPECT_HAS(again.out, "nothing left to do: the run of " + path("ck/step-000000008.ckpt") +
                            " ended by --early-stopping at step 8");
  EXPECT_HAS(again.out, "done: 8 steps");
}

// --save-best val_accuracy: written whenever the accuracy rises, a model and a checkpoint that
// --keep-checkpoints never removes; the best is remembered across a resume.
TEST_F(CliLoop, SaveBestKeepsTheBestModelAndCheckpoint) {
  const auto common = plus(mlp_run(), {"--epochs", "3", "--eval-every", "1", "--save-best", "val_accuracy"});
  const std::vector<std::string> ck = {"--checkpoint-dir", path("ck"), "--keep-checkpoints", "1"};
  const CliRun r = ok(plus(plus(common, ck), {"-o", path("out/a.onnx")}));
  const auto best_lines = lines_matching(r.out, "^new best val accuracy ");
  ASSERT_FALSE(best_lines.empty()) << r.out;
  EXPECT_HAS(best_lines.back(), ": wrote " + path("out/a.best.onnx") + ", " + path("ck/best.ckpt"));
  ASSERT_TRUE(fs::exists(path("out/a.best.onnx")) && fs::exists(path("ck/best.ckpt"))) << joined(tree(path(".")));
  EXPECT_EQ(joined(tree(path("ck"))), "best.ckpt, step-000000018.ckpt");

  // The newest best line names the step of best.ckpt, whose export is the best model.
  std::smatch m;
  ASSERT_TRUE(std::regex_search(best_lines.back(), m, std::regex("at step ([0-9]+):")));
  const auto meta = TrainingSession::read_checkpoint_metadata(path("ck/best.ckpt"));
  EXPECT_EQ(meta.at("step"), m[1].str());
  ok({"export", path("ck/best.ckpt"), "-o", path("from_best.onnx")});
  EXPECT_TRUE(read_file(path("from_best.onnx")) == read_file(path("out/a.best.onnx")));
  // The export at the end keeps the last weights.
  EXPECT_NE(m[1].str(), "18");
  EXPECT_FALSE(read_file(path("out/a.onnx")) == read_file(path("out/a.best.onnx")));

  // Stopped and resumed: the new-best lines of both runs are those of the uninterrupted one.
  const std::vector<std::string> ck2 = {"--checkpoint-dir", path("ck2")};
  const CliRun first = ok(plus(plus(common, ck2), {"--max-steps", "8", "-o", path("b.onnx")}));
  const CliRun resumed = ok(plus(plus(common, ck2), {"--resume", "-o", path("b.onnx")}));
  auto both = lines_matching(first.out, "^new best ");
  for (const auto& line : lines_matching(resumed.out, "^new best ")) both.push_back(line);
  auto bare = [&](std::vector<std::string> lines) {
    for (auto& line : lines) line = line.substr(0, line.find(": wrote"));
    return lines;
  };
  EXPECT_EQ(bare(both), bare(best_lines));
}

// The epoch lines (train loss and accuracy over all of an epoch's batches) of runs resumed
// from mid-epoch periodic checkpoints are those of the uninterrupted run, with --accumulate too.
TEST_F(CliLoop, EpochStatisticsOfAResumedRunAreThoseOfAnUninterruptedOne) {
  const std::string model = make_mlp(path("mlp.onnx"), /*bn_and_dropout=*/true);
  write_npy_data(path("data"), separable(72, 2), 24);
  for (const std::string accumulate : {"1", "2"}) {
    const std::string ck = path("ck" + accumulate);
    const std::vector<std::string> common = {model,      path("data"), "--batch-size", "8",       "--seed", "4",
                                             "--epochs", "2",          "--accumulate", accumulate};
    const CliRun straight = ok(plus(common, {"--checkpoint-dir", ck, "--checkpoint-every", "3", "--keep-checkpoints",
                                             "100", "-o", path("straight.onnx")}));
    ASSERT_EQ(epoch_lines(straight.out).size(), 2u) << straight.out;
    for (const std::string step : {"3", "6"}) {
      const std::string checkpoint = ck + "/step-00000000" + step + ".ckpt";
      ASSERT_TRUE(fs::exists(checkpoint)) << joined(tree(ck));
      const CliRun resumed = ok(plus(common, {"--resume=" + checkpoint, "-o", path("resumed.onnx")}));
      // The resumed run's lines are the uninterrupted run's last ones, the resumed epoch's first.
      const auto lines = epoch_lines(resumed.out), all = epoch_lines(straight.out);
      ASSERT_FALSE(lines.empty()) << resumed.out;
      ASSERT_LE(lines.size(), all.size());
      EXPECT_EQ(lines, std::vector<std::string>(all.end() - lines.size(), all.end())) << "resumed from " << checkpoint;
      EXPECT_TRUE(read_file(path("resumed.onnx")) == read_file(path("straight.onnx")));
    }
  }
}

}  // namespace
}  // namespace onnx_train::cli_test
