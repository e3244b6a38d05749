// Unit tests for the quantization kernels (runtime/kernels/reference/quantization.cc):
// rounding half to even and saturation, per-axis (de)quantization, the opset-10 limits,
// DynamicQuantizeLinear on an all-zero input, and the integer convolution against a
// hand-computed case with padding, zero points and bias.
#include <gtest/gtest.h>

#include <cstdint>
#include <vector>

#include "runtime/kernels/kernel.h"
#include "tests/support/kernel_harness.h"

namespace onnx_train {
namespace {

using testing::run_op;

TEST(QuantizeLinear, RoundsHalfToEvenAndSaturatesUint8) {
  const Tensor x = Tensor::from<float>({8}, {0.5f, 1.5f, 2.5f, -0.5f, -1.5f, 1000.f, -1000.f, 3.f});
  const Tensor y = run_op("QuantizeLinear", 10, {x, Tensor::scalar<float>(1.0f), Tensor::scalar<uint8_t>(10)})[0];
  ASSERT_EQ(y.dtype(), DType::UInt8);
  EXPECT_EQ(y.to_int64s(), (std::vector<int64_t>{10, 12, 12, 10, 8, 255, 0, 13}));
}

TEST(QuantizeLinear, SaturatesInt8AndDefaultsToUint8) {
  const Tensor x = Tensor::from<float>({4}, {-300.f, 300.f, -5.f, 5.f});
  const Tensor y8 = run_op("QuantizeLinear", 13, {x, Tensor::scalar<float>(2.0f), Tensor::scalar<int8_t>(-1)})[0];
  ASSERT_EQ(y8.dtype(), DType::Int8);
  EXPECT_EQ(y8.to_int64s(), (std::vector<int64_t>{-128, 127, -3, 1}));  // -2.5 -> -2, 2.5 -> 2
  const Tensor yu = run_op("QuantizeLinear", 13, {x, Tensor::scalar<float>(2.0f)})[0];
  ASSERT_EQ(yu.dtype(), DType::UInt8);
  EXPECT_EQ(yu.to_int64s(), (std::vector<int64_t>{0, 150, 0, 2}));
}

TEST(QuantizeLinear, PerAxisOnlyFromOpset13) {
  const Tensor x = Tensor::from<float>({4}, {2.f, 2.f, 4.f, 4.f}).reshaped({2, 2});
  const Tensor scale = Tensor::from<float>({2}, {1.f, 2.f});
  const Tensor zp = Tensor::from<uint8_t>({2}, {0, 100});
  const Tensor y = run_op("QuantizeLinear", 13, {x, scale, zp}, {{"axis", Attribute::of_int(0)}})[0];
  EXPECT_EQ(y.to_int64s(), (std::vector<int64_t>{2, 2, 102, 102}));
  EXPECT_THROW(run_op("QuantizeLinear", 10, {x, scale, zp}), Error);
}

TEST(DequantizeLinear, PerAxisAndInt32) {
  const Tensor x = Tensor::from<uint8_t>({6}, {0, 10, 20, 0, 10, 20}).reshaped({1, 2, 3});
  const Tensor scale = Tensor::from<float>({2}, {0.5f, 2.f});
  const Tensor zp = Tensor::from<uint8_t>({2}, {10, 20});
  const Tensor y = run_op("DequantizeLinear", 13, {x, scale, zp})[0];  // axis defaults to 1
  ASSERT_EQ(y.dtype(), DType::Float32);
  EXPECT_EQ(y.to_doubles(), (std::vector<double>{-5, 0, 5, -40, -20, 0}));

  const Tensor xi = Tensor::from<int32_t>({2}, {-1000000, 7});
  EXPECT_EQ(run_op("DequantizeLinear", 10, {xi, Tensor::scalar<float>(0.5f)})[0].to_doubles(),
            (std::vector<double>{-500000, 3.5}));
  EXPECT_THROW(run_op("DequantizeLinear", 10, {xi, Tensor::scalar<float>(0.5f), Tensor::scalar<int32_t>(3)}), Error);
}

TEST(DynamicQuantizeLinear, AllZeroInputGivesZeros) {
  const std::vector<Tensor> out =
      run_op("DynamicQuantizeLinear", 11, {Tensor::from<float>({3}, {0.f, 0.f, 0.f})}, {}, 3);
  EXPECT_EQ(out[0].to_int64s(), (std::vector<int64_t>{0, 0, 0}));
  EXPECT_EQ(out[1].to_doubles()[0], 0.0);
  EXPECT_EQ(out[2].to_int64s()[0], 0);
}

TEST(ConvInteger, PaddingReadsTheZeroPoint) {
  // x 1x1x3 with zero point 1, w 1x1x3 all 1 (zero point 0), pads 1 on both sides:
  // x - zp = [1, 2, 3]; the padded windows give [0+1+2, 1+2+3, 2+3+0].
  const Tensor x = Tensor::from<uint8_t>({3}, {2, 3, 4}).reshaped({1, 1, 3});
  const Tensor w = Tensor::from<uint8_t>({3}, {1, 1, 1}).reshaped({1, 1, 3});
  const Tensor y =
      run_op("ConvInteger", 10, {x, w, Tensor::scalar<uint8_t>(1)}, {{"pads", Attribute::of_ints({1, 1})}})[0];
  ASSERT_EQ(y.dtype(), DType::Int32);
  EXPECT_EQ(y.shape(), (Shape{1, 1, 3}));
  EXPECT_EQ(y.to_int64s(), (std::vector<int64_t>{3, 6, 5}));
}

TEST(QLinearConv, BiasAndPerChannelScale) {
  // Two output channels of a 1x1 conv over x = [10, 20] (zero point 0), y_scale 0.25,
  // y_zero_point 100. Channel 0: w 1, w_scale 1, bias 5 -> (15, 25) * 4 + 100.
  // Channel 1: w 2, w_scale 0.5, no bias -> (20, 40) * 0.5 * 4 + 100.
  const Tensor x = Tensor::from<uint8_t>({2}, {10, 20}).reshaped({1, 1, 2});
  const Tensor w = Tensor::from<int8_t>({2}, {1, 2}).reshaped({2, 1, 1});
  const Tensor y =
      run_op("QLinearConv", 10,
             {x, Tensor::scalar<float>(1.f), Tensor::scalar<uint8_t>(0), w, Tensor::from<float>({2}, {1.f, 0.5f}),
              Tensor::from<int8_t>({2}, {0, 0}), Tensor::scalar<float>(0.25f), Tensor::scalar<uint8_t>(100),
              Tensor::from<int32_t>({2}, {5, 0})})[0];
  EXPECT_EQ(y.to_int64s(), (std::vector<int64_t>{160, 200, 140, 180}));
}

}  // namespace
}  // namespace onnx_train
