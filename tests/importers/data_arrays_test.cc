// Training data in array formats (npy, npz, ONNX test data sets, csv), the conversions they
// share, and how open_data finds the splits. Every file is written here, byte by byte.
#include <gtest/gtest.h>
#include <zlib.h>

#include <cmath>
#include <cstring>
#include <filesystem>
#include <fstream>
#include <functional>
#include <limits>

#include "importers/data/array_convert.h"
#include "importers/tensor_proto.h"
#include "onnx_train/dataset.h"
#include "tests/support/data_files.h"
#include "tests/support/expect_text.h"
#include "tests/support/model_builder.h"

namespace onnx_train {
namespace {

namespace fs = std::filesystem;
using testing::error_of;
using testing::TempDir;

void write_file(const std::string& path, const std::string& bytes) {
  fs::create_directories(fs::path(path).parent_path());
  std::ofstream(path, std::ios::binary) << bytes;
}

template <typename T>
std::string bytes_of(const std::vector<T>& values) {
  return std::string(reinterpret_cast<const char*>(values.data()), values.size() * sizeof(T));
}

// An .npy file as numpy.save writes it: magic, version, header length, the header dict padded
// with spaces to a multiple of 64 bytes, then the data.
std::string npy(const std::string& descr, const Shape& shape, const std::string& data, int major = 1,
                bool fortran = false) {
  std::string dims;
  for (size_t i = 0; i < shape.size(); ++i) dims += (i ? ", " : "") + std::to_string(shape[i]);
  if (shape.size() == 1) dims += ",";
  std::string header =
      fmt::format("{{'descr': '{}', 'fortran_order': {}, 'shape': ({}), }}", descr, fortran ? "True" : "False", dims);
  const size_t preamble = major == 1 ? 10 : 12;
  header.append(63 - (preamble + header.size()) % 64, ' ');
  header += '\n';
  std::string out = "\x93NUMPY";
  out += static_cast<char>(major);
  out += '\0';
  for (size_t i = 0; i < preamble - 8; ++i) out += static_cast<char>((header.size() >> (8 * i)) & 0xFF);
  return out + header + data;
}

std::string f4(const Shape& shape, const std::vector<float>& v) { return npy("<f4", shape, bytes_of(v)); }
std::string i8(const Shape& shape, const std::vector<int64_t>& v) { return npy("<i8", shape, bytes_of(v)); }

std::vector<float> floats(const Tensor& t) {
  const auto d = t.to_doubles();
  return std::vector<float>(d.begin(), d.end());
}

// Reads every sample of a dataset through a BatchLoader in file order, by field name.
std::map<std::string, Tensor> all_samples(std::shared_ptr<const Dataset> data) {
  BatchLoader loader(std::move(data), 1 << 20, /*shuffle=*/false, 0);
  loader.start_epoch(0);
  std::map<std::string, Tensor> batch;
  EXPECT_TRUE(loader.next(batch));
  return batch;
}

FieldSpec input(const std::string& name, Shape shape, DType dtype = DType::Float32) {
  return {name, dtype, std::move(shape)};
}
FieldSpec label(const std::string& name, int64_t num_classes = 0) {
  return {name, DType::Int64, {}, /*is_label=*/true, num_classes};
}

// ---- Conversions

template <typename T>
std::vector<float> as_floats(const std::vector<T>& values, DType from) {
  std::vector<float> out(values.size());
  convert_elements(from, values.data(), DType::Float32, out.data(), static_cast<int64_t>(values.size()),
                   [] { return std::string("test"); });
  return out;
}

TEST(DataConvert, EveryNumpyTypeConvertsToFloat32) {
  const std::vector<float> expected = {0, 1, 100};
  EXPECT_EQ(as_floats(std::vector<uint8_t>{0, 1, 100}, DType::UInt8), expected);
  EXPECT_EQ(as_floats(std::vector<int8_t>{0, 1, 100}, DType::Int8), expected);
  EXPECT_EQ(as_floats(std::vector<int16_t>{0, 1, 100}, DType::Int16), expected);
  EXPECT_EQ(as_floats(std::vector<uint16_t>{0, 1, 100}, DType::UInt16), expected);
  EXPECT_EQ(as_floats(std::vector<int32_t>{0, 1, 100}, DType::Int32), expected);
  EXPECT_EQ(as_floats(std::vector<uint32_t>{0, 1, 100}, DType::UInt32), expected);
  EXPECT_EQ(as_floats(std::vector<int64_t>{0, 1, 100}, DType::Int64), expected);
  EXPECT_EQ(as_floats(std::vector<uint64_t>{0, 1, 100}, DType::UInt64), expected);
  EXPECT_EQ(as_floats(std::vector<double>{0, 1, 100}, DType::Float64), expected);
  EXPECT_EQ(as_floats(std::vector<Float16>{Float16(0.f), Float16(1.f), Float16(100.f)}, DType::Float16), expected);
  // numpy bools are bytes; any non-zero byte is true.
  EXPECT_EQ(as_floats(std::vector<uint8_t>{0, 1, 7}, DType::Bool), (std::vector<float>{0, 1, 1}));
}

TEST(DataConvert, IntegerTargetsTakeOnlyWholeNumbersInRange) {
  auto to = [](DType from, const auto& values, DType target) {
    std::vector<uint64_t> out(values.size());
    return error_of([&] {
      convert_elements(from, values.data(), target, out.data(), static_cast<int64_t>(values.size()),
                       [] { return std::string("y.npy, sample 3"); });
    });
  };
  std::string err = to(DType::Float64, std::vector<double>{1.0, 2.5}, DType::Int64);
  EXPECT_HAS(err, "y.npy, sample 3: value 2.5 (element 1 of the sample) is not a int64 value");
  EXPECT_HAS(to(DType::Float32, std::vector<float>{NAN}, DType::Int64), "value nan");
  EXPECT_HAS(to(DType::Float64, std::vector<double>{9223372036854775808.0}, DType::Int64), "not a int64 value");
  EXPECT_HAS(to(DType::UInt64, std::vector<uint64_t>{1ull << 63}, DType::Int64), "not a int64 value");
  EXPECT_HAS(to(DType::Int32, std::vector<int32_t>{300}, DType::UInt8), "whole numbers from 0 to 255");
  EXPECT_HAS(to(DType::Int8, std::vector<int8_t>{-1}, DType::UInt32), "value -1");
  EXPECT_HAS(to(DType::UInt8, std::vector<uint8_t>{2}, DType::Bool), "the field takes 0 or 1");

  std::vector<int32_t> narrowed(2);
  const std::vector<int64_t> wide = {-5, 2147483647};
  convert_elements(DType::Int64, wide.data(), DType::Int32, narrowed.data(), 2, [] { return std::string(); });
  EXPECT_EQ(narrowed, (std::vector<int32_t>{-5, 2147483647}));
  const std::vector<double> whole = {-9223372036854775808.0, 3.0};
  std::vector<int64_t> ints(2);
  convert_elements(DType::Float64, whole.data(), DType::Int64, ints.data(), 2, [] { return std::string(); });
  EXPECT_EQ(ints, (std::vector<int64_t>{std::numeric_limits<int64_t>::min(), 3}));
}

TEST(DataConvert, FloatTargetsAndUnalignedSources) {
  // A float32 at an odd address, as in a stored zip member.
  std::vector<uint8_t> raw(1 + sizeof(float));
  const float value = 1.5f;
  std::memcpy(raw.data() + 1, &value, sizeof(float));
  Float16 half;
  convert_elements(DType::Float32, raw.data() + 1, DType::Float16, &half, 1, [] { return std::string(); });
  EXPECT_EQ(static_cast<float>(half), 1.5f);
  double wide = 0;
  convert_elements(DType::Float16, &half, DType::Float64, &wide, 1, [] { return std::string(); });
  EXPECT_EQ(wide, 1.5);
}

TEST(DataConvert, SampleShapesResolveReshapeOrFail) {
  EXPECT_EQ(resolve_sample_shape(input("x", {2, 3}), {2, 3}, "f"), (Shape{2, 3}));
  EXPECT_EQ(resolve_sample_shape(input("x", {1, 28, 28}), {784}, "f"), (Shape{1, 28, 28}));  // reshaped
  EXPECT_EQ(resolve_sample_shape(input("x", {1, -1, -1}), {28, 28}, "f"), (Shape{1, 28, 28}));
  EXPECT_EQ(resolve_sample_shape(input("x", {-1, 4}), {3, 4}, "f"), (Shape{3, 4}));
  EXPECT_EQ(resolve_sample_shape(input("x", {-1}), {28, 28}, "f"), (Shape{784}));  // one open dim: inferred
  EXPECT_EQ(resolve_sample_shape(label("y"), {1}, "f"), Shape{});
  const std::string err = error_of([] { resolve_sample_shape(input("x", {1, 28, 28}), {27, 27}, "data/x.npy"); });
  EXPECT_HAS(err, "data/x.npy: field 'x' takes samples of shape [1, 28, 28] (784 elements)");
  EXPECT_HAS(err, "have shape [27, 27] (729 elements)");
  EXPECT_HAS(error_of([] { resolve_sample_shape(input("x", {-1, 5}), {3, 4}, "f"); }), "shape [-1, 5]");
}

// ---- npy

TEST(DataNpy, FieldsByNameConvertedAndReshaped) {
  TempDir dir;
  const std::string root = dir.path() + "/data";
  write_file(root + "/train/x.npy",
             npy("|u1", {3, 2, 2}, bytes_of(std::vector<uint8_t>{0, 1, 2, 3, 4, 5, 6, 7, 8, 9, 10, 11})));
  write_file(root + "/train/y.npy", npy("<i4", {3}, bytes_of(std::vector<int32_t>{2, 0, 1})));
  write_file(root + "/train/unused.npy", f4({1}, {0}));
  const DataSplits data = open_data(root, {input("x", {4}), label("y", 3)}, {});
  ASSERT_TRUE(data.train);
  EXPECT_FALSE(data.val);
  EXPECT_EQ(data.train->size(), 3);
  EXPECT_EQ(data.train->fields()[0].sample_shape, Shape{4});
  EXPECT_EQ(data.train->describe(), fmt::format("3 samples from {0}/train/x.npy, {0}/train/y.npy (npy)", root));
  EXPECT_EQ(data.train->source_of(1, 2), root + "/train/y.npy, sample 2");
  auto batch = all_samples(data.train);
  EXPECT_EQ(batch["x"].describe(), "float32[3, 4]");
  EXPECT_EQ(floats(batch["x"]), (std::vector<float>{0, 1, 2, 3, 4, 5, 6, 7, 8, 9, 10, 11}));
  EXPECT_EQ(batch["y"].to_int64s(), (std::vector<int64_t>{2, 0, 1}));
}

TEST(DataNpy, HeaderVersionsAndOpenDims) {
  TempDir dir;
  const std::vector<double> values = {1, 2, 3, 4, 5, 6, 7, 8};
  write_file(dir.path() + "/x.npy", npy("<f8", {2, 2, 2}, bytes_of(values), /*major=*/2));
  write_file(dir.path() + "/y.npy", npy("<u2", {2}, bytes_of(std::vector<uint16_t>{1, 0}), /*major=*/3));
  const DataSplits data = open_data(dir.path(), {input("x", {1, -1, -1}), label("y")}, {});
  EXPECT_EQ(data.train->fields()[0].sample_shape, (Shape{1, 2, 2}));
  auto batch = all_samples(data.train);
  EXPECT_EQ(floats(batch["x"]), (std::vector<float>{1, 2, 3, 4, 5, 6, 7, 8}));
  EXPECT_EQ(batch["y"].to_int64s(), (std::vector<int64_t>{1, 0}));
}

TEST(DataNpy, ErrorsNameTheFileAndSayWhatToDo) {
  TempDir dir;
  const std::string d = dir.path();
  const std::vector<FieldSpec> wanted = {input("x", {2}), label("y")};
  auto open_error = [&](const std::string& x_bytes, const std::string& y_bytes) {
    fs::remove_all(d + "/s");
    write_file(d + "/s/x.npy", x_bytes);
    if (!y_bytes.empty()) write_file(d + "/s/y.npy", y_bytes);
    return error_of([&] { open_data(d + "/s", wanted, {}); });
  };
  const std::string x = f4({2, 2}, {1, 2, 3, 4});
  const std::string y = i8({2}, {0, 1});

  std::string err = open_error(x, "");
  EXPECT_HAS(err, "no y.npy for the label 'y'; the folder holds x.npy");
  err = open_error(x, i8({3}, {0, 1, 0}));
  EXPECT_HAS(err, "different numbers of samples: 'x' has 2 (" + d + "/s/x.npy) but 'y' has 3 (" + d + "/s/y.npy)");
  err = open_error(npy("<f4", {2, 2}, bytes_of(std::vector<float>{1, 2, 3, 4}), 1, /*fortran=*/true), y);
  EXPECT_HAS(err, d + "/s/x.npy: the array is stored in Fortran (column-major) order; save it in C order");
  err = open_error(x.substr(0, x.size() - 3), y);
  EXPECT_HAS(err, d + "/s/x.npy: the header describes float32 [2, 2] = 16 bytes of data but the file holds 13");
  EXPECT_HAS(err, "truncated");
  err = open_error(npy("<f4", {int64_t{1} << 40, int64_t{1} << 40}, ""), y);
  EXPECT_HAS(err, "shape [1099511627776, 1099511627776] is corrupt: the product of its dimensions overflows");
  err = open_error(x.substr(0, 40), y);
  EXPECT_HAS(err, "truncated: the npy header is");
  err = open_error(x + "junk", y);
  EXPECT_HAS(err, "not a file numpy.save wrote");
  err = open_error(npy(">f4", {2, 2}, std::string(16, '\0')), y);
  EXPECT_HAS(err, "big-endian");
  err = open_error(npy("<c8", {2, 2}, std::string(32, '\0')), y);
  EXPECT_HAS(err, "element type '<c8' is not supported");
  err = open_error(npy("<f4", {}, std::string(4, '\0')), y);
  EXPECT_HAS(err, "a single value (shape [])");
  err = open_error("PK\x03\x04 not numpy", y);
  EXPECT_HAS(err, d + "/s/x.npy: not an npy file");
  err = open_error(f4({2, 3}, {1, 2, 3, 4, 5, 6}), y);
  EXPECT_HAS(err, "field 'x' takes samples of shape [2] (2 elements) but the samples in this file have shape [3]");
  std::string broken = x;
  broken.replace(broken.find("'shape'"), 7, "'shape\"");
  EXPECT_HAS(open_error(broken, y), "the npy header '{'descr': '<f4'");
}

TEST(DataNpy, ValuesThatDoNotFitTheFieldAreErrorsWhenRead) {
  TempDir dir;
  write_file(dir.path() + "/x.npy", f4({2, 1}, {1, 2}));
  write_file(dir.path() + "/y.npy", npy("<f4", {2}, bytes_of(std::vector<float>{1, 0.5f})));
  const DataSplits data = open_data(dir.path(), {input("x", {1}), label("y")}, {});
  BatchLoader loader(data.train, 2, false, 0);
  loader.start_epoch(0);
  std::map<std::string, Tensor> batch;
  const std::string err = error_of([&] { loader.next(batch); });
  EXPECT_HAS(err, dir.path() + "/y.npy, sample 1, field 'y': value 0.5 (element 0 of the sample) is not a int64 value");
}

TEST(DataNpy, NanAndLabelsOutOfRangeNameTheSample) {
  TempDir dir;
  write_file(dir.path() + "/train/x.npy", f4({3, 1}, {1, NAN, 3}));
  write_file(dir.path() + "/train/y.npy", i8({3}, {0, 1, 2}));
  write_file(dir.path() + "/val/x.npy", f4({2, 1}, {1, 2}));
  write_file(dir.path() + "/val/y.npy", i8({2}, {0, 5}));
  const DataSplits data = open_data(dir.path(), {input("x", {1}), label("y", 3)}, {});
  std::map<std::string, Tensor> batch;
  BatchLoader train(data.train, 3, false, 0);
  train.start_epoch(0);
  EXPECT_HAS(error_of([&] { train.next(batch); }), dir.path() + "/train/x.npy, sample 1: field 'x' holds nan");
  BatchLoader val(data.val, 3, false, 0);
  val.start_epoch(0);
  EXPECT_HAS(error_of([&] { val.next(batch); }),
             dir.path() + "/val/y.npy, sample 1: class label 5 of field 'y' is outside [0, 3)");
}

// ---- npz

struct ZipMember {
  std::string name, data;
  bool deflate = false;
};

std::string le_bytes(uint64_t v, int n) {
  std::string s;
  for (int i = 0; i < n; ++i) s += static_cast<char>((v >> (8 * i)) & 0xFF);
  return s;
}

// A zip member's raw deflate stream.
std::string deflated(const std::string& data) { return testing::zlib_deflate(data, Z_BEST_COMPRESSION, -MAX_WBITS); }

// A zip archive as Python's zipfile writes it; with `zip64`, the central directory gives the
// sizes and offsets in ZIP64 extra fields and the end records are the ZIP64 ones.
std::string zip(const std::vector<ZipMember>& members, bool zip64 = false) {
  std::string body, directory;
  for (const auto& m : members) {
    const std::string stored = m.deflate ? deflated(m.data) : m.data;
    const uint32_t crc = static_cast<uint32_t>(
        crc32(0, reinterpret_cast<const Bytef*>(m.data.data()), static_cast<uInt>(m.data.size())));
    const uint64_t offset = body.size();
    const std::string sizes = le_bytes(crc, 4) + le_bytes(stored.size(), 4) + le_bytes(m.data.size(), 4);
    body += le_bytes(0x04034b50, 4) + le_bytes(20, 2) + le_bytes(0, 2) + le_bytes(m.deflate ? 8 : 0, 2) +
            le_bytes(0, 4) + sizes + le_bytes(m.name.size(), 2) + le_bytes(0, 2) + m.name + stored;
    const std::string extra = zip64 ? le_bytes(1, 2) + le_bytes(24, 2) + le_bytes(m.data.size(), 8) +
                                          le_bytes(stored.size(), 8) + le_bytes(offset, 8)
                                    : "";
    directory += le_bytes(0x02014b50, 4) + le_bytes(45, 2) + le_bytes(45, 2) + le_bytes(0, 2) +
                 le_bytes(m.deflate ? 8 : 0, 2) + le_bytes(0, 4) + le_bytes(crc, 4) +
                 (zip64 ? le_bytes(0xFFFFFFFF, 4) + le_bytes(0xFFFFFFFF, 4)
                        : le_bytes(stored.size(), 4) + le_bytes(m.data.size(), 4)) +
                 le_bytes(m.name.size(), 2) + le_bytes(extra.size(), 2) + le_bytes(0, 2) + le_bytes(0, 2) +
                 le_bytes(0, 2) + le_bytes(0, 4) + le_bytes(zip64 ? 0xFFFFFFFF : offset, 4) + m.name + extra;
  }
  const uint64_t dir_offset = body.size();
  std::string end;
  if (zip64) {
    const uint64_t record = dir_offset + directory.size();
    end += le_bytes(0x06064b50, 4) + le_bytes(44, 8) + le_bytes(45, 2) + le_bytes(45, 2) + le_bytes(0, 4) +
           le_bytes(0, 4) + le_bytes(members.size(), 8) + le_bytes(members.size(), 8) + le_bytes(directory.size(), 8) +
           le_bytes(dir_offset, 8);
    end += le_bytes(0x07064b50, 4) + le_bytes(0, 4) + le_bytes(record, 8) + le_bytes(1, 4);
  }
  end += le_bytes(0x06054b50, 4) + le_bytes(0, 2) + le_bytes(0, 2) + le_bytes(zip64 ? 0xFFFF : members.size(), 2) +
         le_bytes(zip64 ? 0xFFFF : members.size(), 2) + le_bytes(zip64 ? 0xFFFFFFFF : directory.size(), 4) +
         le_bytes(zip64 ? 0xFFFFFFFF : dir_offset, 4) + le_bytes(0, 2);
  return body + directory + end;
}

TEST(DataNpz, StoredAndDeflatedMembers) {
  for (bool zip64 : {false, true}) {
    TempDir dir;
    const std::string x = f4({3, 2}, {1, 2, 3, 4, 5, 6});
    write_file(dir.path() + "/train/data.npz",
               zip({{"x.npy", x, /*deflate=*/false}, {"y.npy", i8({3}, {2, 1, 0}), /*deflate=*/true}}, zip64));
    const DataSplits data = open_data(dir.path(), {input("x", {2}), label("y", 3)}, {});
    EXPECT_EQ(data.train->describe(), "3 samples from " + dir.path() + "/train/data.npz (npz)");
    EXPECT_EQ(data.train->source_of(0, 1), dir.path() + "/train/data.npz: x.npy, sample 1");
    auto batch = all_samples(data.train);
    EXPECT_EQ(floats(batch["x"]), (std::vector<float>{1, 2, 3, 4, 5, 6})) << "zip64 " << zip64;
    EXPECT_EQ(batch["y"].to_int64s(), (std::vector<int64_t>{2, 1, 0})) << "zip64 " << zip64;
  }
}

TEST(DataNpz, BadArchivesAreErrors) {
  TempDir dir;
  const std::string d = dir.path();
  const std::vector<FieldSpec> wanted = {input("x", {2}), label("y")};
  const std::string x = f4({2, 2}, {1, 2, 3, 4});
  const std::string y = i8({2}, {0, 1});
  auto open_error = [&](const std::string& archive) {
    write_file(d + "/data.npz", archive);
    return error_of([&] { open_data(d, wanted, {}); });
  };
  EXPECT_HAS(open_error("definitely not a zip archive"),
             d + "/data.npz: not a valid .npz (zip) archive: it has no end of central directory record");
  const std::string good = zip({{"x.npy", x}, {"y.npy", y, true}});
  EXPECT_HAS(open_error(good.substr(0, good.size() - 30)), "not a valid .npz (zip) archive");
  EXPECT_HAS(open_error(good.substr(40)), "not a valid .npz (zip) archive");
  std::string corrupt = good;
  corrupt[good.find("y.npy") + 8] ^= 0x55;  // inside the deflated data
  EXPECT_HAS(open_error(corrupt), "member y.npy");
  EXPECT_HAS(
      open_error(zip({{"x.npy", x}})),
      d + "/data.npz: no array 'y' for the label 'y'; the archive holds x: save it with numpy.savez(path, y=...)");
  EXPECT_HAS(open_error(zip({{"x.npy", x}, {"y.npy", y.substr(0, y.size() - 8)}})),
             d + "/data.npz: y.npy: the header describes int64 [2] = 16 bytes of data but the file holds 8");
  write_file(d + "/more.npz", good);
  EXPECT_HAS(open_error(good), "2 .npz archives (" + d + "/data.npz, " + d + "/more.npz); a split takes exactly one");
}

// Arrays not named after the fields: the hint offers --input and --label first, and
// DataOptions::sources maps them.
TEST(DataNpz, ArraysNamedOtherwiseAreMappedBySources) {
  TempDir dir;
  const std::string d = dir.path();
  write_file(d + "/data.npz", zip({{"features.npy", f4({2, 2}, {1, 2, 3, 4})}, {"labels.npy", i8({2}, {1, 0})}}));
  const std::vector<FieldSpec> wanted = {input("x", {2}), label("label", 2)};
  EXPECT_HAS(error_of([&] { open_data(d, wanted, {}); }),
             d + "/data.npz: no array 'x' for the model input 'x' and no array 'label' for the label 'label'; the "
                 "archive holds features, labels: pass --input x=features --label labels (or save them with "
                 "numpy.savez(path, x=..., label=...))");
  DataOptions options;
  options.sources["x"] = "features";
  EXPECT_HAS(error_of([&] { open_data(d, wanted, options); }),
             "no array 'label' for the label 'label'; the archive holds features, labels: pass --label labels");
  options.sources["x"] = "feature";
  EXPECT_HAS(error_of([&] { open_data(d, wanted, options); }),
             d + "/data.npz: --input x=feature: no such array; the archive holds features, labels");
  options.sources["x"] = "features.npy";
  const DataSplits data = open_data(d, {input("x", {2}), label("labels", 2)}, options);
  auto batch = all_samples(data.train);
  EXPECT_EQ(floats(batch["x"]), (std::vector<float>{1, 2, 3, 4}));
  EXPECT_EQ(batch["labels"].to_int64s(), (std::vector<int64_t>{1, 0}));
  options.sources = {{"z", "features"}};
  EXPECT_HAS(error_of([&] { open_data(d, wanted, options); }),
             "--input z=features: the model has no input 'z'; its inputs are x");
  options.sources = {{"label", "labels"}};
  EXPECT_HAS(
      error_of([&] { open_data(d, wanted, options); }),
      "--input label=labels: 'label' is the label, not a model input; name the label's data with --label labels");
}

// ---- ONNX test data sets

void write_tensor(const std::string& path, const Tensor& t, const std::string& name) {
  onnx::TensorProto proto;
  tensor_to_proto(t, proto);
  proto.set_name(name);
  write_file(path, proto.SerializeAsString());
}

TEST(DataTensorProtoSets, SetsConcatenateInNumberOrder) {
  TempDir dir;
  const std::string d = dir.path() + "/train";
  // Set 10 sorts before set 2 by name; samples follow the numbers. A named tensor feeds the
  // field of its name, an unnamed input_K.pb the K-th input, label.pb the label; outputs
  // are not data.
  write_tensor(d + "/test_data_set_2/input_0.pb", Tensor::from<float>({2, 1}, {1, 2}), "b");
  write_tensor(d + "/test_data_set_2/input_1.pb", Tensor::from<float>({2, 1}, {10, 20}), "a");
  write_tensor(d + "/test_data_set_2/label.pb", Tensor::from<int64_t>({2}, {0, 1}), "");
  write_tensor(d + "/test_data_set_2/output_0.pb", Tensor::from<float>({2}, {0, 0}), "loss");
  write_tensor(d + "/test_data_set_10/input_0.pb", Tensor::from<float>({1, 1}, {30}), "");
  write_tensor(d + "/test_data_set_10/input_1.pb", Tensor::from<float>({1, 1}, {3}), "");
  write_tensor(d + "/test_data_set_10/target.pb", Tensor::from<int64_t>({1}, {1}), "y");
  const DataSplits data = open_data(dir.path(), {input("a", {1}), input("b", {1}), label("y", 2)}, {});
  EXPECT_EQ(data.train->describe(), "3 samples from 2 test data set(s) in " + d + " (ONNX test data sets)");
  EXPECT_EQ(data.train->source_of(2, 2), d + "/test_data_set_10/target.pb, sample 0");
  auto batch = all_samples(data.train);
  EXPECT_EQ(floats(batch["a"]), (std::vector<float>{10, 20, 30}));
  EXPECT_EQ(floats(batch["b"]), (std::vector<float>{1, 2, 3}));
  EXPECT_EQ(batch["y"].to_int64s(), (std::vector<int64_t>{0, 1, 1}));
}

TEST(DataTensorProtoSets, SourcesMapTensorsAndFiles) {
  TempDir dir;
  const std::string s = dir.path() + "/test_data_set_0";
  write_tensor(s + "/pixels.pb", Tensor::from<float>({2, 1}, {1, 2}), "pixels");
  write_tensor(s + "/extra.pb", Tensor::from<float>({2, 1}, {5, 6}), "");
  write_tensor(s + "/label.pb", Tensor::from<int64_t>({2}, {0, 1}), "");
  DataOptions options;
  options.sources = {{"a", "pixels"}, {"b", "extra.pb"}};  // a tensor's name, a file's
  const DataSplits data = open_data(dir.path(), {input("a", {1}), input("b", {1}), label("y", 2)}, options);
  auto batch = all_samples(data.train);
  EXPECT_EQ(floats(batch["a"]), (std::vector<float>{1, 2}));
  EXPECT_EQ(floats(batch["b"]), (std::vector<float>{5, 6}));
}

TEST(DataTensorProtoSets, Errors) {
  TempDir dir;
  const std::string s = dir.path() + "/test_data_set_0";
  const std::vector<FieldSpec> wanted = {input("x", {2}), label("y")};
  auto open_error = [&] { return error_of([&] { open_data(dir.path(), wanted, {}); }); };
  write_tensor(s + "/input_0.pb", Tensor::from<float>({1, 2}, {1, 2}), "");
  EXPECT_HAS(open_error(),
             s + ": no tensor for the label 'y'; add label.pb (or a .pb whose tensor is named 'y', or pass "
                 "--label with the name of the label's tensor)");
  write_tensor(s + "/label.pb", Tensor::from<int64_t>({2}, {0, 1}), "");
  EXPECT_HAS(open_error(), s + ": " + s + "/input_0.pb holds 1 samples but " + s + "/label.pb holds 2");
  write_tensor(s + "/label.pb", Tensor::from<int64_t>({1}, {0}), "");
  write_tensor(s + "/input_1.pb", Tensor::from<float>({1, 2}, {1, 2}), "");
  EXPECT_HAS(open_error(), s + "/input_1.pb: input 1 but the model has 1 input(s) (x)");
  write_tensor(s + "/input_1.pb", Tensor::from<float>({1, 2}, {1, 2}), "z");
  EXPECT_HAS(open_error(), s + "/input_1.pb: tensor 'z' is not a model input (they are x); map it to the input it "
                               "feeds with --input x=z (or name the tensor after the input)");
  write_tensor(s + "/input_1.pb", Tensor::from<float>({1, 2}, {1, 2}), "x");
  EXPECT_HAS(open_error(), s + ": both " + s + "/input_0.pb and " + s + "/input_1.pb hold field 'x'");
  fs::remove(s + "/input_1.pb");
  write_tensor(dir.path() + "/test_data_set_1/input_0.pb", Tensor::from<float>({1, 3}, {1, 2, 3}), "");
  write_tensor(dir.path() + "/test_data_set_1/label.pb", Tensor::from<int64_t>({1}, {0}), "");
  EXPECT_HAS(open_error(), dir.path() + "/test_data_set_1/input_0.pb: samples of float32 [3] but " + s +
                               "/input_0.pb has samples of float32 [2]");
  write_file(dir.path() + "/test_data_set_1/input_0.pb", "\xff\xff\xff");
  EXPECT_HAS(open_error(), dir.path() + "/test_data_set_1/input_0.pb: not a valid TensorProto");
}

// ---- csv

TEST(DataCsv, HeaderLabelColumnQuotingAndSeveralFiles) {
  TempDir dir;
  // A byte order mark, CRLF line ends, a quoted header name with a comma, a blank line.
  write_file(dir.path() + "/train/a.csv", "\xEF\xBB\xBF\"f,1\",label,f2\r\n1.5,2,-3\r\n\r\n\"4\", 0 ,+5e-1\r\n");
  write_file(dir.path() + "/train/b.csv", "\"f,1\",label,f2\n7,1,8\n");
  const DataSplits data = open_data(dir.path(), {input("x", {-1}), label("label", 3)}, {});
  EXPECT_EQ(data.train->size(), 3);
  EXPECT_EQ(data.train->fields()[0].sample_shape, Shape{2});
  EXPECT_EQ(data.train->source_of(0, 1), dir.path() + "/train/a.csv, line 4");
  EXPECT_EQ(data.train->source_of(1, 2), dir.path() + "/train/b.csv, line 2");
  auto batch = all_samples(data.train);
  EXPECT_EQ(floats(batch["x"]), (std::vector<float>{1.5f, -3, 4, 0.5f, 7, 8}));
  EXPECT_EQ(batch["label"].to_int64s(), (std::vector<int64_t>{2, 0, 1}));
}

TEST(DataCsv, FeaturesFillAShapedInput) {
  TempDir dir;
  write_file(dir.path() + "/data.csv", "y,p0,p1,p2,p3\n1,0,1,2,3\n");
  const DataSplits data = open_data(dir.path(), {input("image", {1, 2, 2}), label("y")}, {});
  EXPECT_EQ(floats(all_samples(data.train)["image"]), (std::vector<float>{0, 1, 2, 3}));
}

TEST(DataCsv, Errors) {
  TempDir dir;
  const std::string f = dir.path() + "/data.csv";
  auto open_error = [&](const std::string& text, std::vector<FieldSpec> wanted = {input("x", {2}), label("y")}) {
    write_file(f, text);
    return error_of([&] { open_data(dir.path(), wanted, {}); });
  };
  EXPECT_HAS(open_error("a,y,b\n1,2,3\nx5,1,6\n"),
             f + ", line 3, column 1 ('a'): 'x5' is not a number; the column feeds the model input 'x', which takes "
                 "numbers: leave it out with --ignore-columns a");
  EXPECT_HAS(open_error("a,y,b\n1,2,\n"), f + ", line 2, column 3 ('b'): '' is not a number");
  EXPECT_HAS(open_error("a,y,b\n1,2\n"), f + ", line 2: 2 cells but the header has 3 columns");
  EXPECT_HAS(open_error("\"a \"\"q\"\"\",label,b\n1,2,3\n"),
             f + ": no column 'y' for the label; the header has a \"q\", label, b: pass --label label (or name the "
                 "label column 'y')");
  EXPECT_HAS(open_error("a,y,b\n\"1,2,3\n"), f + ", line 2: a quoted cell is not closed");
  EXPECT_HAS(open_error("a,y,b\n\"1\"2,2,3\n"), f + ", line 2: text after a quoted cell's closing quote");
  EXPECT_HAS(open_error("a,y,b,c\n1,2,3,4\n"),
             f + ": the model input 'x' takes 2 values per sample ([2]), but 3 columns feed it (a, b, c); choose the "
                 "input's columns with --columns A,B,... or leave some out with --ignore-columns");
  EXPECT_HAS(open_error("a,y,b\n", {input("x", {2}), label("y")}), "hold no samples");
  EXPECT_HAS(open_error("", {input("x", {2}), label("y")}), f + ": the file is empty");
  EXPECT_HAS(open_error("a,y,b\n1,2,3\n", {input("x", {1}), input("z", {1}), label("y")}),
             "the model takes 2 inputs (x, z), and csv columns fill one input by default");
  write_file(dir.path() + "/more.csv", "a,b,y\n1,2,3\n");
  EXPECT_HAS(open_error("a,y,b\n1,2,3\n"), dir.path() + "/more.csv: the header (a, b, y) differs from " + f +
                                               "'s (a, y, b); every csv file of a split needs the same columns");
}

// ---- Finding the splits

std::string csv_rows(int rows) {
  std::string text = "a,b,y\n";
  for (int i = 0; i < rows; ++i) text += fmt::format("{},{},{}\n", i, i, i % 2);
  return text;
}

const std::vector<FieldSpec> kCsvFields = {input("x", {2}), label("y", 2)};

TEST(DataSplitsFound, TrainAndValidationFolders) {
  for (const char* val_name : {"val", "valid", "validation", "test"}) {
    TempDir dir;
    write_file(dir.path() + "/train/d.csv", csv_rows(5));
    write_file(dir.path() + "/" + val_name + "/d.csv", csv_rows(2));
    write_file(dir.path() + "/README.md", "loose files beside train/ are not data");
    const DataSplits data = open_data(dir.path(), kCsvFields, {});
    EXPECT_EQ(data.train->size(), 5);
    ASSERT_TRUE(data.val) << val_name;
    EXPECT_EQ(data.val->size(), 2);
    EXPECT_HAS(data.val->describe(), std::string("/") + val_name + "/d.csv");
  }
}

TEST(DataSplitsFound, FilesNamedAfterTheirSplit) {
  TempDir dir;
  write_file(dir.path() + "/train.csv", csv_rows(5));
  write_file(dir.path() + "/t10k.csv", csv_rows(3));
  write_file(dir.path() + "/notes.txt", "ignored: there are train* files");
  DataSplits data = open_data(dir.path(), kCsvFields, {});
  EXPECT_EQ(data.train->size(), 5);
  ASSERT_TRUE(data.val);
  EXPECT_EQ(data.val->size(), 3);

  // npy names may lead with the split's name.
  TempDir npy_dir;
  write_file(npy_dir.path() + "/train_x.npy", f4({2, 2}, {1, 2, 3, 4}));
  write_file(npy_dir.path() + "/train_y.npy", i8({2}, {0, 1}));
  write_file(npy_dir.path() + "/test-x.npy", f4({1, 2}, {5, 6}));
  write_file(npy_dir.path() + "/test-y.npy", i8({1}, {1}));
  data = open_data(npy_dir.path(), kCsvFields, {});
  EXPECT_EQ(data.train->size(), 2);
  ASSERT_TRUE(data.val);
  EXPECT_EQ(floats(all_samples(data.val)["x"]), (std::vector<float>{5, 6}));
}

TEST(DataSplitsFound, WithoutSplitNamesEverythingIsTraining) {
  TempDir dir;
  write_file(dir.path() + "/iris.csv", csv_rows(4));
  write_file(dir.path() + "/.hidden.csv", "not data at all");
  const DataSplits data = open_data(dir.path(), kCsvFields, {});
  EXPECT_EQ(data.train->size(), 4);
  EXPECT_FALSE(data.val);
}

TEST(DataSplitsFound, FolderErrors) {
  TempDir dir;
  const std::string d = dir.path();
  auto open_error = [&](const std::string& path) { return error_of([&] { open_data(path, kCsvFields, {}); }); };
  EXPECT_HAS(open_error(d + "/missing"), d + "/missing: no such folder");
  write_file(d + "/file.csv", csv_rows(1));
  // One data file is a training split of its own; what is neither a file nor a folder is refused.
  const DataSplits one = open_data(d + "/file.csv", kCsvFields, {});
  EXPECT_EQ(one.train->size(), 1);
  EXPECT_FALSE(one.val);
  EXPECT_HAS(open_error("/dev/null"), "/dev/null: not a folder or a file");
  fs::create_directories(d + "/empty");
  EXPECT_HAS(open_error(d + "/empty"), d + "/empty: the data folder is empty");

  write_file(d + "/unknown/README.md", "");
  write_file(d + "/unknown/weights.bin", "");
  EXPECT_HAS(open_error(d + "/unknown"),
             "no data: " + d +
                 "/unknown holds no file in a known format (npy, npz, test_data_set_*, "
                 "csv, IDX, image class folders) for the train split; it holds README.md, weights.bin");

  write_file(d + "/mixed/x.npy", f4({1, 2}, {1, 2}));
  write_file(d + "/mixed/y.npy", i8({1}, {0}));
  write_file(d + "/mixed/more.csv", csv_rows(1));
  const std::string mixed = open_error(d + "/mixed");
  EXPECT_HAS(mixed, d + "/mixed: mixed formats in the train data: npy (1 samples from");
  EXPECT_HAS(mixed, "; csv (1 samples from " + d + "/mixed/more.csv (csv)); keep one format per split");

  write_file(d + "/only_test_files/test.csv", csv_rows(1));
  EXPECT_HAS(open_error(d + "/only_test_files"), "only validation files (test.csv) and no training data");
  write_file(d + "/only_val/val/d.csv", csv_rows(1));
  EXPECT_HAS(open_error(d + "/only_val"), "there is a val/ folder but no train/ folder");

  fs::create_directories(d + "/empty_train/train");
  EXPECT_HAS(open_error(d + "/empty_train"), d + "/empty_train/train holds no file in a known format");
  EXPECT_HAS(open_error(d + "/empty_train"), "it holds nothing");

  write_file(d + "/shapes/train/x.npy", f4({1, 2}, {1, 2}));
  write_file(d + "/shapes/train/y.npy", i8({1}, {0}));
  write_file(d + "/shapes/val/x.npy", f4({1, 3}, {1, 2, 3}));
  write_file(d + "/shapes/val/y.npy", i8({1}, {0}));
  const std::string shapes = error_of([&] { open_data(d + "/shapes", {input("x", {-1}), label("y")}, {}); });
  EXPECT_HAS(shapes, "gives field 'x' samples of float32 [3] but the training data");
  EXPECT_HAS(shapes, "gives float32 [2]; both splits need samples of the same shape");
}

}  // namespace
}  // namespace onnx_train
