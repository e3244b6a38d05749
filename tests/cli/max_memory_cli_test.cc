// --max-memory and the decompression caps as a user meets them: the real binary refusing a
// model whose weights pass the limit, a gzip IDX bomb and an npz bomb (1 GiB of zeros in about
// 1 MB), quickly and with little memory taken (wait4's peak resident size); the bundled model
// training under the default limit; a malformed size refused as a usage error.
#include <gtest/gtest.h>
#include <onnx/onnx_pb.h>
#include <zlib.h>

#include <chrono>
#include <cstdio>
#include <filesystem>
#include <fstream>

#include "tests/cli/cli_harness.h"
#include "tests/support/model_builder.h"
#include "tests/support/sanitized.h"

namespace onnx_train::cli_test {
namespace {

using testing::ModelBuilder;
using testing::TempDir;

const std::string kSourceDir = ONNX_TRAIN_SOURCE_DIR;
const std::string kCnn = kSourceDir + "/models/fashion_cnn/model.onnx";  // input [N, 1, 28, 28]
// The binary with oneDNN loaded and a little more: a refusal takes no memory for the input.
constexpr long kMaxResidentKb = 160 * 1024 + testing::kResidentExtraKb;  // ASan adds its own

struct LimitedRun {
  int code = -1;
  long max_resident_kb = 0;
  double seconds = 0;
  std::string err;
};

LimitedRun run_cli(const std::vector<std::string>& args, const std::string& cwd) {
  const std::string err_path = cwd + "/stderr.txt";
  LimitedRun r;
  const auto start = std::chrono::steady_clock::now();
  r.code = wait_for(spawn(args, cwd, "/dev/null", err_path), 300, &r.max_resident_kb);
  r.seconds = std::chrono::duration<double>(std::chrono::steady_clock::now() - start).count();
  r.err = read_file(err_path);
  return r;
}

void expect_refused(const LimitedRun& r, const std::vector<std::string>& parts) {
  EXPECT_EQ(r.code, 1) << r.err;
  EXPECT_HAS(r.err, "onnx-train: error: ");
  for (const auto& part : parts) EXPECT_HAS(r.err, part);
  EXPECT_LT(r.max_resident_kb, kMaxResidentKb) << r.err;
  EXPECT_LT(r.seconds, 20) << r.err;
  std::printf("  %.2f s, peak resident memory %ld KB: %s", r.seconds, r.max_resident_kb, r.err.c_str());
}

// y = Gather(w, i) with w float32 [25, 1048576] (100 MiB) in a sparse external-data file.
std::string model_of_100_mib(const std::string& dir) {
  ModelBuilder m(13);
  m.input("i", onnx::TensorProto::INT64, {2});
  auto* w = m.proto().mutable_graph()->add_initializer();
  w->set_name("w");
  w->set_data_type(onnx::TensorProto::FLOAT);
  w->add_dims(25);
  w->add_dims(1 << 20);
  w->set_data_location(onnx::TensorProto::EXTERNAL);
  auto* location = w->add_external_data();
  location->set_key("location");
  location->set_value("w.bin");
  m.node("Gather", {"w", "i"}, {"y"});
  m.output("y", onnx::TensorProto::FLOAT, {2, 1 << 20});
  const std::string model = dir + "/model.onnx";
  m.save(model);
  std::ofstream(dir + "/w.bin").close();
  fs::resize_file(dir + "/w.bin", uintmax_t{100} << 20);
  return model;
}

TEST(MaxMemoryCli, AModelPastTheLimitIsRefusedByEveryCommand) {
  TempDir dir;
  const std::string model = model_of_100_mib(dir.path());
  fs::create_directories(dir.path() + "/data");
  const std::vector<std::string> refusal = {
      model + ": initializer 'w' (float32[25, 1048576]): 100 MiB (104857600 bytes) is more than the memory limit "
              "of 64 MiB (as set by --max-memory)",
      "raise the limit (--max-memory SIZE"};
  for (const std::vector<std::string>& args :
       {std::vector<std::string>{"inspect", model, "--max-memory", "64M"},
        {"run", model, "--max-memory=64M"},
        {model, "data", "--max-memory", "64M"},
        {"eval", model, "data", "--max-memory", "64MiB"},
        {"graph", model, "-o", "g.onnx", "--max-memory", "64M"}})
    expect_refused(run_cli(args, dir.path()), refusal);
  // The same model under a limit it fits in, and under the default.
  LimitedRun r = run_cli({"inspect", model, "--max-memory", "1G"}, dir.path());
  EXPECT_EQ(r.code, 0) << r.err;
  r = run_cli({"inspect", model}, dir.path());
  EXPECT_EQ(r.code, 0) << r.err;
}

TEST(MaxMemoryCli, AMalformedSizeIsAUsageError) {
  TempDir dir;
  for (const std::vector<std::string>& args : {std::vector<std::string>{"inspect", kCnn, "--max-memory", "lots"},
                                               {"run", kCnn, "--max-memory", "12X"},
                                               {"export", "x.ckpt", "-o", "y.onnx", "--max-memory", "0"}}) {
    const LimitedRun r = run_cli(args, dir.path());
    EXPECT_NE(r.code, 0);
    EXPECT_HAS(r.err, "--max-memory");
  }
}

TEST(MaxMemoryCli, EveryCommandReadingAModelListsTheOption) {
  TempDir dir;
  for (const char* command : {"train", "eval", "predict", "inspect", "graph", "export", "run"}) {
    const std::string out = dir.path() + "/help.txt";
    EXPECT_EQ(wait_for(spawn({command, "--help"}, dir.path(), out, "/dev/null"), 60), 0);
    EXPECT_HAS(read_file(out), "--max-memory SIZE") << command;
  }
}

// IDX uint8 [n, 28, 28], all zeros, gzip level 9: 1 GiB in about 1 MB.
void write_idx_gz_bomb(const std::string& path, uint32_t n) {
  gzFile gz = gzopen(path.c_str(), "wb9");
  const char header[] = {0, 0, 0x08, 3, static_cast<char>(n >> 24), static_cast<char>(n >> 16),
                         static_cast<char>(n >> 8), static_cast<char>(n), 0, 0, 0, 28, 0, 0, 0, 28};
  gzwrite(gz, header, sizeof(header));
  const std::string zeros(784 * 1024, '\0');
  for (uint32_t i = 0; i < n / 1024; ++i) gzwrite(gz, zeros.data(), static_cast<unsigned>(zeros.size()));
  gzclose(gz);
}

TEST(MaxMemoryCli, AGzipBombIsRefusedBeforeInflating) {
  TempDir dir;
  fs::create_directories(dir.path() + "/data");
  const std::string images = dir.path() + "/data/train-images-idx3-ubyte.gz";
  write_idx_gz_bomb(images, 1369 * 1024);  // 1.05 GiB of values
  std::printf("  %s: %ju bytes\n", images.c_str(), static_cast<uintmax_t>(fs::file_size(images)));
  expect_refused(run_cli({kCnn, "data", "--epochs", "1"}, dir.path()),
                 {"data/train-images-idx3-ubyte.gz: the IDX data uint8 [1401856, 28, 28]: 1 GiB (1099055104 bytes) "
                  "decompressed from", "is more than the decompression cap", "decompression bomb"});
}

std::string le(uint64_t v, int n) {
  std::string s;
  for (int i = 0; i < n; ++i) s += static_cast<char>((v >> (8 * i)) & 0xFF);
  return s;
}

// data.npz with one deflated member input.npy: float32 [n, 1, 28, 28] of zeros, streamed
// through deflate so that the test never holds the gigabyte.
void write_npz_bomb(const std::string& path, uint32_t n) {
  std::string header = "{'descr': '<f4', 'fortran_order': False, 'shape': (" + std::to_string(n) + ", 1, 28, 28), }";
  header.append(63 - (10 + header.size()) % 64, ' ');
  header += '\n';
  const std::string npy_header = std::string("\x93NUMPY\x01\x00", 8) + le(header.size(), 2) + header;
  z_stream z{};
  deflateInit2(&z, Z_BEST_COMPRESSION, Z_DEFLATED, -MAX_WBITS, 9, Z_DEFAULT_STRATEGY);
  std::string stored;
  uLong crc = crc32(0, nullptr, 0);
  std::vector<unsigned char> out(1 << 16);
  auto feed = [&](const std::string& data, int flush) {
    z.next_in = reinterpret_cast<Bytef*>(const_cast<char*>(data.data()));
    z.avail_in = static_cast<uInt>(data.size());
    crc = crc32(crc, reinterpret_cast<const Bytef*>(data.data()), static_cast<uInt>(data.size()));
    do {
      z.next_out = out.data();
      z.avail_out = static_cast<uInt>(out.size());
      deflate(&z, flush);
      stored.append(reinterpret_cast<char*>(out.data()), out.size() - z.avail_out);
    } while (z.avail_out == 0);
  };
  feed(npy_header, Z_NO_FLUSH);
  const std::string zeros(size_t{3136} * 1024, '\0');
  for (uint32_t i = 0; i < n / 1024; ++i) feed(zeros, Z_NO_FLUSH);
  feed("", Z_FINISH);
  deflateEnd(&z);
  const uint64_t size = npy_header.size() + uint64_t{n} * 3136;
  const std::string name = "input.npy";
  const std::string sizes = le(crc, 4) + le(stored.size(), 4) + le(size, 4);
  const std::string body = le(0x04034b50, 4) + le(20, 2) + le(0, 2) + le(8, 2) + le(0, 4) + sizes +
                           le(name.size(), 2) + le(0, 2) + name + stored;
  const std::string directory = le(0x02014b50, 4) + le(20, 2) + le(20, 2) + le(0, 2) + le(8, 2) + le(0, 4) + sizes +
                                le(name.size(), 2) + le(0, 2) + le(0, 2) + le(0, 2) + le(0, 2) + le(0, 4) + le(0, 4) +
                                name;
  write_file(path, body + directory + le(0x06054b50, 4) + le(0, 2) + le(0, 2) + le(1, 2) + le(1, 2) +
                       le(directory.size(), 4) + le(body.size(), 4) + le(0, 2));
}

TEST(MaxMemoryCli, AnNpzBombIsRefusedBeforeInflating) {
  TempDir dir;
  fs::create_directories(dir.path() + "/data");
  const std::string archive = dir.path() + "/data/data.npz";
  write_npz_bomb(archive, 342 * 1024);  // 1.02 GiB of float32
  std::printf("  %s: %ju bytes\n", archive.c_str(), static_cast<uintmax_t>(fs::file_size(archive)));
  expect_refused(run_cli({kCnn, "data", "--epochs", "1", "--num-classes", "10"}, dir.path()),
                 {"data/data.npz: input.npy, deflated: 1 GiB", "is more than the decompression cap"});
}

TEST(MaxMemoryCli, TheBundledModelTrainsUnderTheDefaultLimit) {
  const std::string mnist = "/usr/share/datasets/fashion-mnist";
  if (!fs::exists(mnist + "/t10k-images-idx3-ubyte.gz")) GTEST_SKIP() << "no " << mnist;
  TempDir dir;
  fs::create_directories(dir.path() + "/data/train");
  for (const char* file : {"t10k-images-idx3-ubyte.gz", "t10k-labels-idx1-ubyte.gz"})
    fs::copy_file(mnist + "/" + file, dir.path() + "/data/train/" + file);
  for (const std::vector<std::string>& limit : {std::vector<std::string>{}, {"--max-memory", "auto"}}) {
    std::vector<std::string> args = {kCnn, "data", "--max-steps", "3", "-o", "trained.onnx", "--quiet"};
    args.insert(args.end(), limit.begin(), limit.end());
    const LimitedRun r = run_cli(args, dir.path());
    EXPECT_EQ(r.code, 0) << r.err;
    EXPECT_TRUE(fs::exists(dir.path() + "/trained.onnx"));
    std::printf("  trained 3 steps in %.2f s, peak resident memory %ld KB\n", r.seconds, r.max_resident_kb);
  }
  // The training plan's figure under a limit too small for it.
  const LimitedRun r = run_cli({kCnn, "data", "--max-steps", "3", "-o", "small.onnx", "--max-memory", "40M", "--batch-size",
                     "256"},
                    dir.path());
  EXPECT_EQ(r.code, 1) << r.err;
  EXPECT_HAS(r.err, "running the model on a batch of 256 (by its plan:");
  EXPECT_FALSE(fs::exists(dir.path() + "/small.onnx"));
  std::printf("  %s", r.err.c_str());
}

}  // namespace
}  // namespace onnx_train::cli_test
