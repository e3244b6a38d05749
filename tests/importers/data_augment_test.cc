// Image augmentation (importers/data/augment.h): the transforms on small planes whose every
// value is known, the crop box's bounds and determinism, the list --augment takes; and the
// BatchLoader's side: augmented reads drawn from (seed, epoch, sample) only, and batches that
// are the same for any number of reading threads, bad samples included.
#include <gtest/gtest.h>

#include <map>
#include <numeric>
#include <set>

#include "importers/data/augment.h"
#include "onnx_train/dataset.h"
#include "tests/support/expect_text.h"

namespace onnx_train {
namespace {

using testing::error_of;
using testing::expect_contains;

std::vector<float> ramp(int64_t count) {
  std::vector<float> v(static_cast<size_t>(count));
  std::iota(v.begin(), v.end(), 1.0f);
  return v;
}

TEST(ImageAugment, HorizontalFlipMirrorsEachRowOfEachChannel) {
  std::vector<float> planes = ramp(2 * 2 * 3);  // 2 channels of 2 x 3
  flip_horizontal(planes, 2, 2, 3);
  EXPECT_EQ(planes, (std::vector<float>{3, 2, 1, 6, 5, 4, 9, 8, 7, 12, 11, 10}));
  flip_horizontal(planes, 2, 2, 3);
  EXPECT_EQ(planes, ramp(12));
}

TEST(ImageAugment, RotatingByZeroIsTheIdentity) {
  const std::vector<float> planes = ramp(3 * 5 * 4);
  EXPECT_EQ(rotate_bilinear(planes, 3, 5, 4, 0.0), planes);
}

TEST(ImageAugment, RightAnglesMovePixelsExactly) {
  // 1 2 3         3 6 9
  // 4 5 6  90° ->  2 5 8   (counter-clockwise, as numpy.rot90)
  // 7 8 9         1 4 7
  const std::vector<float> planes = ramp(9);
  EXPECT_EQ(rotate_bilinear(planes, 1, 3, 3, 90.0), (std::vector<float>{3, 6, 9, 2, 5, 8, 1, 4, 7}));
  EXPECT_EQ(rotate_bilinear(planes, 1, 3, 3, -90.0), (std::vector<float>{7, 4, 1, 8, 5, 2, 9, 6, 3}));
  EXPECT_EQ(rotate_bilinear(planes, 1, 3, 3, 180.0), (std::vector<float>{9, 8, 7, 6, 5, 4, 3, 2, 1}));
  // An even size turns about the point between the middle pixels: still whole pixels, per channel.
  const std::vector<float> two = ramp(2 * 4 * 4);
  const std::vector<float> turned = rotate_bilinear(two, 2, 4, 4, 90.0);
  for (int64_t c = 0; c < 2; ++c)
    for (int64_t y = 0; y < 4; ++y)
      for (int64_t x = 0; x < 4; ++x)
        EXPECT_EQ(turned[static_cast<size_t>((c * 4 + y) * 4 + x)], two[static_cast<size_t>((c * 4 + x) * 4 + 3 - y)])
            << "channel " << c << ", pixel (" << x << ", " << y << ")";
}

TEST(ImageAugment, OtherAnglesInterpolateAndFillTheCornersWithBlack) {
  const std::vector<float> white(7 * 7, 200.0f);
  const std::vector<float> turned = rotate_bilinear(white, 1, 7, 7, 45.0);
  EXPECT_EQ(turned[0], 0.0f);                    // a corner comes from outside the image
  EXPECT_EQ(turned[3 * 7 + 3], 200.0f);          // the centre stays
  EXPECT_NEAR(turned[3 * 7 + 1], 200.0f, 1e-3);  // inside the turned square: all white neighbours
  // Rotating a vertical edge (0 left of column 4, 100 from it) by 10 degrees: pixel (4, 6)
  // samples the input at x = 4 - 2 sin(10°) = 3.65, between the two sides, so it blends them.
  std::vector<float> edge(9 * 9);
  for (int64_t y = 0; y < 9; ++y)
    for (int64_t x = 0; x < 9; ++x) edge[static_cast<size_t>(y * 9 + x)] = x < 4 ? 0.0f : 100.0f;
  const std::vector<float> tilted = rotate_bilinear(edge, 1, 9, 9, 10.0);
  EXPECT_NEAR(tilted[static_cast<size_t>(6 * 9 + 4)], 65.27f, 0.01f);
}

TEST(ImageAugment, CropBoxesLieInsideTheImageAndFollowTheSeed) {
  std::set<std::vector<int64_t>> boxes;
  for (uint64_t seed = 0; seed < 200; ++seed) {
    AugmentRandom rng(seed), again(seed);
    const CropBox box = random_resized_crop_box(30, 50, 0.08, rng);
    EXPECT_TRUE(box == random_resized_crop_box(30, 50, 0.08, again)) << "seed " << seed;
    EXPECT_GE(box.top, 0);
    EXPECT_GE(box.left, 0);
    EXPECT_GE(box.height, 1);
    EXPECT_GE(box.width, 1);
    EXPECT_LE(box.top + box.height, 30);
    EXPECT_LE(box.left + box.width, 50);
    // Area at least 8% of 1500 up to rounding of each side.
    EXPECT_GE((box.height + 1) * (box.width + 1), 0.08 * 1500) << "seed " << seed;
    boxes.insert({box.top, box.left, box.height, box.width});
  }
  EXPECT_GT(boxes.size(), 150u) << "boxes hardly vary with the seed";
  // With scale (1, 1) the whole image fits only at ratios near its own: a square image gives
  // itself, a far too wide one the centred fallback of ratio 4/3.
  AugmentRandom rng(3);
  EXPECT_TRUE((random_resized_crop_box(10, 10, 1.0, rng) == CropBox{0, 0, 10, 10}));
  EXPECT_TRUE((random_resized_crop_box(1, 100, 0.5, rng) == CropBox{0, 49, 1, 1}));
  EXPECT_TRUE((random_resized_crop_box(3, 100, 1.0, rng) == CropBox{0, 48, 3, 4}));
}

TEST(ImageAugment, CropPlanesCopiesTheBoxOfEachChannel) {
  std::vector<uint8_t> planes(2 * 3 * 4);
  std::iota(planes.begin(), planes.end(), 0);
  EXPECT_EQ(crop_planes(planes, 2, 3, 4, {1, 2, 2, 2}), (std::vector<uint8_t>{6, 7, 10, 11, 18, 19, 22, 23}));
  expect_contains(error_of([&] { crop_planes(planes, 2, 3, 4, {2, 0, 2, 2}); }), {"not inside a 3x4 image"});
}

TEST(ImageAugment, DrawsAreAPureFunctionOfTheSeed) {
  const ImageAugmentation all = parse_image_augmentation("crop,hflip,rotate=30");
  int flips = 0;
  std::set<double> angles;
  for (uint64_t seed = 0; seed < 100; ++seed) {
    const AugmentDraw a = draw_augmentation(all, seed, 20, 20), b = draw_augmentation(all, seed, 20, 20);
    ASSERT_TRUE(a.crop && b.crop);
    EXPECT_TRUE(*a.crop == *b.crop);
    EXPECT_EQ(a.flip, b.flip);
    EXPECT_EQ(a.degrees, b.degrees);
    EXPECT_LE(std::abs(a.degrees), 30.0);
    flips += a.flip;
    angles.insert(a.degrees);
  }
  EXPECT_GT(flips, 25);
  EXPECT_LT(flips, 75);
  EXPECT_EQ(angles.size(), 100u);
  const AugmentDraw none = draw_augmentation(ImageAugmentation{}, 5, 20, 20);
  EXPECT_FALSE(none.crop || none.flip || none.degrees != 0);
}

TEST(ImageAugment, TheListNamesTransformsAndTheirSettings) {
  const ImageAugmentation a = parse_image_augmentation("hflip,crop,rotate");
  EXPECT_TRUE(a.hflip);
  EXPECT_EQ(a.crop_min_scale, 0.08);
  EXPECT_EQ(a.rotate_degrees, 10.0);
  const ImageAugmentation b = parse_image_augmentation("rotate=15,crop=0.5");
  EXPECT_FALSE(b.hflip);
  EXPECT_EQ(b.crop_min_scale, 0.5);
  EXPECT_EQ(b.rotate_degrees, 15.0);
  EXPECT_TRUE(b.any());
  EXPECT_FALSE(ImageAugmentation{}.any());
  expect_contains(error_of([] { parse_image_augmentation("hflip,vflip"); }),
                  {"unknown augmentation 'vflip'", "hflip, crop[=MIN_SCALE] and rotate[=DEGREES]"});
  expect_contains(error_of([] { parse_image_augmentation("crop=2"); }), {"'crop=2'", "(0, 1]", "'2'"});
  expect_contains(error_of([] { parse_image_augmentation("rotate=x"); }), {"'rotate=x'", "(0, 180]"});
  expect_contains(error_of([] { parse_image_augmentation("hflip,"); }), {"unknown augmentation ''"});
}

// ---- The BatchLoader's side

// Sample i: "x" = {i, draw}, where draw is 0 for a plain read and a number made of the draw
// seed for an augmented one; "y" = i % 2. Reading sample `fail_at` throws.
class DrawDataset : public Dataset {
 public:
  explicit DrawDataset(int64_t n) : n_(n) {
    fields_ = {{"x", DType::Float64, {2}}, {"y", DType::Int64, {}, /*is_label=*/true, 2}};
  }
  int64_t size() const override { return n_; }
  const std::vector<FieldSpec>& fields() const override { return fields_; }
  void read(size_t field, int64_t index, void* out) const override { write(field, index, 0.0, out); }
  void read_augmented(size_t field, int64_t index, uint64_t draw_seed, void* out) const override {
    write(field, index, 1.0 + static_cast<double>(draw_seed >> 12), out);
  }
  std::string source_of(size_t, int64_t index) const override { return fmt::format("sample {}", index); }
  std::string describe() const override { return "draws"; }
  BadSampleLog* bad_sample_log() const override { return log.get(); }

  std::set<int64_t> fail_at;
  std::shared_ptr<BadSampleLog> log;

 private:
  void write(size_t field, int64_t index, double draw, void* out) const {
    if (fail_at.count(index)) OT_FAIL("sample {} cannot be read", index);
    if (field == 0) {
      static_cast<double*>(out)[0] = static_cast<double>(index);
      static_cast<double*>(out)[1] = draw;
    } else {
      *static_cast<int64_t*>(out) = index % 2;
    }
  }
  int64_t n_;
  std::vector<FieldSpec> fields_;
};

// Every batch of epoch `epoch` from batch `first`: x's values, batch after batch.
std::vector<std::vector<double>> batches_of(std::shared_ptr<const Dataset> data, int workers, bool augment,
                                            int64_t epoch, int64_t first = 0, uint64_t seed = 4) {
  BatchLoader loader(std::move(data), 5, /*shuffle=*/true, seed);
  loader.set_workers(workers);
  loader.set_augment(augment);
  loader.start_epoch(epoch, first);
  std::vector<std::vector<double>> out;
  std::map<std::string, Tensor> batch;
  while (loader.next(batch)) out.push_back(batch.at("x").to_doubles());
  return out;
}

// sample index -> its draw, over the batches.
std::map<int64_t, double> draws_of(const std::vector<std::vector<double>>& batches) {
  std::map<int64_t, double> out;
  for (const auto& b : batches)
    for (size_t i = 0; i < b.size(); i += 2) out[static_cast<int64_t>(b[i])] = b[i + 1];
  return out;
}

TEST(BatchLoaderAugment, DrawsArePerSeedEpochAndSampleOnly) {
  auto data = std::make_shared<DrawDataset>(23);
  const auto plain = batches_of(data, 1, /*augment=*/false, 0);
  for (const auto& [index, draw] : draws_of(plain)) EXPECT_EQ(draw, 0.0) << "sample " << index << " augmented";

  const auto epoch1 = batches_of(data, 1, true, 1);
  const std::map<int64_t, double> draws = draws_of(epoch1);
  ASSERT_EQ(draws.size(), 23u);
  std::set<double> distinct;
  for (const auto& [index, draw] : draws) distinct.insert(draw);
  EXPECT_EQ(distinct.size(), 23u) << "samples share draws";
  // Resuming at batch 2 gives the same samples with the same draws.
  const auto resumed = batches_of(data, 1, true, 1, /*first=*/2);
  EXPECT_EQ(resumed, std::vector<std::vector<double>>(epoch1.begin() + 2, epoch1.end()));
  // Another epoch or seed draws anew for every sample.
  const auto epoch2 = draws_of(batches_of(data, 1, true, 2)), seed5 = draws_of(batches_of(data, 1, true, 1, 0, 5));
  for (const auto& [index, draw] : draws) {
    EXPECT_NE(epoch2.at(index), draw) << "sample " << index;
    EXPECT_NE(seed5.at(index), draw) << "sample " << index;
  }
}

TEST(BatchLoaderAugment, AnyNumberOfWorkersGivesTheSameBatches) {
  auto data = std::make_shared<DrawDataset>(37);
  const auto one = batches_of(data, 1, true, 3);
  EXPECT_EQ(batches_of(data, 3, true, 3), one);
  EXPECT_EQ(batches_of(data, 8, true, 3), one);
  EXPECT_EQ(batches_of(data, 2, false, 3), batches_of(data, 1, false, 3));

  // Bad samples: without a log the first in batch order stops the epoch, whichever thread
  // met it first; with one, they are left out and recorded in batch order.
  data->fail_at = {4, 9, 30};
  const std::string stopped = error_of([&] { batches_of(data, 1, true, 3); });
  EXPECT_EQ(error_of([&] { batches_of(data, 4, true, 3); }), stopped);
  auto log_of = [&](int workers) {
    data->log = std::make_shared<BadSampleLog>();
    const auto batches = batches_of(data, workers, true, 3);
    std::vector<int64_t> bad;
    for (const BadSample& s : data->log->first(10)) bad.push_back(s.index);
    return std::make_pair(batches, bad);
  };
  const auto [skipping, bad] = log_of(1);
  EXPECT_EQ(draws_of(skipping).size(), 34u);
  EXPECT_EQ(log_of(4), std::make_pair(skipping, bad));
  EXPECT_EQ(std::set<int64_t>(bad.begin(), bad.end()), (std::set<int64_t>{4, 9, 30}));
}

TEST(BatchLoaderAugment, SettingsComeBeforeTheFirstEpoch) {
  BatchLoader loader(std::make_shared<DrawDataset>(4), 2, false, 0);
  expect_contains(error_of([&] { loader.set_workers(0); }), {"at least 1", "got 0"});
  loader.start_epoch(0);
  expect_contains(error_of([&] { loader.set_workers(2); }), {"before start_epoch"});
  expect_contains(error_of([&] { loader.set_augment(true); }), {"before start_epoch"});
}

}  // namespace
}  // namespace onnx_train
