// What a new user meets in the first hour with the command line, tried as they would: help
// asked for after a command, a mistyped option, a file-size limit set with the shell's
// `ulimit -f`, and a checkpoint damaged on disk.
#include <onnx/onnx_pb.h>

#include "tests/cli/cli_harness.h"

namespace onnx_train::cli_test {
namespace {

class CliFirstHour : public CliTest {};

// ---- Help and options

// `onnx-train eval --help` is how most tools are asked about one command; it printed
// "unknown option '--help'" and failed. It prints that command's help (tests/cli/help_cli_test.cc).
TEST_F(CliFirstHour, HelpAskedAfterACommandPrintsTheUsage) {
  for (const std::vector<std::string>& args : std::vector<std::vector<std::string>>{
           {"eval", "--help"}, {"inspect", "-h"}, {"export", "--help"}, {"graph", "--help"}, {"run", "--help"},
           {"model.onnx", "data", "--epochs", "2", "--help"}}) {
    const CliRun r = run(args);
    EXPECT_EQ(r.code, 0) << r.show();
    const bool named = args[0] != "model.onnx";
    EXPECT_EQ(r.out.rfind("usage: onnx-train " + (named ? args[0] + " " : "MODEL.onnx DATA_DIR [options]"), 0), 0u)
        << r.show();
    EXPECT_HAS(r.out, "  -h, --help");
    EXPECT_EQ(r.err, "") << r.show();
  }
}

// A mistyped option names the one it was probably meant as, and only when one is close.
TEST_F(CliFirstHour, AMistypedOptionNamesTheOptionMeant) {
  write_npy_data(path("data"), separable(32, 1));
  const std::string model = make_mlp(path("mlp.onnx"), false);
  fails({model, path("data"), "--epoch", "1"}, {"unknown option '--epoch' (did you mean --epochs?)"});
  fails({model, path("data"), "-q"}, {"unknown option '-q' (did you mean --quiet?)"});
  fails({model, path("data"), "--bach-size", "8"}, {"(did you mean --batch-size?)"});
  fails({model, path("data"), "--check", "x"}, {"(did you mean --checkpoint-dir or --checkpoint-every?)"});
  const CliRun far = fails({model, path("data"), "--zzzz"}, {"unknown option '--zzzz'; see onnx-train --help"});
  EXPECT_LACKS(far.err, "did you mean");
}

// `--resume ck` with the checkpoint folder, as one guesses before reading --help, failed with
// "expected MODEL.onnx and DATA_DIR, got 'mlp.onnx data ck'"; it must say how to give a folder.
TEST_F(CliFirstHour, ResumeGivenAFolderSaysHowFoldersAreGiven) {
  write_npy_data(path("data"), separable(32, 1));
  const std::string model = make_mlp(path("mlp.onnx"), false);
  ok({model, path("data"), "--batch-size", "8", "--checkpoint-dir", path("ck"), "--quiet", "-o", path("m.onnx")});
  fails({model, path("data"), "--resume", path("ck")},
        {"--resume takes a checkpoint file", "not the folder '" + path("ck") + "'",
         "--checkpoint-dir " + path("ck") + " --resume"});
  // The advice works.
  const CliRun r = ok({model, path("data"), "--batch-size", "8", "--checkpoint-dir", path("ck"), "--resume",
                       "-o", path("m2.onnx")});
  EXPECT_HAS(r.out, "nothing left to do");
}

// ---- A file-size limit set with `ulimit -f`

// Runs onnx-train as a shell with `ulimit -f` would: the limit set and SIGXFSZ left at its
// default action (killing the process), as every new process starts. The harness's own
// file-size limit ignores SIGXFSZ for the child, which hid what a user sees.
CliRun run_under_ulimit_f(CliTest& t, const std::vector<std::string>& args, long max_file_bytes) {
  std::vector<std::string> all = {ONNX_TRAIN_CLI};
  all.insert(all.end(), args.begin(), args.end());
  std::vector<char*> argv;
  for (auto& a : all) argv.push_back(a.data());
  argv.push_back(nullptr);
  const std::string out = t.path("ulimit.out"), err = t.path("ulimit.err"), cwd = t.work_;
  const pid_t pid = fork();
  if (pid == 0) {  // only async-signal-safe calls from here
    if (chdir(cwd.c_str()) != 0) _exit(126);
    const int o = open(out.c_str(), O_WRONLY | O_CREAT | O_TRUNC, 0644);
    const int e = open(err.c_str(), O_WRONLY | O_CREAT | O_TRUNC, 0644);
    const int in = open("/dev/null", O_RDONLY);
    if (o < 0 || e < 0 || in < 0) _exit(126);
    dup2(in, 0);
    dup2(o, 1);
    dup2(e, 2);
    setenv("OMP_NUM_THREADS", "1", 1);
    const rlimit limit{static_cast<rlim_t>(max_file_bytes), static_cast<rlim_t>(max_file_bytes)};
    if (setrlimit(RLIMIT_FSIZE, &limit) != 0) _exit(126);
    signal(SIGXFSZ, SIG_DFL);
    execv(argv[0], argv.data());
    _exit(127);
  }
  CliRun r;
  r.command = "ulimit -f; " + quote_args(args);
  r.code = wait_for(pid, 120);
  r.out = read_file(out);
  r.err = read_file(err);
  return r;
}

// With `ulimit -f`, a write past the limit killed onnx-train with SIGXFSZ ("File size limit
// exceeded", exit 153): no message, the training lost, a `.partial` file and the folder's
// lock left behind. The write must fail as on a full disk, with its usual message.
TEST_F(CliFirstHour, AFileSizeLimitFromTheShellEndsInAMessageNotASignal) {
  const std::string big = make_mlp(path("big.onnx"), false, /*unused_values=*/50000);  // 200 kB
  write_npy_data(path("data"), separable(48, 1));
  const std::string out = path("out/model.onnx");
  const std::string checkpoint = path("ck/step-000000012.ckpt");
  const CliRun r = run_under_ulimit_f(
      *this, {big, path("data"), "--batch-size", "8", "--epochs", "2", "--checkpoint-dir", path("ck"), "-o", out},
      100000);
  EXPECT_EQ(r.code, 1) << r.show();
  EXPECT_EQ(count_of(r.err, "onnx-train: error: "), 1) << r.show();
  EXPECT_HAS(r.err, out);
  EXPECT_HAS(r.err, "onnx-train export " + checkpoint + " -o " + out);
  EXPECT_FALSE(fs::exists(out));
  EXPECT_EQ(joined(tree(path("ck"))), "step-000000006.ckpt, step-000000012.ckpt");  // no .partial, no lock
  EXPECT_EQ(joined(tree(path("out"))), "(nothing)");

  // A limit that a checkpoint (a few KB: the unused values are not trained) already exceeds stops
  // the run at that checkpoint, naming it. (1.5 KB, not less: LLVM's OpenMP runtime, which a
  // clang build links, sizes a 1 KB registration file in /dev/shm at startup and aborts with
  // SIGBUS when the limit forbids it.)
  const CliRun early = run_under_ulimit_f(
      *this, {big, path("data"), "--batch-size", "8", "--epochs", "2", "--checkpoint-dir", path("ck2")}, 1536);
  EXPECT_EQ(early.code, 1) << early.show();
  EXPECT_HAS(early.err, path("ck2/step-000000006.ckpt"));
  EXPECT_EQ(joined(tree(path("ck2"))), "(nothing)");
}

// ---- A checkpoint damaged on disk

// Changes one byte inside the stored values of the first parameter of `checkpoint` and
// writes it back: the file still parses, as a checkpoint hit by a bad sector or a bad copy can.
void damage_a_parameter(const std::string& checkpoint) {
  onnx::ModelProto model;
  const std::string bytes = read_file(checkpoint);
  ASSERT_TRUE(model.ParseFromString(bytes)) << checkpoint;
  bool changed = false;
  for (auto& t : *model.mutable_graph()->mutable_initializer()) {
    if (t.name().rfind("parameter/", 0) != 0) continue;  // a trained weight, not optimizer state
    if (!t.raw_data().empty()) {
      std::string raw = t.raw_data();
      raw[raw.size() / 2] = static_cast<char>(raw[raw.size() / 2] ^ 0x40);
      t.set_raw_data(raw);
      changed = true;
    } else if (t.float_data_size() > 0) {
      t.set_float_data(0, t.float_data(0) + 1.0f);
      changed = true;
    }
    if (changed) break;
  }
  ASSERT_TRUE(changed) << checkpoint << " holds no tensor values to damage";
  std::string out;
  ASSERT_TRUE(model.SerializeToString(&out));
  write_file(checkpoint, out);
}

// A newest checkpoint whose values were damaged still parsed, and --resume continued from
// it: different weights, and not a word. It must be refused as damaged, --resume must go back
// to the one before (ending as an uninterrupted run does), and `export` of it must fail.
TEST_F(CliFirstHour, ADamagedCheckpointIsRefusedAndResumeGoesBackToThePreviousOne) {
  const std::string model = make_mlp(path("mlp.onnx"), false);
  write_npy_data(path("data"), separable(64, 1));
  const std::vector<std::string> common = {model, path("data"), "--batch-size", "8", "--epochs", "2"};
  ok(plus(common, {"--checkpoint-dir", path("ck"), "--checkpoint-every", "4", "--max-steps", "12", "--quiet"}));
  const std::string newest = path("ck/step-000000012.ckpt");
  ASSERT_TRUE(fs::exists(newest)) << joined(tree(path("ck")));
  damage_a_parameter(newest);

  const CliRun resumed = run(plus(common, {"--checkpoint-dir", path("ck"), "--resume", "-o", path("resumed.onnx")}));
  EXPECT_EQ(resumed.code, 0) << resumed.show();
  EXPECT_HAS(resumed.out + resumed.err, newest + " cannot be read");
  EXPECT_HAS(resumed.out + resumed.err, "damaged");
  EXPECT_HAS(resumed.out + resumed.err, "resuming from the previous checkpoint, " + path("ck/step-000000008.ckpt"));
  ok(plus(common, {"-o", path("straight.onnx"), "--quiet"}));
  EXPECT_TRUE(read_file(path("resumed.onnx")) == read_file(path("straight.onnx")))
      << "the resumed run did not end with the weights of an uninterrupted one";

  fails({"export", newest, "-o", path("x.onnx")}, {newest, "damaged"});
  EXPECT_FALSE(fs::exists(path("x.onnx")));
}

// ---- Data changed between a stop and its resume

// A run stopped by --max-steps, its data folder then cut to half the samples, and --resume:
// the run went on from "epoch 1, batch 5" of other data and ended with half the steps, saying
// nothing. It must be refused, naming both counts; with the data restored, it resumes.
TEST_F(CliFirstHour, AResumeOnDataWithAnotherSampleCountIsRefused) {
  const std::string model = make_mlp(path("mlp.onnx"), false);
  const Samples all = separable(64, 1);
  write_npy_data(path("data"), all);
  const std::vector<std::string> common = {model, path("data"), "--batch-size", "8", "--epochs", "2",
                                           "--checkpoint-dir", path("ck"), "--quiet"};
  ok(plus(common, {"--max-steps", "5"}));
  Samples half = all;
  half.n = 32;
  half.x.resize(32 * 4);
  half.y.resize(32);
  write_npy_data(path("data"), half);
  const CliRun r = fails(plus(common, {"--resume"}),
                         {path("data") + ": the training data holds 32 samples, but the checkpoint " +
                              path("ck/step-000000005.ckpt") + " was trained on 64"});
  EXPECT_EQ(joined(tree(path("ck"))), "step-000000005.ckpt") << r.show();  // refused before the first step
  write_npy_data(path("data"), all);
  ok(plus(common, {"--resume"}));
}

// ---- A checkpoint passed where the model goes

// `onnx-train CKPT DATA` (or inspect, run) with a checkpoint in the model's place failed with
// "the model uses opset 7 ... could not upgrade it ... assertInVersionRange"; it must say what
// the file is and how to get a model from it. (`eval CKPT DATA` scores the checkpoint:
// eval_predict_test.cc.)
TEST_F(CliFirstHour, ACheckpointGivenAsTheModelSaysWhatItIsAndWhatToDo) {
  const std::string model = make_mlp(path("mlp.onnx"), false);
  write_npy_data(path("data"), separable(32, 1));
  ok({model, path("data"), "--batch-size", "8", "--checkpoint-dir", path("ck"), "--quiet", "-o", path("m.onnx")});
  const std::string ckpt = path("ck/step-000000004.ckpt");
  ASSERT_TRUE(fs::exists(ckpt)) << joined(tree(path("ck")));
  const std::vector<std::string> says = {ckpt + ": this is an onnx-train checkpoint, not a model",
                                         "onnx-train export " + ckpt + " -o model.onnx", "--resume=" + ckpt};
  fails({ckpt, path("data")}, says);
  // inspect reads checkpoints too (tests/cli/inspect_metadata_test.cc).
  EXPECT_HAS(ok({"inspect", ckpt}).out, "checkpoint " + ckpt + ": step 4");
  fails({"run", ckpt}, says);
}

}  // namespace
}  // namespace onnx_train::cli_test
