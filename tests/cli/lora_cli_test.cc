// --lora on the command line: the start-up line says what trains, -o writes the merged model
// (or, with --lora-export separate, the base and OUT.lora.onnx, which --lora-adapter loads for
// eval, predict, run and further training), `export CHECKPOINT` rebuilds the adapters and merges, a resume
// with other LoRA options is refused, and a bad --lora-targets names the flag and the weights.
#include <gtest/gtest.h>

#include "tests/cli/cli_harness.h"
#include "tests/support/mlp_model.h"

namespace onnx_train::cli_test {
namespace {

class CliLora : public CliTest {};

TEST_F(CliLora, TrainsAdaptersAndExportsMergedOrSeparate) {
  const std::string model = testing::make_mlp(path("mlp.onnx"), /*bn_and_dropout=*/false);
  write_npy_data(path("data"), separable(128, 1), 32);
  const std::vector<std::string> common = {model, path("data"), "--batch-size", "16", "--lr", "0.05",
                                           "--seed", "2", "--lora", "2", "--max-steps", "6"};
  const CliRun merged = ok(plus(common, {"-o", path("merged.onnx"), "--checkpoint-dir", path("ck")}));
  // fc2 computes the logits the loss reads: the head stays out; fc1 [8, 4] gets A [4, 2], B [2, 8].
  EXPECT_HAS(merged.out, "LoRA r=2 alpha=2 on 1 weight (fc1.weight): 24 values trained (");
  EXPECT_TRUE(fs::exists(path("merged.onnx")));

  // The checkpoint holds the adapters; export rebuilds them and merges: the same weights.
  ok({"export", path("ck/step-000000006.ckpt"), "-o", path("from_checkpoint.onnx")});
  const auto a = metadata_of(path("merged.onnx")), b = metadata_of(path("from_checkpoint.onnx"));
  EXPECT_EQ(a.count("training.steps"), b.count("training.steps"));
  const CliRun eval_merged = ok({"eval", path("merged.onnx"), path("data")});
  const CliRun eval_checkpoint = ok({"eval", path("from_checkpoint.onnx"), path("data")});
  EXPECT_EQ(number_after(eval_merged.out, "loss"), number_after(eval_checkpoint.out, "loss"));

  // A resume with another rank is refused.
  fails(plus(common, {"--lora", "3", "--checkpoint-dir", path("ck"), "--resume", "--max-steps", "8"}),
        {"--lora: 2 in the checkpoint, 3 now"});

  // Separate: the base as given plus the adapters; eval with --lora-adapter scores the merged model.
  ok(plus(common, {"-o", path("sep.onnx"), "--lora-export", "separate"}));
  EXPECT_TRUE(fs::exists(path("sep.lora.onnx")));
  const CliRun eval_adapter = ok({"eval", path("sep.onnx"), path("data"), "--lora-adapter", path("sep.lora.onnx")});
  EXPECT_EQ(number_after(eval_adapter.out, "loss"), number_after(eval_merged.out, "loss"));
  // export merges an adapter file into its base: the same model as the merged export.
  ok({"export", path("sep.onnx"), "--lora-adapter", path("sep.lora.onnx"), "-o", path("sep_merged.onnx")});
  EXPECT_EQ(number_after(ok({"eval", path("sep_merged.onnx"), path("data")}).out, "loss"),
            number_after(eval_merged.out, "loss"));
  EXPECT_FALSE(fs::exists(path("sep_merged.onnx.data")));  // a small model: inline by default
  // --external-data places the merged weights as asked, with the same model.
  ok({"export", path("sep.onnx"), "--lora-adapter", path("sep.lora.onnx"), "-o", path("sep_external.onnx"),
      "--external-data", "always"});
  EXPECT_TRUE(fs::exists(path("sep_external.onnx.data")));
  EXPECT_EQ(number_after(ok({"eval", path("sep_external.onnx"), path("data")}).out, "loss"),
            number_after(eval_merged.out, "loss"));
  // run merges them too: the same outputs as the merged model's.
  const std::string run_merged = ok({"run", path("merged.onnx"), "--batch", "2"}).out;
  const std::string run_adapter = ok({"run", path("sep.onnx"), "--lora-adapter", path("sep.lora.onnx"), "--batch", "2"}).out;
  EXPECT_EQ(run_adapter.substr(run_adapter.find("output ")), run_merged.substr(run_merged.find("output ")));
  // So does predict.
  ok({"predict", path("merged.onnx"), path("data/val"), "-o", path("merged.csv")});
  ok({"predict", path("sep.onnx"), path("data/val"), "--lora-adapter", path("sep.lora.onnx"), "-o", path("sep.csv")});
  EXPECT_EQ(read_file(path("sep.csv")), read_file(path("merged.csv")));
  // On another base: one clear error.
  const std::string other = make_linear(path("linear.onnx"), {4}, 3);
  fails({"export", other, "--lora-adapter", path("sep.lora.onnx"), "-o", path("bad.onnx")},
        {"was made for another base model (mlp.onnx)", "'fc1.weight' is float32[8, 4] in the adapter's base, missing here"});
  // Training goes on from the adapter file.
  const CliRun more = ok({path("sep.onnx"), path("data"), "--lora-adapter", path("sep.lora.onnx"), "--max-steps", "2",
                          "--batch-size", "16", "-o", path("more.onnx")});
  EXPECT_HAS(more.out, "LoRA r=2 alpha=2 on 1 weight (fc1.weight)");
}

TEST_F(CliLora, BadTargetsNameTheFlagAndTheEligibleWeights) {
  const std::string model = testing::make_mlp(path("mlp.onnx"), /*bn_and_dropout=*/false);
  write_npy_data(path("data"), separable(64, 1), 16);
  fails({model, path("data"), "--lora", "2", "--lora-targets", "^attn"},
        {"--lora-targets", "matches no eligible weight", "fc1.weight, fc2.weight"});
  fails({model, path("data"), "--lora", "0"}, {"--lora"});
}

}  // namespace
}  // namespace onnx_train::cli_test
