// What a training run owns on disk and the advice it gives: the checkpoint folder is locked
// (a second run fails at once naming the first; a dead run's lock does not block), outputs are
// checked before the first step, checkpoints name their model and data by absolute path and
// content hash, their size does not grow with the run, a damaged newest checkpoint is passed
// over, --resume on an empty folder starts a new run, options that are safe to change on
// resume may change (and are recorded), a non-finite loss caused by the data names the
// samples, a failed final export says how to recover the model, and an error never lands on
// the progress bar's line. The real binary, as a user runs it (tests/cli/cli_harness.h).
#include <fmt/format.h>
#include <stdlib.h>

#include <iostream>
#include <regex>

#include "onnx_train/training_session.h"
#include "tests/cli/cli_harness.h"

namespace onnx_train::cli_test {
namespace {

class CliRunFolder : public CliTest {
 public:
  void SetUp() override {
    CliTest::SetUp();
    model_ = make_mlp(path("mlp.onnx"), false);
  }
  std::string model_;
};

// ---- Two runs, one folder

TEST_F(CliRunFolder, ASecondRunOnTheSameCheckpointFolderFailsAtOnceNamingTheFirst) {
  write_npy_data(path("data"), separable(2000, 1));
  const std::vector<std::string> common = {model_,
                                           path("data"),
                                           "--batch-size",
                                           "8",
                                           "--epochs",
                                           "400",
                                           "--checkpoint-dir",
                                           path("ck"),
                                           "--checkpoint-every",
                                           "50"};
  const pid_t first = start(plus(common, {"--log", path("first.jsonl"), "-o", path("first.onnx")}));
  ASSERT_TRUE(wait_until([&] { return read_file(path("first.jsonl")).find("\"loss\"") != std::string::npos; }))
      << out_of(first);

  const auto begin = std::chrono::steady_clock::now();
  fails(plus(common, {"-o", path("second.onnx")}),
        {"--checkpoint-dir " + path("ck"), "another run (process " + std::to_string(first) + ")",
         "its own --checkpoint-dir"});
  EXPECT_LT(std::chrono::duration<double>(std::chrono::steady_clock::now() - begin).count(), 10.0)
      << "the second run should fail before it loads anything";
  // Also with --resume: it must not read (or rotate) the folder the first run is writing.
  fails(plus(common, {"--resume", "-o", path("second.onnx")}), {"another run (process " + std::to_string(first)});
  EXPECT_FALSE(fs::exists(path("second.onnx")));

  kill(first, SIGINT);
  const CliRun a = finish(first);
  EXPECT_EQ(a.code, 130) << a.show();
  // A clean end removes the lock file; a killed run's is stale and does not block (below).
  EXPECT_FALSE(fs::exists(path("ck/.onnx-train.lock"))) << joined(tree(path("ck")));
}

TEST_F(CliRunFolder, ALockLeftByADeadProcessDoesNotBlock) {
  write_npy_data(path("data"), separable(16, 1));
  // A lock file as a killed run leaves it: its process is gone, so no flock is held on it.
  write_file(path("ck/.onnx-train.lock"), "999999999\n");
  const CliRun r =
      ok({model_, path("data"), "--batch-size", "8", "--checkpoint-dir", path("ck"), "-o", path("a.onnx")});
  EXPECT_TRUE(fs::exists(path("ck/step-000000002.ckpt"))) << joined(tree(path("ck")));
}

// ---- Outputs checked before the first step

TEST_F(CliRunFolder, EveryOutputIsCheckedBeforeTraining) {
  write_npy_data(path("data"), separable(64, 1), 16);
  fs::create_directories(path("a_folder"));
  const std::vector<std::string> common = {model_, path("data"), "--batch-size", "8", "--epochs", "2"};
  struct Case {
    std::vector<std::string> args;
    std::vector<std::string> says;
  };
  const std::vector<Case> cases = {
      {{"-o", "/proc/x.onnx"}, {"--export /proc/x.onnx", "cannot write files in the folder /proc"}},
      {{"-o", path("a_folder")}, {"--export " + path("a_folder"), "is a folder"}},
      {{"-o", path("a.onnx"), "--plot", "/proc/p.svg"}, {"--plot /proc/p.svg"}},
      {{"-o", path("a.onnx"), "--log", "/proc/log.jsonl"}, {"--log /proc/log.jsonl"}},
      {{"-o", path("a.onnx"), "--export-training", "/proc/t.onnx"}, {"--export-training /proc/t.onnx"}},
      {{"-o", path("a.onnx"), "--plot", path("a_folder")}, {"--plot " + path("a_folder"), "is a folder"}},
      {{"-o", path("a.onnx"), "--checkpoint-dir", "/proc/ck"}, {"--checkpoint-dir /proc/ck"}},
  };
  for (const Case& c : cases) {
    const CliRun r = fails(plus(common, c.args), c.says);
    EXPECT_LACKS(r.out, "epoch 1/2") << "refused after training, not before it";
    EXPECT_LACKS(r.err, ".partial");
    EXPECT_FALSE(fs::exists(path("a.onnx")));
  }
  // Missing folders are made, and removed again when the run is refused for another reason.
  fails({model_, path("no_data"), "-o", path("new/deeper/a.onnx")}, {path("no_data")});
  EXPECT_FALSE(fs::exists(path("new"))) << "a refused run left the folder it made";
  ok(plus(common,
          {"-o", path("new/deeper/a.onnx"), "--plot", path("plots/p.svg"), "--checkpoint-dir", path("runs/ck")}));
  EXPECT_TRUE(fs::exists(path("new/deeper/a.onnx")));
  EXPECT_TRUE(fs::exists(path("plots/p.svg")));
}

TEST_F(CliRunFolder, GraphAndExportMakeTheOutputFolder) {
  write_npy_data(path("data"), separable(16, 1));
  const CliRun g = ok({"graph", model_, "-o", path("graphs/new/train.onnx")});
  EXPECT_TRUE(fs::exists(path("graphs/new/train.onnx"))) << g.show();
  ok({model_, path("data"), "--batch-size", "8", "--checkpoint-dir", path("ck"), "-o", path("a.onnx")});
  const CliRun e = ok({"export", path("ck/step-000000002.ckpt"), "-o", path("exports/new/a.onnx")});
  EXPECT_TRUE(read_file(path("exports/new/a.onnx")) == read_file(path("a.onnx"))) << e.show();
  const CliRun bad = fails({"export", path("ck/step-000000002.ckpt"), "-o", "/proc/a.onnx"}, {"/proc"});
  EXPECT_LACKS(bad.err, ".partial");
}

// ---- What a checkpoint names

TEST_F(CliRunFolder, CheckpointsNameTheirFilesWhereverTheRunStarted) {
  // The run starts in the work folder with relative paths...
  fs::copy_file(model_, work_ + "/mlp.onnx");
  write_npy_data(work_ + "/data", separable(48, 1));
  const std::vector<std::string> relative = {"mlp.onnx",         "data", "--batch-size",       "8", "--epochs", "2",
                                             "--checkpoint-dir", "ck",   "--checkpoint-every", "4"};
  ok(plus(relative, {"--max-steps", "4", "-o", "first.onnx"}));
  const std::string checkpoint = work_ + "/ck/step-000000004.ckpt";
  ASSERT_TRUE(fs::exists(checkpoint)) << joined(tree(work_ + "/ck"));
  // ...`export` from another folder finds the model...
  fs::create_directories(path("elsewhere"));
  SpawnOptions elsewhere;
  elsewhere.cwd = path("elsewhere");
  const CliRun e = run({"export", checkpoint, "-o", "from_elsewhere.onnx"}, elsewhere);
  EXPECT_EQ(e.code, 0) << e.show();
  EXPECT_TRUE(read_file(path("elsewhere/from_elsewhere.onnx")) == read_file(work_ + "/first.onnx"));
  // ...and --resume accepts the same files spelled as absolute paths, from another folder.
  const std::vector<std::string> absolute = {
      work_ + "/mlp.onnx", work_ + "/data", "--batch-size",       "8", "--epochs", "2",
      "--checkpoint-dir",  work_ + "/ck",   "--checkpoint-every", "4"};
  SpawnOptions in_elsewhere;
  in_elsewhere.cwd = path("elsewhere");
  const CliRun resumed = run(plus(absolute, {"--resume", "-o", path("resumed.onnx")}), in_elsewhere);
  EXPECT_EQ(resumed.code, 0) << resumed.show();
  EXPECT_HAS(resumed.out, "resumed from " + checkpoint + ": step 4");
  ok(plus(absolute, {"-o", path("straight.onnx"), "--checkpoint-dir", path("ck2")}));
  EXPECT_TRUE(read_file(path("resumed.onnx")) == read_file(path("straight.onnx")));

  // The model file at the same path, but with other content (the same parameters, so only
  // its hash tells), is refused by --resume and export.
  const std::string newest = work_ + "/ck/step-000000012.ckpt";
  ASSERT_TRUE(fs::exists(newest)) << joined(tree(work_ + "/ck"));
  make_mlp(work_ + "/mlp.onnx", false, /*unused_values=*/3);
  fails(plus(relative, {"--resume", "-o", "other.onnx"}),
        {"step-000000012.ckpt", "mlp.onnx is not the model file this checkpoint was trained from"});
  fails({"export", newest, "-o", "other.onnx"}, {"is not the model file this checkpoint was trained from"});
  EXPECT_FALSE(fs::exists(work_ + "/other.onnx"));
}

// ---- Checkpoint size

TEST_F(CliRunFolder, CheckpointSizeDoesNotGrowWithTheSteps) {
  write_npy_data(path("data"), separable(2000, 1));  // batches of 2: 1000 steps an epoch
  ok({model_, path("data"), "--batch-size", "2", "--epochs", "3", "--checkpoint-dir", path("ck"), "--checkpoint-every",
      "1000", "--keep-checkpoints", "5", "--log", path("log.jsonl"), "--plot", path("plot.svg"), "-o", path("a.onnx")});
  const auto size = [&](int step) { return fs::file_size(path(fmt::format("ck/step-{:09d}.ckpt", step))); };
  // The whole per-step history would add ~27 bytes a step: 27 kB between these two.
  EXPECT_LT(size(3000), size(1000) + 1000) << "step 1000: " << size(1000) << " bytes, step 3000: " << size(3000);
  EXPECT_LT(size(3000), 40000u);
  std::cout << "checkpoint bytes at step 1000: " << size(1000) << ", at step 3000: " << size(3000) << "\n";
  // The per-step history is in the log, whole.
  EXPECT_EQ(count_of(read_file(path("log.jsonl")), "\"loss\""), 3000);
}

// ---- Damaged, empty and missing checkpoint folders

TEST_F(CliRunFolder, ADamagedNewestCheckpointIsPassedOverAndSaidSo) {
  write_npy_data(path("data"), separable(48, 1), 16);  // 6 steps an epoch
  const std::vector<std::string> common = {model_, path("data"), "--batch-size", "8", "--epochs", "2", "--seed", "2"};
  ok(plus(common,
          {"--max-steps", "6", "--checkpoint-dir", path("ck"), "--checkpoint-every", "2", "-o", path("first.onnx")}));
  ASSERT_EQ(joined(tree(path("ck"))), "step-000000002.ckpt, step-000000004.ckpt, step-000000006.ckpt");
  // Cut short, as a disk that lost the file's tail leaves it.
  const std::string newest = path("ck/step-000000006.ckpt");
  fs::resize_file(newest, fs::file_size(newest) / 2);
  const CliRun r = ok(plus(common, {"--checkpoint-dir", path("ck"), "--resume", "-o", path("resumed.onnx")}));
  EXPECT_HAS(r.out, newest + " cannot be read");
  EXPECT_HAS(r.out, "resuming from the previous checkpoint, " + path("ck/step-000000004.ckpt"));
  EXPECT_HAS(r.out, "resumed from " + path("ck/step-000000004.ckpt") + ": step 4");
  EXPECT_HAS(r.out, "done: 12 steps");
  ok(plus(common, {"-o", path("straight.onnx")}));
  EXPECT_TRUE(read_file(path("resumed.onnx")) == read_file(path("straight.onnx")));
  // Named on the command line, a damaged checkpoint is an error, not a silent substitute.
  fs::resize_file(path("ck/step-000000012.ckpt"), 100);
  fails(plus(common, {"--resume=" + path("ck/step-000000012.ckpt"), "-o", path("x.onnx")}),
        {path("ck/step-000000012.ckpt")});
}

TEST_F(CliRunFolder, ResumeOnAnEmptyOrMissingFolderStartsANewRun) {
  write_npy_data(path("data"), separable(16, 1));
  const std::vector<std::string> common = {model_, path("data"), "--batch-size", "8"};
  ok(plus(common, {"-o", path("plain.onnx")}));
  fs::create_directories(path("empty_ck"));
  for (const std::string& dir : {path("empty_ck"), path("missing_ck")}) {
    const CliRun r = ok(plus(common, {"--checkpoint-dir", dir, "--resume", "-o", path("resumed.onnx")}));
    EXPECT_HAS(r.out, "--resume: " + dir + " holds no checkpoint yet; starting a new run");
    EXPECT_HAS(r.out, "done: 2 steps");
    EXPECT_TRUE(read_file(path("resumed.onnx")) == read_file(path("plain.onnx")));
    EXPECT_TRUE(fs::exists(dir + "/step-000000002.ckpt"));
  }
}

// ---- Options on resume

TEST_F(CliRunFolder, SafeOptionsMayChangeOnResumeAndTheChangeIsRecorded) {
  write_npy_data(path("data"), separable(48, 1));
  const std::vector<std::string> common = {model_, path("data"),       "--batch-size", "8",     "--epochs",
                                           "2",    "--checkpoint-dir", path("ck"),     "--log", path("log.jsonl"),
                                           "-o",   path("a.onnx")};
  ok(plus(common, {"--lr", "0.01", "--max-steps", "3"}));
  const CliRun r = ok(plus(common, {"--lr", "0.002", "--clip-grad-norm", "1", "--resume"}));
  EXPECT_HAS(r.out, "changed on resume: --clip-grad-norm (not set) -> 1");
  EXPECT_HAS(r.out, "--lr 0.01 -> 0.002");
  // The new rate is the one used from the resumed step on, and the log says what changed.
  const std::string log = read_file(path("log.jsonl"));
  EXPECT_HAS(log, "\"event\": \"resumed\"");
  EXPECT_HAS(log, "--lr 0.01 -> 0.002");
  for (const auto& line : lines_of(log)) {
    std::smatch m;
    if (!std::regex_search(line, m,
                           std::regex("\"step\": ([0-9]+), \"epoch\": [0-9]+, \"loss\": [^,]+, \"lr\": ([^,}]+)")))
      continue;
    EXPECT_EQ(std::stod(m[2]), std::stoll(m[1]) <= 3 ? 0.01 : 0.002) << line;
  }
  // Later checkpoints keep the record.
  const auto meta = TrainingSession::read_checkpoint_metadata(path("ck/step-000000012.ckpt"));
  EXPECT_HAS(meta.at("cli.changes"), "step 3: --clip-grad-norm (not set) -> 1, --lr 0.01 -> 0.002");

  // Options that change what is trained are still refused, with the difference spelled out.
  fails(plus(common, {"--accumulate", "2", "--seed", "5", "--resume"}),
        {"the checkpoint was made by a run with other options", "--accumulate: (not set) in the checkpoint, 2 now",
         "--seed: (not set) in the checkpoint, 5 now", "these change what is trained"});
}

TEST_F(CliRunFolder, TheAdviceAfterANanLossIsAcceptedAsGiven) {
  // The learning rate becomes absurd at a milestone: the checkpoints written after it hold
  // weights that already diverged (the loss a checkpoint is judged by is the next step's),
  // so the advice names the last checkpoint before them, and resuming from it with the
  // schedule and clipping changed (options a resume may change) trains to the end.
  write_npy_data(path("data"), separable(64, 1));
  const std::vector<std::string> common = {
      model_, path("data"), "--batch-size",  "8", "--checkpoint-dir", path("ck"), "--checkpoint-every",
      "1",    "-o",         path("out.onnx")};
  const CliRun r = run(plus(common, {"--lr", "0.01", "--schedule", "multistep:milestones=4,gamma=1e30"}));
  EXPECT_EQ(r.code, 1) << r.show();
  std::smatch m;
  ASSERT_TRUE(std::regex_search(r.err, m, std::regex("--resume=(\\S+)"))) << r.show();
  EXPECT_HAS(r.err, "the newer checkpoints, from");
  const auto all = tree(path("ck"));
  EXPECT_NE(path("ck/") + *std::prev(all.end(), 1), m[1].str()) << "the newest checkpoint holds diverged weights";
  const CliRun again =
      run(plus(common, {"--lr", "0.01", "--schedule", "constant", "--clip-grad-norm", "1", "--resume=" + m[1].str()}));
  EXPECT_EQ(again.code, 0) << again.show();
  EXPECT_LACKS(again.err, "other options");
  EXPECT_HAS(again.out, "resumed from " + m[1].str());
  EXPECT_HAS(again.out, "changed on resume: --clip-grad-norm (not set) -> 1, --schedule multistep");
  EXPECT_TRUE(fs::exists(path("out.onnx")));
}

TEST_F(CliRunFolder, ANanFromTheFirstStepsSaysToStartAgain) {
  // With --lr 1e30 the first update already ruins the weights: no checkpoint is good, and the
  // advice is to start again, which works.
  write_npy_data(path("data"), separable(64, 1));
  const std::vector<std::string> common = {model_, path("data"), "--batch-size", "8", "--checkpoint-every", "1",
                                           "-o",   path("out.onnx")};
  const CliRun r = run(plus(common, {"--lr", "1e30", "--checkpoint-dir", path("ck")}));
  EXPECT_EQ(r.code, 1) << r.show();
  EXPECT_LACKS(r.err, "--resume=");
  EXPECT_HAS(r.err, "start again with a lower --lr");
  const CliRun again = run(plus(common, {"--lr", "0.01", "--checkpoint-dir", path("ck2")}));
  EXPECT_EQ(again.code, 0) << again.show();
}

TEST_F(CliRunFolder, ANonFiniteLossFromTheDataNamesTheSamples) {
  Samples s = separable(64, 1);
  for (int j = 0; j < 4; ++j) s.x[4 * 29 + j] = 3e38f;  // sample 29: batch 4 of 8 in file order
  write_npy_data(path("data"), s);
  const CliRun r = fails({model_, path("data"), "--batch-size", "8", "--no-shuffle", "-o", path("out.onnx")},
                         {"batch 4 of epoch 1", "'x': " + path("data/train/x.npy") + ", sample 29 (a value of 3e+38)",
                          "the data is the cause"});
  EXPECT_LACKS(r.err, "learning rate that is too high");
  EXPECT_FALSE(fs::exists(path("out.onnx")));
}

// ---- The final export

// A write that fails at the end (the file-size limit makes it fail as a full disk does: the
// export is far larger than a checkpoint, because of a table no node reads) loses nothing:
// the message names the checkpoint and the command that writes the model from it.
TEST_F(CliRunFolder, AFailedFinalExportSaysHowToRecoverTheModel) {
  const std::string big = make_mlp(path("big.onnx"), false, /*unused_values=*/50000);  // 200 kB
  write_npy_data(path("data"), separable(48, 1));
  const std::vector<std::string> common = {big, path("data"), "--batch-size", "8", "--epochs", "2"};
  SpawnOptions small_disk;
  small_disk.max_file_bytes = 100000;
  const std::string out = path("out/model.onnx");
  const std::string checkpoint = path("ck/step-000000012.ckpt");
  const CliRun r = fails(plus(common, {"--checkpoint-dir", path("ck"), "-o", out}),
                         {out, "the training is not lost: " + checkpoint + " holds its final state (step 12)",
                          "onnx-train export " + checkpoint + " -o " + out},
                         small_disk);
  EXPECT_HAS(r.out, "epoch 2/2");
  EXPECT_FALSE(fs::exists(out));
  // The command it gives works.
  ok({"export", checkpoint, "-o", out});
  ok(plus(common, {"-o", path("straight.onnx")}));
  EXPECT_TRUE(read_file(out) == read_file(path("straight.onnx")));

  // Without --checkpoint-dir, a checkpoint of the final state is written to recover from.
  const CliRun bare = fails(plus(common, {"-o", path("bare.onnx")}),
                            {"the training is not lost: big.final.ckpt holds its final state (step 12)",
                             "onnx-train export big.final.ckpt -o " + path("bare.onnx")},
                            small_disk);
  ok({"export", work_ + "/big.final.ckpt", "-o", path("bare.onnx")});
  EXPECT_TRUE(read_file(path("bare.onnx")) == read_file(path("straight.onnx")));
}

// ---- Errors and the progress bar

// On a terminal the bar is redrawn in place, without a line end; an error must start a line
// of its own, not continue the bar's ("...ETA 0:02onnx-train: error: ...").
TEST_F(CliRunFolder, AnErrorDuringTrainingStartsItsOwnLineOnATerminal) {
  Samples s = separable(256, 1);
  // Sample 200 (batch 26 of 32 in file order) passes the check before training (its values
  // are finite) but makes the loss overflow: an error while the bar is on screen.
  for (int j = 0; j < 4; ++j) s.x[4 * 200 + j] = 3e38f;
  write_npy_data(path("data"), s);
  const CliRun r = run_on_terminal({model_, path("data"), "--batch-size", "8", "--no-shuffle", "-o", path("out.onnx")},
                                   {"TERM=xterm", "COLUMNS=100"});
  const std::string& screen = r.out;
  EXPECT_EQ(r.code, 1) << screen;
  const size_t at = screen.find("onnx-train: error: ");
  ASSERT_NE(at, std::string::npos) << screen;
  EXPECT_HAS(screen.substr(at), "sample 200");
  EXPECT_HAS(screen.substr(0, at), "epoch 1/1") << "the bar was never drawn: the test shows nothing";
  EXPECT_TRUE(at > 0 && screen[at - 1] == '\n') << "the error continues the bar's line:\n" << screen;
}

}  // namespace
}  // namespace onnx_train::cli_test
