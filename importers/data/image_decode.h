// PNG and JPEG decoding (libpng, libjpeg) to 8-bit pixels, for image classification folders.
#pragma once

#include <cstdint>
#include <string>
#include <vector>

namespace onnx_train {

// An 8-bit image: `height` rows of `width` pixels of `channels` interleaved values: 1 gray,
// 2 gray + alpha, 3 RGB, 4 RGBA.
struct DecodedImage {
  int64_t width = 0, height = 0;
  int channels = 0;
  std::vector<uint8_t> pixels;
};

// Decodes the PNG or JPEG file at `path`, recognised by its signature (a PNG named .jpg
// decodes too). PNG: any bit depth and colour type; palettes expand to RGB, 16-bit samples
// keep their high byte (as PIL does), gamma is not applied. JPEG: gray, RGB (YCbCr) and
// CMYK/YCCK (converted to RGB as PIL does). Throws an Error naming `path` for a file that
// is unreadable, neither format, corrupt or truncated, or larger than PIL's decompression-bomb
// limit.
DecodedImage decode_image(const std::string& path);

}  // namespace onnx_train
