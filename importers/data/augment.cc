#include "importers/data/augment.h"

#include <algorithm>
#include <cerrno>
#include <cmath>
#include <cstdlib>

#include "onnx_train/error.h"

namespace onnx_train {

namespace {

constexpr double kPi = 3.14159265358979323846;
constexpr double kDefaultCropMinScale = 0.08;  // torchvision's RandomResizedCrop scale=(0.08, 1)
constexpr double kDefaultRotateDegrees = 10;
constexpr double kMinRatio = 3.0 / 4.0, kMaxRatio = 4.0 / 3.0;  // RandomResizedCrop's ratio

// The number after '=' in `item` ("rotate=15"), or `fallback` when there is none; it must lie
// in (0, max].
double item_value(const std::string& item, size_t eq, double fallback, double max, const char* what) {
  if (eq == std::string::npos) return fallback;
  const std::string text = item.substr(eq + 1);
  char* end = nullptr;
  errno = 0;
  const double v = std::strtod(text.c_str(), &end);
  OT_CHECK(!text.empty() && *end == '\0' && errno == 0 && v > 0 && v <= max,
           "augmentation '{}': {} must be a number in (0, {}], got '{}'", item, what, max, text);
  return v;
}

}  // namespace

ImageAugmentation parse_image_augmentation(const std::string& list) {
  ImageAugmentation out;
  size_t begin = 0;
  while (begin <= list.size()) {
    const size_t comma = std::min(list.find(',', begin), list.size());
    const std::string item = list.substr(begin, comma - begin);
    begin = comma + 1;
    const size_t eq = item.find('=');
    const std::string name = item.substr(0, eq);
    if (name == "hflip" && eq == std::string::npos) {
      out.hflip = true;
    } else if (name == "crop") {
      out.crop_min_scale = item_value(item, eq, kDefaultCropMinScale, 1, "the smallest area fraction");
    } else if (name == "rotate") {
      out.rotate_degrees = item_value(item, eq, kDefaultRotateDegrees, 180, "the largest angle in degrees");
    } else {
      OT_FAIL(
          "unknown augmentation '{}' in '{}'; the choices are hflip, crop[=MIN_SCALE] and rotate[=DEGREES], "
          "separated by commas",
          item, list);
    }
  }
  return out;
}

int64_t AugmentRandom::below(int64_t bound) {
  const auto b = static_cast<uint64_t>(bound);
  const uint64_t threshold = (0 - b) % b;  // 2^64 mod b: below it, small results would be favoured
  for (;;) {
    const uint64_t x = rng_();
    if (x >= threshold) return static_cast<int64_t>(x % b);
  }
}

CropBox random_resized_crop_box(int64_t height, int64_t width, double min_scale, AugmentRandom& rng) {
  const double area = static_cast<double>(height * width);
  for (int attempt = 0; attempt < 10; ++attempt) {
    const double target_area = area * rng.uniform(min_scale, 1.0);
    const double ratio = std::exp(rng.uniform(std::log(kMinRatio), std::log(kMaxRatio)));
    // Python's round(): halves to even, as std::nearbyint in the default rounding mode.
    const auto w = static_cast<int64_t>(std::nearbyint(std::sqrt(target_area * ratio)));
    const auto h = static_cast<int64_t>(std::nearbyint(std::sqrt(target_area / ratio)));
    if (w > 0 && w <= width && h > 0 && h <= height) {
      const int64_t top = rng.below(height - h + 1);
      const int64_t left = rng.below(width - w + 1);
      return {top, left, h, w};
    }
  }
  // No try fitted (a very long or tall image): the whole of it, cut to the nearest ratio in range.
  const double in_ratio = static_cast<double>(width) / static_cast<double>(height);
  int64_t w = width, h = height;
  if (in_ratio < kMinRatio)
    h = std::max<int64_t>(1, static_cast<int64_t>(std::nearbyint(static_cast<double>(w) / kMinRatio)));
  else if (in_ratio > kMaxRatio)
    w = std::max<int64_t>(1, static_cast<int64_t>(std::nearbyint(static_cast<double>(h) * kMaxRatio)));
  return {(height - h) / 2, (width - w) / 2, h, w};
}

AugmentDraw draw_augmentation(const ImageAugmentation& augment, uint64_t draw_seed, int64_t height, int64_t width) {
  AugmentRandom rng(draw_seed);
  AugmentDraw draw;
  if (augment.crop_min_scale > 0) draw.crop = random_resized_crop_box(height, width, augment.crop_min_scale, rng);
  if (augment.hflip) draw.flip = rng.uniform() < 0.5;
  if (augment.rotate_degrees > 0) draw.degrees = rng.uniform(-augment.rotate_degrees, augment.rotate_degrees);
  return draw;
}

std::vector<uint8_t> crop_planes(const std::vector<uint8_t>& planes, int64_t channels, int64_t height, int64_t width,
                                 const CropBox& box) {
  OT_CHECK(box.top >= 0 && box.left >= 0 && box.height > 0 && box.width > 0 && box.top + box.height <= height &&
               box.left + box.width <= width,
           "crop box {}x{} at ({}, {}) is not inside a {}x{} image", box.height, box.width, box.top, box.left, height,
           width);
  std::vector<uint8_t> out(static_cast<size_t>(channels * box.height * box.width));
  auto o = out.begin();
  for (int64_t c = 0; c < channels; ++c) {
    for (int64_t y = box.top; y < box.top + box.height; ++y) {
      const auto row = planes.begin() + (c * height + y) * width + box.left;
      o = std::copy(row, row + box.width, o);
    }
  }
  return out;
}

void flip_horizontal(std::vector<float>& planes, int64_t channels, int64_t height, int64_t width) {
  for (int64_t row = 0; row < channels * height; ++row) {
    const auto begin = planes.begin() + row * width;
    std::reverse(begin, begin + width);
  }
}

std::vector<float> rotate_bilinear(const std::vector<float>& planes, int64_t channels, int64_t height, int64_t width,
                                   double degrees) {
  const double angle = degrees * kPi / 180.0;
  const double cos_a = std::cos(angle), sin_a = std::sin(angle);
  const double cx = static_cast<double>(width - 1) / 2, cy = static_cast<double>(height - 1) / 2;
  std::vector<float> out(planes.size(), 0.0f);
  for (int64_t y = 0; y < height; ++y) {
    for (int64_t x = 0; x < width; ++x) {
      const double dx = static_cast<double>(x) - cx, dy = static_cast<double>(y) - cy;
      const double sx = cx + cos_a * dx - sin_a * dy, sy = cy + sin_a * dx + cos_a * dy;
      // Within a rounding error of a whole pixel (a right angle's sin and cos are not exact
      // zeros and ones): that pixel, so that 90-degree turns move pixels exactly.
      const double rx = std::nearbyint(sx), ry = std::nearbyint(sy);
      const double fx0 = std::abs(sx - rx) < 1e-9 ? rx : sx, fy0 = std::abs(sy - ry) < 1e-9 ? ry : sy;
      const auto x0 = static_cast<int64_t>(std::floor(fx0)), y0 = static_cast<int64_t>(std::floor(fy0));
      const double fx = fx0 - static_cast<double>(x0), fy = fy0 - static_cast<double>(y0);
      for (int64_t c = 0; c < channels; ++c) {
        const float* plane = planes.data() + c * height * width;
        // Outside the image: 0, the fill.
        auto at = [&](int64_t px, int64_t py) -> double {
          return px < 0 || py < 0 || px >= width || py >= height ? 0.0 : plane[py * width + px];
        };
        const double v = (1 - fy) * ((1 - fx) * at(x0, y0) + fx * at(x0 + 1, y0)) +
                         fy * ((1 - fx) * at(x0, y0 + 1) + fx * at(x0 + 1, y0 + 1));
        out[static_cast<size_t>((c * height + y) * width + x)] = static_cast<float>(v);
      }
    }
  }
  return out;
}

}  // namespace onnx_train
