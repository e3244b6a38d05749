// Random training-time augmentation of images (DataOptions::augment): what one sample's
// draws are, and the transforms on channels-first planes of 0..255 values. The draws are a
// pure function of the sample's draw seed, so a sample looks the same however batches are
// read (by any number of threads, or after a resume); the transforms are plain loops with no
// randomness of their own.
#pragma once

#include <cstdint>
#include <optional>
#include <random>
#include <vector>

#include "onnx_train/dataset.h"

namespace onnx_train {

// Uniform draws from std::mt19937_64, whose output the standard fixes (the std::
// distributions' is not: it differs between standard libraries).
class AugmentRandom {
 public:
  explicit AugmentRandom(uint64_t seed) : rng_(seed) {}
  double uniform() { return static_cast<double>(rng_() >> 11) * 0x1.0p-53; }  // [0, 1), 53 bits
  double uniform(double low, double high) { return low + (high - low) * uniform(); }
  int64_t below(int64_t bound);  // [0, bound), bound >= 1

 private:
  std::mt19937_64 rng_;
};

// A region of an image: rows [top, top + height), columns [left, left + width).
struct CropBox {
  int64_t top = 0, left = 0, height = 0, width = 0;
  bool operator==(const CropBox& o) const {
    return top == o.top && left == o.left && height == o.height && width == o.width;
  }
};

// What augmentation does to one sample, drawn in this order (crop, flip, angle; a draw is
// made only for what is on).
struct AugmentDraw {
  std::optional<CropBox> crop;
  bool flip = false;
  double degrees = 0;  // counter-clockwise as the image is seen
};

// A sample's draws for an image of `height` x `width` pixels (before resizing), from its
// `draw_seed` (Dataset::read_augmented's).
AugmentDraw draw_augmentation(const ImageAugmentation& augment, uint64_t draw_seed, int64_t height, int64_t width);

// torchvision's RandomResizedCrop.get_params with scale (min_scale, 1) and ratio (3/4, 4/3):
// up to 10 tries of an area fraction uniform in the scale range and an aspect ratio (width /
// height) log-uniform in the ratio range, the first box that fits placed uniformly; else the
// whole image cropped to the nearest ratio in range, centred. Always within the image.
CropBox random_resized_crop_box(int64_t height, int64_t width, double min_scale, AugmentRandom& rng);

// The `box` of `channels` planes of `height` x `width`.
std::vector<uint8_t> crop_planes(const std::vector<uint8_t>& planes, int64_t channels, int64_t height, int64_t width,
                                 const CropBox& box);

// Mirrors each row of `channels` planes of `height` x `width` in place: column x <-> width-1-x.
void flip_horizontal(std::vector<float>& planes, int64_t channels, int64_t height, int64_t width);

// `channels` planes of `height` x `width` rotated by `degrees` counter-clockwise about the
// image's centre ((width-1)/2, (height-1)/2), as torchvision's rotate: output pixel (x, y)
// samples the input bilinearly at
//   x' = cx + cos(a) (x - cx) - sin(a) (y - cy),  y' = cy + sin(a) (x - cx) + cos(a) (y - cy)
// (y down), where pixels outside the image count as 0 (black corners).
std::vector<float> rotate_bilinear(const std::vector<float>& planes, int64_t channels, int64_t height, int64_t width,
                                   double degrees);

}  // namespace onnx_train
