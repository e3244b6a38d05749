// tests/cli/nonfinite_cli_test.cc: NaN and Inf in a training run, through the binary: the error
// names the node where the values first went non-finite, --skip-nonfinite leaves such batches out
// (counted, reported, kept over a resume) and --detect-anomaly stops at the first one.
#include <onnx/onnx_pb.h>

#include <fstream>

#include "tests/cli/cli_harness.h"

namespace onnx_train::cli_test {
namespace {

// x [N, 4] -> Abs -> Log (node 'log') -> Gemm(3) -> logits: finite unless a feature is exactly 0.
std::string make_log_model(const std::string& path) {
  std::mt19937 rng(11);
  testing::ModelBuilder m(13);
  m.input("x", onnx::TensorProto::FLOAT, {-1, 4});
  m.initializer("fc.weight", random_tensor({3, 4}, rng, 0.05f));
  m.initializer("fc.bias", random_tensor({3}, rng, 0.05f));
  m.node("Abs", {"x"}, {"magnitude"}).set_name("abs");
  m.node("Log", {"magnitude"}, {"features"}).set_name("log");
  m.node("Gemm", {"features", "fc.weight", "fc.bias"}, {"logits"}).set_name("fc");
  m.attr("transB", 1);
  m.output("logits", onnx::TensorProto::FLOAT, {-1, 3});
  m.save(path);
  return path;
}

// The initializers of an ONNX file, by name, as bytes.
std::map<std::string, std::string> weights_of(const std::string& model) {
  onnx::ModelProto proto;
  std::ifstream in(model, std::ios::binary);
  EXPECT_TRUE(proto.ParseFromIstream(&in)) << model;
  std::map<std::string, std::string> out;
  for (const auto& t : proto.graph().initializer()) {
    std::string bytes = t.raw_data();
    for (float f : t.float_data()) bytes.append(reinterpret_cast<const char*>(&f), sizeof f);
    out[t.name()] = bytes;
  }
  return out;
}

class CliNonFinite : public CliTest {
 protected:
  // 48 samples in file order, 6 batches of 8; sample 13 (batch 2) is all zeros: finite data
  // the model turns into -Inf at its Log.
  void SetUp() override {
    CliTest::SetUp();
    model_ = make_log_model(path("log.onnx"));
    Samples s = separable(48, 1);
    for (int j = 0; j < 4; ++j) s.x[4 * 13 + j] = 0;
    write_npy_data(path("data"), s);
    // The same data without batch 2 (samples 8-15).
    Samples rest = s;
    rest.n = 40;
    rest.x.erase(rest.x.begin() + 4 * 8, rest.x.begin() + 4 * 16);
    rest.y.erase(rest.y.begin() + 8, rest.y.begin() + 16);
    write_npy_data(path("rest"), rest);
  }
  std::vector<std::string> common(const std::string& data) {
    return {model_, path(data), "--batch-size", "8", "--no-shuffle", "--lr", "0.01"};
  }
  std::string model_;
};

// Without --skip-nonfinite the run stops at batch 2, naming the Log node, its pass and its input.
TEST_F(CliNonFinite, TheErrorNamesTheNodeThatMadeTheFirstNonFiniteValue) {
  const CliRun r = fails(plus(common("data"), {"-o", path("out.onnx")}),
                         {"the loss is", "at step 2", "first non-finite value: node 'log' (Log), forward pass, output 0",
                          "input 'magnitude' float32[8, 4]: finite; finite values in [0,",
                          "its inputs are all finite: this Log made the non-finite values"});
  EXPECT_FALSE(fs::exists(path("out.onnx")));
}

// --skip-nonfinite leaves batch 2 out, says so once with the trace, counts it in the epoch line,
// the log and the summary, and ends with the weights of a run on the data without that batch.
TEST_F(CliNonFinite, SkipNonFiniteLeavesTheBatchOutAsIfItWereNotInTheData) {
  const CliRun r = ok(plus(common("data"), {"--skip-nonfinite", "--epochs", "2", "-o", path("skip.onnx"), "--log",
                                            path("skip.jsonl")}));
  EXPECT_EQ(count_of(r.out, "warning: --skip-nonfinite left out batch 2 of epoch 1/2"), 1) << r.out;
  EXPECT_HAS(r.out, "first non-finite value: node 'log' (Log), forward pass");
  EXPECT_EQ(count_of(r.out, "; skipped 1 non-finite step"), 2) << r.out;
  EXPECT_HAS(r.out, "done: 10 steps");
  EXPECT_HAS(r.out, "skipped 2 steps with non-finite values (--skip-nonfinite)");
  const std::string log = read_file(path("skip.jsonl"));
  EXPECT_EQ(count_of(log, "\"event\": \"skipped_nonfinite\""), 2) << log;
  EXPECT_HAS(log, "\"epoch_skipped_nonfinite\": 1");

  ok(plus(common("rest"), {"--epochs", "2", "-o", path("rest.onnx")}));
  EXPECT_EQ(weights_of(path("skip.onnx")), weights_of(path("rest.onnx")));
}

// The count survives a resume: stopped after the skip, resumed, the run ends as an uninterrupted one.
TEST_F(CliNonFinite, TheSkippedCountSurvivesResume) {
  ok(plus(common("data"),
          {"--skip-nonfinite", "--epochs", "2", "--max-steps", "3", "--checkpoint-dir", path("ck"), "-o", path("a.onnx")}));
  const CliRun resumed =
      ok(plus(common("data"), {"--skip-nonfinite", "--epochs", "2", "--checkpoint-dir", path("ck"), "--resume", "-o",
                               path("a.onnx")}));
  EXPECT_HAS(resumed.out, "skipped 2 steps with non-finite values");
  EXPECT_EQ(count_of(resumed.out, "; skipped 1 non-finite step"), 2) << resumed.out;
  ok(plus(common("data"), {"--skip-nonfinite", "--epochs", "2", "-o", path("b.onnx")}));
  EXPECT_EQ(weights_of(path("a.onnx")), weights_of(path("b.onnx")));
}

// Every batch non-finite: the run stops after a whole epoch of them.
TEST_F(CliNonFinite, SkipNonFiniteStopsWhenNothingIsLeft) {
  Samples s = separable(48, 1);
  for (float& v : s.x) v = 0;
  write_npy_data(path("zeros"), s);
  fails(plus(common("zeros"), {"--skip-nonfinite", "-o", path("out.onnx")}),
        {"6 micro-batches in a row came out non-finite (--skip-nonfinite stops after 6)", "node 'log' (Log)"});
  EXPECT_FALSE(fs::exists(path("out.onnx")));
}

// --detect-anomaly stops at the first non-finite output, the same node; on clean data it
// changes no result.
TEST_F(CliNonFinite, DetectAnomalyStopsAtTheSameNode) {
  fails(plus(common("data"), {"--detect-anomaly", "-o", path("out.onnx")}),
        {"a value turns NaN or Inf at step 2 (detect_anomaly)",
         "first non-finite value: node 'log' (Log), forward pass, output 0 'features'"});
  ok(plus(common("rest"), {"--detect-anomaly", "-o", path("checked.onnx")}));
  ok(plus(common("rest"), {"-o", path("plain.onnx")}));
  EXPECT_EQ(weights_of(path("checked.onnx")), weights_of(path("plain.onnx")));
}

TEST_F(CliNonFinite, HelpListsBothFlags) {
  const CliRun r = ok({"train", "--help"});
  EXPECT_HAS(r.out, "--skip-nonfinite");
  EXPECT_HAS(r.out, "--detect-anomaly");
}

}  // namespace
}  // namespace onnx_train::cli_test
