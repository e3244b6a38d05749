// Stopping a run and resuming it never loses or repeats a step: a run stopped by --max-steps
// inside an epoch, by Ctrl-C or by SIGKILL, then resumed from its checkpoint, ends with the
// model an uninterrupted run writes, byte for byte, with and without --accumulate; a resume
// with nothing left to do says so and exports. The real binary, as a user runs it
// (tests/cli/cli_harness.h).
#include <fmt/format.h>

#include <regex>

#include "onnx_train/training_session.h"
#include "tests/cli/cli_harness.h"

namespace onnx_train::cli_test {
namespace {

std::map<std::string, std::string> metadata(const std::string& checkpoint) {
  return TrainingSession::read_checkpoint_metadata(checkpoint);
}

// "epoch 2/2: train loss 0.1234, accuracy 97.50%; val loss ..." lines of a run's output.
std::vector<std::string> epoch_lines(const std::string& out) {
  std::vector<std::string> lines;
  for (const auto& line : lines_of(out)) {
    if (std::regex_search(line, std::regex("^epoch [0-9]+/[0-9]+: "))) lines.push_back(line);
  }
  return lines;
}

// The case: 640 samples, batches of 32 (20 a epoch), two epochs, --max-steps inside
// the second, checkpoints every 5 steps; then the same command without --max-steps and with
// --resume.
struct MaxStepsCase {
  int accumulate;
  int max_steps;
  int stop_batch;  // the batch of epoch 2 the first run stops before
  int total_steps;
};

class CliResumeAfterStop : public CliTest, public ::testing::WithParamInterface<MaxStepsCase> {};

TEST_P(CliResumeAfterStop, MidEpochStopThenResumeEqualsUninterrupted) {
  const MaxStepsCase c = GetParam();
  const std::string model = make_mlp(path("mlp.onnx"), /*bn_and_dropout=*/true);
  write_npy_data(path("data"), separable(640, 1), 64);
  const std::vector<std::string> common = {model,          path("data"), "--epochs",     "2",
                                           "--batch-size", "32",         "--seed",       "3",
                                           "--lr",         "0.01",       "--accumulate", std::to_string(c.accumulate)};
  const std::string ck = path("ck");
  const std::vector<std::string> checkpoints = {"--checkpoint-dir", ck, "--checkpoint-every", "5"};

  const CliRun first = ok(plus(plus(common, checkpoints), {"--max-steps", std::to_string(c.max_steps), "-o",
                                                           path("first.onnx"), "--log", path("first.jsonl")}));
  // The second epoch did not finish: no line, no validation, no checkpoint claims it did.
  EXPECT_HAS(first.out, "epoch 1/2: train loss");
  EXPECT_LACKS(first.out, "epoch 2/2:");
  EXPECT_HAS(first.out, fmt::format("stopped at step {} (--max-steps {}) after batch {} of 20 in epoch 2/2",
                                    c.max_steps, c.max_steps, c.stop_batch));
  EXPECT_HAS(first.out, fmt::format("done: {} steps", c.max_steps));
  EXPECT_EQ(count_of(read_file(path("first.jsonl")), "\"val_loss\""), 1) << read_file(path("first.jsonl"));
  // The run still ends with a held-out score, said as taken inside the epoch.
  EXPECT_HAS(first.out, fmt::format("validation at step {} (inside epoch 2/2): val loss", c.max_steps));
  EXPECT_HAS(first.out, "; val loss");  // in the summary
  EXPECT_EQ(count_of(read_file(path("first.jsonl")), "validation_at_stop"), 1);
  const std::string newest = ck + fmt::format("/step-{:09d}.ckpt", c.max_steps);
  ASSERT_TRUE(fs::exists(newest)) << joined(tree(ck));
  EXPECT_EQ(*tree(ck).rbegin(), fs::path(newest).filename().string()) << "a checkpoint past the stop was written";
  const auto meta = metadata(newest);
  EXPECT_EQ(meta.at("cli.epoch"), "1");
  EXPECT_EQ(meta.at("cli.batch"), std::to_string(c.stop_batch));

  // The same command without --max-steps, with --resume, finishes the run.
  const CliRun resumed =
      ok(plus(plus(common, checkpoints), {"--resume", "-o", path("resumed.onnx"), "--log", path("first.jsonl")}));
  EXPECT_HAS(resumed.out,
             fmt::format("resumed from {}: step {}, epoch 2, batch {}", newest, c.max_steps, c.stop_batch));
  EXPECT_HAS(resumed.out, "changed on resume: ");
  EXPECT_HAS(resumed.out, "--max-steps " + std::to_string(c.max_steps) + " -> (not set)");
  EXPECT_HAS(resumed.out, fmt::format("done: {} steps", c.total_steps));

  const CliRun straight = ok(plus(common, {"-o", path("straight.onnx"), "--log", path("straight.jsonl")}));
  EXPECT_HAS(straight.out, fmt::format("done: {} steps", c.total_steps));
  ASSERT_TRUE(fs::exists(path("resumed.onnx")) && fs::exists(path("straight.onnx")));
  EXPECT_TRUE(read_file(path("resumed.onnx")) == read_file(path("straight.onnx")))
      << "stopped at step " << c.max_steps << " and resumed: the model differs from an uninterrupted run's";
  // The epoch lines (over all of the epoch's batches, those before the stop included) agree.
  std::vector<std::string> both = epoch_lines(first.out);
  for (const auto& line : epoch_lines(resumed.out)) both.push_back(line);
  EXPECT_EQ(both, epoch_lines(straight.out));

  // Resuming once more: nothing is left to do; it says so and exports the same model.
  const CliRun again = ok(plus(plus(common, checkpoints), {"--resume", "-o", path("again.onnx")}));
  EXPECT_HAS(again.out, "nothing left to do");
  EXPECT_HAS(again.out, fmt::format("done: {} steps", c.total_steps));
  EXPECT_TRUE(read_file(path("again.onnx")) == read_file(path("straight.onnx")));
}

INSTANTIATE_TEST_SUITE_P(Cli, CliResumeAfterStop,
                         ::testing::Values(MaxStepsCase{1, 25, 5, 40},  // the run
                                           MaxStepsCase{2, 13, 6, 20},
                                           // 20 batches in steps of 3: the seventh step of an
                                           // epoch is a partial one, of 2 batches
                                           MaxStepsCase{3, 9, 6, 14}),
                         [](const auto& info) { return "Accumulate" + std::to_string(info.param.accumulate); });

// A run killed (SIGKILL: no chance to save anything) or interrupted (SIGINT: Ctrl-C), then
// resumed from the newest checkpoint of its folder, ends as a run that was never stopped.
struct KillCase {
  int signal;
  int accumulate;
};

class CliResumeAfterKill : public CliTest, public ::testing::WithParamInterface<KillCase> {};

TEST_P(CliResumeAfterKill, ResumeFromTheNewestCheckpointEqualsUninterrupted) {
  const KillCase c = GetParam();
  const std::string model = make_mlp(path("mlp.onnx"), /*bn_and_dropout=*/true);
  write_npy_data(path("data"), separable(2000, 4));  // 250 batches an epoch, 400 epochs: runs until stopped
  const std::vector<std::string> common = {model,          path("data"),
                                           "--batch-size", "8",
                                           "--epochs",     "400",
                                           "--seed",       "6",
                                           "--accumulate", std::to_string(c.accumulate)};
  const std::string ck = path("ck"), log = path("killed.jsonl");
  const pid_t pid =
      start(plus(common, {"--checkpoint-dir", ck, "--checkpoint-every", "7", "--log", log, "-o", path("killed.onnx")}));
  // Two periodic checkpoints written, then the signal.
  ASSERT_TRUE(wait_until([&] { return count_of(read_file(log), "\"checkpoint\"") >= 2; })) << out_of(pid);
  kill(pid, c.signal);
  const CliRun killed = finish(pid);
  if (c.signal == SIGKILL) {
    EXPECT_EQ(killed.code, 1000 + SIGKILL) << killed.show();
  } else {
    EXPECT_EQ(killed.code, 130) << killed.show();
    EXPECT_HAS(killed.out, "interrupted: saved " + ck + "/step-");
  }
  EXPECT_FALSE(fs::exists(path("killed.onnx")));

  std::vector<fs::path> saved;
  for (const auto& name : tree(ck))
    if (name.rfind("step-", 0) == 0 && fs::path(name).extension() == ".ckpt") saved.push_back(name);
  ASSERT_FALSE(saved.empty()) << joined(tree(ck));
  const std::string newest = ck + "/" + saved.back().string();
  const int64_t step = std::stoll(metadata(newest).at("step"));
  const std::string target = std::to_string(step + 6);

  // The killed run's lock file is left behind; it does not block the resumed run.
  const CliRun resumed =
      ok(plus(common, {"--checkpoint-dir", ck, "--resume", "--max-steps", target, "-o", path("resumed.onnx")}));
  EXPECT_HAS(resumed.out, fmt::format("resumed from {}: step {}", newest, step));
  EXPECT_HAS(resumed.out, "done: " + target + " steps");
  ok(plus(common, {"--max-steps", target, "-o", path("straight.onnx")}));
  ASSERT_TRUE(fs::exists(path("resumed.onnx")) && fs::exists(path("straight.onnx")));
  EXPECT_TRUE(read_file(path("resumed.onnx")) == read_file(path("straight.onnx")))
      << "stopped at step " << step << " by signal " << c.signal << " and resumed to step " << target
      << ": the model differs from a run straight to step " << target;
}

INSTANTIATE_TEST_SUITE_P(Cli, CliResumeAfterKill,
                         ::testing::Values(KillCase{SIGKILL, 1}, KillCase{SIGKILL, 2}, KillCase{SIGINT, 1},
                                           KillCase{SIGINT, 2}),
                         [](const auto& info) {
                           return std::string(info.param.signal == SIGKILL ? "Sigkill" : "CtrlC") + "Accumulate" +
                                  std::to_string(info.param.accumulate);
                         });

// The run's last epoch checkpoint, resumed with the same --epochs: nothing is left; the run
// says so, trains nothing and exports the checkpoint's weights (exit 0, so scripts that always
// pass --resume keep working).
class CliResumeNothingLeft : public CliTest {};

TEST_F(CliResumeNothingLeft, SaysSoAndExports) {
  const std::string model = make_mlp(path("mlp.onnx"), false);
  write_npy_data(path("data"), separable(48, 2), 16);
  const std::vector<std::string> common = {model, path("data"), "--batch-size", "8", "--checkpoint-dir", path("ck")};
  ok(plus(common, {"-o", path("a.onnx")}));
  const CliRun again = ok(plus(common, {"--resume", "-o", path("b.onnx")}));
  EXPECT_HAS(again.out, "nothing left to do: " + path("ck/step-000000006.ckpt") + " is at step 6");
  EXPECT_LACKS(again.out, "epoch 1/1");
  EXPECT_HAS(again.out, "done: 6 steps");
  EXPECT_TRUE(read_file(path("a.onnx")) == read_file(path("b.onnx")));
}

}  // namespace
}  // namespace onnx_train::cli_test
