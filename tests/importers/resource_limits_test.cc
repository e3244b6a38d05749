// The memory limit and the decompression caps (onnx_train/limits.h): sizes as people write
// them, and every reader refusing what a file declares past the limit before allocating it,
// with ErrorCategory::ResourceLimit and a message naming the file and the tensor or field.
// Each test sets a small limit (ScopedLimit) so that small files stand for large ones.
#include <gtest/gtest.h>
#include <onnx/onnx_pb.h>
#include <zlib.h>

#include <cstdio>
#include <filesystem>
#include <functional>

#include "importers/checkpoint_file.h"
#include "importers/onnx_model.h"
#include "importers/tensor_proto.h"
#include "onnx_train/dataset.h"
#include "onnx_train/limits.h"
#include "onnx_train/session.h"
#include "tests/support/data_files.h"
#include "tests/support/expect_text.h"
#include "tests/support/model_builder.h"

namespace onnx_train {
namespace {

namespace fs = std::filesystem;
using testing::ModelBuilder;
using testing::TempDir;
using testing::write_file;

// Sets the process-wide limit for one test and restores the default after it.
struct ScopedLimit {
  explicit ScopedLimit(uint64_t bytes) { set_memory_limit(bytes); }
  ~ScopedLimit() { set_memory_limit(0); }
};

// The Error `f` throws (a failed expectation when it throws none or another exception).
Error error_from(const std::function<void()>& f) {
  try {
    f();
  } catch (const Error& e) {
    return e;
  } catch (const std::exception& e) {
    ADD_FAILURE() << "not an onnx_train::Error: " << e.what();
    return Error(e.what());
  }
  ADD_FAILURE() << "no error";
  return Error("");
}

// The refusal every case expects: ResourceLimit, naming `parts`, the limit and what to do
// (raise the memory limit; a decompression bomb is no matter of memory).
void expect_limit(const Error& e, const std::vector<std::string>& parts) {
  EXPECT_EQ(e.category(), ErrorCategory::ResourceLimit) << e.what();
  for (const auto& part : parts) EXPECT_HAS(std::string(e.what()), part);
  const bool bomb = std::string(e.what()).find("decompression cap") != std::string::npos;
  EXPECT_HAS(std::string(e.what()), bomb ? "store the data uncompressed if it is real" : "--max-memory SIZE");
}

std::string le(uint64_t v, int n) {
  std::string s;
  for (int i = 0; i < n; ++i) s += static_cast<char>((v >> (8 * i)) & 0xFF);
  return s;
}

std::string npy_f32(const std::vector<int64_t>& shape, const std::string& data) {
  std::string dims;
  for (int64_t d : shape) dims += std::to_string(d) + ", ";
  std::string header = "{'descr': '<f4', 'fortran_order': False, 'shape': (" + dims + "), }";
  header.append(63 - (10 + header.size()) % 64, ' ');
  header += '\n';
  return std::string("\x93NUMPY\x01\x00", 8) + le(header.size(), 2) + header + data;
}

// A zip archive of one member, stored or deflated, as Python's zipfile writes it.
std::string zip_of(const std::string& name, const std::string& data, bool deflate) {
  const std::string stored = deflate ? testing::zlib_deflate(data, Z_BEST_COMPRESSION, -MAX_WBITS) : data;
  const uint32_t crc =
      static_cast<uint32_t>(crc32(0, reinterpret_cast<const Bytef*>(data.data()), static_cast<uInt>(data.size())));
  const std::string sizes = le(crc, 4) + le(stored.size(), 4) + le(data.size(), 4);
  const std::string method = le(deflate ? 8 : 0, 2);
  const std::string body = le(0x04034b50, 4) + le(20, 2) + le(0, 2) + method + le(0, 4) + sizes +
                           le(name.size(), 2) + le(0, 2) + name + stored;
  const std::string directory = le(0x02014b50, 4) + le(20, 2) + le(20, 2) + le(0, 2) + method + le(0, 4) + sizes +
                                le(name.size(), 2) + le(0, 2) + le(0, 2) + le(0, 2) + le(0, 2) + le(0, 4) + le(0, 4) +
                                name;
  return body + directory + le(0x06054b50, 4) + le(0, 2) + le(0, 2) + le(1, 2) + le(1, 2) + le(directory.size(), 4) +
         le(body.size(), 4) + le(0, 2);
}

// An IDX file of uint8 [n, 28, 28], all zeros, gzip-compressed when `gz`.
void write_idx_images(const std::string& path, uint32_t n, bool gz) {
  const std::string header = std::string("\0\0\x08\x03", 4) + static_cast<char>(n >> 24) +
                             static_cast<char>(n >> 16) + static_cast<char>(n >> 8) + static_cast<char>(n) +
                             std::string("\0\0\0\x1c\0\0\0\x1c", 8);
  const std::string values(size_t{n} * 784, '\0');
  if (!gz) {
    write_file(path, header + values);
    return;
  }
  gzFile file = gzopen(path.c_str(), "wb9");
  gzwrite(file, header.data(), static_cast<unsigned>(header.size()));
  gzwrite(file, values.data(), static_cast<unsigned>(values.size()));
  gzclose(file);
}

TEST(ResourceLimits, SizesAreParsedAsPeopleWriteThem) {
  EXPECT_EQ(parse_byte_size("512M"), uint64_t{512} << 20);
  EXPECT_EQ(parse_byte_size("4G"), uint64_t{4} << 30);
  EXPECT_EQ(parse_byte_size("4g"), uint64_t{4} << 30);
  EXPECT_EQ(parse_byte_size("1.5GiB"), uint64_t{3} << 29);
  EXPECT_EQ(parse_byte_size("64KB"), uint64_t{64} << 10);
  EXPECT_EQ(parse_byte_size("64k"), uint64_t{64} << 10);
  EXPECT_EQ(parse_byte_size("2TiB"), uint64_t{2} << 40);
  EXPECT_EQ(parse_byte_size("100mb"), uint64_t{100} << 20);
  EXPECT_EQ(parse_byte_size("1000000"), 1000000u);
  EXPECT_EQ(parse_byte_size("1000000B"), 1000000u);
  EXPECT_EQ(parse_byte_size("auto"), 0u);
  EXPECT_EQ(parse_byte_size("AUTO"), 0u);
  for (const char* bad : {"", "M", "abc", "12X", "1.2.3", "0", "-5", "5 G", "1e9", "0.1", "9999999999T", "."}) {
    const Error e = error_from([&] { parse_byte_size(bad, "--max-memory"); });
    EXPECT_EQ(e.category(), ErrorCategory::Usage) << bad;
    EXPECT_HAS(std::string(e.what()), "--max-memory");
  }
}

TEST(ResourceLimits, BytesAreShownForPeople) {
  EXPECT_EQ(format_bytes(0), "0 B");
  EXPECT_EQ(format_bytes(1023), "1023 B");
  EXPECT_EQ(format_bytes(1536), "1.5 KiB");
  EXPECT_EQ(format_bytes(uint64_t{64} << 20), "64 MiB");
  EXPECT_EQ(format_bytes(100000000), "95.4 MiB");
  EXPECT_EQ(format_bytes(uint64_t{3} << 29), "1.5 GiB");
}

TEST(ResourceLimits, TheDefaultIsTheMemoryAvailable) {
  const uint64_t fallback = default_memory_limit();
  EXPECT_GT(fallback, uint64_t{16} << 20);
  const long pages = sysconf(_SC_PHYS_PAGES), page = sysconf(_SC_PAGE_SIZE);
  EXPECT_LE(fallback, static_cast<uint64_t>(pages) * static_cast<uint64_t>(page));
  EXPECT_EQ(memory_limit(), fallback);
  EXPECT_HAS(memory_limit_source(), "by default");
  {
    ScopedLimit limit(12345);
    EXPECT_EQ(memory_limit(), 12345u);
    EXPECT_HAS(memory_limit_source(), "--max-memory");
  }
  EXPECT_EQ(memory_limit(), fallback);
}

TEST(ResourceLimits, DecompressionCapIsARatioWithAFloor) {
  EXPECT_EQ(decompression_ratio_cap(0), kMinDecompressedCap);
  EXPECT_EQ(decompression_ratio_cap(1000), kMinDecompressedCap);
  EXPECT_EQ(decompression_ratio_cap(uint64_t{1} << 20), (uint64_t{1} << 20) * kMaxDecompressionRatio);
  EXPECT_EQ(decompression_ratio_cap(UINT64_MAX / 2), UINT64_MAX);  // saturates
}

TEST(ResourceLimits, TensorsPastTheLimitAreRefusedBeforeAllocating) {
  ScopedLimit limit(1 << 20);
  expect_limit(error_from([] { Tensor(DType::Float32, {1024, 1024}); }),
               {"a tensor float32[1024, 1024]: 4 MiB (4194304 bytes) is more than the memory limit of 1 MiB"});
  Tensor(DType::Float32, {256, 1024});  // exactly 1 MiB: allowed
}

// y = x @ w: x [N, 4], w [4, cols] float32.
ModelBuilder matmul_model(int64_t cols) {
  ModelBuilder m(13);
  m.input("x", onnx::TensorProto::FLOAT, {-1, 4});
  m.initializer("w", Tensor(DType::Float32, {4, cols}));
  m.node("MatMul", {"x", "w"}, {"y"});
  m.output("y", onnx::TensorProto::FLOAT, {-1, cols});
  return m;
}

// y = x @ i0 with `count` initializers i0, i1, ... of float32 [4, cols] stored one after the
// other in a sparse external-data file (no disk space taken): a small model declaring a lot.
std::string external_model(const std::string& dir, int count, int64_t cols) {
  ModelBuilder m(13);
  m.input("x", onnx::TensorProto::FLOAT, {-1, 4});
  const uint64_t bytes = 4 * static_cast<uint64_t>(cols) * 4;
  for (int i = 0; i < count; ++i) {
    auto* w = m.proto().mutable_graph()->add_initializer();
    w->set_name("i" + std::to_string(i));
    w->set_data_type(onnx::TensorProto::FLOAT);
    w->add_dims(4);
    w->add_dims(cols);
    w->set_data_location(onnx::TensorProto::EXTERNAL);
    for (const auto& [key, value] : std::vector<std::pair<std::string, std::string>>{
             {"location", "w.bin"}, {"offset", std::to_string(i * bytes)}, {"length", std::to_string(bytes)}}) {
      auto* entry = w->add_external_data();
      entry->set_key(key);
      entry->set_value(value);
    }
  }
  m.node("MatMul", {"x", "i0"}, {"y"});
  m.output("y", onnx::TensorProto::FLOAT, {-1, cols});
  const std::string path = dir + "/model.onnx";
  m.save(path);
  write_file(dir + "/w.bin", "");
  fs::resize_file(dir + "/w.bin", count * bytes);
  return path;
}

TEST(ResourceLimits, ModelFilesAndInitializersAreCheckedOneByOneAndInTotal) {
  TempDir dir;
  const std::string path = dir.path() + "/model.onnx";
  matmul_model(16384).save(path);  // w: 256 KiB inside the file
  {
    ScopedLimit limit(200 << 10);
    expect_limit(error_from([&] { load_onnx_model(path); }),
                 {path + ": the ONNX model file, parsed whole: 256"});
  }
  // One tensor of 16 MiB (external data) under a limit of 8 MiB.
  const std::string one = external_model(dir.path(), 1, 1 << 20);
  ScopedLimit limit(uint64_t{8} << 20);
  expect_limit(error_from([&] { load_onnx_model(one); }),
               {one + ": initializer 'i0' (float32[4, 1048576]): 16 MiB (16777216 bytes) is more than the memory limit of 8 MiB"});
  // Three tensors of 4 MiB: each fits, their total does not.
  const std::string three = external_model(dir.path(), 3, 1 << 18);
  expect_limit(error_from([&] { load_onnx_model(three); }),
               {three + ": the 3 initializers together: 12 MiB (12582912 bytes) is more than the memory limit of 8 MiB"});
  set_memory_limit(uint64_t{13} << 20);
  EXPECT_EQ(load_onnx_model(three).initializers.size(), 3u);
}

TEST(ResourceLimits, TensorProtoFilesAndCheckpointsAreChecked) {
  TempDir dir;
  onnx::TensorProto proto;
  tensor_to_proto(Tensor(DType::Float32, {64, 1024}), proto);  // 256 KiB
  {
    ScopedLimit limit(100 << 10);
    expect_limit(error_from([&] { tensor_from_proto(proto, dir.path(), "input_0.pb"); }),
                 {"input_0.pb (float32[64, 1024]): 256 KiB"});
  }
  CheckpointFile checkpoint;
  checkpoint.tensors["a"] = Tensor(DType::Float32, {32, 1024});
  checkpoint.tensors["b"] = Tensor(DType::Float32, {32, 1024});
  const std::string path = dir.path() + "/step.ckpt";
  write_checkpoint_file(checkpoint, path);
  ScopedLimit limit(uint64_t{200} << 10);
  expect_limit(error_from([&] { read_checkpoint_file(path); }),
               {path + ": the onnx-train checkpoint file, parsed whole: 256"});
}

TEST(ResourceLimits, NpzMembersPastTheCapsAreRefusedBeforeInflating) {
  TempDir dir;
  const std::vector<FieldSpec> fields = {{"x", DType::Float32, {28, 28}}};
  // 24 MiB of zeros deflate to ~24 KB: far past the 200-fold cap, and past the 16 MiB floor.
  const std::string archive = dir.path() + "/data.npz";
  write_file(archive, zip_of("x.npy", npy_f32({8192, 28, 28}, std::string(size_t{8192} * 784 * 4, '\0')), true));
  ASSERT_LT(fs::file_size(archive), 64u << 10);
  expect_limit(error_from([&] { open_data(dir.path(), fields, {}); }),
               {archive + ": x.npy, deflated: 24.5 MiB (25690240 bytes) decompressed from ", "decompression cap of 16 MiB",
                "decompression bomb"});
  // A stored member past the memory limit.
  write_file(archive, zip_of("x.npy", npy_f32({64, 28, 28}, std::string(64 * 784 * 4, '\0')), false));
  ScopedLimit limit(100 << 10);
  expect_limit(error_from([&] { open_data(dir.path(), fields, {}); }),
               {archive + ": x.npy: 196.1 KiB (200832 bytes) is more than the memory limit of 100 KiB"});
}

TEST(ResourceLimits, IdxPastTheCapsIsRefusedBeforeReading) {
  TempDir dir;
  const std::vector<FieldSpec> fields = {{"x", DType::Float32, {1, 28, 28}}};
  const std::string gz = dir.path() + "/train-images-idx3-ubyte.gz";
  write_idx_images(gz, 30000, true);  // 22.4 MiB of zeros in ~23 KB
  ASSERT_LT(fs::file_size(gz), 64u << 10);
  expect_limit(error_from([&] { open_data(dir.path(), fields, {}); }),
               {gz + ": the IDX data uint8 [30000, 28, 28]: 22.4 MiB (23520000 bytes) decompressed from", "decompression cap"});
  fs::remove(gz);
  const std::string plain = dir.path() + "/train-images-idx3-ubyte";
  write_idx_images(plain, 200, false);
  ScopedLimit limit(100 << 10);
  expect_limit(error_from([&] { open_data(dir.path(), fields, {}); }),
               {plain + ": the IDX data uint8 [200, 28, 28]: 153.1 KiB (156800 bytes) is more than the memory limit of 100 KiB"});
}

TEST(ResourceLimits, RealFashionMnistLoadsUnderTheCaps) {
  const std::string dir = "/usr/share/datasets/fashion-mnist";
  if (!fs::exists(dir + "/t10k-images-idx3-ubyte.gz")) GTEST_SKIP() << "no " << dir;
  TempDir data;
  fs::create_directories(data.path() + "/train");
  fs::copy_file(dir + "/t10k-images-idx3-ubyte.gz", data.path() + "/train/t10k-images-idx3-ubyte.gz");
  fs::copy_file(dir + "/t10k-labels-idx1-ubyte.gz", data.path() + "/train/t10k-labels-idx1-ubyte.gz");
  const DataSplits splits = open_data(
      data.path(), {{"x", DType::Float32, {1, 28, 28}}, {"y", DType::Int64, {}, /*is_label=*/true}}, {});
  EXPECT_EQ(splits.train->size(), 10000);
}

TEST(ResourceLimits, ImagesAndCsvPastTheLimitAreRefused) {
  TempDir dir;
  testing::write_png_file(dir.path() + "/train/a/1.png", 100, 100, 3, std::vector<uint8_t>(30000, 7));
  testing::write_png_file(dir.path() + "/train/b/2.png", 100, 100, 3, std::vector<uint8_t>(30000, 9));
  const std::vector<FieldSpec> image_fields = {{"x", DType::Float32, {3, 100, 100}},
                                               {"y", DType::Int64, {}, /*is_label=*/true}};
  {
    ScopedLimit limit(16 << 10);
    const Error e = error_from([&] {
      const DataSplits splits = open_data(dir.path(), image_fields, {});
      std::vector<float> x(30000);
      splits.train->read(0, 0, x.data());
    });
    expect_limit(e, {"1.png: the decoded image (100 x 100 pixels, 3 channels): 29.3 KiB (30000 bytes) is more than"});
  }
  TempDir csv_dir;
  std::string csv = "a,b,label\n";
  for (int i = 0; i < 200; ++i) csv += "1.5,2.5,1\n";
  write_file(csv_dir.path() + "/train.csv", csv);
  ScopedLimit limit(1 << 10);
  expect_limit(error_from([&] {
                 open_data(csv_dir.path(), {{"x", DType::Float32, {2}}, {"label", DType::Int64, {}, true}}, {});
               }),
               {"train.csv: the CSV file, read whole into memory: 2 KiB"});
}

TEST(ResourceLimits, APlanPastTheLimitIsRefusedWithItsFigures) {
  TempDir dir;
  const std::string path = dir.path() + "/model.onnx";
  matmul_model(1024).save(path);  // w: 16 KiB; y: N x 4 KiB
  Session session = Session::from_file(path);
  Tensor x(DType::Float32, {8, 4});
  EXPECT_EQ(session.run({{"x", x}}).at(0).dim(0), 8);
  ScopedLimit limit(256 << 10);
  Tensor big(DType::Float32, {256, 4});  // y: 1 MiB
  expect_limit(error_from([&] { session.run({{"x", big}}); }),
               {path + ": running the model on a batch of 256 (by its plan: 16 KiB of initializers, 4 KiB of "
                       "inputs, 1 MiB of intermediates at their peak",
                ": 1 MiB (1069056 bytes) is more than the memory limit of 256 KiB"});
  EXPECT_EQ(session.run({{"x", x}}).at(0).dim(0), 8);  // a batch that fits still runs
}

}  // namespace
}  // namespace onnx_train
