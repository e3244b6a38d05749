// The picture formats of the data readers: MNIST-style IDX files (plain and gzip) and image
// classification folders (PNG, JPEG). Every file is written here, by zlib, libpng and libjpeg.
#include <gtest/gtest.h>
#include <png.h>
#include <zlib.h>

#include <algorithm>
#include <chrono>
#include <cstdio>  // before jpeglib.h, which uses FILE without including its header
#include <cstring>
#include <filesystem>
#include <fstream>
#include <initializer_list>
#include <map>
#include <thread>
// clang-format off
#include <jpeglib.h>
// clang-format on

#include "importers/data/formats.h"
#include "onnx_train/dataset.h"
#include "tests/support/data_files.h"
#include "tests/support/expect_text.h"
#include "tests/support/kernel_harness.h"
#include "tests/support/model_builder.h"
#include "tests/support/sanitized.h"

namespace onnx_train {
namespace {

namespace fs = std::filesystem;
using testing::error_of;
using testing::expect_contains;
using testing::PngSpec;
using testing::TempDir;
using testing::write_png;

// --- helpers -----------------------------------------------------------------------------

// The split open_data would hand the openers: the folder's files and sub-folders, sorted.
SplitSource split_of(const std::string& dir) {
  SplitSource split;
  split.name = "train";
  split.dir = dir;
  for (const auto& entry : fs::directory_iterator(dir))
    (entry.is_directory() ? split.dirs : split.files).push_back(entry.path().string());
  std::sort(split.files.begin(), split.files.end());
  std::sort(split.dirs.begin(), split.dirs.end());
  return split;
}

FieldSpec input_field(Shape sample_shape, DType dtype = DType::Float32) {
  return FieldSpec{"input", dtype, std::move(sample_shape)};
}

FieldSpec label_field(int64_t num_classes = 10) {
  FieldSpec label{"label", DType::Int64, {}, /*is_label=*/true, num_classes};
  return label;
}

template <typename T>
std::vector<T> read_sample(const Dataset& data, size_t field, int64_t index) {
  std::vector<T> out(static_cast<size_t>(shape_numel(data.fields()[field].sample_shape)));
  data.read(field, index, out.data());
  return out;
}

void write_bytes(const std::string& path, const std::vector<uint8_t>& bytes) {
  std::ofstream out(path, std::ios::binary);
  out.write(reinterpret_cast<const char*>(bytes.data()), static_cast<std::streamsize>(bytes.size()));
}

std::vector<uint8_t> read_bytes(const std::string& path) {
  std::ifstream in(path, std::ios::binary);
  return std::vector<uint8_t>(std::istreambuf_iterator<char>(in), {});
}

void write_gzip(const std::string& path, const std::vector<uint8_t>& bytes) {
  gzFile file = gzopen(path.c_str(), "wb");
  ASSERT_NE(file, nullptr);
  ASSERT_EQ(gzwrite(file, bytes.data(), static_cast<unsigned>(bytes.size())), static_cast<int>(bytes.size()));
  gzclose(file);
}

// An IDX file's bytes: magic, big-endian dims, then `values` as big-endian T.
template <typename T>
std::vector<uint8_t> idx_bytes(uint8_t type_code, const Shape& dims, const std::vector<T>& values) {
  std::vector<uint8_t> bytes = {0, 0, type_code, static_cast<uint8_t>(dims.size())};
  for (int64_t d : dims)
    for (int shift = 24; shift >= 0; shift -= 8) bytes.push_back(static_cast<uint8_t>(d >> shift));
  for (const T& v : values) {
    uint8_t le[sizeof(T)];
    std::memcpy(le, &v, sizeof(T));
    for (size_t b = sizeof(T); b-- > 0;) bytes.push_back(le[b]);
  }
  return bytes;
}

// Three 2 x 3 uint8 images (values 0..255 spread out) and their labels 2, 0, 9.
const std::vector<uint8_t> kPixels = {0, 1, 2, 127, 128, 255, 10, 20, 30, 40, 50, 60, 255, 254, 3, 4, 5, 6};
const std::vector<uint8_t> kLabels = {2, 0, 9};

void write_mnist_like(const std::string& dir, bool gz, const std::string& images = "train-images-idx3-ubyte",
                      const std::string& labels = "train-labels-idx1-ubyte") {
  const auto image_bytes = idx_bytes<uint8_t>(0x08, {3, 2, 3}, kPixels);
  const auto label_bytes = idx_bytes<uint8_t>(0x08, {3}, kLabels);
  if (gz) {
    write_gzip(dir + "/" + images + ".gz", image_bytes);
    write_gzip(dir + "/" + labels + ".gz", label_bytes);
  } else {
    write_bytes(dir + "/" + images, image_bytes);
    write_bytes(dir + "/" + labels, label_bytes);
  }
}

std::string open_idx_error(const std::string& dir, const std::vector<FieldSpec>& wanted,
                           const DataOptions& options = {}) {
  return error_of([&] { open_idx_files(split_of(dir), wanted, options); });
}

const std::vector<FieldSpec> kMnistFields = {input_field({1, 2, 3}), label_field()};

void write_gray_png(const std::string& path, int width, int height, const std::vector<uint8_t>& gray) {
  write_png(path, {width, height, PNG_COLOR_TYPE_GRAY, 8, gray});
}

void write_rgb_png(const std::string& path, int width, int height, const std::vector<uint8_t>& rgb) {
  write_png(path, {width, height, PNG_COLOR_TYPE_RGB, 8, rgb});
}

// A JPEG of interleaved samples; 4:4:4 (no chroma subsampling) so flat colours stay close.
void write_jpeg(const std::string& path, int width, int height, J_COLOR_SPACE space, int components,
                const std::vector<uint8_t>& pixels, int quality = 100) {
  FILE* file = std::fopen(path.c_str(), "wb");
  ASSERT_NE(file, nullptr) << path;
  jpeg_compress_struct cinfo;
  jpeg_error_mgr errors;
  cinfo.err = jpeg_std_error(&errors);
  jpeg_create_compress(&cinfo);
  jpeg_stdio_dest(&cinfo, file);
  cinfo.image_width = static_cast<JDIMENSION>(width);
  cinfo.image_height = static_cast<JDIMENSION>(height);
  cinfo.input_components = components;
  cinfo.in_color_space = space;
  jpeg_set_defaults(&cinfo);
  jpeg_set_quality(&cinfo, quality, TRUE);
  for (int c = 0; c < cinfo.num_components; ++c)
    cinfo.comp_info[c].h_samp_factor = cinfo.comp_info[c].v_samp_factor = 1;
  jpeg_start_compress(&cinfo, TRUE);
  while (cinfo.next_scanline < cinfo.image_height) {
    JSAMPROW row = const_cast<uint8_t*>(pixels.data()) + cinfo.next_scanline * width * components;
    jpeg_write_scanlines(&cinfo, &row, 1);
  }
  jpeg_finish_compress(&cinfo);
  jpeg_destroy_compress(&cinfo);
  std::fclose(file);
}

std::vector<float> scaled(const std::vector<float>& values) {
  std::vector<float> out;
  for (float v : values) out.push_back(v / 255.0f);
  return out;
}

// Planes [C, H, W] of 0..255 values from a single colour repeated over H x W pixels.
std::vector<float> flat_planes(std::initializer_list<float> colour, int pixels) {
  std::vector<float> out;
  for (float c : colour) out.insert(out.end(), static_cast<size_t>(pixels), c);
  return out;
}

void expect_near_all(const std::vector<float>& actual, const std::vector<float>& expected, float tolerance) {
  ASSERT_EQ(actual.size(), expected.size());
  for (size_t i = 0; i < actual.size(); ++i) EXPECT_NEAR(actual[i], expected[i], tolerance) << "element " << i;
}

std::string class_dir(const TempDir& dir, const std::string& name) {
  const std::string path = dir.path() + "/" + name;
  fs::create_directories(path);
  return path;
}

std::unique_ptr<Dataset> open_images(const std::string& dir, const std::vector<FieldSpec>& wanted,
                                     const DataOptions& options = {}) {
  return open_image_folders(split_of(dir), wanted, options);
}

std::string open_images_error(const std::string& dir, const std::vector<FieldSpec>& wanted,
                              const DataOptions& options = {}) {
  return error_of([&] { open_images(dir, wanted, options); });
}

// --- IDX ---------------------------------------------------------------------------------

TEST(IdxData, ScalesUint8PixelsToUnitRangeAndReadsLabels) {
  TempDir dir;
  write_mnist_like(dir.path(), /*gz=*/false);
  auto data = open_idx_files(split_of(dir.path()), kMnistFields, {});
  ASSERT_NE(data, nullptr);
  EXPECT_EQ(data->size(), 3);
  EXPECT_EQ(data->fields()[0].sample_shape, (Shape{1, 2, 3}));
  for (int64_t i = 0; i < 3; ++i) {
    const std::vector<float> pixels = read_sample<float>(*data, 0, i);
    for (size_t k = 0; k < 6; ++k) EXPECT_EQ(pixels[k], kPixels[6 * i + k] / 255.0f) << "sample " << i;
    EXPECT_EQ(read_sample<int64_t>(*data, 1, i), std::vector<int64_t>{kLabels[i]});
  }
  expect_contains(data->describe(),
                  {"3 samples from", "train-images-idx3-ubyte and", "train-labels-idx1-ubyte", "(IDX)"});
  expect_contains(data->source_of(1, 2), {"train-labels-idx1-ubyte, sample 2"});
  expect_contains(data->source_of(0, 1), {"train-images-idx3-ubyte, sample 1"});
  EXPECT_TRUE(data->class_names().empty());
}

TEST(IdxData, ReadsGzipFilesAsThePlainOnes) {
  TempDir plain, gz;
  write_mnist_like(plain.path(), false);
  write_mnist_like(gz.path(), true);
  auto a = open_idx_files(split_of(plain.path()), kMnistFields, {});
  auto b = open_idx_files(split_of(gz.path()), kMnistFields, {});
  ASSERT_NE(b, nullptr);
  ASSERT_EQ(b->size(), 3);
  for (int64_t i = 0; i < 3; ++i) {
    EXPECT_EQ(read_sample<float>(*a, 0, i), read_sample<float>(*b, 0, i));
    EXPECT_EQ(read_sample<int64_t>(*a, 1, i), read_sample<int64_t>(*b, 1, i));
  }
  expect_contains(b->describe(), {"train-images-idx3-ubyte.gz"});
}

TEST(IdxData, RecognisesFilesByTheirMagicNumberAndLeavesOtherFilesAlone) {
  TempDir dir;
  write_mnist_like(dir.path(), false, "pixels.bin", "classes.bin");
  write_bytes(dir.path() + "/notes.txt", {'h', 'i', '\n'});
  auto data = open_idx_files(split_of(dir.path()), kMnistFields, {});
  ASSERT_NE(data, nullptr);
  EXPECT_EQ(read_sample<int64_t>(*data, 1, 2), std::vector<int64_t>{9});
}

TEST(IdxData, OtherFormatsAreNotIdx) {
  TempDir dir;
  write_bytes(dir.path() + "/train.csv", {'x', ',', 'l', 'a', 'b', 'e', 'l', '\n', '1', ',', '0', '\n'});
  write_bytes(dir.path() + "/x.npy", {0x93, 'N', 'U', 'M', 'P', 'Y', 1, 0});
  write_gzip(dir.path() + "/y.csv.gz", {'a', ',', 'b', '\n'});
  write_bytes(dir.path() + "/empty", {});
  EXPECT_EQ(open_idx_files(split_of(dir.path()), kMnistFields, {}), nullptr);
}

TEST(IdxData, ConvertsEveryElementTypeFromBigEndianWithoutScaling) {
  struct Case {
    std::string name;
    std::vector<uint8_t> bytes;
  };
  const std::vector<float> expected = {-5, 100, -1, 7};
  const std::vector<Case> cases = {
      {"int8", idx_bytes<int8_t>(0x09, {1, 2, 2}, {-5, 100, -1, 7})},
      {"int16", idx_bytes<int16_t>(0x0B, {1, 2, 2}, {-5, 100, -1, 7})},
      {"int32", idx_bytes<int32_t>(0x0C, {1, 2, 2}, {-5, 100, -1, 7})},
      {"float32", idx_bytes<float>(0x0D, {1, 2, 2}, {-5, 100, -1, 7})},
      {"float64", idx_bytes<double>(0x0E, {1, 2, 2}, {-5, 100, -1, 7})},
  };
  for (const Case& c : cases) {
    TempDir dir;
    write_bytes(dir.path() + "/images-idx3", c.bytes);
    auto data = open_idx_files(split_of(dir.path()), {input_field({4})}, {});
    ASSERT_NE(data, nullptr) << c.name;
    EXPECT_EQ(read_sample<float>(*data, 0, 0), expected) << c.name;
  }
  // Values beyond 8 bits show that all bytes are swapped, not only the first.
  TempDir dir;
  write_bytes(dir.path() + "/wide-idx2", idx_bytes<int32_t>(0x0C, {2, 1}, {70000, -123456}));
  auto data = open_idx_files(split_of(dir.path()), {input_field({1}, DType::Int64)}, {});
  EXPECT_EQ(read_sample<int64_t>(*data, 0, 0), std::vector<int64_t>{70000});
  EXPECT_EQ(read_sample<int64_t>(*data, 0, 1), std::vector<int64_t>{-123456});
}

TEST(IdxData, IntegerInputsGetThePixelValuesUnscaled) {
  TempDir dir;
  write_mnist_like(dir.path(), false);
  auto data = open_idx_files(split_of(dir.path()), {input_field({1, 2, 3}, DType::UInt8), label_field()}, {});
  const std::vector<uint8_t> first(kPixels.begin(), kPixels.begin() + 6);
  EXPECT_EQ(read_sample<uint8_t>(*data, 0, 0), first);
  std::vector<int8_t> out(6);
  auto narrow = open_idx_files(split_of(dir.path()), {input_field({1, 2, 3}, DType::Int8), label_field()}, {});
  expect_contains(error_of([&] { narrow->read(0, 0, out.data()); }),
                  {"train-images-idx3-ubyte, sample 0", "value 128", "int8"});
}

TEST(IdxData, OpenDimensionsAndReshapesFollowTheFile) {
  TempDir dir;
  write_mnist_like(dir.path(), true);
  auto open = open_idx_files(split_of(dir.path()), {input_field({1, -1, -1}), label_field()}, {});
  EXPECT_EQ(open->fields()[0].sample_shape, (Shape{1, 2, 3}));
  auto flat = open_idx_files(split_of(dir.path()), {input_field({6}), label_field()}, {});
  EXPECT_EQ(flat->fields()[0].sample_shape, (Shape{6}));
  EXPECT_EQ(read_sample<float>(*flat, 0, 1), read_sample<float>(*open, 0, 1));
  auto inferred = open_idx_files(split_of(dir.path()), {input_field({-1}), label_field()}, {});
  EXPECT_EQ(inferred->fields()[0].sample_shape, (Shape{6}));
}

TEST(IdxData, NormalisesFloatInputsByMeanAndStd) {
  TempDir dir;
  write_mnist_like(dir.path(), false);
  DataOptions options;
  options.mean = {0.1307f};
  options.std = {0.3081f};
  auto data = open_idx_files(split_of(dir.path()), kMnistFields, options);
  const std::vector<float> pixels = read_sample<float>(*data, 0, 0);
  for (size_t k = 0; k < 6; ++k) EXPECT_FLOAT_EQ(pixels[k], (kPixels[k] / 255.0f - 0.1307f) / 0.3081f);
  options.mean = {0.1f, 0.2f};
  expect_contains(open_idx_error(dir.path(), kMnistFields, options), {"mean has 2 values", "1 channel"});
}

TEST(IdxData, LabelsThatAreNotWholeNumbersAreErrorsAtRead) {
  TempDir dir;
  write_bytes(dir.path() + "/train-images-idx3-ubyte", idx_bytes<uint8_t>(0x08, {2, 1, 1}, {1, 2}));
  write_bytes(dir.path() + "/train-labels-idx1-ubyte", idx_bytes<float>(0x0D, {2}, {1.0f, 1.5f}));
  auto data = open_idx_files(split_of(dir.path()), {input_field({1, 1, 1}), label_field()}, {});
  EXPECT_EQ(read_sample<int64_t>(*data, 1, 0), std::vector<int64_t>{1});
  expect_contains(error_of([&] { read_sample<int64_t>(*data, 1, 1); }),
                  {"train-labels-idx1-ubyte, sample 1", "1.5", "int64"});
}

TEST(IdxData, ModelsWithoutALabelIgnoreTheLabelsFile) {
  TempDir dir;
  write_mnist_like(dir.path(), false);
  auto data = open_idx_files(split_of(dir.path()), {input_field({1, 2, 3})}, {});
  ASSERT_EQ(data->fields().size(), 1u);
  EXPECT_EQ(data->describe().find("labels"), std::string::npos) << data->describe();
}

TEST(IdxData, BadMagicInAFileNamedLikeIdxIsAnError) {
  TempDir dir;
  write_mnist_like(dir.path(), false);
  write_bytes(dir.path() + "/train-images-idx3-ubyte", {'P', 'K', 3, 4, 0, 0});
  expect_contains(open_idx_error(dir.path(), kMnistFields),
                  {dir.path() + "/train-images-idx3-ubyte", "50 4b 03 04", "not one", "00 00"});
  // An unknown type code is a bad magic number too.
  write_bytes(dir.path() + "/train-images-idx3-ubyte", {0, 0, 0x07, 3});
  expect_contains(open_idx_error(dir.path(), kMnistFields), {"00 00 07 03"});
}

TEST(IdxData, TruncatedFilesAreErrors) {
  TempDir dir;
  write_mnist_like(dir.path(), false);
  const std::string images = dir.path() + "/train-images-idx3-ubyte";
  std::vector<uint8_t> bytes = read_bytes(images);
  write_bytes(images, std::vector<uint8_t>(bytes.begin(), bytes.begin() + 10));  // in the header
  expect_contains(open_idx_error(dir.path(), kMnistFields), {images, "truncated IDX header", "12 bytes"});
  write_bytes(images, std::vector<uint8_t>(bytes.begin(), bytes.end() - 4));  // in the last sample
  expect_contains(open_idx_error(dir.path(), kMnistFields),
                  {images, "truncated IDX file", "uint8 [3, 2, 3]", "18 bytes", "holds 14 (2 whole samples)"});
}

TEST(IdxData, TruncatedOrCorruptGzipIsAnError) {
  TempDir dir;
  std::vector<uint8_t> big(4000 * 28);
  for (size_t i = 0; i < big.size(); ++i) big[i] = static_cast<uint8_t>((i * 7919) % 251);
  const std::string images = dir.path() + "/train-images-idx3-ubyte.gz";
  write_gzip(images, idx_bytes<uint8_t>(0x08, {4000, 28}, big));
  const std::vector<uint8_t> gz = read_bytes(images);
  write_bytes(images, std::vector<uint8_t>(gz.begin(), gz.begin() + static_cast<long>(gz.size() / 2)));
  expect_contains(open_idx_error(dir.path(), {input_field({28})}),
                  {images, "truncated IDX file", "decompressed bytes"});
  std::vector<uint8_t> flipped = gz;
  for (size_t i = 40; i < 60; ++i) flipped[i] ^= 0x5A;
  write_bytes(images, flipped);
  expect_contains(open_idx_error(dir.path(), {input_field({28})}), {images, "corrupt gzip data"});
}

TEST(IdxData, DataBeyondWhatTheHeaderSaysIsAnError) {
  TempDir dir;
  std::vector<uint8_t> bytes = idx_bytes<uint8_t>(0x08, {2, 2}, {1, 2, 3, 4});
  bytes.push_back(5);
  write_bytes(dir.path() + "/x-idx2-ubyte", bytes);
  expect_contains(open_idx_error(dir.path(), {input_field({2})}), {"x-idx2-ubyte", "more data than its header says"});
}

TEST(IdxData, EmptyFilesAndImpossibleHeadersAreErrors) {
  TempDir dir;
  write_bytes(dir.path() + "/x-idx2-ubyte", idx_bytes<uint8_t>(0x08, {0, 28}, {}));
  expect_contains(open_idx_error(dir.path(), {input_field({28})}), {"x-idx2-ubyte", "holds no values", "[0, 28]"});
  write_bytes(dir.path() + "/x-idx2-ubyte", idx_bytes<uint8_t>(0x08, {0xFFFFFFFF, 0xFFFFFFFF, 0xFFFFFFFF}, {}));
  expect_contains(open_idx_error(dir.path(), {input_field({28})}), {"x-idx2-ubyte", "impossible size"});
  write_bytes(dir.path() + "/x-idx2-ubyte", idx_bytes<uint8_t>(0x08, {0xFFFFFFF, 0xFFFF}, {1, 2, 3}));
  expect_contains(open_idx_error(dir.path(), {input_field({28})}), {"x-idx2-ubyte", "truncated IDX file"});
}

TEST(IdxData, SampleCountsMustAgree) {
  TempDir dir;
  write_mnist_like(dir.path(), false);
  write_bytes(dir.path() + "/train-labels-idx1-ubyte", idx_bytes<uint8_t>(0x08, {2}, {1, 2}));
  expect_contains(open_idx_error(dir.path(), kMnistFields),
                  {"train-labels-idx1-ubyte", "2 labels for 3 samples", "train-images-idx3-ubyte"});
}

TEST(IdxData, SampleShapesMustHoldTheSameNumberOfValues) {
  TempDir dir;
  write_mnist_like(dir.path(), false);
  expect_contains(open_idx_error(dir.path(), {input_field({1, 28, 28}), label_field()}),
                  {"train-images-idx3-ubyte", "'input'", "[1, 28, 28]", "[2, 3]"});
  FieldSpec one_hot = label_field();
  one_hot.sample_shape = {10};
  expect_contains(open_idx_error(dir.path(), {input_field({1, 2, 3}), one_hot}),
                  {"train-labels-idx1-ubyte", "'label'"});
}

TEST(IdxData, TheFilesMustMatchTheModel) {
  TempDir dir;
  write_mnist_like(dir.path(), false);
  expect_contains(open_idx_error(dir.path(), {input_field({6}), FieldSpec{"mask", DType::Float32, {6}}, label_field()}),
                  {"IDX files in " + dir.path(), "one model input", "'input', 'mask'"});
  fs::remove(dir.path() + "/train-labels-idx1-ubyte");
  expect_contains(open_idx_error(dir.path(), kMnistFields), {"'label'", "rank-1 IDX labels file", "none"});
  write_mnist_like(dir.path(), true);
  expect_contains(open_idx_error(dir.path(), kMnistFields), {"2 IDX files of rank >= 2"});
}

TEST(IdxData, OpensFashionMnistQuickly) {
  const std::string root = "/usr/share/datasets/fashion-mnist";
  if (!fs::exists(root + "/train-images-idx3-ubyte.gz")) GTEST_SKIP() << root << " is not installed";
  for (const auto& [prefix, count] : {std::pair<std::string, int64_t>{"train", 60000}, {"t10k", 10000}}) {
    SplitSource split;
    split.name = prefix;
    split.dir = root;
    split.files = {root + "/" + prefix + "-images-idx3-ubyte.gz", root + "/" + prefix + "-labels-idx1-ubyte.gz"};
    auto data = open_idx_files(split, {input_field({1, 28, 28}), label_field()}, {});
    ASSERT_EQ(data->size(), count);
    EXPECT_EQ(data->fields()[0].sample_shape, (Shape{1, 28, 28}));
    std::vector<float> pixels(784);
    int64_t label = 0;
    std::vector<int64_t> per_class(10);
    const auto start = std::chrono::steady_clock::now();
    for (int64_t i = 0; i < count; ++i) {
      data->read(0, i, pixels.data());
      data->read(1, i, &label);
      ASSERT_TRUE(label >= 0 && label < 10) << label;
      ++per_class[static_cast<size_t>(label)];
    }
    const double seconds = std::chrono::duration<double>(std::chrono::steady_clock::now() - start).count();
    EXPECT_LT(seconds, 2.0 * testing::kSlowdown) << "reading " << count << " samples";
    for (int64_t n : per_class) EXPECT_EQ(n, count / 10);  // Fashion-MNIST is balanced
    EXPECT_GE(*std::min_element(pixels.begin(), pixels.end()), 0.0f);
    EXPECT_LE(*std::max_element(pixels.begin(), pixels.end()), 1.0f);
  }
}

// --- image folders -----------------------------------------------------------------------

TEST(ImageFolders, ClassIndicesFollowTheSortedFolderNames) {
  TempDir dir;
  for (const std::string name : {"dog", "ant", "cat"}) {
    write_gray_png(class_dir(dir, name) + "/a.png", 1, 1, {static_cast<uint8_t>(name[0])});
    write_gray_png(class_dir(dir, name) + "/b.png", 1, 1, {static_cast<uint8_t>(name[1])});
  }
  auto data = open_images(dir.path(), {input_field({1, 1, 1}), label_field(3)});
  ASSERT_NE(data, nullptr);
  EXPECT_EQ(data->class_names(), (std::vector<std::string>{"ant", "cat", "dog"}));
  ASSERT_EQ(data->size(), 6);
  const std::vector<std::string> expected_files = {"ant/a.png", "ant/b.png", "cat/a.png",
                                                   "cat/b.png", "dog/a.png", "dog/b.png"};
  for (int64_t i = 0; i < 6; ++i) {
    EXPECT_EQ(read_sample<int64_t>(*data, 1, i), std::vector<int64_t>{i / 2}) << i;
    EXPECT_EQ(data->source_of(0, i), dir.path() + "/" + expected_files[static_cast<size_t>(i)]);
    const char letter = expected_files[static_cast<size_t>(i)][static_cast<size_t>(i % 2)];
    EXPECT_EQ(read_sample<float>(*data, 0, i), std::vector<float>{static_cast<uint8_t>(letter) / 255.0f});
  }
  expect_contains(data->source_of(1, 5), {"dog/b.png", "class 2", "'dog'"});
  expect_contains(data->describe(), {"6 images in 3 class folders of " + dir.path()});
}

TEST(ImageFolders, DecodesPngExactlyChannelsFirst) {
  TempDir dir;
  const std::vector<uint8_t> rgb = {255, 0, 0, 0, 255, 0, 0, 0, 255, 10, 20, 30, 40, 50, 60, 70, 80, 90};
  write_rgb_png(class_dir(dir, "x") + "/a.png", 3, 2, rgb);
  auto data = open_images(dir.path(), {input_field({3, 2, 3}), label_field()});
  std::vector<float> expected;
  for (size_t c = 0; c < 3; ++c)
    for (size_t p = 0; p < 6; ++p) expected.push_back(rgb[3 * p + c] / 255.0f);
  EXPECT_EQ(read_sample<float>(*data, 0, 0), expected);
}

TEST(ImageFolders, DecodesEveryPngColourTypeAndBitDepth) {
  struct Case {
    std::string name;
    PngSpec png;
    std::vector<float> rgb;  // expected, as 3 planes of 0..255 for a 2 x 1 image
  };
  const std::vector<Case> cases = {
      {"gray 8-bit", {2, 1, PNG_COLOR_TYPE_GRAY, 8, {7, 200}}, {7, 200, 7, 200, 7, 200}},
      {"gray 1-bit", {2, 1, PNG_COLOR_TYPE_GRAY, 1, {0x80}}, {255, 0, 255, 0, 255, 0}},
      {"gray 4-bit", {2, 1, PNG_COLOR_TYPE_GRAY, 4, {0x1F}}, {17, 255, 17, 255, 17, 255}},
      {"gray 16-bit keeps the high byte",
       {2, 1, PNG_COLOR_TYPE_GRAY, 16, {0x12, 0xFF, 0xAB, 0x01}},
       {0x12, 0xAB, 0x12, 0xAB, 0x12, 0xAB}},
      {"gray + alpha", {2, 1, PNG_COLOR_TYPE_GRAY_ALPHA, 8, {9, 0, 99, 128}}, {9, 99, 9, 99, 9, 99}},
      {"rgb 16-bit", {2, 1, PNG_COLOR_TYPE_RGB, 16, {1, 9, 2, 9, 3, 9, 4, 0, 5, 0, 6, 0}}, {1, 4, 2, 5, 3, 6}},
      {"rgba drops alpha", {2, 1, PNG_COLOR_TYPE_RGB_ALPHA, 8, {1, 2, 3, 0, 4, 5, 6, 77}}, {1, 4, 2, 5, 3, 6}},
      {"palette with transparency",
       {2, 1, PNG_COLOR_TYPE_PALETTE, 8, {1, 0}, {{10, 20, 30}, {40, 50, 60}}, {255, 0}},
       {40, 10, 50, 20, 60, 30}},
      {"palette 2-bit",
       {2, 1, PNG_COLOR_TYPE_PALETTE, 2, {0x40}, {{10, 20, 30}, {40, 50, 60}}},
       {40, 10, 50, 20, 60, 30}},
  };
  for (const Case& c : cases) {
    TempDir dir;
    write_png(class_dir(dir, "x") + "/a.png", c.png);
    auto data = open_images(dir.path(), {input_field({3, 1, 2})});
    EXPECT_EQ(read_sample<float>(*data, 0, 0), scaled(c.rgb)) << c.name;
  }
}

TEST(ImageFolders, DecodesInterlacedPng) {
  TempDir dir;
  std::vector<uint8_t> gray(9 * 9);
  for (size_t i = 0; i < gray.size(); ++i) gray[i] = static_cast<uint8_t>(i * 3);
  PngSpec png{9, 9, PNG_COLOR_TYPE_GRAY, 8, gray};
  png.interlaced = true;
  write_png(class_dir(dir, "x") + "/a.png", png);
  auto data = open_images(dir.path(), {input_field({1, 9, 9})});
  EXPECT_EQ(read_sample<float>(*data, 0, 0), scaled(std::vector<float>(gray.begin(), gray.end())));
}

TEST(ImageFolders, ConvertsGrayToThreeChannelsAndColourToLuminance) {
  TempDir gray_only, rgb_only;
  write_gray_png(class_dir(gray_only, "x") + "/a.png", 2, 1, {0, 77});
  write_rgb_png(class_dir(rgb_only, "x") + "/b.png", 4, 1, {255, 0, 0, 0, 255, 0, 0, 0, 255, 10, 200, 30});
  auto gray = open_images(gray_only.path(), {input_field({3, 1, 2})});
  EXPECT_EQ(read_sample<float>(*gray, 0, 0), scaled({0, 77, 0, 77, 0, 77}));
  // PIL's convert("L"): (R * 19595 + G * 38470 + B * 7471 + 32768) >> 16.
  auto luminance = open_images(rgb_only.path(), {input_field({1, 1, 4})});
  EXPECT_EQ(read_sample<float>(*luminance, 0, 0), scaled({76, 150, 29, 124}));
}

TEST(ImageFolders, DecodesJpegCloselyInGrayRgbAndCmyk) {
  TempDir dir;
  const int side = 16;
  std::vector<uint8_t> rgb, gray, cmyk;
  for (int p = 0; p < side * side; ++p) {
    rgb.insert(rgb.end(), {200, 100, 50});
    gray.push_back(90);
    cmyk.insert(cmyk.end(), {255, 0, 0, 255});  // Adobe's inverted CMYK for pure red
  }
  write_jpeg(class_dir(dir, "a") + "/rgb.jpg", side, side, JCS_RGB, 3, rgb);
  write_jpeg(class_dir(dir, "b") + "/gray.jpeg", side, side, JCS_GRAYSCALE, 1, gray);
  write_jpeg(class_dir(dir, "c") + "/cmyk.jpg", side, side, JCS_CMYK, 4, cmyk);
  auto data = open_images(dir.path(), {input_field({3, side, side}), label_field()});
  const float tolerance = 2.5f / 255.0f;
  expect_near_all(read_sample<float>(*data, 0, 0), scaled(flat_planes({200, 100, 50}, side * side)), tolerance);
  expect_near_all(read_sample<float>(*data, 0, 1), scaled(flat_planes({90, 90, 90}, side * side)), tolerance);
  expect_near_all(read_sample<float>(*data, 0, 2), scaled(flat_planes({255, 0, 0}, side * side)), tolerance);
}

TEST(ImageFolders, ResizesBilinearlyWithoutAlignedCorners) {
  // Upscaling [[0, 100], [200, 40]] to 4 x 4: source x = max((x + 0.5) / 2 - 0.5, 0), so the
  // columns weigh the two pixels 1:0, 3/4:1/4, 1/4:3/4, 0:1, and the rows likewise.
  TempDir up;
  write_gray_png(class_dir(up, "x") + "/a.png", 2, 2, {0, 100, 200, 40});
  auto data = open_images(up.path(), {input_field({1, 4, 4})});
  expect_near_all(read_sample<float>(*data, 0, 0),
                  scaled({0, 25, 75, 100,            //
                          50, 58.75f, 76.25f, 85,    //
                          150, 126.25f, 78.75f, 55,  //
                          200, 160, 80, 40}),
                  1e-6f);
  // Halving averages 2 x 2 blocks (source x = 2x + 0.5); 3 -> 2 columns weigh 3/4:1/4 and 1/4:3/4.
  TempDir down;
  std::vector<uint8_t> gray(4 * 4);
  for (size_t i = 0; i < gray.size(); ++i) gray[i] = static_cast<uint8_t>(i * 10);
  write_gray_png(class_dir(down, "x") + "/a.png", 4, 4, gray);
  write_gray_png(class_dir(down, "y") + "/b.png", 3, 1, {0, 100, 40});
  auto halved = open_images(down.path(), {input_field({1, 2, 2})});
  expect_near_all(read_sample<float>(*halved, 0, 0), scaled({25, 45, 105, 125}), 1e-6f);
  auto narrowed = open_images(down.path(), {input_field({1, 1, 2})});
  expect_near_all(read_sample<float>(*narrowed, 0, 1), scaled({25, 0.25f * 100 + 0.75f * 40}), 1e-6f);
}

TEST(ImageFolders, NormalisesPerChannelOrWithOneValue) {
  TempDir dir;
  write_rgb_png(class_dir(dir, "x") + "/a.png", 1, 1, {51, 102, 204});
  DataOptions options;
  options.mean = {0.5f, 0.4f, 0.3f};
  options.std = {0.2f, 0.25f, 0.5f};
  auto data = open_images(dir.path(), {input_field({3, 1, 1})}, options);
  const std::vector<float> values = read_sample<float>(*data, 0, 0);
  EXPECT_FLOAT_EQ(values[0], (51 / 255.0f - 0.5f) / 0.2f);
  EXPECT_FLOAT_EQ(values[1], (102 / 255.0f - 0.4f) / 0.25f);
  EXPECT_FLOAT_EQ(values[2], (204 / 255.0f - 0.3f) / 0.5f);
  options.mean = {0.5f};
  options.std = {};
  auto one = open_images(dir.path(), {input_field({3, 1, 1})}, options);
  EXPECT_EQ(read_sample<float>(*one, 0, 0),
            (std::vector<float>{51 / 255.0f - 0.5f, 102 / 255.0f - 0.5f, 204 / 255.0f - 0.5f}));
}

TEST(ImageFolders, OtherDtypesGetTheirConversion) {
  TempDir dir;
  write_gray_png(class_dir(dir, "x") + "/a.png", 2, 1, {10, 21});
  // Integer inputs take whole pixel values: 10 and 21 resized to 3 columns -> 10, 15.5 -> 16, 21.
  auto bytes = open_images(dir.path(), {input_field({1, 1, 3}, DType::UInt8)});
  EXPECT_EQ(read_sample<uint8_t>(*bytes, 0, 0), (std::vector<uint8_t>{10, 16, 21}));
  auto doubles = open_images(dir.path(), {input_field({1, 1, 2}, DType::Float64)});
  EXPECT_EQ(read_sample<double>(*doubles, 0, 0), (std::vector<double>{10 / 255.0, 21 / 255.0}));
  FieldSpec int32_label = label_field();
  int32_label.dtype = DType::Int32;
  auto labels = open_images(dir.path(), {input_field({1, 1, 2}), int32_label});
  EXPECT_EQ(read_sample<int32_t>(*labels, 1, 0), std::vector<int32_t>{0});
}

TEST(ImageFolders, ExtensionsAreCaseInsensitiveOtherFilesCountedAndHiddenOnesSkipped) {
  TempDir dir;
  const std::string cats = class_dir(dir, "cats");
  write_gray_png(cats + "/a.PNG", 1, 1, {1});
  write_jpeg(cats + "/b.JpEg", 8, 8, JCS_GRAYSCALE, 1, std::vector<uint8_t>(64, 128));
  write_jpeg(cats + "/c.jpg", 8, 8, JCS_GRAYSCALE, 1, std::vector<uint8_t>(64, 128));
  write_bytes(cats + "/notes.txt", {'x'});
  write_bytes(cats + "/labels.csv", {'y'});
  write_gray_png(class_dir(dir, "cats/nested") + "/d.png", 1, 1, {2});  // ImageFolder walks sub-folders too
  // Hidden entries are not data: macOS's resource forks, Jupyter's checkpoints.
  write_bytes(cats + "/._a.PNG", {0, 5, 22, 7});
  write_bytes(cats + "/.DS_Store", {0});
  write_gray_png(class_dir(dir, "cats/.ipynb_checkpoints") + "/e.png", 1, 1, {3});
  auto data = open_images(dir.path(), {input_field({1, 1, 1}), label_field()});
  EXPECT_EQ(data->size(), 4);
  EXPECT_EQ(data->class_names(), std::vector<std::string>{"cats"});
  for (int64_t i = 0; i < data->size(); ++i) EXPECT_NO_THROW(read_sample<float>(*data, 0, i));
  expect_contains(data->describe(), {"4 images in 1 class folder of", "2 other files ignored"});
}

TEST(ImageFolders, FoldersWithoutImagesAreNotThisFormat) {
  TempDir dir;
  EXPECT_EQ(open_images(dir.path(), {input_field({1, 1, 1})}), nullptr);
  fs::create_directories(dir.path() + "/test_data_set_0");
  write_bytes(dir.path() + "/test_data_set_0/input_0.pb", {8, 1});
  write_bytes(dir.path() + "/train.csv", {'a', '\n'});
  EXPECT_EQ(open_images(dir.path(), {input_field({1, 1, 1})}), nullptr);
}

TEST(ImageFolders, ReadsFromSeveralThreadsAtOnce) {
  TempDir dir;
  for (int i = 0; i < 8; ++i) {
    std::vector<uint8_t> rgb(5 * 7 * 3);
    for (size_t k = 0; k < rgb.size(); ++k) rgb[k] = static_cast<uint8_t>(k * (i + 1));
    write_rgb_png(class_dir(dir, i % 2 ? "odd" : "even") + "/" + std::to_string(i) + ".png", 5, 7, rgb);
    write_jpeg(class_dir(dir, "jpeg") + "/" + std::to_string(i) + ".jpg", 5, 7, JCS_RGB, 3, rgb, 90);
  }
  auto data = open_images(dir.path(), {input_field({3, 4, 6}), label_field()});
  std::vector<std::vector<float>> expected;
  for (int64_t i = 0; i < data->size(); ++i) expected.push_back(read_sample<float>(*data, 0, i));
  std::vector<std::thread> threads;
  std::vector<int> mismatches(4);
  for (size_t t = 0; t < 4; ++t)
    threads.emplace_back([&, t] {
      for (int round = 0; round < 5; ++round)
        for (int64_t i = 0; i < data->size(); ++i)
          if (read_sample<float>(*data, 0, i) != expected[static_cast<size_t>(i)]) ++mismatches[t];
    });
  for (auto& t : threads) t.join();
  EXPECT_EQ(mismatches, std::vector<int>(4, 0));
}

TEST(ImageFolders, AnEmptyClassFolderIsAnError) {
  TempDir dir;
  write_gray_png(class_dir(dir, "cat") + "/a.png", 1, 1, {1});
  write_bytes(class_dir(dir, "dog") + "/readme.txt", {'x'});
  expect_contains(open_images_error(dir.path(), {input_field({1, 1, 1}), label_field()}),
                  {dir.path() + "/dog", "no .png, .jpg or .jpeg images", "only 1 other files", "remove the folder"});
}

TEST(ImageFolders, TheModelInputMustHaveAFixedImageShape) {
  TempDir dir;
  write_gray_png(class_dir(dir, "cat") + "/a.png", 1, 1, {1});
  expect_contains(open_images_error(dir.path(), {input_field({3, -1, -1}), label_field()}),
                  {"'input'", "[3, -1, -1]", "open height or width", "fixed input size"});
  expect_contains(open_images_error(dir.path(), {input_field({2, 8, 8})}), {"[2, 8, 8]", "C = 1 or 3"});
  expect_contains(open_images_error(dir.path(), {input_field({-1, 8, 8})}), {"fixed channel count"});
  expect_contains(open_images_error(dir.path(), {input_field({64})}), {"[64]", "[N, C, H, W]"});
  expect_contains(open_images_error(dir.path(), {input_field({1, 1, 1}), FieldSpec{"extra", DType::Float32, {1}}}),
                  {"one model input", "'input', 'extra'"});
}

TEST(ImageFolders, MeanAndStdMustFitTheChannels) {
  TempDir dir;
  write_rgb_png(class_dir(dir, "cat") + "/a.png", 1, 1, {1, 2, 3});
  DataOptions options;
  options.mean = {0.5f, 0.5f};
  expect_contains(open_images_error(dir.path(), {input_field({3, 1, 1})}, options),
                  {"image folders in " + dir.path(), "mean has 2 values", "3 channels", "give 1 value"});
  options.mean = {};
  options.std = {0.2f, 0.2f, 0.2f, 0.2f};
  expect_contains(open_images_error(dir.path(), {input_field({3, 1, 1})}, options), {"std has 4 values"});
  options.std = {0.2f, 0.0f, 0.2f};
  expect_contains(open_images_error(dir.path(), {input_field({3, 1, 1})}, options), {"channel 1", "nonzero"});
  options.std = {0.5f};
  expect_contains(open_images_error(dir.path(), {input_field({3, 1, 1}, DType::UInt8)}, options),
                  {"floating-point input", "uint8", "leave out mean and std"});
}

TEST(ImageFolders, CorruptImagesAreErrorsNamingTheFileWhenRead) {
  TempDir dir;
  const std::string cats = class_dir(dir, "cat");
  std::vector<uint8_t> gray(32 * 32);
  for (size_t i = 0; i < gray.size(); ++i) gray[i] = static_cast<uint8_t>(i * 31);
  write_gray_png(cats + "/a.png", 32, 32, gray);
  write_jpeg(cats + "/b.jpg", 32, 32, JCS_GRAYSCALE, 1, gray, 90);
  const std::vector<uint8_t> png = read_bytes(cats + "/a.png");
  const std::vector<uint8_t> jpeg = read_bytes(cats + "/b.jpg");
  write_bytes(cats + "/a.png", std::vector<uint8_t>(png.begin(), png.begin() + static_cast<long>(png.size() / 2)));
  write_bytes(cats + "/b.jpg", std::vector<uint8_t>(jpeg.begin(), jpeg.begin() + static_cast<long>(jpeg.size() / 2)));
  std::vector<uint8_t> garbled = png;
  for (size_t i = 60; i < png.size() - 20; ++i) garbled[i] = static_cast<uint8_t>(i * 13);
  write_bytes(cats + "/c.png", garbled);
  std::vector<uint8_t> garbled_jpeg = jpeg;
  for (size_t i = 2; i < 40; ++i) garbled_jpeg[i] = 0x00;
  write_bytes(cats + "/d.jpg", garbled_jpeg);
  write_bytes(cats + "/e.png", {'h', 'e', 'l', 'l', 'o'});
  write_bytes(cats + "/f.jpg", {});

  auto data = open_images(dir.path(), {input_field({1, 32, 32}), label_field()});  // opening decodes nothing
  ASSERT_EQ(data->size(), 6);
  std::vector<float> out(32 * 32);
  expect_contains(error_of([&] { data->read(0, 0, out.data()); }), {cats + "/a.png", "corrupt PNG", "truncated"});
  expect_contains(error_of([&] { data->read(0, 1, out.data()); }), {cats + "/b.jpg", "corrupt JPEG", "Premature end"});
  expect_contains(error_of([&] { data->read(0, 2, out.data()); }), {cats + "/c.png", "corrupt PNG"});
  expect_contains(error_of([&] { data->read(0, 3, out.data()); }), {cats + "/d.jpg", "corrupt JPEG"});
  expect_contains(error_of([&] { data->read(0, 4, out.data()); }), {cats + "/e.png", "not a PNG or JPEG", "68 65 6c"});
  expect_contains(error_of([&] { data->read(0, 5, out.data()); }), {cats + "/f.jpg", "the file is empty"});
  int64_t label = -1;
  data->read(1, 0, &label);  // labels need no decoding
  EXPECT_EQ(label, 0);
}

TEST(ImageFolders, HugeDimensionsAreRefusedBeforeAllocating) {
  TempDir dir;
  const std::string cats = class_dir(dir, "cat");
  write_gray_png(cats + "/a.png", 1, 1, {1});
  std::vector<uint8_t> png = read_bytes(cats + "/a.png");
  // IHDR's width and height (bytes 16..23) to 100000 x 100000; its CRC follows, so fix it.
  for (size_t at : {16, 20}) png[at] = 0, png[at + 1] = 0x01, png[at + 2] = 0x86, png[at + 3] = 0xA0;
  const uint32_t crc = static_cast<uint32_t>(crc32(0, png.data() + 12, 17));
  for (int b = 0; b < 4; ++b) png[29 + b] = static_cast<uint8_t>(crc >> (24 - 8 * b));
  write_bytes(cats + "/a.png", png);
  // A JPEG's start-of-frame (ff c0, length, precision) gives height and width: 60000 each
  // (libjpeg itself stops at 65500).
  write_jpeg(cats + "/b.jpg", 8, 8, JCS_GRAYSCALE, 1, std::vector<uint8_t>(64, 7));
  std::vector<uint8_t> jpeg = read_bytes(cats + "/b.jpg");
  size_t sof = 2;
  while (sof + 1 < jpeg.size() && !(jpeg[sof] == 0xFF && jpeg[sof + 1] == 0xC0)) ++sof;
  ASSERT_LT(sof + 9, jpeg.size());
  for (size_t at : {sof + 5, sof + 7}) jpeg[at] = 0xEA, jpeg[at + 1] = 0x60;
  write_bytes(cats + "/b.jpg", jpeg);
  auto data = open_images(dir.path(), {input_field({1, 1, 1})});
  float out = 0;
  expect_contains(error_of([&] { data->read(0, 0, &out); }), {"a.png", "100000 x 100000", "decompression bomb"});
  expect_contains(error_of([&] { data->read(0, 1, &out); }), {"b.jpg", "60000 x 60000", "decompression bomb"});
}

TEST(ImageFolders, MoreClassFoldersThanTheModelHasClassesIsAnError) {
  TempDir dir;
  for (const char* name : {"a", "b", "c"}) write_gray_png(class_dir(dir, name) + "/x.png", 1, 1, {1});
  expect_contains(open_images_error(dir.path(), {input_field({1, 1, 1}), label_field(2)}),
                  {"3 class folders (a, b, c)", "takes 2 classes"});
}

// --- through open_data and the BatchLoader -----------------------------------------------

TEST(PictureData, OpenDataFindsMnistFilesSideBySide) {
  TempDir dir;
  write_mnist_like(dir.path(), true);
  write_gzip(dir.path() + "/t10k-images-idx3-ubyte.gz",
             idx_bytes<uint8_t>(0x08, {2, 2, 3}, std::vector<uint8_t>(12, 51)));
  write_gzip(dir.path() + "/t10k-labels-idx1-ubyte.gz", idx_bytes<uint8_t>(0x08, {2}, {4, 5}));
  const DataSplits data = open_data(dir.path(), kMnistFields, {});
  ASSERT_NE(data.val, nullptr);
  EXPECT_EQ(data.train->size(), 3);
  EXPECT_EQ(data.val->size(), 2);
  BatchLoader loader(data.val, 2, /*shuffle=*/false, 0);
  loader.start_epoch(0);
  std::map<std::string, Tensor> batch;
  ASSERT_TRUE(loader.next(batch));
  EXPECT_EQ(batch["input"].shape(), (Shape{2, 1, 2, 3}));
  EXPECT_EQ(batch["input"].to_doubles()[11], static_cast<double>(51 / 255.0f));
  EXPECT_EQ(batch["label"].to_int64s(), (std::vector<int64_t>{4, 5}));
  EXPECT_FALSE(loader.next(batch));
}

TEST(PictureData, OpenDataFindsClassFoldersInTrainAndVal) {
  TempDir dir;
  for (const std::string split : {"train", "val"})
    for (const std::string name : {"dog", "cat"})
      for (int i = 0; i < 3; ++i)
        write_rgb_png(class_dir(dir, split + "/" + name) + "/" + std::to_string(i) + ".png", 4, 4,
                      std::vector<uint8_t>(48, static_cast<uint8_t>(name == "dog" ? 200 : 100)));
  const DataSplits data = open_data(dir.path(), {input_field({3, 2, 2}), label_field(2)}, {});
  ASSERT_NE(data.val, nullptr);
  EXPECT_EQ(data.train->class_names(), (std::vector<std::string>{"cat", "dog"}));
  BatchLoader loader(data.train, 4, /*shuffle=*/true, 7);
  loader.start_epoch(0);
  std::map<std::string, Tensor> batch;
  int64_t seen = 0;
  while (loader.next(batch)) {
    const std::vector<int64_t> labels = batch["label"].to_int64s();
    const std::vector<double> pixels = batch["input"].to_doubles();
    for (size_t i = 0; i < labels.size(); ++i)  // each image is one flat colour of its class
      EXPECT_EQ(pixels[i * 12], static_cast<double>((labels[i] == 1 ? 200 : 100) / 255.0f));
    seen += static_cast<int64_t>(labels.size());
  }
  EXPECT_EQ(seen, 6);
}

}  // namespace
}  // namespace onnx_train
