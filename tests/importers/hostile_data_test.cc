// Hostile data files: .npz members with a bad CRC-32 or impossible sizes, archives with data
// descriptors, images whose header claims far more pixels than the file can hold, IDX files
// that claim more samples than they have, and headers full of binary bytes that must reach
// the terminal escaped. Every file is written here.
#include <gtest/gtest.h>
#include <png.h>
#include <zlib.h>

#include <cstdio>
#include <cstring>
#include <filesystem>
#include <fstream>
#include <functional>
// clang-format off
#include <jpeglib.h>
// clang-format on

#include "importers/data/image_decode.h"
#include "onnx_train/dataset.h"
#include "onnx_train/printable.h"
#include "tests/support/data_files.h"
#include "tests/support/hostile_files.h"
#include "tests/support/model_builder.h"

namespace onnx_train {
namespace {

namespace fs = std::filesystem;
using testing::TempDir;
using testing::write_file;
using testing::error_of;
using testing::hostile::has_raw_binary;

std::string le(uint64_t v, int n) {
  std::string s;
  for (int i = 0; i < n; ++i) s += static_cast<char>((v >> (8 * i)) & 0xFF);
  return s;
}

// numpy.save's bytes for a 1-D or 2-D array of float32 or int64.
std::string npy(const std::string& descr, const std::string& shape, const std::string& data) {
  std::string header = "{'descr': '" + descr + "', 'fortran_order': False, 'shape': (" + shape + "), }";
  header.append(63 - (10 + header.size()) % 64, ' ');
  header += '\n';
  return std::string("\x93NUMPY\x01\x00", 8) + le(header.size(), 2) + header + data;
}

std::string floats(const std::vector<float>& v) {
  return std::string(reinterpret_cast<const char*>(v.data()), v.size() * 4);
}
std::string int64s(const std::vector<int64_t>& v) {
  return std::string(reinterpret_cast<const char*>(v.data()), v.size() * 8);
}

// A zip member's raw deflate stream.
std::string deflate_raw(const std::string& data) { return testing::zlib_deflate(data, Z_BEST_COMPRESSION, -MAX_WBITS); }

struct Member {
  std::string name, data;
  bool deflate = false;
  bool descriptor = false;  // sizes and CRC after the data (as zipfile writes to a pipe)
  uint32_t crc_xor = 0;     // damage to the recorded CRC-32
  uint64_t claimed_size = 0;  // a recorded uncompressed size other than the real one (0: the real one)
};

// A zip archive laid out as Python's zipfile writes it.
std::string zip(const std::vector<Member>& members) {
  std::string body, directory;
  for (const auto& m : members) {
    const std::string stored = m.deflate ? deflate_raw(m.data) : m.data;
    const uint32_t crc =
        static_cast<uint32_t>(crc32(0, reinterpret_cast<const Bytef*>(m.data.data()), static_cast<uInt>(m.data.size()))) ^
        m.crc_xor;
    const uint64_t size = m.claimed_size ? m.claimed_size : m.data.size();
    const uint64_t offset = body.size();
    const uint16_t flags = m.descriptor ? 0x08 : 0;
    const std::string sizes = le(crc, 4) + le(stored.size(), 4) + le(size, 4);
    body += le(0x04034b50, 4) + le(20, 2) + le(flags, 2) + le(m.deflate ? 8 : 0, 2) + le(0, 4) +
            (m.descriptor ? std::string(12, '\0') : sizes) + le(m.name.size(), 2) + le(0, 2) + m.name + stored;
    if (m.descriptor) body += le(0x08074b50, 4) + sizes;
    directory += le(0x02014b50, 4) + le(20, 2) + le(20, 2) + le(flags, 2) + le(m.deflate ? 8 : 0, 2) + le(0, 4) +
                 sizes + le(m.name.size(), 2) + le(0, 2) + le(0, 2) + le(0, 2) + le(0, 2) + le(0, 4) + le(offset, 4) +
                 m.name;
  }
  return body + directory + le(0x06054b50, 4) + le(0, 2) + le(0, 2) + le(members.size(), 2) +
         le(members.size(), 2) + le(directory.size(), 4) + le(body.size(), 4) + le(0, 2);
}

const std::vector<FieldSpec> kFields = {{"x", DType::Float32, {2}}, {"y", DType::Int64, {}, /*is_label=*/true}};
const std::string kX = npy("<f4", "2, 2", floats({1, 2, 3, 4}));
const std::string kY = npy("<i8", "2,", int64s({0, 1}));

TEST(HostileData, NpzMemberWithABadCrcIsRefused) {
  TempDir dir;
  const std::string archive = dir.path() + "/data.npz";
  for (bool deflate : {false, true}) {
    write_file(archive, zip({{"x.npy", kX, deflate, false, /*crc_xor=*/0x1}, {"y.npy", kY}}));
    const std::string err = error_of([&] { open_data(dir.path(), kFields, {}); });
    EXPECT_HAS(err, archive + ": not a valid .npz (zip) archive: member x.npy: its CRC-32 does not match its data");
  }
  // One flipped bit of a stored member's data, CRC as recorded: the same.
  std::string damaged = zip({{"x.npy", kX}, {"y.npy", kY}});
  damaged[damaged.find("x.npy") + 5 + kX.size() - 1] ^= 0x10;
  write_file(archive, damaged);
  EXPECT_HAS(error_of([&] { open_data(dir.path(), kFields, {}); }), "member x.npy: its CRC-32 does not match");
}

TEST(HostileData, NpzWithDataDescriptorsReads) {
  TempDir dir;
  write_file(dir.path() + "/data.npz",
             zip({{"x.npy", kX, /*deflate=*/true, /*descriptor=*/true}, {"y.npy", kY, false, true}}));
  const DataSplits data = open_data(dir.path(), kFields, {});
  ASSERT_EQ(data.train->size(), 2);
  std::vector<float> x(2);
  data.train->read(0, 1, x.data());
  EXPECT_EQ(x, (std::vector<float>{3, 4}));
  int64_t y = -1;
  data.train->read(1, 1, &y);
  EXPECT_EQ(y, 1);
}

TEST(HostileData, NpzMemberOfImpossibleSizeIsRefusedBeforeAllocating) {
  TempDir dir;
  const std::string archive = dir.path() + "/data.npz";
  // A deflated member of a few dozen bytes that claims 4 GB: more than deflate can expand to.
  write_file(archive, zip({{"x.npy", kX, true, false, 0, /*claimed_size=*/0xFFFFFFF0}, {"y.npy", kY}}));
  EXPECT_HAS(error_of([&] { open_data(dir.path(), kFields, {}); }),
             archive + ": not a valid .npz (zip) archive: member x.npy");
}

TEST(HostileData, BinaryBytesOfADamagedHeaderAreQuotedEscaped) {
  TempDir dir;
  // An npy header whose descr holds an escape sequence, a carriage return and high bytes.
  write_file(dir.path() + "/x.npy", npy(std::string("<f\x1b[2J\r\xff", 8), "2,", floats({1, 2})));
  std::string err = error_of([&] { open_data(dir.path(), {{"x", DType::Float32, {}}}, {}); });
  EXPECT_HAS(err, "element type '<f\\x1b[2J\\x0d\\xff' is not supported");
  EXPECT_FALSE(has_raw_binary(err)) << err;
  // A malformed header dict quoted whole.
  std::string bad = npy("<f4", "2,", floats({1, 2}));
  bad[20] = '\x07';
  bad[21] = '\x9b';
  write_file(dir.path() + "/x.npy", bad);
  err = error_of([&] { open_data(dir.path(), {{"x", DType::Float32, {}}}, {}); });
  EXPECT_HAS(err, "\\x07\\x9b");
  EXPECT_FALSE(has_raw_binary(err)) << err;
  // A csv cell.
  fs::remove(dir.path() + "/x.npy");
  write_file(dir.path() + "/d.csv", std::string("a,y\n1,0\n\x1b]0;owned\x07,1\n"));
  err = error_of([&] { open_data(dir.path(), {{"x", DType::Float32, {1}}, {"y", DType::Int64, {}, true}}, {}); });
  EXPECT_HAS(err, "'\\x1b]0;owned\\x07' is not a number");
  EXPECT_FALSE(has_raw_binary(err)) << err;
  EXPECT_EQ(printable_bytes(std::string("a\\b\0\x93", 5)), "a\\\\b\\x00\\x93");
  EXPECT_EQ(printable_message("line\n\tnext \x1b[31mred\r"), "line\n\tnext \\x1b[31mred\\x0d");
}

// ---- IDX

std::string idx_header(const std::vector<uint32_t>& dims) {
  std::string out = {0, 0, 0x08, static_cast<char>(dims.size())};
  for (uint32_t d : dims)
    for (int shift = 24; shift >= 0; shift -= 8) out += static_cast<char>(d >> shift);
  return out;
}

TEST(HostileData, IdxFileClaimingMoreThanItCanHoldIsTruncatedUpFront) {
  TempDir dir;
  // Plain: 2^32 - 1 images of 28 x 28 in a 1 KB file.
  const std::string plain = dir.path() + "/train-images-idx3-ubyte";
  write_file(plain, idx_header({0xFFFFFFFF, 28, 28}) + std::string(1024, '\x11'));
  const std::vector<FieldSpec> fields = {{"x", DType::Float32, {28, 28}}};
  EXPECT_HAS(error_of([&] { open_data(dir.path(), fields, {}); }),
             plain + ": truncated IDX file: its header says uint8 [4294967295, 28, 28] (3367254359280 bytes after the "
                     "16-byte header), but it holds 1024 (1 whole samples)");
  // Gzip: a small file cannot inflate to what the header claims.
  fs::remove(plain);
  const std::string gz = plain + ".gz";
  gzFile file = gzopen(gz.c_str(), "wb");
  const std::string bytes = idx_header({0xFFFFFFFF, 28, 28}) + std::string(100000, '\x11');
  gzwrite(file, bytes.data(), static_cast<unsigned>(bytes.size()));
  gzclose(file);
  const std::string err = error_of([&] { open_data(dir.path(), fields, {}); });
  EXPECT_HAS(err, gz + ": truncated IDX file: its header says uint8 [4294967295, 28, 28]");
  EXPECT_HAS(err, "but a gzip file of " + std::to_string(fs::file_size(gz)) + " bytes inflates to at most");
}

// ---- Images

// A real 1 x 1 PNG with its IHDR rewritten to claim `width` x `height` (the CRC fixed up).
std::string png_claiming(uint32_t width, uint32_t height) {
  std::string out;
  png_structp png = png_create_write_struct(PNG_LIBPNG_VER_STRING, nullptr, nullptr, nullptr);
  png_infop info = png_create_info_struct(png);
  png_set_write_fn(
      png, &out, [](png_structp p, png_bytep data, size_t n) {
        static_cast<std::string*>(png_get_io_ptr(p))->append(reinterpret_cast<const char*>(data), n);
      },
      nullptr);
  png_set_IHDR(png, info, 1, 1, 8, PNG_COLOR_TYPE_RGB, PNG_INTERLACE_NONE, PNG_COMPRESSION_TYPE_DEFAULT,
               PNG_FILTER_TYPE_DEFAULT);
  png_write_info(png, info);
  png_byte row[3] = {1, 2, 3};
  png_write_row(png, row);
  png_write_end(png, nullptr);
  png_destroy_write_struct(&png, &info);
  // IHDR: length (4) "IHDR" width height ... at offset 8; the CRC covers type and data (17 bytes).
  auto put_be = [&](size_t at, uint32_t v) {
    for (int i = 0; i < 4; ++i) out[at + i] = static_cast<char>(v >> (24 - 8 * i));
  };
  put_be(16, width);
  put_be(20, height);
  put_be(29, static_cast<uint32_t>(crc32(0, reinterpret_cast<const Bytef*>(out.data() + 12), 17)));
  return out;
}

// A real 16 x 16 baseline JPEG whose frame header claims `width` x `height`, cut short after
// the start of scan.
std::string jpeg_claiming(uint16_t width, uint16_t height) {
  jpeg_compress_struct cinfo;
  jpeg_error_mgr err;
  cinfo.err = jpeg_std_error(&err);
  jpeg_create_compress(&cinfo);
  unsigned char* buffer = nullptr;
  unsigned long size = 0;
  jpeg_mem_dest(&cinfo, &buffer, &size);
  cinfo.image_width = 16;
  cinfo.image_height = 16;
  cinfo.input_components = 3;
  cinfo.in_color_space = JCS_RGB;
  jpeg_set_defaults(&cinfo);
  jpeg_start_compress(&cinfo, TRUE);
  std::vector<unsigned char> row(16 * 3, 128);
  while (cinfo.next_scanline < 16) {
    JSAMPROW r = row.data();
    jpeg_write_scanlines(&cinfo, &r, 1);
  }
  jpeg_finish_compress(&cinfo);
  std::string out(reinterpret_cast<char*>(buffer), size);
  std::free(buffer);
  jpeg_destroy_compress(&cinfo);
  const size_t sof = out.find("\xff\xc0");
  out[sof + 5] = static_cast<char>(height >> 8);
  out[sof + 6] = static_cast<char>(height & 0xFF);
  out[sof + 7] = static_cast<char>(width >> 8);
  out[sof + 8] = static_cast<char>(width & 0xFF);
  const size_t sos = out.find("\xff\xda");
  return out.substr(0, sos + 2 + 12 + 4);  // the scan header (12 bytes for 3 components) and a little data
}

TEST(HostileData, ImageHeaderClaimingMorePixelsThanTheFileHoldsIsRefusedBeforeDecoding) {
  TempDir dir;
  const std::string png = dir.path() + "/bomb.png";
  write_file(png, png_claiming(13000, 13000));
  std::string err = error_of([&] { decode_image(png); });
  EXPECT_HAS(err, png + ": corrupt PNG image: its header claims 13000 x 13000 pixels, which take at least");
  EXPECT_HAS(err, "but the file has " + std::to_string(fs::file_size(png)) + " bytes");
  const std::string jpg = dir.path() + "/bomb.jpg";
  write_file(jpg, jpeg_claiming(13000, 13000));
  err = error_of([&] { decode_image(jpg); });
  EXPECT_HAS(err, jpg + ": corrupt JPEG image: its header claims 13000 x 13000 pixels");
  EXPECT_HAS(err, "but the file has " + std::to_string(fs::file_size(jpg)) + " bytes");
  // The stated pixel limit still holds for any file size.
  write_file(png, png_claiming(20000, 20000));
  EXPECT_HAS(error_of([&] { decode_image(png); }), "the image claims 20000 x 20000 pixels, more than the 178956970");
  // And real images of those formats still decode.
  write_file(png, png_claiming(1, 1));
  EXPECT_EQ(decode_image(png).pixels, (std::vector<uint8_t>{1, 2, 3}));
}

}  // namespace
}  // namespace onnx_train
