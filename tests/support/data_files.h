// Data files written by tests: whole files read and written, PNG pictures (libpng), zlib
// streams and .npy arrays as numpy.save writes them. Header-only, for the data readers' tests
// and the command-line tests.
#pragma once

#include <gtest/gtest.h>
#include <png.h>
#include <zlib.h>

#include <cstdio>
#include <filesystem>
#include <fstream>
#include <sstream>
#include <string>
#include <utility>
#include <vector>

namespace onnx_train::testing {

// The whole file ("" when it cannot be read).
inline std::string read_file(const std::string& path) {
  std::ifstream in(path, std::ios::binary);
  std::ostringstream s;
  s << in.rdbuf();
  return s.str();
}

// `bytes` as the file `path`; the parent folders are made.
inline void write_file(const std::string& path, const std::string& bytes) {
  std::filesystem::create_directories(std::filesystem::path(path).parent_path());
  std::ofstream out(path, std::ios::binary);
  out << bytes;
  ASSERT_TRUE(out.good()) << path;
}

// `data` compressed by zlib at `level`; `window_bits` picks the wrapper as deflateInit2 does:
// -MAX_WBITS a raw deflate stream (zip members), 15 + 16 a gzip file.
inline std::string zlib_deflate(const std::string& data, int level, int window_bits) {
  z_stream zs{};
  EXPECT_EQ(deflateInit2(&zs, level, Z_DEFLATED, window_bits, 8, Z_DEFAULT_STRATEGY), Z_OK);
  std::string out(deflateBound(&zs, data.size()) + 64, '\0');  // + the largest gzip header
  zs.next_in = reinterpret_cast<Bytef*>(const_cast<char*>(data.data()));
  zs.avail_in = static_cast<uInt>(data.size());
  zs.next_out = reinterpret_cast<Bytef*>(out.data());
  zs.avail_out = static_cast<uInt>(out.size());
  EXPECT_EQ(deflate(&zs, Z_FINISH), Z_STREAM_END);
  out.resize(zs.total_out);
  deflateEnd(&zs);
  return out;
}

// A PNG's header fields and its rows of packed samples in PNG's own byte order (16-bit
// big-endian), all rows the same length.
struct PngSpec {
  PngSpec(int width, int height, int color_type, int bit_depth, std::vector<uint8_t> data,
          std::vector<png_color> palette = {}, std::vector<uint8_t> transparency = {})
      : width(width),
        height(height),
        color_type(color_type),
        bit_depth(bit_depth),
        data(std::move(data)),
        palette(std::move(palette)),
        transparency(std::move(transparency)) {}

  int width, height, color_type, bit_depth;
  std::vector<uint8_t> data;
  std::vector<png_color> palette;
  std::vector<uint8_t> transparency;  // palette alpha (tRNS)
  bool interlaced = false;
};

// The PNG `spec` describes, as the file `path` (its folder must exist).
inline void write_png(const std::string& path, const PngSpec& spec) {
  FILE* file = std::fopen(path.c_str(), "wb");
  ASSERT_NE(file, nullptr) << path;
  png_structp png = png_create_write_struct(PNG_LIBPNG_VER_STRING, nullptr, nullptr, nullptr);
  png_infop info = png_create_info_struct(png);
  png_init_io(png, file);
  png_set_IHDR(png, info, spec.width, spec.height, spec.bit_depth, spec.color_type,
               spec.interlaced ? PNG_INTERLACE_ADAM7 : PNG_INTERLACE_NONE, PNG_COMPRESSION_TYPE_DEFAULT,
               PNG_FILTER_TYPE_DEFAULT);
  if (!spec.palette.empty()) png_set_PLTE(png, info, spec.palette.data(), static_cast<int>(spec.palette.size()));
  if (!spec.transparency.empty())
    png_set_tRNS(png, info, spec.transparency.data(), static_cast<int>(spec.transparency.size()), nullptr);
  png_write_info(png, info);
  const size_t row_bytes = spec.data.size() / static_cast<size_t>(spec.height);
  std::vector<png_bytep> rows;
  for (int y = 0; y < spec.height; ++y) rows.push_back(const_cast<uint8_t*>(spec.data.data()) + y * row_bytes);
  png_write_image(png, rows.data());
  png_write_end(png, nullptr);
  png_destroy_write_struct(&png, &info);
  std::fclose(file);
}

// An 8-bit PNG of `channels` (1 gray, 3 RGB) interleaved values per pixel, rows top first;
// the parent folders are made.
inline void write_png_file(const std::string& path, int width, int height, int channels,
                           const std::vector<uint8_t>& pixels) {
  ASSERT_EQ(pixels.size(), static_cast<size_t>(width * height * channels)) << path;
  std::filesystem::create_directories(std::filesystem::path(path).parent_path());
  write_png(path, {width, height, channels == 1 ? PNG_COLOR_TYPE_GRAY : PNG_COLOR_TYPE_RGB, 8, pixels});
}

// An .npy file's bytes (format 1.0): `descr` like "<f4", `shape` as numpy prints it ("(6, 2)",
// "(6,)"), then `values` as they are in memory (little-endian here).
template <typename T>
std::string npy_bytes(const std::string& descr, const std::string& shape, const std::vector<T>& values) {
  std::string header = "{'descr': '" + descr + "', 'fortran_order': False, 'shape': " + shape + ", }";
  header.append(63 - (10 + header.size()) % 64, ' ');  // the data starts 64-byte aligned
  header += '\n';
  std::string out = "\x93NUMPY\x01";
  out += '\0';
  out += static_cast<char>(header.size() & 0xFF);
  out += static_cast<char>(header.size() >> 8);
  return out + header + std::string(reinterpret_cast<const char*>(values.data()), values.size() * sizeof(T));
}

}  // namespace onnx_train::testing
