// Hostile inputs given to the real binary (ONNX_TRAIN_CLI): each must end in exit status 1
// with one message naming the file and the tensor, never a signal, a bare std::bad_alloc or
// gigabytes of memory taken before the input is found wrong. The runs have an address-space
// limit (RLIMIT_AS) that the binary works under but that a multi-gigabyte allocation breaks,
// and their peak resident memory is measured (wait4's ru_maxrss).
#include <gtest/gtest.h>
#include <onnx/onnx_pb.h>
#include <sys/resource.h>
#include <zlib.h>

#include <cstdio>
#include <cstdlib>
#include <filesystem>
#include <fstream>

#include "tests/cli/cli_harness.h"
#include "tests/support/model_builder.h"

namespace onnx_train::cli_test {
namespace {

using testing::ModelBuilder;
using testing::TempDir;

// ONNX_TRAIN_CLI_UNDER_TEST runs the cases against another build (an older one, to see them fail).
const std::string kCli = std::getenv("ONNX_TRAIN_CLI_UNDER_TEST") ? std::getenv("ONNX_TRAIN_CLI_UNDER_TEST")
                                                                  : ONNX_TRAIN_CLI;
const std::string kSourceDir = ONNX_TRAIN_SOURCE_DIR;
const std::string kCnn = kSourceDir + "/models/fashion_cnn/model.onnx";  // input [N, 1, 28, 28]

// The binary with oneDNN and its thread pool loaded maps a few hundred MB of address space;
// 1.5 GB leaves room for that and for training a small model, and is far below what the
// hostile files below ask for.
constexpr rlim_t kAddressSpaceLimit = rlim_t{1536} << 20;
// Peak resident memory that the refusals below must stay under: the binary's own footprint
// and a little more, well under the hundreds of MB the old code touched before refusing.
// Under ASan the footprint is larger by testing::kResidentExtraKb, and the address-space limit
// becomes ASan's allocation limits (tests/support/sanitized.h).
constexpr long kMaxResidentKb = 160 * 1024 + testing::kResidentExtraKb;

struct LimitedRun {
  int code = -1;  // exit status; 1000 + N when signal N killed it
  long max_resident_kb = 0;
  std::string err;
};

// Runs the binary with `args` under the address-space limit, stdout discarded.
LimitedRun run_limited(const std::vector<std::string>& args, const std::string& cwd) {
  const std::string err_path = cwd + "/stderr.txt";
  SpawnOptions options;
  options.binary = kCli;
  options.max_address_space = static_cast<long>(kAddressSpaceLimit);
  LimitedRun run;
  run.code = wait_for(spawn(args, cwd, "/dev/null", err_path, options), 120, &run.max_resident_kb);
  run.err = read_file(err_path);
  return run;
}

// The refusal every case expects: status 1, one error line (with `parts`), little memory.
void expect_refused(const LimitedRun& run, const std::vector<std::string>& parts) {
  EXPECT_EQ(run.code, 1) << run.err;
  EXPECT_HAS(run.err, "onnx-train: error: ");
  EXPECT_LACKS(run.err, "bad_alloc");
  for (const auto& part : parts) EXPECT_HAS(run.err, part);
  EXPECT_LT(run.max_resident_kb, kMaxResidentKb) << run.err;
  std::printf("  peak resident memory %ld KB, exit %d: %s", run.max_resident_kb, run.code, run.err.c_str());
}

// y = Gather(w, i) with w stored as `dims` floats in `raw_bytes` bytes: the file of the report.
std::string gather_model(const std::string& dir, const std::vector<int64_t>& dims, size_t raw_bytes) {
  ModelBuilder m(13);
  m.input("i", onnx::TensorProto::INT64, {2});
  auto* w = m.proto().mutable_graph()->add_initializer();
  w->set_name("w");
  w->set_data_type(onnx::TensorProto::FLOAT);
  for (int64_t d : dims) w->add_dims(d);
  w->set_raw_data(std::string(raw_bytes, '\0'));
  m.node("Gather", {"w", "i"}, {"y"});
  m.output("y", onnx::TensorProto::FLOAT, {-1, -1});  // symbolic: shape inference accepts any w
  const std::string path = dir + "/model.onnx";
  m.save(path);
  return path;
}

TEST(HostileInputsCli, TheBinaryWorksUnderTheLimit) {
  // The limits below mean something only if a normal run passes under them.
  TempDir dir;
  const std::string model = gather_model(dir.path(), {3, 4}, 48);
  const LimitedRun run = run_limited({"inspect", model}, dir.path());
  EXPECT_EQ(run.code, 0) << run.err;
  EXPECT_LT(run.max_resident_kb, kMaxResidentKb);
}

TEST(HostileInputsCli, InitializerWhoseDimsWrapIsOneError) {
  TempDir dir;
  const std::string model = gather_model(dir.path(), {(int64_t{1} << 62) + 1, 4}, 16);
  fs::create_directories(dir.path() + "/data");
  for (const std::vector<std::string>& args :
       {std::vector<std::string>{"inspect", model}, {"run", model}, {model, "data", "--epochs", "1"}})
    expect_refused(run_limited(args, dir.path()), {model + ": initializer 'w'", "[4611686018427387905, 4]", "overflow"});
}

TEST(HostileInputsCli, DeclaredSizesAreCheckedBeforeAllocating) {
  TempDir dir;
  // 220 bytes declaring 3.2 GB: the old code zero-filled 3.2 GB (or, under the limit, died of
  // std::bad_alloc) before comparing with the 64 bytes present.
  std::string model = gather_model(dir.path(), {16, 50000000}, 64);
  EXPECT_LT(fs::file_size(model), 300u);
  expect_refused(run_limited({"inspect", model}, dir.path()),
                 {model + ": initializer 'w': raw_data has 64 bytes, float32[16, 50000000] needs 3200000000"});
  model = gather_model(dir.path(), {1000000000, 1000000000}, 64);
  expect_refused(run_limited({"inspect", model}, dir.path()), {model + ": initializer 'w': raw_data has 64 bytes"});
}

TEST(HostileInputsCli, TensorTooLargeForMemoryIsNamed) {
  // A consistent 2 GB initializer (a sparse external-data file) under the 1.5 GB address-space
  // limit, which the default memory limit follows: refused before the allocation, the message
  // names the tensor and the limit instead of a bare bad_alloc.
  TempDir dir;
  ModelBuilder m(13);
  m.input("i", onnx::TensorProto::INT64, {2});
  auto* w = m.proto().mutable_graph()->add_initializer();
  w->set_name("w");
  w->set_data_type(onnx::TensorProto::FLOAT);
  w->add_dims(int64_t{1} << 29);
  w->set_data_location(onnx::TensorProto::EXTERNAL);
  auto* location = w->add_external_data();
  location->set_key("location");
  location->set_value("w.bin");
  m.node("Gather", {"w", "i"}, {"y"});
  m.output("y", onnx::TensorProto::FLOAT, {2});
  const std::string model = dir.path() + "/model.onnx";
  m.save(model);
  std::ofstream(dir.path() + "/w.bin").close();
  fs::resize_file(dir.path() + "/w.bin", uintmax_t{1} << 31);  // sparse: no disk space taken
  // Under ASan there is no address-space limit for the default to follow (it stands in with its
  // allocation limits, tests/support/sanitized.h), and external data is mapped, not allocated: the
  // same limit, given as --max-memory, refuses the tensor before it is mapped, naming it.
  if (testing::kSanitized) {
    expect_refused(run_limited({"inspect", model, "--max-memory", "1.5G"}, dir.path()),
                   {model + ": initializer 'w' (float32[536870912]): 2 GiB (2147483648 bytes) is more than the "
                            "memory limit of 1.5 GiB (as set by --max-memory)"});
    return;
  }
  expect_refused(run_limited({"inspect", model}, dir.path()),
                 {model + ": initializer 'w' (float32[536870912]): 2 GiB (2147483648 bytes) is more than the memory "
                          "limit of 1.5 GiB (by default the process's address-space limit (RLIMIT_AS, ulimit -v))"});
}

TEST(HostileInputsCli, TensorDataFileWhoseDimsWrapIsOneError) {
  // ONNX test data of 4096 bytes claiming N samples of 1 x 28 x 28 floats, N chosen so that
  // N * 3136 wraps to exactly 4096 (N = 64 / 49 mod 2^58): the old code took the 4 KB as
  // 5.9e16 samples.
  TempDir dir;
  onnx::TensorProto t;
  t.set_data_type(onnx::TensorProto::FLOAT);
  for (int64_t d : {int64_t{58822525745247296}, int64_t{1}, int64_t{28}, int64_t{28}}) t.add_dims(d);
  t.set_raw_data(std::string(4096, '\0'));
  write_file(dir.path() + "/data/train/test_data_set_0/input_0.pb", t.SerializeAsString());
  expect_refused(run_limited({kCnn, "data", "--epochs", "1"}, dir.path()),
                 {"data/train/test_data_set_0/input_0.pb: shape [58822525745247296, 1, 28, 28] is corrupt: the "
                  "product of its dimensions overflows"});
}

TEST(HostileInputsCli, IdxGzipClaimingBillionsOfImagesIsTruncatedBeforeReading) {
  // 2^32 - 1 images of 28 x 28 and then 200 MB of zeros, which gzip packs into 200 KB: the
  // old code read (and kept) all 200 MB before saying "truncated".
  TempDir dir;
  const std::string images = dir.path() + "/data/train-images-idx3-ubyte.gz";
  fs::create_directories(dir.path() + "/data");
  gzFile gz = gzopen(images.c_str(), "wb9");
  const char header[] = {0, 0, 0x08, 3, '\xff', '\xff', '\xff', '\xff', 0, 0, 0, 28, 0, 0, 0, 28};
  gzwrite(gz, header, sizeof(header));
  const std::string zeros(1 << 20, '\0');
  for (int i = 0; i < 200; ++i) gzwrite(gz, zeros.data(), static_cast<unsigned>(zeros.size()));
  gzclose(gz);
  expect_refused(run_limited({kCnn, "data", "--epochs", "1"}, dir.path()),
                 {"data/train-images-idx3-ubyte.gz: truncated IDX file", "[4294967295, 28, 28]",
                  "inflates to at most"});
}

// A PNG chunk: big-endian length, type, data, CRC-32 of type and data.
std::string png_chunk(const std::string& type, const std::string& data) {
  auto be = [](uint32_t v) {
    return std::string{static_cast<char>(v >> 24), static_cast<char>(v >> 16), static_cast<char>(v >> 8),
                       static_cast<char>(v)};
  };
  const std::string body = type + data;
  return be(static_cast<uint32_t>(data.size())) + body +
         be(static_cast<uint32_t>(crc32(0, reinterpret_cast<const Bytef*>(body.data()), static_cast<uInt>(body.size()))));
}

TEST(HostileInputsCli, TinyImageClaimingHugeDimensionsIsRefusedBeforeDecoding) {
  // 69 bytes: a valid header for 13000 x 13000 RGB and a few bytes of image data. The old
  // code allocated the 507 MB of pixels before libpng found the data missing.
  TempDir dir;
  const std::string ihdr = {0, 0, '\x32', '\xc8', 0, 0, '\x32', '\xc8', 8, 2, 0, 0, 0};
  const std::string idat = {'\x78', '\x9c', '\x63', '\x60', '\x64', '\x62', '\x06', 0, 0, '\x0e', 0, '\x07'};
  const std::string png = std::string("\x89PNG\r\n\x1a\n", 8) + png_chunk("IHDR", ihdr) + png_chunk("IDAT", idat) +
                          png_chunk("IEND", "");
  ASSERT_EQ(png.size(), 69u);
  write_file(dir.path() + "/data/train/a/1.png", png);
  write_file(dir.path() + "/data/train/b/2.png", png);
  expect_refused(run_limited({kCnn, "data", "--epochs", "1", "--num-classes", "2"}, dir.path()),
                 {".png: corrupt PNG image: its header claims 13000 x 13000 pixels", "but the file has 69 bytes"});
}

TEST(HostileInputsCli, BinaryBytesNeverReachTheTerminalRaw) {
  TempDir dir;
  // An npy header whose element type is an escape sequence that would clear the screen.
  write_file(dir.path() + "/data/input.npy",
             npy("\x1b[2J\x1b[H\x9b", {2, 1, 28, 28}, std::string(2 * 28 * 28 * 4, '\0')));
  const LimitedRun run = run_limited({kCnn, "data", "--epochs", "1"}, dir.path());
  EXPECT_EQ(run.code, 1) << run.err;
  EXPECT_HAS(run.err, "\\x1b[2J\\x1b[H\\x9b");
  for (unsigned char c : run.err)
    EXPECT_TRUE((c >= 0x20 && c < 0x7f) || c == '\n' || c == '\t') << "raw byte " << int(c) << " in:\n" << run.err;
}

}  // namespace
}  // namespace onnx_train::cli_test
