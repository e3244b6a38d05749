// What a new user meets in the first hour with the command line, tried as they would: help
// asked for after a command, a mistyped option, a file-size limit set with the shell's
// `ulimit -f`, and a checkpoint damaged on disk.
#include <onnx/onnx_pb.h>

#include "tests/cli/cli_harness.h"

namespace onnx_train::cli_test {
namespace {

class CliFirstHour : public CliTest {};

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

}  // namespace
}  // namespace onnx_train::cli_test
