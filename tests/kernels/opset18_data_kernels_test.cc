// Unit tests for what the kernels gained for the op versions of opsets 18-19 that lower onto
// them: Pad's wrap mode, ScatterElements / ScatterND reductions max and min, and the project
// domain's BitwiseAnd/Or/Xor/Not (the lowered form of ONNX's opset-18 bitwise ops). The
// lowered models themselves are compared with ONNX Runtime by the opset_new fixtures.
#include <gtest/gtest.h>

#include "runtime/kernels/kernel.h"
#include "tests/support/kernel_harness.h"

namespace onnx_train {
namespace {

using testing::error_of;
using testing::make_gradient_node;
using testing::run_node;
using testing::run_op;

std::map<std::string, Attribute> mode(const char* m) { return {{"mode", Attribute::of_string(m)}}; }

TEST(PadWrap, RepeatsTheInputPeriodically) {
  // x [2, 3]; pads begin (1, 2), end (0, 4): y[i, j] = x[(i - 1) mod 2, (j - 2) mod 3].
  const Tensor x = Tensor::from<float>({2, 3}, {0, 1, 2, 10, 11, 12});
  auto y = run_op("Pad", 13, {x, Tensor::from<int64_t>({4}, {1, 2, 0, 4})}, mode("wrap"));
  EXPECT_EQ(y[0].shape(), (Shape{3, 9}));
  EXPECT_EQ(y[0].to_doubles(), (std::vector<double>{11, 12, 10, 11, 12, 10, 11, 12, 10,  //
                                                    1,  2,  0,  1,  2,  0,  1,  2,  0,   //
                                                    11, 12, 10, 11, 12, 10, 11, 12, 10}));
}

TEST(PadWrap, NegativePadsCropFirst) {
  // Along axis 1, end -2 keeps x[:, :2] and begin 1 wraps that: [x1, x0, x1] (ONNX Runtime's
  // reading); along axis 0, begin -1 drops row 0.
  const Tensor x = Tensor::from<int32_t>({3, 4}, {0, 1, 2, 3, 4, 5, 6, 7, 8, 9, 10, 11});
  auto y = run_op("Pad", 13, {x, Tensor::from<int64_t>({4}, {-1, 1, 0, -2})}, mode("wrap"));
  EXPECT_EQ(y[0].shape(), (Shape{2, 3}));
  EXPECT_EQ(y[0].to_int64s(), (std::vector<int64_t>{5, 4, 5, 9, 8, 9}));
  const std::string msg = error_of([&] {
    run_op("Pad", 13, {x, Tensor::from<int64_t>({4}, {0, -4, 0, 1})}, mode("wrap"));
  });
  EXPECT_NE(msg.find("leaves nothing to wrap"), std::string::npos) << msg;
}

TEST(PadWrap, UnknownModeIsAClearError) {
  const Tensor x = Tensor::from<float>({2}, {1, 2});
  const std::string msg = error_of([&] {
    run_op("Pad", 13, {x, Tensor::from<int64_t>({2}, {1, 1})}, mode("circular"));
  });
  EXPECT_NE(msg.find("mode 'circular' is not supported"), std::string::npos) << msg;
}

std::map<std::string, Attribute> reduction(const char* r, int64_t axis = 0) {
  return {{"reduction", Attribute::of_string(r)}, {"axis", Attribute::of_int(axis)}};
}

TEST(ScatterElements, MaxAndMinKeepTheExtremeOfEveryWrite) {
  // data [1, 4]; updates at columns 1, 1, 3: max(5, 7, 2) at 1 and max(4, 9) at 3.
  const Tensor data = Tensor::from<float>({1, 4}, {1, 5, 3, 4});
  const Tensor indices = Tensor::from<int64_t>({1, 3}, {1, 1, 3});
  const Tensor updates = Tensor::from<float>({1, 3}, {7, 2, 9});
  EXPECT_EQ(run_op("ScatterElements", 16, {data, indices, updates}, reduction("max", 1))[0].to_doubles(),
            (std::vector<double>{1, 7, 3, 9}));
  EXPECT_EQ(run_op("ScatterElements", 16, {data, indices, updates}, reduction("min", 1))[0].to_doubles(),
            (std::vector<double>{1, 2, 3, 4}));
  // bool: max is or, min is and.
  const Tensor flags = Tensor::from<bool>({2}, {true, false});
  const Tensor at = Tensor::from<int64_t>({2}, {0, 1});
  const Tensor writes = Tensor::from<bool>({2}, {false, true});
  EXPECT_EQ(run_op("ScatterElements", 16, {flags, at, writes}, reduction("max"))[0].to_int64s(),
            (std::vector<int64_t>{1, 1}));
  EXPECT_EQ(run_op("ScatterElements", 16, {flags, at, writes}, reduction("min"))[0].to_int64s(),
            (std::vector<int64_t>{0, 0}));
}

TEST(ScatterND, MaxAndMinOnSlices) {
  // data [3, 2]; rows 2, 0, 2 updated: row 2 takes the elementwise max / min of both writes.
  const Tensor data = Tensor::from<int64_t>({3, 2}, {0, 0, 5, 5, -1, 8});
  const Tensor indices = Tensor::from<int64_t>({3, 1}, {2, 0, 2});
  const Tensor updates = Tensor::from<int64_t>({3, 2}, {3, 3, -2, 2, -4, 9});
  const std::map<std::string, Attribute> max{{"reduction", Attribute::of_string("max")}};
  const std::map<std::string, Attribute> min{{"reduction", Attribute::of_string("min")}};
  EXPECT_EQ(run_op("ScatterND", 16, {data, indices, updates}, max)[0].to_int64s(),
            (std::vector<int64_t>{0, 2, 5, 5, 3, 9}));
  EXPECT_EQ(run_op("ScatterND", 16, {data, indices, updates}, min)[0].to_int64s(),
            (std::vector<int64_t>{-2, 0, 5, 5, -4, 3}));
  const std::string msg = error_of([&] {
    run_op("ScatterND", 16, {data, indices, updates}, {{"reduction", Attribute::of_string("mean")}});
  });
  EXPECT_NE(msg.find("reduction 'mean' is not supported"), std::string::npos) << msg;
}

std::vector<Tensor> run_bitwise(const std::string& op, const std::vector<Tensor>& inputs) {
  return run_node(make_gradient_node(op, inputs.size()), inputs);
}

TEST(Bitwise, BinaryOpsBroadcast) {
  const Tensor a = Tensor::from<int32_t>({2, 2}, {0b1100, -1, 7, 0});
  const Tensor b = Tensor::from<int32_t>({2}, {0b1010, 5});
  EXPECT_EQ(run_bitwise("BitwiseAnd", {a, b})[0].to_int64s(), (std::vector<int64_t>{0b1000, 5, 2, 0}));
  EXPECT_EQ(run_bitwise("BitwiseOr", {a, b})[0].to_int64s(), (std::vector<int64_t>{0b1110, -1, 15, 5}));
  EXPECT_EQ(run_bitwise("BitwiseXor", {a, b})[0].to_int64s(), (std::vector<int64_t>{0b0110, -6, 13, 5}));
  const Tensor u = Tensor::from<uint8_t>({3}, {0xF0, 0x0F, 0xFF});
  const auto y = run_bitwise("BitwiseXor", {u, Tensor::from<uint8_t>({1}, {0xFF})})[0];
  EXPECT_EQ(y.dtype(), DType::UInt8);
  EXPECT_EQ(y.to_int64s(), (std::vector<int64_t>{0x0F, 0xF0, 0}));
}

TEST(Bitwise, NotFlipsEveryBit) {
  EXPECT_EQ(run_bitwise("BitwiseNot", {Tensor::from<int16_t>({3}, {0, -1, 5})})[0].to_int64s(),
            (std::vector<int64_t>{-1, 0, -6}));
  EXPECT_EQ(run_bitwise("BitwiseNot", {Tensor::from<uint16_t>({2}, {0, 1})})[0].to_int64s(),
            (std::vector<int64_t>{65535, 65534}));
}

TEST(Bitwise, RefusesNonIntegersAndMixedTypes) {
  std::string msg = error_of([] { run_bitwise("BitwiseNot", {Tensor::from<float>({1}, {1})}); });
  EXPECT_NE(msg.find("not an integer tensor"), std::string::npos) << msg;
  msg = error_of([] { run_bitwise("BitwiseAnd", {Tensor::from<int32_t>({1}, {1}), Tensor::from<int64_t>({1}, {1})}); });
  EXPECT_NE(msg.find("different element types"), std::string::npos) << msg;
  msg = error_of([] {
    run_bitwise("BitwiseOr", {Tensor::from<int32_t>({2}, {1, 2}), Tensor::from<int32_t>({3}, {1, 2, 3})});
  });
  EXPECT_NE(msg.find("do not broadcast"), std::string::npos) << msg;
}

}  // namespace
}  // namespace onnx_train
