// Models as current exporters write them, at opsets 18, 20 and 23, through the command line
// (tests/data/opset_models/, made by tests/data/make_opset_models.py): a CNN classifier
// (GroupNormalization-18/-21, Mish-18, Gelu-20, ReduceMean-18 pooling) and a transformer encoder
// classifier (ReduceMean-18 LayerNorm, Split-18, Mish-18 / Gelu-20, and at opset 23
// RMSNormalization, RotaryEmbedding and Attention), each loaded by lowering to opset 17; and the
// opset-18 transformer with its LayerNorms as calls of a model-local function (inlined, then lowered).
//
// Each model's forward matches ONNX Runtime's committed outputs; `onnx-train MODEL DATA -o OUT`
// trains it on its npy data, and the export keeps what the user gave (the opsets it imports,
// every node with its name and op, its local functions, the metadata) and runs in ONNX Runtime
// (tests/cli/ort_compare.js, onnxruntime-node 1.31.1 as tools/test.sh installs it) with onnx-train's outputs within
// 1e-4; the trained export scores a lower loss than the original on the training data.
#include <gtest/gtest.h>
#include <onnx/onnx_pb.h>

#include <cmath>
#include <map>
#include <string>
#include <tuple>
#include <vector>

#include "importers/proto_io.h"
#include "onnx_train/session.h"
#include "tests/cli/cli_harness.h"
#include "tests/support/onnx_test_case.h"

namespace onnx_train::cli_test {
namespace {

const std::string kModels = std::string(ONNX_TRAIN_SOURCE_DIR) + "/tests/data/opset_models";

const std::vector<std::string> kModelNames = {"cnn_opset18",
                                              "cnn_opset20",
                                              "cnn_opset23",
                                              "transformer_opset18",
                                              "transformer_opset20",
                                              "transformer_opset23",
                                              "transformer_functions_opset18"};

onnx::ModelProto proto_of(const std::string& path) {
  onnx::ModelProto model;
  parse_proto_file(path, model, "ONNX model");
  return model;
}

std::map<std::string, int64_t> opsets_of(const onnx::ModelProto& model) {
  std::map<std::string, int64_t> out;
  for (const auto& op : model.opset_import()) out[op.domain() == "ai.onnx" ? "" : op.domain()] = op.version();
  return out;
}

// (name, domain, op_type) of every node, in order.
std::vector<std::tuple<std::string, std::string, std::string>> nodes_of(const onnx::ModelProto& model) {
  std::vector<std::tuple<std::string, std::string, std::string>> out;
  for (const auto& n : model.graph().node()) out.emplace_back(n.name(), n.domain(), n.op_type());
  return out;
}

// (domain, name, node count) of every local function, in order.
std::vector<std::tuple<std::string, std::string, int>> functions_of(const onnx::ModelProto& model) {
  std::vector<std::tuple<std::string, std::string, int>> out;
  for (const auto& f : model.functions()) out.emplace_back(f.domain(), f.name(), f.node_size());
  return out;
}

std::map<std::string, std::string> metadata_of(const onnx::ModelProto& model) {
  std::map<std::string, std::string> out;
  for (const auto& p : model.metadata_props()) out[p.key()] = p.value();
  return out;
}

std::string model_path(const std::string& name) { return kModels + "/" + name + "/model.onnx"; }
std::string input_path(const std::string& name) { return kModels + "/" + name + "/test_data_set_0/input_0.pb"; }
std::string data_path(const std::string& name) {
  return kModels + (name.rfind("cnn", 0) == 0 ? "/cnn_data" : "/transformer_data");
}

// The loss `onnx-train eval` prints ("MODEL on DATA (val): loss 0.1234, ..."); NaN when absent.
double eval_loss(const CliRun& r) { return number_after(r.out, "): loss "); }

class OpsetModels : public ::testing::TestWithParam<std::string> {};

// The lowered model computes what ONNX Runtime computed on the original file.
TEST_P(OpsetModels, ForwardMatchesOnnxRuntime) {
  const testing::CaseResult r = testing::run_test_case(kModels + "/" + GetParam(), {1e-4, 1e-5});
  EXPECT_EQ(r.status, testing::CaseResult::Status::Passed) << GetParam() << ": " << r.message;
}

INSTANTIATE_TEST_SUITE_P(Models, OpsetModels, ::testing::ValuesIn(kModelNames));

class OpsetModelsCli : public CliTest, public ::testing::WithParamInterface<std::string> {};

TEST_P(OpsetModelsCli, TrainsAndItsExportKeepsTheModelAndRunsInOnnxRuntime) {
  const std::string name = GetParam(), model = model_path(name), trained = path(name + ".trained.onnx");
  std::vector<std::string> args = {model, data_path(name), "--optimizer", "adam", "--lr", "0.01", "--epochs",
                                   "4",   "--batch-size",  "8",           "-o",   trained};
  if (name == "transformer_opset23") args = plus(args, {"--freeze", "^rope\\."});  // the rotary caches
  const CliRun r = run(args);
  ASSERT_EQ(r.code, 0) << r.show();
  EXPECT_LACKS(r.err, "error");

  // The export is the user's model: its opsets, its nodes by name and op, its functions, its metadata.
  const onnx::ModelProto original = proto_of(model), exported = proto_of(trained);
  EXPECT_EQ(opsets_of(exported), opsets_of(original));
  EXPECT_EQ(nodes_of(exported), nodes_of(original));
  EXPECT_EQ(functions_of(exported), functions_of(original));
  const auto want = metadata_of(original), got = metadata_of(exported);
  for (const auto& [key, value] : want) {
    EXPECT_TRUE(got.count(key)) << "metadata key '" << key << "' lost";
    if (got.count(key)) EXPECT_EQ(got.at(key), value) << key;
  }

  // It trained: other outputs than the original's, and a lower loss on the training data.
  const Tensor x = read_tensor_file(input_path(name));
  const Tensor before = Session::from_file(model).run({{"x", x}}).at(0);
  const Tensor after = Session::from_file(trained).run({{"x", x}}).at(0);
  EXPECT_NE(before.to_doubles(), after.to_doubles()) << "training changed nothing";
  const CliRun eval_before = run({"eval", model, data_path(name) + "/train"});
  const CliRun eval_after = run({"eval", trained, data_path(name) + "/train"});
  const double loss_before = eval_loss(eval_before), loss_after = eval_loss(eval_after);
  EXPECT_TRUE(std::isfinite(loss_before) && std::isfinite(loss_after)) << eval_before.show() << eval_after.show();
  EXPECT_LT(loss_after, loss_before) << eval_before.show() << eval_after.show();

  // ONNX Runtime runs the export as it is and gives onnx-train's outputs.
  const auto compared = compare_in_ort(find_node(), trained, x, after, "1e-4", root_);
  EXPECT_EQ(compared.first, 0) << compared.second << "\n" << kOrtInstall;
  EXPECT_HAS(compared.second, "max abs diff");
}

INSTANTIATE_TEST_SUITE_P(Models, OpsetModelsCli, ::testing::ValuesIn(kModelNames));

}  // namespace
}  // namespace onnx_train::cli_test
