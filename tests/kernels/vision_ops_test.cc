// Unit tests for the vision ops (runtime/kernels/reference/vision_ops.cc): GridSample on
// identity grids and padding, RoiAlign on constant and ramp images, MaxRoiPool on hand-checked
// bins, NonMaxSuppression on a tiny box set, and attribute errors.
#include <gtest/gtest.h>

#include <map>
#include <string>
#include <vector>

#include "runtime/kernels/kernel.h"
#include "tests/support/kernel_harness.h"

namespace onnx_train {
namespace {

using testing::run_op;

// A grid sampling every pixel center of an h x w image.
Tensor identity_grid(int64_t h, int64_t w, bool align_corners) {
  std::vector<double> g;
  auto coord = [&](int64_t i, int64_t size) {
    return align_corners ? (size == 1 ? 0.0 : 2.0 * i / (size - 1) - 1) : (2.0 * i + 1) / size - 1;
  };
  for (int64_t y = 0; y < h; ++y)
    for (int64_t x = 0; x < w; ++x) {
      g.push_back(coord(x, w));
      g.push_back(coord(y, h));
    }
  return Tensor::from<double>({1, h, w, 2}, g);
}

const Tensor kImage = Tensor::from<double>({1, 2, 3, 4}, {0, 1, 2, 3, 4, 5, 6,  7,  8, 9, 10, 11,  //
                                                          5, 4, 3, 2, 1, 0, -1, -2, 7, 7, 7,  7});

TEST(GridSample, IdentityGridReturnsTheInput) {
  for (const char* mode : {"bilinear", "nearest", "bicubic"}) {
    for (bool align : {false, true}) {
      const Tensor y = run_op("GridSample", 16, {kImage, identity_grid(3, 4, align)},
                              {{"mode", Attribute::of_string(mode)},
                               {"align_corners", Attribute::of_int(align)},
                               {"padding_mode", Attribute::of_string("border")}})[0];
      ASSERT_EQ(y.shape(), kImage.shape());
      const std::vector<double> got = y.to_doubles(), want = kImage.to_doubles();
      for (size_t i = 0; i < want.size(); ++i)
        EXPECT_NEAR(got[i], want[i], 1e-12) << mode << " align " << align << " at " << i;
    }
  }
}

TEST(GridSample, PaddingModesOutsideTheImage) {
  // 1x1x1x2 image [1, 3]; sample at x = -2 (far left), y = 0.
  const Tensor x = Tensor::from<float>({1, 1, 1, 2}, {1, 3});
  const Tensor grid = Tensor::from<float>({1, 1, 1, 2}, {-2, 0});
  auto sample = [&](const char* padding) {
    return run_op("GridSample", 16, {x, grid}, {{"padding_mode", Attribute::of_string(padding)}})[0].to_doubles()[0];
  };
  EXPECT_DOUBLE_EQ(sample("zeros"), 0.0);
  EXPECT_DOUBLE_EQ(sample("border"), 1.0);
  // align_corners = 0: x = ((-2 + 1) * 2 - 1) / 2 = -1.5, reflected at -0.5 → 0.5 → halfway between 1 and 3.
  EXPECT_DOUBLE_EQ(sample("reflection"), 2.0);
}

TEST(GridSample, IntegerImagesWithNearest) {
  const Tensor x = Tensor::from<int32_t>({1, 1, 2, 2}, {1, 2, 3, 4});
  // Sample (x, y) = (1, 0) and (0, 1) with align_corners = 1: pixels (1, 0) and (0, 1).
  const Tensor grid = Tensor::from<float>({1, 1, 2, 2}, {1, -1, -1, 1});
  const Tensor y = run_op("GridSample", 16, {x, grid},
                          {{"mode", Attribute::of_string("nearest")}, {"align_corners", Attribute::of_int(1)}})[0];
  EXPECT_EQ(y.dtype(), DType::Int32);
  EXPECT_EQ(y.to_int64s(), (std::vector<int64_t>{2, 3}));
  EXPECT_THROW(run_op("GridSample", 16, {x, grid}), Error);  // bilinear needs floats
}

TEST(GridSample, RejectsBadAttributes) {
  EXPECT_THROW(run_op("GridSample", 16, {kImage, identity_grid(3, 4, true)}, {{"mode", Attribute::of_string("area")}}),
               Error);
  EXPECT_THROW(run_op("GridSample", 16, {kImage, Tensor::from<double>({1, 1, 1, 3}, {0, 0, 0})}), Error);
}

TEST(RoiAlign, ConstantImageGivesTheConstant) {
  const Tensor x = Tensor::from<float>({1, 1, 4, 4}, std::vector<float>(16, 2.5f));
  const Tensor rois = Tensor::from<float>({2, 4}, {0, 0, 3, 3, 1, 1, 2.5f, 3});
  const Tensor batch = Tensor::from<int64_t>({2}, {0, 0});
  for (const char* mode : {"avg", "max"}) {
    const Tensor y = run_op("RoiAlign", 16, {x, rois, batch},
                            {{"output_height", Attribute::of_int(2)},
                             {"output_width", Attribute::of_int(2)},
                             {"sampling_ratio", Attribute::of_int(2)},
                             {"mode", Attribute::of_string(mode)}})[0];
    ASSERT_EQ(y.shape(), (Shape{2, 1, 2, 2}));
    if (std::string(mode) == "avg")
      for (double v : y.to_doubles()) EXPECT_NEAR(v, 2.5, 1e-6);
  }
}

TEST(RoiAlign, RampImageAveragesTheBin) {
  // x[h][w] = w: the average over a bin is the bin's center x coordinate (interior bins).
  std::vector<double> ramp;
  for (int h = 0; h < 8; ++h)
    for (int w = 0; w < 8; ++w) ramp.push_back(w);
  const Tensor x = Tensor::from<double>({1, 1, 8, 8}, ramp);
  const Tensor rois = Tensor::from<double>({1, 4}, {2, 2, 6, 6});
  const Tensor batch = Tensor::from<int64_t>({1}, {0});
  const std::map<std::string, Attribute> attrs = {{"output_height", Attribute::of_int(1)},
                                                  {"output_width", Attribute::of_int(2)},
                                                  {"sampling_ratio", Attribute::of_int(2)}};
  const Tensor y = run_op("RoiAlign", 10, {x, rois, batch}, attrs)[0];
  // opset 10 (no half-pixel shift): bins [2, 4] and [4, 6] → centers 3 and 5.
  EXPECT_NEAR(y.to_doubles()[0], 3.0, 1e-12);
  EXPECT_NEAR(y.to_doubles()[1], 5.0, 1e-12);
  // opset 16 default half_pixel shifts the roi by -0.5.
  const Tensor z = run_op("RoiAlign", 16, {x, rois, batch}, attrs)[0];
  EXPECT_NEAR(z.to_doubles()[0], 2.5, 1e-12);
  EXPECT_NEAR(z.to_doubles()[1], 4.5, 1e-12);
}

TEST(RoiAlign, RejectsBadBatchIndex) {
  const Tensor x = Tensor::from<float>({1, 1, 2, 2}, {1, 2, 3, 4});
  EXPECT_THROW(run_op("RoiAlign", 16, {x, Tensor::from<float>({1, 4}, {0, 0, 1, 1}), Tensor::from<int64_t>({1}, {1})}),
               Error);
  EXPECT_THROW(run_op("RoiAlign", 16, {x, Tensor::from<float>({1, 4}, {0, 0, 1, 1}), Tensor::from<int64_t>({1}, {0})},
                      {{"mode", Attribute::of_string("median")}}),
               Error);
}

// X: batch 0 holds x[h][w] = 4h + w, batch 1 its negation, so a bin's max is at its
// bottom-right corner in batch 0 and its top-left corner in batch 1.
Tensor roi_pool_image() {
  std::vector<float> v;
  for (int b = 0; b < 2; ++b)
    for (int i = 0; i < 16; ++i) v.push_back(b == 0 ? static_cast<float>(i) : -static_cast<float>(i));
  return Tensor::from<float>({2, 1, 4, 4}, v);
}

TEST(MaxRoiPool, HandCheckedBinsWithScaleAndEmptyBins) {
  // spatial_scale 0.5; rows (batch, x1, y1, x2, y2).
  const Tensor rois = Tensor::from<float>({3, 5}, {0, 0, 0, 6, 6,  //
                                                   1, 1, 3, 5, 7,  //
                                                   0, 6, 6, 10, 10});
  const Tensor y =
      run_op("MaxRoiPool", 1, {roi_pool_image(), rois},
             {{"pooled_shape", Attribute::of_ints({2, 2})}, {"spatial_scale", Attribute::of_float(0.5f)}})[0];
  ASSERT_EQ(y.shape(), (Shape{3, 1, 2, 2}));
  EXPECT_EQ(y.to_doubles(),
            (std::vector<double>{// roi 0: x, y 0..3 (4 pixels), bins of 2: rows/cols [0, 2) and [2, 4).
                                 5, 7, 13, 15,
                                 // roi 1: x 0.5 → 1, y 1.5 → 2, x 2.5 → 3, y 3.5 → 4 (round half away
                                 // from zero); 3 pixels per axis, bins of 1.5: rows [2, 4) and [3, 4 (6
                                 // clipped)), cols [1, 3) and [2, 4); batch 1 takes the top-left value.
                                 -9, -10, -13, -14,
                                 // roi 2: x, y 3..5, bins of 1.5: rows/cols [3, 4) and [4, 4) (clipped):
                                 // only the first bin holds a pixel, the others are empty → 0.
                                 15, 0, 0, 0}));
  // Default spatial_scale 1 and a non-square pooled_shape: roi (1, 1) to (2, 3) is 2 wide and
  // 3 tall; 3 x 1 bins of 1 row each spanning both columns.
  const Tensor z = run_op("MaxRoiPool", 1, {roi_pool_image(), Tensor::from<double>({1, 5}, {0, 1, 1, 2, 3})},
                          {{"pooled_shape", Attribute::of_ints({3, 1})}})[0];
  ASSERT_EQ(z.shape(), (Shape{1, 1, 3, 1}));
  EXPECT_EQ(z.to_doubles(), (std::vector<double>{6, 10, 14}));
}

TEST(MaxRoiPool, RejectsBadBatchIndexAndAttributes) {
  const Tensor rois = Tensor::from<float>({2, 5}, {0, 0, 0, 1, 1, 2, 0, 0, 1, 1});
  const std::map<std::string, Attribute> attrs = {{"pooled_shape", Attribute::of_ints({1, 1})}};
  const std::string message = testing::error_of([&] { run_op("MaxRoiPool", 1, {roi_pool_image(), rois}, attrs); });
  EXPECT_NE(message.find("MaxRoiPool"), std::string::npos) << message;
  EXPECT_NE(message.find("batch index 2 of roi 1"), std::string::npos) << message;
  EXPECT_THROW(run_op("MaxRoiPool", 1, {roi_pool_image(), Tensor::from<float>({1, 5}, {-1, 0, 0, 1, 1})}, attrs),
               Error);
  EXPECT_THROW(run_op("MaxRoiPool", 1, {roi_pool_image(), Tensor::from<float>({1, 5}, {0.5f, 0, 0, 1, 1})}, attrs),
               Error);
  EXPECT_THROW(run_op("MaxRoiPool", 1, {roi_pool_image(), Tensor::from<float>({1, 4}, {0, 0, 1, 1})}, attrs), Error);
  EXPECT_THROW(run_op("MaxRoiPool", 1, {roi_pool_image(), rois}), Error);  // pooled_shape is required
  EXPECT_THROW(run_op("MaxRoiPool", 1, {roi_pool_image(), rois}, {{"pooled_shape", Attribute::of_ints({2})}}), Error);
}

TEST(NonMaxSuppression, SuppressesOverlapsPerClass) {
  // Boxes (y1, x1, y2, x2): 0 and 1 overlap with IoU 0.9 / 1.1 = 0.82, 2 is apart.
  const Tensor boxes = Tensor::from<float>({1, 3, 4}, {0, 0, 1, 1, 0, 0.1f, 1, 1.1f, 0, 5, 1, 6});
  const Tensor scores = Tensor::from<float>({1, 2, 3}, {0.6f, 0.9f, 0.3f,  //
                                                        0.1f, 0.2f, 0.8f});
  const Tensor y = run_op("NonMaxSuppression", 11,
                          {boxes, scores, Tensor::from<int64_t>({1}, {3}), Tensor::from<float>({1}, {0.5f}),
                           Tensor::from<float>({1}, {0.15f})})[0];
  ASSERT_EQ(y.shape(), (Shape{4, 3}));
  EXPECT_EQ(y.to_int64s(), (std::vector<int64_t>{0, 0, 1, 0, 0, 2, 0, 1, 2, 0, 1, 1}));
  // No limit input: nothing is selected.
  EXPECT_EQ(run_op("NonMaxSuppression", 10, {boxes, scores})[0].shape(), (Shape{0, 3}));
  // Center format: the same geometry, limit 1 per class.
  const Tensor centers = Tensor::from<float>({1, 3, 4}, {0.5f, 0.5f, 1, 1, 0.6f, 0.5f, 1, 1, 5.5f, 0.5f, 1, 1});
  const Tensor z = run_op("NonMaxSuppression", 11, {centers, scores, Tensor::from<int64_t>({1}, {1})},
                          {{"center_point_box", Attribute::of_int(1)}})[0];
  EXPECT_EQ(z.to_int64s(), (std::vector<int64_t>{0, 0, 1, 0, 1, 2}));
}

}  // namespace
}  // namespace onnx_train
