// --profile on the command line: `onnx-train MODEL DATA --profile` prints the training profile
// (forward, backward and optimizer sections with their nodes, and the peak memory) after the
// run, and `run --profile` prints the inference profile in the same format. No timing is
// asserted, only what the report lists.
#include "tests/cli/cli_harness.h"

namespace onnx_train::cli_test {
namespace {

using ProfileCli = CliTest;

// The per-run milliseconds of section `name` in the summary at the top of the report.
double section_ms(const std::string& out, const std::string& name) {
  const size_t at = out.find("\n  " + name + " ");
  if (at == std::string::npos) return -1;
  return std::stod(out.substr(at + 3 + name.size()));
}

TEST_F(ProfileCli, TrainPrintsForwardBackwardOptimizerAndMemory) {
  const std::string model = make_mlp(path("mlp.onnx"), true);
  write_npy_data(path("data"), separable(32, 1), 0);
  const CliRun r = ok({model, path("data"), "--batch-size", "8", "--profile", "--optimizer", "sgd", "--momentum",
                       "0.9", "-o", path("out.onnx")});
  EXPECT_HAS(r.out, "profile: ms per run of each section");
  // 4 steps, the first left out: 3 runs of each section.
  for (const char* section : {"forward", "backward", "optimizer"}) {
    EXPECT_HAS(r.out, std::string(section) + ": ms per run by op type (nodes)");
    EXPECT_HAS(r.out, std::string(section) + ": slowest nodes, ms per run");
    EXPECT_GE(section_ms(r.out, section), 0) << section << "\n" << r.show();
  }
  EXPECT_HAS(r.out, "3 runs");
  EXPECT_HAS(r.out, "  Gemm ");                // a forward op type
  EXPECT_HAS(r.out, "  BatchNormalization ");  // forward, in training form
  EXPECT_HAS(r.out, "sgd update");             // the optimizer's phase
  EXPECT_HAS(r.out, "non-finite check");
  EXPECT_HAS(r.out, "memory: peak intermediates ");
  EXPECT_HAS(r.out, "peak RSS ");
  const double total = section_ms(r.out, "total");
  EXPECT_NEAR(total, section_ms(r.out, "forward") + section_ms(r.out, "backward") + section_ms(r.out, "optimizer"),
              0.01);
  EXPECT_HAS(r.out, "done: 4 steps");
}

TEST_F(ProfileCli, RunPrintsTheInferenceProfileInTheSameFormat) {
  const std::string model = make_mlp(path("mlp.onnx"), false);
  const CliRun r = ok({"run", model, "--batch", "4", "--repeat", "2", "--profile"});
  EXPECT_HAS(r.out, "profile: ms per run of each section\n  inference ");
  EXPECT_HAS(r.out, "inference: ms per run by op type (nodes)\n");
  EXPECT_HAS(r.out, "inference: slowest nodes, ms per run\n");
  EXPECT_HAS(r.out, "  Gemm ");
  EXPECT_HAS(r.out, "memory: peak intermediates ");
}

}  // namespace
}  // namespace onnx_train::cli_test
