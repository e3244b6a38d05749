// Models whose weights live in external data files, and locations that must be refused.
#include <gtest/gtest.h>

#include <onnx/checker.h>

#include <filesystem>
#include <fstream>
#include <random>
#include <sstream>

#include "importers/checkpoint_file.h"
#include "importers/onnx_model.h"
#include "importers/proto_io.h"
#include "onnx_train/session.h"
#include "onnx_train/training_session.h"
#include "tests/support/model_builder.h"

namespace onnx_train {
namespace {

namespace fs = std::filesystem;
using testing::load_error;
using testing::ModelBuilder;
using testing::TempDir;

void write_floats(const std::string& path, const std::vector<float>& values, size_t leading_bytes = 0) {
  std::ofstream out(path, std::ios::binary);
  std::vector<char> pad(leading_bytes, 0);
  out.write(pad.data(), static_cast<std::streamsize>(pad.size()));
  out.write(reinterpret_cast<const char*>(values.data()), static_cast<std::streamsize>(values.size() * 4));
}

// y = Identity(w) and z = Identity(v), with w and v stored in one external file at two offsets.
std::string make_model(const std::string& dir, const std::string& location) {
  ModelBuilder m(13);
  for (const auto& [name, offset] : {std::pair<std::string, int>{"w", 0}, {"v", 64}}) {
    auto& t = m.initializer(name, Tensor(DType::Float32, {2, 3}));
    t.clear_raw_data();
    t.set_data_location(onnx::TensorProto::EXTERNAL);
    auto* loc = t.add_external_data();
    loc->set_key("location");
    loc->set_value(location);
    auto* off = t.add_external_data();
    off->set_key("offset");
    off->set_value(std::to_string(offset));
    auto* len = t.add_external_data();
    len->set_key("length");
    len->set_value("24");
  }
  m.node("Identity", {"w"}, {"y"});
  m.node("Identity", {"v"}, {"z"});
  m.output("y", onnx::TensorProto::FLOAT, {2, 3});
  m.output("z", onnx::TensorProto::FLOAT, {2, 3});
  const std::string path = dir + "/model.onnx";
  m.save(path);
  return path;
}

void write_weights(const std::string& path) {
  std::vector<float> values(22, 0.0f);  // 64 bytes of w (+ padding), then v
  for (int i = 0; i < 6; ++i) values[i] = static_cast<float>(i + 1);
  for (int i = 0; i < 6; ++i) values[16 + i] = static_cast<float>(-(i + 1));
  write_floats(path, values);
}

TEST(ExternalData, LoadsTensorsAtTheirOffsets) {
  TempDir dir;
  fs::create_directories(dir.path() + "/data");
  write_weights(dir.path() + "/data/weights.bin");
  Session s = Session::from_file(make_model(dir.path(), "data/weights.bin"));
  auto out = s.run({});
  ASSERT_EQ(out.size(), 2u);
  EXPECT_EQ(out[0].to_doubles(), (std::vector<double>{1, 2, 3, 4, 5, 6}));
  EXPECT_EQ(out[1].to_doubles(), (std::vector<double>{-1, -2, -3, -4, -5, -6}));
}

TEST(ExternalData, RejectsParentDirectoryEscape) {
  TempDir dir;
  fs::create_directories(dir.path() + "/model");
  write_weights(dir.path() + "/weights.bin");  // exists, but outside the model's folder
  const std::string err = load_error(make_model(dir.path() + "/model", "../weights.bin"));
  EXPECT_NE(err.find("leaves the model's folder"), std::string::npos) << err;
  EXPECT_NE(err.find("initializer 'w'"), std::string::npos) << err;
}

TEST(ExternalData, RejectsAbsolutePath) {
  TempDir dir;
  write_weights(dir.path() + "/weights.bin");
  const std::string err = load_error(make_model(dir.path(), dir.path() + "/weights.bin"));
  EXPECT_NE(err.find("absolute path"), std::string::npos) << err;
}

TEST(ExternalData, RejectsSymlinkOutOfTheFolder) {
  TempDir outside;
  TempDir dir;
  write_weights(outside.path() + "/weights.bin");
  fs::create_symlink(outside.path() + "/weights.bin", dir.path() + "/weights.bin");
  const std::string err = load_error(make_model(dir.path(), "weights.bin"));
  EXPECT_NE(err.find("outside the model's folder"), std::string::npos) << err;

  // A symlinked folder that escapes is refused the same way.
  fs::create_directory_symlink(outside.path(), dir.path() + "/linked");
  const std::string err2 = load_error(make_model(dir.path(), "linked/weights.bin"));
  EXPECT_NE(err2.find("outside the model's folder"), std::string::npos) << err2;
}

TEST(ExternalData, SymlinkInsideTheFolderIsFine) {
  TempDir dir;
  fs::create_directories(dir.path() + "/real");
  write_weights(dir.path() + "/real/weights.bin");
  fs::create_symlink(dir.path() + "/real/weights.bin", dir.path() + "/weights.bin");
  EXPECT_NO_THROW(Session::from_file(make_model(dir.path(), "weights.bin")));
}

TEST(ExternalData, ReportsMissingAndShortFiles) {
  TempDir dir;
  const std::string err = load_error(make_model(dir.path(), "missing.bin"));
  EXPECT_NE(err.find("cannot be opened"), std::string::npos) << err;

  write_floats(dir.path() + "/short.bin", {1, 2, 3});
  const std::string err2 = load_error(make_model(dir.path(), "short.bin"));
  EXPECT_NE(err2.find("has 12 bytes"), std::string::npos) << err2;
}


// ---- Mapping, training, export and checkpoints with external data

std::string read_bytes(const std::string& path) {
  std::ifstream in(path, std::ios::binary);
  std::ostringstream out;
  out << in.rdbuf();
  return out.str();
}

onnx::ModelProto read_model(const std::string& path) {
  onnx::ModelProto model;
  parse_proto_file(path, model, "ONNX model");
  return model;
}

// Whether `p` lies in a mapping of `file` (/proc/self/maps), and that mapping's start ("" if none).
std::string mapping_of(const void* p, const std::string& file) {
  const std::string real = fs::canonical(file).string();
  std::ifstream maps("/proc/self/maps");
  for (std::string line; std::getline(maps, line);) {
    if (line.size() < real.size() || line.compare(line.size() - real.size(), real.size(), real) != 0) continue;
    uintptr_t start = 0, end = 0;
    char dash = 0;
    std::istringstream fields(line);
    fields >> std::hex >> start >> dash >> end;
    const auto at = reinterpret_cast<uintptr_t>(p);
    if (at >= start && at < end) return line.substr(0, line.find('-'));
  }
  return "";
}

void add_external(onnx::TensorProto& t, const std::string& location, int64_t offset, int64_t length) {
  t.clear_raw_data();
  t.set_data_location(onnx::TensorProto::EXTERNAL);
  for (const auto& [key, v] : std::vector<std::pair<std::string, std::string>>{
           {"location", location}, {"offset", std::to_string(offset)}, {"length", std::to_string(length)}}) {
    auto* entry = t.add_external_data();
    entry->set_key(key);
    entry->set_value(v);
  }
}

Tensor seeded(Shape shape, unsigned seed, float scale) {
  Tensor t(DType::Float32, std::move(shape));
  std::mt19937 rng(seed);
  std::normal_distribution<float> normal(0.0f, scale);
  for (int64_t i = 0; i < t.numel(); ++i) t.data<float>()[i] = normal(rng);
  return t;
}

// y = x W + b, x [N, 16], W [16, 32] (2 KiB) at offset 0 and b [32] at offset 2048 of
// DIR/weights.bin, as onnx.save_model(save_as_external_data=True) lays them out (end to end).
struct LinearModel {
  std::string path, data;
  Tensor w, b;
};

LinearModel make_linear(const std::string& dir) {
  LinearModel m{dir + "/linear.onnx", dir + "/weights.bin", seeded({16, 32}, 1, 0.3f), seeded({32}, 2, 0.1f)};
  ModelBuilder b(13);
  b.input("x", onnx::TensorProto::FLOAT, {-1, 16});
  add_external(b.initializer("W", m.w), "weights.bin", 0, 2048);
  add_external(b.initializer("b", m.b), "weights.bin", 2048, 128);
  b.node("MatMul", {"x", "W"}, {"xw"});
  b.node("Add", {"xw", "b"}, {"y"});
  b.output("y", onnx::TensorProto::FLOAT, {-1, 32});
  b.save(m.path);
  std::ofstream out(m.data, std::ios::binary);
  out.write(static_cast<const char*>(m.w.raw_data()), 2048);
  out.write(static_cast<const char*>(m.b.raw_data()), 128);
  return m;
}

std::map<std::string, Tensor> linear_batch(unsigned seed) {
  return {{"x", seeded({8, 16}, 100 + seed, 1.0f)}, {"label", seeded({8, 32}, 200 + seed, 1.0f)}};
}

TrainingOptions mse_sgd(ExternalDataMode mode) {
  TrainingOptions o;
  o.loss.kind = LossKind::MSE;
  o.optimizer.kind = "sgd";
  o.learning_rate = 0.05;
  o.external_data = mode;
  return o;
}

TEST(ExternalData, WeightsAreMappedFromTheirFileNotCopied) {
  TempDir dir;
  const LinearModel m = make_linear(dir.path());
  const Graph g = load_onnx_model(m.path);
  const Tensor& w = g.initializers.at("W");
  const Tensor& b = g.initializers.at("b");
  EXPECT_EQ(w.to_doubles(), m.w.to_doubles());
  EXPECT_EQ(b.to_doubles(), m.b.to_doubles());
  // Both inside the one mapping of weights.bin, where the file has them.
  const std::string mapping = mapping_of(w.raw_data(), m.data);
  ASSERT_FALSE(mapping.empty()) << "W is not in a mapping of " << m.data;
  EXPECT_EQ(mapping_of(b.raw_data(), m.data), mapping);
  EXPECT_EQ(static_cast<const char*>(b.raw_data()) - static_cast<const char*>(w.raw_data()), 2048);
  // A second load maps the file anew: what one model's training writes, the other does not see.
  Graph again = load_onnx_model(m.path);
  Tensor& w2 = again.initializers.at("W");
  ASSERT_FALSE(mapping_of(w2.raw_data(), m.data).empty());
  EXPECT_NE(mapping_of(w2.raw_data(), m.data), mapping);
  w2.data<float>()[0] = 42.0f;
  EXPECT_EQ(w.data<float>()[0], m.w.data<float>()[0]);
  EXPECT_EQ(load_onnx_model(m.path).initializers.at("W").data<float>()[0], m.w.data<float>()[0]);
}

// Two initializers a hand-made file stores on the same bytes do not alias: the second is a copy,
// so that training one leaves the other as it was.
TEST(ExternalData, TensorsOnTheSameBytesDoNotShareThem) {
  TempDir dir;
  write_weights(dir.path() + "/weights.bin");
  const std::string path = make_model(dir.path(), "weights.bin");
  onnx::ModelProto model;
  parse_proto_file(path, model, "ONNX model");
  model.mutable_graph()->mutable_initializer(1)->mutable_external_data(1)->set_value("0");  // v at w's offset
  std::ofstream(path, std::ios::binary | std::ios::trunc) << model.SerializeAsString();
  Graph g = load_onnx_model(path);
  Tensor& w = g.initializers.at("w");
  const Tensor& v = g.initializers.at("v");
  EXPECT_NE(w.raw_data(), v.raw_data());
  EXPECT_EQ(v.to_doubles(), w.to_doubles());
  w.data<float>()[0] = 42.0f;
  EXPECT_EQ(v.data<float>()[0], 1.0f);
}

TEST(ExternalData, AnOffsetNotAMultipleOfTheElementSizeIsReadIntoACopy) {
  TempDir dir;
  std::vector<float> values = {1, 2, 3, 4, 5, 6};
  std::string bytes(2, '\0');  // w at offset 2: its floats are not 4-byte aligned in a mapping
  bytes.append(reinterpret_cast<const char*>(values.data()), 24);
  std::ofstream(dir.path() + "/odd.bin", std::ios::binary) << bytes;
  ModelBuilder b(13);
  add_external(b.initializer("w", Tensor(DType::Float32, {2, 3})), "odd.bin", 2, 24);
  b.node("Identity", {"w"}, {"y"});
  b.output("y", onnx::TensorProto::FLOAT, {2, 3});
  b.save(dir.path() + "/odd.onnx");
  const Graph g = load_onnx_model(dir.path() + "/odd.onnx");
  const Tensor& w = g.initializers.at("w");
  EXPECT_EQ(w.to_doubles(), (std::vector<double>{1, 2, 3, 4, 5, 6}));
  EXPECT_EQ(mapping_of(w.raw_data(), dir.path() + "/odd.bin"), "");
  EXPECT_EQ(reinterpret_cast<uintptr_t>(w.raw_data()) % 64, 0u);
}

// Training updates the mapped weights in place (copy-on-write: the file keeps its bytes); the
// export writes them as external data into "<out>.data" at 4096-byte offsets (tensors under
// 1 KiB inline), and the pair loads back with the trained values and predictions; a checkpoint
// with external data resumes to the same parameters.
TEST(ExternalData, TrainExportAndCheckpointRoundTrip) {
  TempDir dir;
  const LinearModel m = make_linear(dir.path());
  const std::string file_before = read_bytes(m.data);
  TrainingSession s = TrainingSession::from_file(m.path, mse_sgd(ExternalDataMode::Always));
  for (unsigned step = 0; step < 3; ++step) s.train_step(linear_batch(step));
  EXPECT_NE(s.parameter("W").to_doubles(), m.w.to_doubles());
  EXPECT_EQ(read_bytes(m.data), file_before) << "training wrote into the model's data file";

  const std::string out = dir.path() + "/out/trained.onnx";
  fs::create_directories(dir.path() + "/out");
  s.export_model(out);
  ASSERT_TRUE(fs::exists(out + ".data"));
  EXPECT_FALSE(fs::exists(out + ".partial"));
  EXPECT_FALSE(fs::exists(out + ".data.partial"));
  const onnx::ModelProto exported = read_model(out);
  for (const auto& t : exported.graph().initializer()) {
    if (t.name() == "b") {  // 128 bytes: inline
      EXPECT_EQ(t.data_location(), onnx::TensorProto::DEFAULT);
      continue;
    }
    ASSERT_EQ(t.data_location(), onnx::TensorProto::EXTERNAL) << t.name();
    std::map<std::string, std::string> entries;
    for (const auto& e : t.external_data()) entries[e.key()] = e.value();
    EXPECT_EQ(entries["location"], "trained.onnx.data");
    EXPECT_EQ(std::stoll(entries["offset"]) % 4096, 0);
    EXPECT_EQ(entries["length"], "2048");
  }
  onnx::checker::check_model(out);
  const Graph reloaded = load_onnx_model(out);
  EXPECT_EQ(reloaded.initializers.at("W").to_doubles(), s.parameter("W").to_doubles());
  EXPECT_EQ(reloaded.initializers.at("b").to_doubles(), s.parameter("b").to_doubles());
  EXPECT_FALSE(mapping_of(reloaded.initializers.at("W").raw_data(), out + ".data").empty());
  const Tensor x = linear_batch(9).at("x");
  EXPECT_EQ(Session::from_file(out).run({{"x", x}}).at(0).to_doubles(), s.predict({{"x", x}}).at(0).to_doubles());

  // Checkpoint: "<ckpt>.data" beside it; a new session resumes to the same parameters.
  const std::string ckpt = dir.path() + "/run.ckpt";
  s.save_checkpoint(ckpt);
  ASSERT_TRUE(fs::exists(checkpoint_data_path(ckpt)));
  int external = 0;
  const onnx::ModelProto checkpoint = read_model(ckpt);
  for (const auto& t : checkpoint.graph().initializer())
    external += t.data_location() == onnx::TensorProto::EXTERNAL;
  EXPECT_GE(external, 1);
  TrainingSession resumed = TrainingSession::from_file(m.path, mse_sgd(ExternalDataMode::Always));
  resumed.load_checkpoint(ckpt);
  EXPECT_EQ(resumed.parameter("W").to_doubles(), s.parameter("W").to_doubles());
  EXPECT_EQ(resumed.step(), s.step());
  EXPECT_EQ(resumed.train_step(linear_batch(5)).loss, s.train_step(linear_batch(5)).loss);
  EXPECT_EQ(read_bytes(m.data), file_before);

  // The training graph and the model with its training information, with external data too.
  s.export_training_graph(dir.path() + "/graph.onnx");
  EXPECT_TRUE(fs::exists(dir.path() + "/graph.onnx.data"));
  s.export_training_model(dir.path() + "/training.onnx");
  EXPECT_TRUE(fs::exists(dir.path() + "/training.onnx.data"));
  onnx::checker::check_model(dir.path() + "/training.onnx");
  EXPECT_EQ(load_onnx_model(dir.path() + "/training.onnx").initializers.at("W").to_doubles(),
            s.parameter("W").to_doubles());
}

// Auto: a model read with external data is written with it; Never writes everything inline
// and no data file.
TEST(ExternalData, AutoFollowsTheModelAndNeverWritesInline) {
  TempDir dir;
  const LinearModel m = make_linear(dir.path());
  TrainingSession s = TrainingSession::from_file(m.path, mse_sgd(ExternalDataMode::Auto));
  s.train_step(linear_batch(0));
  s.export_model(dir.path() + "/auto.onnx");
  EXPECT_TRUE(fs::exists(dir.path() + "/auto.onnx.data"));
  s.save_checkpoint(dir.path() + "/small.ckpt");  // checkpoints: by size only
  EXPECT_FALSE(fs::exists(dir.path() + "/small.ckpt.data"));

  TrainingSession never = TrainingSession::from_file(m.path, mse_sgd(ExternalDataMode::Never));
  never.export_model(dir.path() + "/inline.onnx");
  EXPECT_FALSE(fs::exists(dir.path() + "/inline.onnx.data"));
  const onnx::ModelProto written = read_model(dir.path() + "/inline.onnx");
  for (const auto& t : written.graph().initializer())
    EXPECT_EQ(t.data_location(), onnx::TensorProto::DEFAULT) << t.name();
}

TEST(ExternalData, TheModeDecidesAndNeverRefusesWhatOneFileCannotHold) {
  const uint64_t gb = uint64_t{1} << 30;
  EXPECT_FALSE(use_external_data(ExternalDataMode::Auto, false, gb, "m.onnx", "model"));
  EXPECT_TRUE(use_external_data(ExternalDataMode::Auto, false, 2 * gb, "m.onnx", "model"));
  EXPECT_TRUE(use_external_data(ExternalDataMode::Auto, true, 10, "m.onnx", "model"));
  EXPECT_TRUE(use_external_data(ExternalDataMode::Always, false, 10, "m.onnx", "model"));
  EXPECT_FALSE(use_external_data(ExternalDataMode::Never, true, gb, "m.onnx", "model"));
  try {
    use_external_data(ExternalDataMode::Never, false, 3 * gb, "m.onnx", "model");
    ADD_FAILURE() << "Never accepted 3 GiB";
  } catch (const Error& e) {
    EXPECT_NE(std::string(e.what()).find("m.onnx: the model's tensors take 3.22 GB"), std::string::npos) << e.what();
    EXPECT_NE(std::string(e.what()).find("--external-data auto or always"), std::string::npos) << e.what();
  }
}

// An earlier "<out>.data" is replaced whole (a larger stale file would otherwise keep its tail).
TEST(ExternalData, AStaleDataFileIsReplacedNotAppendedTo) {
  TempDir dir;
  const LinearModel m = make_linear(dir.path());
  const std::string out = dir.path() + "/out.onnx";
  std::ofstream(out + ".data", std::ios::binary) << std::string(100000, 'x');
  TrainingSession s = TrainingSession::from_file(m.path, mse_sgd(ExternalDataMode::Always));
  s.export_model(out);
  EXPECT_EQ(fs::file_size(out + ".data"), 2048u);  // W at 0; b inline
  s.train_step(linear_batch(1));
  s.export_model(out);
  EXPECT_EQ(fs::file_size(out + ".data"), 2048u);
  EXPECT_EQ(load_onnx_model(out).initializers.at("W").to_doubles(), s.parameter("W").to_doubles());
}

// A write that fails leaves neither new file (nor a partial one) behind.
TEST(ExternalData, AFailedWriteLeavesNeitherFile) {
  TempDir dir;
  const LinearModel m = make_linear(dir.path());
  TrainingSession s = TrainingSession::from_file(m.path, mse_sgd(ExternalDataMode::Always));
  for (const std::string blocked : {"a.onnx.partial", "b.onnx.data.partial"}) {
    const std::string out = dir.path() + "/" + blocked.substr(0, 6);
    fs::create_directories(dir.path() + "/" + blocked);  // a folder where the partial file goes
    try {
      s.export_model(out);
      ADD_FAILURE() << "the export past " << blocked << " succeeded";
    } catch (const Error& e) {
      EXPECT_NE(std::string(e.what()).find(out), std::string::npos) << e.what();
    }
    fs::remove(dir.path() + "/" + blocked);
    EXPECT_FALSE(fs::exists(out)) << blocked;
    EXPECT_FALSE(fs::exists(out + ".data")) << blocked;
    EXPECT_FALSE(fs::exists(out + ".partial")) << blocked;
    EXPECT_FALSE(fs::exists(out + ".data.partial")) << blocked;
  }
}

// A data file cut short after the model was written is one clear error naming the tensor.
TEST(ExternalData, ATruncatedDataFileIsOneError) {
  TempDir dir;
  const LinearModel m = make_linear(dir.path());
  fs::resize_file(m.data, 2100);
  const std::string err = load_error(m.path);
  EXPECT_NE(err.find("initializer 'b'"), std::string::npos) << err;
  EXPECT_NE(err.find("has 2100 bytes"), std::string::npos) << err;
}

}  // namespace
}  // namespace onnx_train
