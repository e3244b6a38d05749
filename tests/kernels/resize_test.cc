// Unit tests for Resize and Upsample (runtime/kernels/reference/resize.cc): nearest, linear and
// cubic on tiny images, coordinate modes, version differences and errors.
#include <gtest/gtest.h>

#include <map>
#include <string>
#include <vector>

#include "runtime/kernels/kernel.h"
#include "tests/support/kernel_harness.h"

namespace onnx_train {
namespace {

using testing::run_op;

std::vector<float> as_floats(const Tensor& t) { return {t.data<float>(), t.data<float>() + t.numel()}; }

const Tensor kImage = Tensor::from<float>({1, 1, 2, 2}, {1, 2, 3, 4});

TEST(Resize, NearestUpsampleBySizes) {
  const Tensor y = run_op("Resize", 13, {kImage, Tensor(), Tensor(), Tensor::from<int64_t>({4}, {1, 1, 4, 4})},
                          {{"mode", Attribute::of_string("nearest")}})[0];
  ASSERT_EQ(y.shape(), (Shape{1, 1, 4, 4}));
  EXPECT_EQ(as_floats(y), (std::vector<float>{1, 1, 2, 2, 1, 1, 2, 2, 3, 3, 4, 4, 3, 3, 4, 4}));
}

TEST(Resize, LinearAlignCornersAndHalfPixel) {
  const Tensor scales = Tensor::from<float>({4}, {1, 1, 1.5f, 1.5f});
  const Tensor corners = run_op("Resize", 11, {kImage, Tensor::from<float>({0}, {}), scales},
                                {{"mode", Attribute::of_string("linear")},
                                 {"coordinate_transformation_mode", Attribute::of_string("align_corners")}})[0];
  ASSERT_EQ(corners.shape(), (Shape{1, 1, 3, 3}));
  EXPECT_EQ(as_floats(corners), (std::vector<float>{1, 1.5f, 2, 2, 2.5f, 3, 3, 3.5f, 4}));
  // half_pixel, 2x: x = (y + 0.5) / 2 - 0.5, edges clamp.
  const Tensor half = run_op("Resize", 13, {kImage, Tensor(), Tensor::from<float>({4}, {1, 1, 1, 2})},
                             {{"mode", Attribute::of_string("linear")}})[0];
  EXPECT_EQ(as_floats(half), (std::vector<float>{1, 1.25f, 1.75f, 2, 3, 3.25f, 3.75f, 4}));
}

TEST(Resize, HalfPixelSymmetricCentresAFractionalWidth) {
  // Width 4 scaled by 0.6: 2.4, output 2. half_pixel samples x = (y + 0.5) / 0.6 - 0.5 = 1/3, 2;
  // half_pixel_symmetric shifts that by 4 / 2 * (1 - 2 / 2.4) = 1/3: 2/3 and 7/3, centred on 1.5.
  const Tensor x = Tensor::from<float>({1, 4}, {0, 1, 2, 3});
  const Tensor y = run_op("Resize", 13, {x, Tensor(), Tensor::from<float>({2}, {1, 0.6f})},
                          {{"mode", Attribute::of_string("linear")},
                           {"coordinate_transformation_mode", Attribute::of_string("half_pixel_symmetric")}})[0];
  ASSERT_EQ(y.shape(), (Shape{1, 2}));
  EXPECT_NEAR(y.data<float>()[0], 2.0f / 3, 1e-6f);
  EXPECT_NEAR(y.data<float>()[1], 7.0f / 3, 1e-6f);
  // A whole scaled width: no shift, the same as half_pixel.
  const Tensor whole = run_op("Resize", 13, {x, Tensor(), Tensor::from<float>({2}, {1, 0.5f})},
                              {{"mode", Attribute::of_string("linear")},
                               {"coordinate_transformation_mode", Attribute::of_string("half_pixel_symmetric")}})[0];
  EXPECT_EQ(as_floats(whole), (std::vector<float>{0.5f, 2.5f}));
}

TEST(Resize, CubicKeepsValuesAtIdentityScale) {
  const Tensor y = run_op("Resize", 13, {kImage, Tensor(), Tensor::from<float>({4}, {1, 1, 1, 1})},
                          {{"mode", Attribute::of_string("cubic")}})[0];
  EXPECT_EQ(as_floats(y), as_floats(kImage));
}

TEST(Resize, CropAndResizeExtrapolates) {
  // roi covers [0.5, 1.5] of the width: the right half maps outside the input.
  const Tensor roi = Tensor::from<float>({8}, {0, 0, 0, 0.5f, 1, 1, 1, 1.5f});
  const Tensor y = run_op("Resize", 13, {kImage, roi, Tensor(), Tensor::from<int64_t>({4}, {1, 1, 2, 3})},
                          {{"mode", Attribute::of_string("linear")},
                           {"coordinate_transformation_mode", Attribute::of_string("tf_crop_and_resize")},
                           {"extrapolation_value", Attribute::of_float(-1)}})[0];
  EXPECT_EQ(as_floats(y), (std::vector<float>{1.5f, 2, -1, 3.5f, 4, -1}));
}

TEST(Resize, NearestIsExactForIntegers) {
  const Tensor x = Tensor::from<uint8_t>({1, 3}, {0, 200, 255});
  const Tensor y = run_op("Resize", 13, {x, Tensor(), Tensor::from<float>({2}, {1, 2})}, {})[0];
  ASSERT_EQ(y.shape(), (Shape{1, 6}));
  const std::vector<uint8_t> got(y.data<uint8_t>(), y.data<uint8_t>() + 6);
  EXPECT_EQ(got, (std::vector<uint8_t>{0, 0, 200, 200, 255, 255}));
}

TEST(Upsample, LegacyVersions) {
  // Upsample-7: scales attribute; nearest repeats.
  const Tensor y7 = run_op("Upsample", 7, {kImage}, {{"scales", Attribute::of_floats({1, 1, 1, 3})}})[0];
  EXPECT_EQ(as_floats(y7), (std::vector<float>{1, 1, 1, 2, 2, 2, 3, 3, 3, 4, 4, 4}));
  // Upsample-9: scales input; linear is asymmetric (x = y / scale).
  const Tensor y9 = run_op("Upsample", 9, {kImage, Tensor::from<float>({4}, {1, 1, 1, 2})},
                           {{"mode", Attribute::of_string("linear")}})[0];
  EXPECT_EQ(as_floats(y9), (std::vector<float>{1, 1.5f, 2, 2, 3, 3.5f, 4, 4}));
  // Resize-10 may downsample.
  const Tensor y10 = run_op("Resize", 10, {kImage, Tensor::from<float>({4}, {1, 1, 0.5f, 0.5f})})[0];
  EXPECT_EQ(y10.shape(), (Shape{1, 1, 1, 1}));
}

TEST(Resize, RejectsBadInputs) {
  // Both scales and sizes.
  EXPECT_THROW(
      run_op("Resize", 13,
             {kImage, Tensor(), Tensor::from<float>({4}, {1, 1, 2, 2}), Tensor::from<int64_t>({4}, {1, 1, 4, 4})})[0],
      Error);
  // Neither.
  EXPECT_THROW(run_op("Resize", 13, {kImage})[0], Error);
  // Wrong count of scales.
  EXPECT_THROW(run_op("Resize", 13, {kImage, Tensor(), Tensor::from<float>({2}, {2, 2})})[0], Error);
  // tf_half_pixel_for_nn exists only in Resize-11; cubic not before 11.
  EXPECT_THROW(run_op("Resize", 13, {kImage, Tensor(), Tensor::from<float>({4}, {1, 1, 2, 2})},
                      {{"coordinate_transformation_mode", Attribute::of_string("tf_half_pixel_for_nn")}})[0],
               Error);
  EXPECT_THROW(run_op("Resize", 10, {kImage, Tensor::from<float>({4}, {1, 1, 2, 2})},
                      {{"mode", Attribute::of_string("cubic")}})[0],
               Error);
  EXPECT_THROW(run_op("Upsample", 9, {kImage, Tensor::from<float>({4}, {1, 1, 0.5f, 1})})[0], Error);
}

}  // namespace
}  // namespace onnx_train
