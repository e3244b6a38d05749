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

// step -> loss of the --log file's step lines (a resumed run appends its lines to its own log).
std::map<int64_t, double> step_losses(const std::string& log) {
  std::map<int64_t, double> losses;
  static const std::regex step_line("\"step\": ([0-9]+), \"epoch\": [0-9]+, \"loss\": ([^,}]+)");
  for (const auto& line : lines_of(log)) {
    std::smatch m;
    if (std::regex_search(line, m, step_line)) losses[std::stoll(m[1])] = std::stod(m[2]);
  }
  return losses;
}

// --batch-size may change on resume: the epoch goes on from the sample the checkpoint stopped
// at, in its same shuffled order, in batches of the new size. With a learning rate too small to
// move a float32 weight, every batch's loss is the mean of its samples' losses under the same
// weights, so a batch of 16 must have the mean loss of the two batches of 8 an unchanged run
// takes over the same samples: that pins which samples each batch held.
class CliResumeNewBatchSize : public CliTest {};

TEST_F(CliResumeNewBatchSize, TheEpochGoesOnFromTheSameSampleInTheNewBatches) {
  const std::string model = make_mlp(path("mlp.onnx"), false);
  write_npy_data(path("data"), separable(96, 1));
  const std::vector<std::string> common = {model,    path("data"), "--epochs",           "2",
                                           "--seed", "4",          "--optimizer",        "sgd",
                                           "--lr",   "1e-30",      "--keep-checkpoints", "20"};
  // Uninterrupted, in batches of 8: 12 an epoch, step k trains batch (k - 1) % 12.
  ok(plus(common, {"--batch-size", "8", "--log", path("straight.jsonl"), "-o", path("straight.onnx")}));
  const std::map<int64_t, double> by_8 = step_losses(read_file(path("straight.jsonl")));
  ASSERT_EQ(by_8.size(), 24u);

  // Stopped after 5 batches of 8 (40 samples), resumed in batches of 16: the 56 samples left of
  // epoch 1 make batches of 16, 16, 16 and 8 (steps 6 to 9), then epoch 2 makes 6 (10 to 15).
  const std::vector<std::string> outputs = {"--checkpoint-dir",    path("ck"), "--checkpoint-every", "2", "--log",
                                            path("resumed.jsonl"), "-o",       path("resumed.onnx")};
  ok(plus(plus(common, outputs), {"--batch-size", "8", "--max-steps", "5"}));
  EXPECT_EQ(metadata(path("ck/step-000000005.ckpt")).at("cli.epoch_sample"), "40");
  const CliRun resumed = ok(plus(plus(common, outputs), {"--batch-size", "16", "--resume"}));
  const std::string said =
      "changed on resume: --batch-size 8 -> 16, --max-steps 5 -> (not set); continuing epoch 1 at sample 40 "
      "(batch 2 of 6)";
  EXPECT_HAS(resumed.out, said);
  EXPECT_HAS(resumed.out, "done: 15 steps");
  EXPECT_HAS(read_file(path("resumed.jsonl")), "continuing epoch 1 at sample 40 (batch 2 of 6)");
  const std::map<int64_t, double> by_16 = step_losses(read_file(path("resumed.jsonl")));
  ASSERT_EQ(by_16.size(), 15u);
  for (int64_t step = 1; step <= 5; ++step) EXPECT_EQ(by_16.at(step), by_8.at(step)) << "step " << step;
  // Steps 6..8: samples 40-55, 56-71, 72-87 (batches of 8 number 5..10, steps 6..11); step 9:
  // the last 8 (step 12). Epoch 2 pairs its batches of 8 from its start.
  const std::vector<std::pair<int64_t, std::vector<int64_t>>> same_samples = {
      {6, {6, 7}},    {7, {8, 9}},    {8, {10, 11}},  {9, {12}},      {10, {13, 14}},
      {11, {15, 16}}, {12, {17, 18}}, {13, {19, 20}}, {14, {21, 22}}, {15, {23, 24}}};
  for (const auto& [step, steps_of_8] : same_samples) {
    double mean = 0;
    for (int64_t s : steps_of_8) mean += by_8.at(s) / static_cast<double>(steps_of_8.size());
    EXPECT_NEAR(by_16.at(step), mean, 1e-5 * std::abs(mean)) << "step " << step << " of the resumed run";
  }

  // Its checkpoints keep the position in samples and what changed: step 6 stopped at sample
  // 56, batch 3 of the epoch's 6 of 16.
  const auto meta = metadata(path("ck/step-000000006.ckpt"));
  EXPECT_EQ(meta.at("cli.epoch"), "0");
  EXPECT_EQ(meta.at("cli.batch"), "3");
  EXPECT_EQ(meta.at("cli.epoch_sample"), "56");
  EXPECT_HAS(meta.at("cli.changes"), "step 5: " + said.substr(std::string("changed on resume: ").size()));
  EXPECT_HAS(metadata(path("ck/step-000000015.ckpt")).at("cli.changes"), "step 5: --batch-size 8 -> 16");

  // Back to batches of 8 from there: the 40 samples left of epoch 1 are the unchanged run's
  // last five batches (steps 7 to 11), then epoch 2's twelve.
  const CliRun back = ok(plus(common, {"--batch-size", "8", "--resume=" + path("ck/step-000000006.ckpt"), "--log",
                                       path("back.jsonl"), "-o", path("back.onnx")}));
  EXPECT_HAS(back.out, "--batch-size 16 -> 8");
  EXPECT_HAS(back.out, "continuing epoch 1 at sample 56 (batch 7 of 12)");
  EXPECT_HAS(back.out, "done: 23 steps");
  const std::map<int64_t, double> back_losses = step_losses(read_file(path("back.jsonl")));
  for (int64_t step = 7; step <= 23; ++step)
    EXPECT_NEAR(back_losses.at(step), by_8.at(step + 1), 1e-6 * std::abs(by_8.at(step + 1))) << "step " << step;
}

// The options that steer how a run goes on may all change on one resume: its length (--epochs,
// --max-steps) and its rates (--lr, --schedule) from the resumed step on.
TEST_F(CliResumeNewBatchSize, EpochsMaxStepsLrAndScheduleChangeOnResume) {
  const std::string model = make_mlp(path("mlp.onnx"), false);
  write_npy_data(path("data"), separable(64, 2));
  const std::vector<std::string> common = {model,      path("data"), "--batch-size",    "8",  "--checkpoint-dir",
                                           path("ck"), "--log",      path("log.jsonl"), "-o", path("out.onnx")};
  ok(plus(common, {"--max-steps", "3", "--lr", "0.01"}));
  const CliRun r = ok(plus(common, {"--resume", "--epochs", "3", "--max-steps", "20", "--lr", "0.05", "--schedule",
                                    "linear:start_factor=1,end_factor=0.2"}));
  EXPECT_HAS(r.out,
             "changed on resume: --epochs (not set) -> 3, --lr 0.01 -> 0.05, --max-steps 3 -> 20, --schedule (not "
             "set) -> linear:start_factor=1,end_factor=0.2");
  EXPECT_HAS(r.out, "done: 20 steps");
  std::map<int64_t, double> rates;
  static const std::regex step_line("\"step\": ([0-9]+), \"epoch\": [0-9]+, \"loss\": [^,]+, \"lr\": ([^,}]+)");
  for (const auto& line : lines_of(read_file(path("log.jsonl")))) {
    std::smatch m;
    if (std::regex_search(line, m, step_line)) rates[std::stoll(m[1])] = std::stod(m[2]);
  }
  ASSERT_EQ(rates.size(), 20u);
  for (int64_t step = 1; step <= 3; ++step) EXPECT_EQ(rates.at(step), 0.01);
  // The linear schedule over the run's 20 steps, from 0.05 down towards 0.2 * 0.05.
  EXPECT_LE(rates.at(4), 0.05);
  EXPECT_GT(rates.at(4), rates.at(20));
  EXPECT_GE(rates.at(20), 0.01 - 1e-12);
  for (int64_t step = 5; step <= 20; ++step) EXPECT_LT(rates.at(step), rates.at(step - 1)) << "step " << step;
}

// With --accumulate the optimizer steps every N batches of the new size, the resumed epoch's
// last partial accumulation included, and a checkpoint at an epoch's end goes on with the next
// epoch in the new batches: the run ends at the step its remaining batches make.
TEST_F(CliResumeNewBatchSize, AccumulationAndEpochEndCheckpointsCountTheNewBatches) {
  const std::string model = make_mlp(path("mlp.onnx"), false);
  write_npy_data(path("data"), separable(96, 3));
  const std::vector<std::string> common = {
      model, path("data"), "--accumulate",  "2", "--checkpoint-dir", path("ck"), "--epochs",
      "2",   "-o",         path("out.onnx")};
  // 12 batches of 8 an epoch make 6 steps; stopped after step 1 (16 samples).
  ok(plus(common, {"--batch-size", "8", "--max-steps", "1"}));
  // The 80 samples left make batches of 24, 24, 24 and 8: steps 2 and 3 (the second of two
  // batches); epoch 2's four batches of 24 make steps 4 and 5.
  const CliRun r = ok(plus(common, {"--batch-size", "24", "--resume"}));
  EXPECT_HAS(r.out, "continuing epoch 1 at sample 16 (batch 0 of 4)");
  EXPECT_HAS(r.out, "done: 5 steps");
  const auto epoch_end = metadata(path("ck/step-000000003.ckpt"));
  EXPECT_EQ(epoch_end.at("cli.epoch"), "1");
  EXPECT_EQ(epoch_end.at("cli.batch"), "0");
  EXPECT_EQ(epoch_end.at("cli.epoch_sample"), "0");

  // From the end of epoch 2 (step 5), --epochs 3 adds an epoch of 12 batches of 8: 6 steps, 6 to 11.
  const CliRun more = ok(plus(common, {"--batch-size", "8", "--epochs", "3", "--resume"}));
  EXPECT_HAS(more.out, "continuing epoch 3 at sample 0 (batch 0 of 12)");
  EXPECT_HAS(more.out, "done: 11 steps");
}

}  // namespace
}  // namespace onnx_train::cli_test
