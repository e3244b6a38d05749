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
#include <fcntl.h>
#include <gtest/gtest.h>
#include <onnx/checker.h>
#include <onnx/onnx_pb.h>
#include <sys/wait.h>
#include <unistd.h>

#include <algorithm>
#include <chrono>
#include <cstdio>
#include <cstring>
#include <filesystem>
#include <fstream>
#include <random>
#include <sstream>
#include <string>
#include <thread>
#include <vector>

#include "importers/onnx_model.h"
#include "importers/proto_io.h"
#include "onnx_train/session.h"
#include "tests/support/model_builder.h"

#ifndef ONNX_TRAIN_CLI
#error "ONNX_TRAIN_CLI (the path of the onnx-train binary) is set by tests/CMakeLists.txt"
#endif

extern char** environ;

namespace onnx_train {
namespace {

namespace fs = std::filesystem;
using testing::TempDir;

const std::string kOldOpsetDir = std::string(ONNX_TRAIN_SOURCE_DIR) + "/tests/data/old_opset";

#define EXPECT_HAS(text, part) \
  EXPECT_NE((text).find(part), std::string::npos) << "expected '" << (part) << "' in:\n" << (text)
#define EXPECT_LACKS(text, part) \
  EXPECT_EQ((text).find(part), std::string::npos) << "unexpected '" << (part) << "' in:\n" << (text)

std::string slurp(const std::string& path) {
  std::ifstream in(path, std::ios::binary);
  std::ostringstream s;
  s << in.rdbuf();
  return s.str();
}

int occurrences(const std::string& text, const std::string& part) {
  int n = 0;
  for (size_t at = text.find(part); at != std::string::npos; at = text.find(part, at + part.size())) ++n;
  return n;
}

struct CliResult {
  int code = -1;
  std::string out, err, command;
  std::string show() const {
    return "$ " + command + "\nexit " + std::to_string(code) + "\n--- stdout\n" + out + "--- stderr\n" + err;
  }
};

// Runs the binary with `args` in `cwd` (stdout and stderr to files, no stdin, one kernel thread)
// and waits for it, at most 120 s.
CliResult run_cli(const std::vector<std::string>& args, const std::string& cwd) {
  CliResult r;
  r.command = "onnx-train";
  for (const auto& a : args) r.command += " " + a;
  const std::string out_path = cwd + "/.stdout", err_path = cwd + "/.stderr";
  std::vector<std::string> env;
  for (char** e = environ; *e != nullptr; ++e)
    if (std::strncmp(*e, "OMP_NUM_THREADS=", 16) != 0) env.emplace_back(*e);
  env.emplace_back("OMP_NUM_THREADS=1");
  std::vector<char*> envp, argv;
  for (auto& e : env) envp.push_back(e.data());
  envp.push_back(nullptr);
  std::vector<std::string> all = {ONNX_TRAIN_CLI};
  all.insert(all.end(), args.begin(), args.end());
  for (auto& a : all) argv.push_back(a.data());
  argv.push_back(nullptr);
  const pid_t pid = fork();
  if (pid == 0) {  // only async-signal-safe calls from here
    if (chdir(cwd.c_str()) != 0) _exit(126);
    const int in = open("/dev/null", O_RDONLY);
    const int out = open(out_path.c_str(), O_WRONLY | O_CREAT | O_TRUNC, 0644);
    const int err = open(err_path.c_str(), O_WRONLY | O_CREAT | O_TRUNC, 0644);
    if (in < 0 || out < 0 || err < 0) _exit(126);
    dup2(in, 0);
    dup2(out, 1);
    dup2(err, 2);
    execve(argv[0], argv.data(), envp.data());
    _exit(127);
  }
  const auto deadline = std::chrono::steady_clock::now() + std::chrono::seconds(120);
  int status = 0;
  for (;;) {
    const pid_t w = waitpid(pid, &status, WNOHANG);
    if (w == pid) break;
    if (w < 0 || std::chrono::steady_clock::now() > deadline) {
      kill(pid, SIGKILL);
      waitpid(pid, &status, 0);
      ADD_FAILURE() << "onnx-train did not finish in 120 s; killed";
      break;
    }
    std::this_thread::sleep_for(std::chrono::milliseconds(5));
  }
  r.code = WIFEXITED(status) ? WEXITSTATUS(status) : WIFSIGNALED(status) ? 1000 + WTERMSIG(status) : -1;
  r.out = slurp(out_path);
  r.err = slurp(err_path);
  return r;
}

// An .npy file as numpy.save writes it.
std::string npy(const std::string& descr, const std::vector<int64_t>& shape, const std::string& data) {
  std::string dims;
  for (size_t i = 0; i < shape.size(); ++i) dims += (i ? ", " : "") + std::to_string(shape[i]);
  if (shape.size() == 1) dims += ",";
  std::string header = "{'descr': '" + descr + "', 'fortran_order': False, 'shape': (" + dims + "), }";
  header.append(63 - (10 + header.size()) % 64, ' ');
  header += '\n';
  std::string out = "\x93NUMPY";
  out += '\x01';
  out += '\0';
  out += static_cast<char>(header.size() & 0xFF);
  out += static_cast<char>(header.size() >> 8);
  return out + header + data;
}

// DATA/x.npy [n, 1, 8, 8] and DATA/label.npy [n]: the class is the band of rows (top, middle,
// bottom) that holds a bright stripe.
void write_data(const std::string& dir, int64_t n) {
  std::mt19937 rng(3);
  std::normal_distribution<float> noise(0.f, 0.3f);
  std::vector<float> x(static_cast<size_t>(n) * 64);
  std::vector<int64_t> y(static_cast<size_t>(n));
  for (int64_t i = 0; i < n; ++i) {
    y[i] = i % 3;
    for (int64_t p = 0; p < 64; ++p) x[i * 64 + p] = noise(rng) + ((p / 8) / 3 == y[i] ? 2.f : 0.f);
  }
  fs::create_directories(dir);
  std::ofstream(dir + "/x.npy", std::ios::binary)
      << npy("<f4", {n, 1, 8, 8}, std::string(reinterpret_cast<const char*>(x.data()), x.size() * 4));
  std::ofstream(dir + "/label.npy", std::ios::binary)
      << npy("<i8", {n}, std::string(reinterpret_cast<const char*>(y.data()), y.size() * 8));
}

onnx::ModelProto load_model_proto(const std::string& path) {
  onnx::ModelProto model;
  parse_proto_file(path, model, "ONNX model");
  return model;
}

int opset_of(const std::string& path) {
  const onnx::ModelProto model = load_model_proto(path);
  for (const auto& imp : model.opset_import())
    if (imp.domain().empty() || imp.domain() == "ai.onnx") return static_cast<int>(imp.version());
  return -1;
}

void expect_checker_accepts(const std::string& path) {
  try {
    onnx::checker::check_model(path);
  } catch (const std::exception& e) {
    ADD_FAILURE() << path << ": the ONNX checker rejects it: " << e.what();
  }
}

class OldOpsetCli : public ::testing::Test {
 protected:
  void SetUp() override { write_data(dir() + "/data", 48); }
  std::string dir() const { return tmp_.path(); }
  std::string path(const std::string& name) const { return tmp_.path() + "/" + name; }
  TempDir tmp_;
};

TEST_F(OldOpsetCli, TrainsEvaluatesAndExportsWithClassLossesAtOpsets9To11) {
  for (int opset : {9, 10, 11}) {
    for (const std::string loss : {"nll", "cross-entropy"}) {
      SCOPED_TRACE("opset " + std::to_string(opset) + ", --loss " + loss);
      const std::string model = kOldOpsetDir + "/cnn_opset" + std::to_string(opset) + ".onnx";
      const std::string tag = std::to_string(opset) + loss;
      const std::string note =
          "note: " + model + " is at opset " + std::to_string(opset) + ", but the " + loss + " loss needs opset 12";
      const CliResult r =
          run_cli({model, path("data"), "--loss", loss, "--optimizer", "sgd", "--lr", "0.1", "--epochs", "3",
                   "--batch-size", "8", "-o", path(tag + ".onnx"), "--export-training", path(tag + ".training.onnx")},
                  dir());
      ASSERT_EQ(r.code, 0) << r.show();
      // One line, once, before the first epoch ends; then the count of what trains.
      EXPECT_EQ(occurrences(r.out, note), 1) << r.show();
      EXPECT_HAS(r.out,
                 "upgraded it to opset 12 with ONNX's version converter for training; the exported inference "
                 "model keeps opset " +
                     std::to_string(opset) + "\n");
      EXPECT_LT(r.out.find(note), r.out.find("epoch 1/3")) << r.show();
      EXPECT_HAS(r.out, "parameters: 6 tensors (243 values) trained, 0 tensors (0 values) frozen");
      EXPECT_LACKS(r.err, "error");
      // The exports: the user's opset for inference, opset 12 with the training algorithm.
      EXPECT_EQ(opset_of(path(tag + ".onnx")), opset);
      expect_checker_accepts(path(tag + ".onnx"));
      EXPECT_EQ(opset_of(path(tag + ".training.onnx")), 12);
      expect_checker_accepts(path(tag + ".training.onnx"));
      EXPECT_EQ(load_model_proto(path(tag + ".training.onnx")).training_info_size(), 1);

      // eval on the original and on the trained export: the note again, and a trained model
      // scores better than the untrained one.
      const CliResult before = run_cli({"eval", model, path("data"), "--loss", loss}, dir());
      ASSERT_EQ(before.code, 0) << before.show();
      EXPECT_EQ(occurrences(before.out, note), 1) << before.show();
      const CliResult after = run_cli({"eval", path(tag + ".onnx"), path("data"), "--loss", loss}, dir());
      ASSERT_EQ(after.code, 0) << after.show();
      auto loss_of = [](const std::string& out) {
        const size_t at = out.find("): loss ");  // "MODEL on DATA (all data): loss 0.1234, ..."
        return at == std::string::npos ? -1.0 : std::stod(out.substr(at + 8));
      };
      EXPECT_LT(loss_of(after.out), loss_of(before.out)) << before.show() << after.show();

      // graph writes the training graph, at opset 12.
      const CliResult graph = run_cli({"graph", model, "--loss", loss, "-o", path(tag + ".graph.onnx")}, dir());
      ASSERT_EQ(graph.code, 0) << graph.show();
      EXPECT_EQ(occurrences(graph.out, note), 1) << graph.show();
      EXPECT_EQ(opset_of(path(tag + ".graph.onnx")), 12);
    }
  }
}

// The trained export at opset 9 runs in ONNX Runtime (tests/cli/ort_compare.js, onnxruntime-node as
// tools/test.sh installs it) and gives onnx-train's outputs.
TEST_F(OldOpsetCli, TrainedOpset9ExportMatchesInOnnxRuntime) {
  const std::string model = kOldOpsetDir + "/cnn_opset9.onnx";
  const CliResult r = run_cli({model, path("data"), "--loss", "cross-entropy", "--optimizer", "sgd", "--lr", "0.1",
                               "--epochs", "2", "--batch-size", "8", "-o", path("trained9.onnx")},
                              dir());
  ASSERT_EQ(r.code, 0) << r.show();
  ASSERT_EQ(opset_of(path("trained9.onnx")), 9);
  const Tensor x = read_tensor_proto_file(kOldOpsetDir + "/input.pb");
  const Tensor y = Session::from_file(path("trained9.onnx")).run({{"x", x}}).at(0);
  std::ofstream(path("x.bin"), std::ios::binary) << std::string(static_cast<const char*>(x.raw_data()), x.nbytes());
  std::ofstream(path("y.bin"), std::ios::binary) << std::string(static_cast<const char*>(y.raw_data()), y.nbytes());
  const std::string script = std::string(ONNX_TRAIN_SOURCE_DIR) + "/tests/cli/ort_compare.js";
  const std::string command = "node '" + script + "' '" + path("trained9.onnx") + "' '" + path("x.bin") +
                              "' 4,1,8,8 '" + path("y.bin") + "' 1e-5 2>&1";
  std::string out;
  FILE* pipe = popen(command.c_str(), "r");
  ASSERT_NE(pipe, nullptr);
  char buffer[4096];
  for (size_t n; (n = std::fread(buffer, 1, sizeof buffer, pipe)) > 0;) out.append(buffer, n);
  const int status = pclose(pipe);
  EXPECT_TRUE(WIFEXITED(status) && WEXITSTATUS(status) == 0)
      << "$ " << command << "\n"
      << out
      << "\n(ONNX Runtime is needed: `cd tests/cli && npm install --ignore-scripts --no-save --no-package-lock "
         "onnxruntime-node@1.20.1`, as tools/test.sh does)";
  EXPECT_HAS(out, "max abs diff");
}

// training-graph differentiates a value of the model itself (no loss is appended), so the model
// keeps its opset: the backward graph of an opset-9 export, built at opset 9.
TEST_F(OldOpsetCli, TrainingGraphOfAnOldOpsetModel) {
  const std::string model = kOldOpsetDir + "/cnn_opset9.onnx";
  const CliResult r = run_cli({"training-graph", model, "--loss", "log_probs", "-o", path("tg.onnx")}, dir());
  ASSERT_EQ(r.code, 0) << r.show();
  EXPECT_HAS(r.out, "gradients of 6 values");
  EXPECT_EQ(opset_of(path("tg.onnx")), 9);
}

TEST_F(OldOpsetCli, FoldedExportUnmatchedFreezeAndTheParameterCountAreSaid) {
  const std::string model = kOldOpsetDir + "/cnn_folded.onnx";
  const CliResult r = run_cli(
      {model, path("data"), "--loss", "nll", "--freeze", "^layer", "--epochs", "1", "-o", path("folded.trained.onnx")},
      dir());
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
  const CliResult kept = run_cli({kOldOpsetDir + "/cnn_opset11.onnx", path("data"), "--loss", "nll", "--freeze",
                                  "^conv\\.", "--epochs", "1", "-o", path("kept.onnx")},
                                 dir());
  ASSERT_EQ(kept.code, 0) << kept.show();
  EXPECT_LACKS(kept.out, "lost its training structure");
  EXPECT_LACKS(kept.out, "matches no parameter");
  EXPECT_HAS(kept.out, "parameters: 4 tensors (203 values) trained, 2 tensors (40 values) frozen");
}

// `graph` and `eval` print the session's notes too, with --train-only as typed (of two patterns,
// the one that selects nothing).
TEST_F(OldOpsetCli, PatternNotesNameTheCommandLineOptions) {
  const std::string model = kOldOpsetDir + "/cnn_opset11.onnx";
  const CliResult graph = run_cli(
      {"graph", model, "--loss", "nll", "--train-only", "^fc\\.", "--train-only", "^head", "-o", path("g.onnx")},
      dir());
  ASSERT_EQ(graph.code, 0) << graph.show();
  EXPECT_HAS(graph.out, "note: --train-only '^head' matches no parameter and selects nothing");
  EXPECT_LACKS(graph.out, "'^fc\\.' matches no parameter");
  EXPECT_LACKS(graph.out, "train_only pattern");
  const CliResult eval = run_cli({"eval", model, path("data"), "--loss", "nll", "--freeze", "^layer"}, dir());
  ASSERT_EQ(eval.code, 0) << eval.show();
  EXPECT_HAS(eval.out, "note: --freeze '^layer' matches no parameter and freezes nothing");
  EXPECT_LACKS(eval.out, "freeze pattern");
}

// `export CHECKPOINT` builds the session the run trained, and says what it changed in the model
// as the run did: an opset-9 model trained with a class loss was upgraded, and the export keeps
// opset 9.
TEST_F(OldOpsetCli, ExportFromACheckpointSaysTheOpsetUpgrade) {
  const std::string model = kOldOpsetDir + "/cnn_opset9.onnx";
  const CliResult train = run_cli({model, path("data"), "--loss", "nll", "--optimizer", "sgd", "--epochs", "1",
                                   "--batch-size", "8", "--checkpoint-dir", path("ck"), "-o", path("trained.onnx")},
                                  dir());
  ASSERT_EQ(train.code, 0) << train.show();
  std::string checkpoint;
  for (const auto& e : fs::directory_iterator(path("ck")))
    if (e.path().extension() == ".ckpt") checkpoint = std::max(checkpoint, e.path().string());
  ASSERT_FALSE(checkpoint.empty()) << train.show();
  const CliResult exported = run_cli({"export", checkpoint, "-o", path("out/exported.onnx")}, dir());
  ASSERT_EQ(exported.code, 0) << exported.show();
  const std::string note = "note: " + model + " is at opset 9, but the nll loss needs opset 12";
  EXPECT_EQ(occurrences(exported.out, note), 1) << exported.show();
  EXPECT_LT(exported.out.find(note), exported.out.find("wrote ")) << exported.show();
  EXPECT_EQ(opset_of(path("out/exported.onnx")), 9);
  expect_checker_accepts(path("out/exported.onnx"));
}

}  // namespace
}  // namespace onnx_train
