#include "importers/data/image_decode.h"

#include <png.h>

#include <algorithm>
#include <csetjmp>
#include <cstdio>  // before jpeglib.h, which uses FILE and size_t without including their headers
#include <cstring>
#include <fstream>
#include <new>
#include <system_error>
// clang-format off
#include <jpeglib.h>
#include <jerror.h>
// clang-format on

#include "onnx_train/error.h"
#include "onnx_train/printable.h"
#include "runtime/core/checked_math.h"
#include "runtime/core/resource_limits.h"

namespace onnx_train {

namespace {

// PIL refuses images of more than twice its MAX_IMAGE_PIXELS as decompression bombs; so do
// we, so that a few corrupt header bytes cannot ask for gigabytes.
constexpr int64_t kMaxPixels = 178956970;

std::vector<uint8_t> read_file(const std::string& path) {
  std::ifstream in(path, std::ios::binary | std::ios::ate);
  if (!in) OT_FAIL_AS(ErrorCategory::Io, "{}: cannot open the image: {}", path, std::generic_category().message(errno));
  const std::streamoff size = in.tellg();
  in.seekg(0);
  std::vector<uint8_t> bytes(static_cast<size_t>(std::max<std::streamoff>(size, 0)));
  in.read(reinterpret_cast<char*>(bytes.data()), static_cast<std::streamsize>(bytes.size()));
  if (!in) OT_FAIL_AS(ErrorCategory::Io, "{}: cannot read the image ({} bytes expected)", path, bytes.size());
  return bytes;
}

void check_pixel_count(int64_t width, int64_t height, const std::string& path) {
  OT_CHECK(width > 0 && height > 0 && width * height <= kMaxPixels,
           "{}: the image claims {} x {} pixels, more than the {} an image may have (a corrupt header or a "
           "decompression bomb); shrink or remove it",
           path, width, height, kMaxPixels);
}

// Checked as soon as the header is read, before the decoder allocates for the pixels: a
// file smaller than the least its declared pixels can compress to is truncated or corrupt
// (a 69-byte file that claims 13000 x 13000 must not take 500 MB first).
void check_fits_in_file(int64_t width, int64_t height, uint64_t least_bytes, size_t file_bytes, const char* format,
                        const std::string& path) {
  check_pixel_count(width, height, path);
  OT_CHECK(file_bytes >= least_bytes,
           "{}: corrupt {} image: its header claims {} x {} pixels, which take at least {} bytes compressed, but the "
           "file has {} bytes (truncated, or a damaged header); re-export or remove the file",
           path, format, width, height, least_bytes, file_bytes);
}

void allocate(DecodedImage& image, int64_t width, int64_t height, int channels, const std::string& path) {
  check_pixel_count(width, height, path);
  image.width = width;
  image.height = height;
  image.channels = channels;
  const int64_t bytes = checked_numel({width, height, channels}, path);
  check_memory_limit(static_cast<uint64_t>(bytes),
                     fmt::format("{}: the decoded image ({} x {} pixels, {} channels)", path, width, height, channels));
  try {
    image.pixels.resize(static_cast<size_t>(bytes));
  } catch (const std::bad_alloc&) {
    OT_FAIL_AS(ErrorCategory::ResourceLimit, "{}: out of memory for the image's {} x {} pixels ({} bytes)", path, width,
               height, bytes);
  }
}

// --- PNG ---------------------------------------------------------------------------------

struct PngInput {
  const std::vector<uint8_t>* bytes = nullptr;
  size_t offset = 0;
  char error[256] = "";
};

void on_png_error(png_structp png, png_const_charp message) {
  auto* input = static_cast<PngInput*>(png_get_error_ptr(png));
  std::snprintf(input->error, sizeof(input->error), "%s", message);
  png_longjmp(png, 1);
}

void ignore_png_warning(png_structp, png_const_charp) {}

void read_png_bytes(png_structp png, png_bytep out, size_t length) {
  auto* input = static_cast<PngInput*>(png_get_io_ptr(png));
  if (length > input->bytes->size() - input->offset) png_error(png, "the file ends early (truncated)");
  std::memcpy(out, input->bytes->data() + input->offset, length);
  input->offset += length;
}

// The libpng calls. libpng reports errors by longjmp to the setjmp here, so this frame
// creates no C++ objects after it (`image` and `rows` live in the caller); returns false,
// with input.error set, when it does.
bool run_libpng(png_structp png, png_infop info, PngInput& input, DecodedImage& image, std::vector<png_bytep>& rows,
                const std::string& path) {
  if (setjmp(png_jmpbuf(png))) return false;
  png_set_read_fn(png, &input, read_png_bytes);
  png_read_info(png, info);
  // Each row is a filter byte and the row's bytes as stored; deflate compresses at most
  // 1032-fold, so the file holds at least rows * (rowbytes + 1) / 1032 bytes.
  const int64_t height = png_get_image_height(png, info);
  check_fits_in_file(png_get_image_width(png, info), height,
                     static_cast<uint64_t>(height) * (png_get_rowbytes(png, info) + 1) / 1032,
                     input.bytes->size(), "PNG", path);
  const int color_type = png_get_color_type(png, info);
  const int bit_depth = png_get_bit_depth(png, info);
  if (color_type == PNG_COLOR_TYPE_PALETTE) png_set_palette_to_rgb(png);
  if (color_type == PNG_COLOR_TYPE_GRAY && bit_depth < 8) png_set_expand_gray_1_2_4_to_8(png);
  if (bit_depth == 16) png_set_strip_16(png);
  png_set_interlace_handling(png);
  png_read_update_info(png, info);
  allocate(image, png_get_image_width(png, info), png_get_image_height(png, info), png_get_channels(png, info), path);
  const size_t stride = static_cast<size_t>(image.width) * image.channels;
  OT_CHECK(png_get_rowbytes(png, info) == stride, "{}: libpng rows of {} bytes, expected {}", path,
           png_get_rowbytes(png, info), stride);
  rows.resize(static_cast<size_t>(image.height));
  for (size_t y = 0; y < rows.size(); ++y) rows[y] = image.pixels.data() + y * stride;
  png_read_image(png, rows.data());
  return true;
}

// libpng allocates a chunk's declared length before reading its data (a 213-byte file whose
// tEXt chunk claims 1.6 GB took 1.6 GB), so every chunk up to IEND (or the last IDAT) must fit
// in the file first.
void check_png_chunks(const std::vector<uint8_t>& bytes, const std::string& path) {
  for (size_t at = 8; at + 8 <= bytes.size();) {
    const uint64_t length = (uint64_t{bytes[at]} << 24) | (uint64_t{bytes[at + 1]} << 16) |
                            (uint64_t{bytes[at + 2]} << 8) | bytes[at + 3];
    const std::string type(reinterpret_cast<const char*>(bytes.data()) + at + 4, 4);
    const uint64_t left = bytes.size() - at - 8;  // after the length and type
    // IDAT is streamed, not allocated: a file cut inside its last IDAT decodes as far as its
    // pixels go (as PIL's does), and libpng reports pixels that are missing.
    if (type == "IDAT" && length + 4 > left) return;
    if (length + 4 > left)
      OT_FAIL_AS(ErrorCategory::Data,
                 "{}: corrupt PNG image: chunk '{}' at byte {} claims {} bytes, but the file has {} left (truncated, or "
                 "a damaged chunk length); re-export or remove the file",
                 path, printable_bytes(type), at, length, left >= 4 ? left - 4 : 0);
    if (type == "IEND") return;
    at += 12 + length;
  }
}

DecodedImage decode_png(const std::vector<uint8_t>& bytes, const std::string& path) {
  check_png_chunks(bytes, path);
  PngInput input;
  input.bytes = &bytes;
  png_structp png = png_create_read_struct(PNG_LIBPNG_VER_STRING, &input, on_png_error, ignore_png_warning);
  png_infop info = png != nullptr ? png_create_info_struct(png) : nullptr;
  struct Release {
    png_structp& png;
    png_infop& info;
    ~Release() { png_destroy_read_struct(&png, &info, nullptr); }
  } release{png, info};
  OT_CHECK(info != nullptr, "{}: libpng could not start (out of memory)", path);
  DecodedImage image;
  std::vector<png_bytep> rows;
  OT_CHECK(run_libpng(png, info, input, image, rows, path),
           "{}: corrupt PNG image: {} (at byte {} of {}); re-export or remove the file", path, input.error,
           input.offset, bytes.size());
  return image;
}

// --- JPEG --------------------------------------------------------------------------------

struct JpegErrors {
  jpeg_error_mgr manager;  // first, so that libjpeg's cinfo->err points at the whole struct
  std::jmp_buf jump;
  char message[JMSG_LENGTH_MAX] = "";
};

void on_jpeg_error(j_common_ptr cinfo) {
  auto* errors = reinterpret_cast<JpegErrors*>(cinfo->err);
  cinfo->err->format_message(cinfo, errors->message);
  std::longjmp(errors->jump, 1);
}

// libjpeg goes on after a warning. Warnings about lost pixel data (truncation, corrupt
// entropy-coded data) are errors here, as PIL refuses truncated files; those about metadata
// are harmless. Nothing is printed.
void on_jpeg_message(j_common_ptr cinfo, int level) {
  if (level >= 0) return;  // trace messages
  switch (cinfo->err->msg_code) {
    case JWRN_ADOBE_XFORM:
    case JWRN_EXTRANEOUS_DATA:
    case JWRN_JFIF_MAJOR:
    case JWRN_BOGUS_ICC: return;
    default: cinfo->err->error_exit(cinfo);
  }
}

// The libjpeg calls; the same longjmp rules as run_libpng.
bool run_libjpeg(jpeg_decompress_struct& cinfo, JpegErrors& errors, const std::vector<uint8_t>& bytes,
                 DecodedImage& image, const std::string& path) {
  if (setjmp(errors.jump)) return false;
  jpeg_create_decompress(&cinfo);
  jpeg_mem_src(&cinfo, bytes.data(), static_cast<unsigned long>(bytes.size()));
  jpeg_read_header(&cinfo, TRUE);
  // Huffman coding spends at least one bit per 8x8 block of the full-resolution component
  // (its DC code), so a file holds at least ceil(w/8) * ceil(h/8) / 8 bytes. Arithmetic
  // coding has no such floor: its decoder reads zeros past the data's end, so a 600-byte file
  // could claim 13000 x 13000 pixels and take 500 MB; it is held to a byte per 64 blocks
  // (about 12 KB of pixels per byte), which a real picture's adaptive coding never beats.
  const int64_t blocks = (int64_t{cinfo.image_width} + 7) / 8 * ((int64_t{cinfo.image_height} + 7) / 8);
  check_fits_in_file(cinfo.image_width, cinfo.image_height, static_cast<uint64_t>(blocks / (cinfo.arith_code ? 64 : 8)),
                     bytes.size(), "JPEG", path);
  switch (cinfo.jpeg_color_space) {
    case JCS_GRAYSCALE: cinfo.out_color_space = JCS_GRAYSCALE; break;
    case JCS_CMYK:
    case JCS_YCCK: cinfo.out_color_space = JCS_CMYK; break;
    default: cinfo.out_color_space = JCS_RGB; break;
  }
  jpeg_start_decompress(&cinfo);
  allocate(image, cinfo.output_width, cinfo.output_height, cinfo.output_components, path);
  const size_t stride = static_cast<size_t>(image.width) * image.channels;
  while (cinfo.output_scanline < cinfo.output_height) {
    JSAMPROW row = image.pixels.data() + cinfo.output_scanline * stride;
    jpeg_read_scanlines(&cinfo, &row, 1);
  }
  jpeg_finish_decompress(&cinfo);
  return true;
}

// CMYK as JPEG files store it (inverted, Adobe's convention, which PIL assumes too) to RGB
// with PIL's formula: R = (255 - K) - (255 - K) * C / 255, rounded as PIL's MULDIV255.
void cmyk_to_rgb(DecodedImage& image) {
  const size_t pixels = static_cast<size_t>(image.width * image.height);
  for (size_t p = 0; p < pixels; ++p) {
    const uint8_t* cmyk = image.pixels.data() + 4 * p;
    const int inverse_k = cmyk[3];               // 255 - K
    uint8_t* rgb = image.pixels.data() + 3 * p;  // never ahead of cmyk, so in place is safe
    for (int c = 0; c < 3; ++c) {
      const int product = (255 - cmyk[c]) * inverse_k + 128;
      rgb[c] = static_cast<uint8_t>(inverse_k - (((product >> 8) + product) >> 8));
    }
  }
  image.channels = 3;
  image.pixels.resize(3 * pixels);
}

DecodedImage decode_jpeg(const std::vector<uint8_t>& bytes, const std::string& path) {
  jpeg_decompress_struct cinfo;
  std::memset(&cinfo, 0, sizeof(cinfo));
  JpegErrors errors;
  cinfo.err = jpeg_std_error(&errors.manager);
  errors.manager.error_exit = on_jpeg_error;
  errors.manager.emit_message = on_jpeg_message;
  struct Release {
    jpeg_decompress_struct& cinfo;
    ~Release() { jpeg_destroy_decompress(&cinfo); }
  } release{cinfo};
  DecodedImage image;
  OT_CHECK(run_libjpeg(cinfo, errors, bytes, image, path), "{}: corrupt JPEG image: {}; re-export or remove the file",
           path, errors.message);
  if (cinfo.out_color_space == JCS_CMYK) cmyk_to_rgb(image);
  return image;
}

}  // namespace

DecodedImage decode_image(const std::string& path) {
  const std::vector<uint8_t> bytes = read_file(path);
  static const uint8_t kPngSignature[8] = {0x89, 'P', 'N', 'G', '\r', '\n', 0x1A, '\n'};
  if (bytes.size() >= 8 && std::memcmp(bytes.data(), kPngSignature, 8) == 0) return decode_png(bytes, path);
  if (bytes.size() >= 2 && bytes[0] == 0xFF && bytes[1] == 0xD8) return decode_jpeg(bytes, path);  // SOI
  std::string start;
  for (size_t i = 0; i < std::min<size_t>(bytes.size(), 8); ++i) start += fmt::format("{:02x} ", bytes[i]);
  OT_FAIL(
      "{}: not a PNG or JPEG image (it starts with bytes {}; PNG files start with 89 50 4e 47, JPEG files with ff "
      "d8); convert it to PNG or JPEG or remove it",
      path, bytes.empty() ? "none: the file is empty" : start.substr(0, start.size() - 1));
}

}  // namespace onnx_train
