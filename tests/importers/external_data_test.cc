// Models whose weights live in external data files, and locations that must be refused.
#include <gtest/gtest.h>

#include <filesystem>
#include <fstream>

#include "onnx_train/session.h"
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

}  // namespace
}  // namespace onnx_train
