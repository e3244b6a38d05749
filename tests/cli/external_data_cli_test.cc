// A model whose weights are ONNX external data, trained by the real binary: the export and the
// checkpoints are written with external data ("<file>.data" beside each), rotation removes a
// checkpoint's data file with it, `inspect` and `export` read such a checkpoint, and the
// exported pair runs in ONNX Runtime with onnx-train's outputs.
#include <gtest/gtest.h>

#include <filesystem>
#include <fstream>
#include <random>
#include <string>
#include <vector>

#include "importers/proto_io.h"
#include "onnx_train/session.h"
#include "tests/cli/cli_harness.h"

namespace onnx_train::cli_test {
namespace {

constexpr int64_t kFeatures = 64, kClasses = 5;

// x [N, 64] -> Flatten -> Gemm(5) -> logits (fc.weight [5, 64]: 1280 bytes), its weights moved
// into DIR/lin.onnx.data end to end, as onnx.save_model(save_as_external_data=True) writes them.
std::string make_external_linear(const std::string& dir) {
  const std::string path = make_linear(dir + "/lin.onnx", {kFeatures}, kClasses);
  onnx::ModelProto model;
  parse_proto_file(path, model, "ONNX model");
  std::ofstream data(dir + "/lin.onnx.data", std::ios::binary);
  int64_t offset = 0;
  for (auto& t : *model.mutable_graph()->mutable_initializer()) {
    data << t.raw_data();
    const int64_t length = static_cast<int64_t>(t.raw_data().size());
    t.clear_raw_data();
    t.set_data_location(onnx::TensorProto::EXTERNAL);
    for (const auto& [key, v] : std::vector<std::pair<std::string, std::string>>{
             {"location", "lin.onnx.data"}, {"offset", std::to_string(offset)}, {"length", std::to_string(length)}}) {
      auto* entry = t.add_external_data();
      entry->set_key(key);
      entry->set_value(v);
    }
    offset += length;
  }
  std::ofstream out(path, std::ios::binary | std::ios::trunc);
  model.SerializeToOstream(&out);
  return path;
}

// DATA/train/{x,label}.npy: 64 samples of 64 features, the class the sign pattern of 5 features.
void write_data(const std::string& data) {
  std::mt19937 rng(5);
  std::normal_distribution<float> normal(0.0f, 1.0f);
  std::vector<float> x(64 * kFeatures);
  std::vector<int64_t> y(64);
  for (int i = 0; i < 64; ++i) {
    y[i] = i % kClasses;
    for (int f = 0; f < kFeatures; ++f) x[i * kFeatures + f] = normal(rng) + (f == y[i] ? 3.0f : 0.0f);
  }
  fs::create_directories(data + "/train");
  write_file(data + "/train/x.npy", npy("<f4", {64, kFeatures}, bytes_of(x)));
  write_file(data + "/train/label.npy", npy("<i8", {64}, bytes_of(y)));
}

std::vector<std::string> files_in(const std::string& dir) {
  std::vector<std::string> names;
  for (const auto& e : fs::directory_iterator(dir)) names.push_back(e.path().filename().string());
  std::sort(names.begin(), names.end());
  return names;
}

using ExternalDataCli = CliTest;

TEST_F(ExternalDataCli, TrainCheckpointRotateInspectExportAndRunInOnnxRuntime) {
  const std::string model = make_external_linear(root_);
  const std::string data_before = read_file(model + ".data");
  write_data(path("data"));
  const std::string ck = path("ck");
  const CliRun train = ok({model, path("data"), "--epochs", "2", "--batch-size", "16", "--lr", "0.05",
                           "--external-data", "always", "--checkpoint-dir", ck, "--checkpoint-every", "2",
                           "--keep-checkpoints", "1", "-o", path("trained.onnx")});
  EXPECT_EQ(read_file(model + ".data"), data_before) << "training wrote into the model's data file";

  // The export: trained.onnx + trained.onnx.data, fc.weight in the data file.
  ASSERT_TRUE(fs::exists(path("trained.onnx.data"))) << train.show();
  onnx::ModelProto exported;
  parse_proto_file(path("trained.onnx"), exported, "ONNX model");
  for (const auto& t : exported.graph().initializer())
    EXPECT_EQ(t.data_location() == onnx::TensorProto::EXTERNAL, t.name() == "fc.weight") << t.name();

  // Rotation kept one checkpoint, with its data file, and nothing else.
  const std::vector<std::string> kept = files_in(ck);
  ASSERT_EQ(kept.size(), 2u) << fmt::format("{}", fmt::join(kept, ", "));
  EXPECT_EQ(kept[1], kept[0] + ".data");
  const std::string checkpoint = ck + "/" + kept[0];

  const CliRun inspect = ok({"inspect", checkpoint});
  EXPECT_HAS(inspect.out, "fc.weight");

  // export reads it (mapped) and writes with external data as the run asked, or inline.
  ok({"export", checkpoint, "-o", path("again.onnx")});
  EXPECT_TRUE(fs::exists(path("again.onnx.data")));
  EXPECT_EQ(read_file(path("again.onnx.data")), read_file(path("trained.onnx.data")));
  ok({"export", checkpoint, "--external-data", "never", "-o", path("inline.onnx")});
  EXPECT_FALSE(fs::exists(path("inline.onnx.data")));
  const CliRun bad = run({"export", checkpoint, "--external-data", "sometimes", "-o", path("bad.onnx")});
  EXPECT_EQ(bad.code, 1) << bad.show();
  EXPECT_HAS(bad.err, "--external-data sometimes: unknown kind");

  // The pair runs in ONNX Runtime and computes what onnx-train computes.
  std::mt19937 rng(9);
  std::normal_distribution<float> normal(0.0f, 1.0f);
  Tensor x(DType::Float32, {3, kFeatures});
  for (int64_t i = 0; i < x.numel(); ++i) x.data<float>()[i] = normal(rng);
  const Tensor y = Session::from_file(path("trained.onnx")).run({{"x", x}}).at(0);
  EXPECT_EQ(Session::from_file(path("inline.onnx")).run({{"x", x}}).at(0).to_doubles(), y.to_doubles());
  const auto compared = compare_in_ort(find_node(), path("trained.onnx"), x, y, "1e-5", root_);
  EXPECT_EQ(compared.first, 0) << compared.second << "\n" << kOrtInstall;
  EXPECT_HAS(compared.second, "max abs diff");
}

// Auto: a model read with external data is exported with it; --export-training and graph too.
TEST_F(ExternalDataCli, AutoWritesExternalDataForAnExternalDataModel) {
  const std::string model = make_external_linear(root_);
  write_data(path("data"));
  ok({model, path("data"), "--epochs", "1", "--batch-size", "16", "-o", path("trained.onnx"), "--export-training",
      path("training.onnx")});
  EXPECT_TRUE(fs::exists(path("trained.onnx.data")));
  EXPECT_TRUE(fs::exists(path("training.onnx.data")));
  ok({"graph", model, "-o", path("graph.onnx")});
  EXPECT_TRUE(fs::exists(path("graph.onnx.data")));
  ok({"graph", model, "--external-data", "never", "-o", path("graph-inline.onnx")});
  EXPECT_FALSE(fs::exists(path("graph-inline.onnx.data")));
}

}  // namespace
}  // namespace onnx_train::cli_test
