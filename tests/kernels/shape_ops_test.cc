// Unit tests for the shape and data-movement kernels (runtime/kernels/reference/shape_*.cc):
// views versus copies, the strided-copy paths (blocked transpose, negative steps, broadcast),
// version differences (attributes that became inputs) and errors.
#include <gtest/gtest.h>

#include <cstdint>
#include <limits>
#include <numeric>

#include "runtime/kernels/kernel.h"
#include "tests/support/kernel_harness.h"

namespace onnx_train {
namespace {

using testing::run_op;

template <typename T>
Tensor iota_tensor(const Shape& shape) {
  std::vector<T> values(static_cast<size_t>(shape_numel(shape)));
  for (size_t i = 0; i < values.size(); ++i) values[i] = static_cast<T>(i);
  return Tensor::from<T>(shape, values);
}

Tensor int64s(std::vector<int64_t> v) { return Tensor::from<int64_t>({static_cast<int64_t>(v.size())}, v); }

template <typename T>
std::vector<T> values_of(const Tensor& t) {
  return std::vector<T>(t.data<T>(), t.data<T>() + t.numel());
}

TEST(ShapeOps, ReshapeIsAViewAndHandlesZeroAndMinusOne) {
  const Tensor x = iota_tensor<float>({2, 3, 4});
  const Tensor y = run_op("Reshape", 13, {x, int64s({0, -1})})[0];
  EXPECT_EQ(y.shape(), (Shape{2, 12}));
  EXPECT_EQ(y.raw_data(), x.raw_data());  // no copy
  // allowzero = 1 (opset 14): 0 is an empty dimension, not "copy the input's".
  const Tensor empty = Tensor(DType::Float32, {0, 3});
  EXPECT_EQ(run_op("Reshape", 14, {empty, int64s({3, 0})}, {{"allowzero", Attribute::of_int(1)}})[0].shape(),
            (Shape{3, 0}));
  EXPECT_THROW(run_op("Reshape", 14, {empty, int64s({3, 0})}), Error);  // 0 copies the 3: 9 elements
  EXPECT_THROW(run_op("Reshape", 13, {x, int64s({-1, -1})}), Error);
  EXPECT_THROW(run_op("Reshape", 13, {x, int64s({5, -1})}), Error);
}

TEST(ShapeOps, ReshapeRefusesAShapeWhoseProductPassesInt64) {
  // 33554433 * 72057594037927937 wraps in 64 bits (a fuzzer's model): one error, whatever the
  // order, a zero entry or a -1 beside the entries.
  const Tensor x = Tensor(DType::Float32, {1, 2});
  for (const auto& spec : std::vector<std::vector<int64_t>>{{33554433, 72057594037927937},
                                                            {72057594037927937, 33554433, 0},
                                                            {-1, 33554433, 72057594037927937}}) {
    try {
      run_op("Reshape", 14, {x, int64s(spec)}, {{"allowzero", Attribute::of_int(1)}});
      ADD_FAILURE() << "no error for " << shape_str(spec);
    } catch (const Error& e) {
      EXPECT_NE(std::string(e.what()).find("more elements than int64 can count"), std::string::npos) << e.what();
    }
  }
}

TEST(ShapeOps, SliceWithNegativeStepsAndOpenEnds) {
  const Tensor x = iota_tensor<int64_t>({4, 5});
  const int64_t min = std::numeric_limits<int64_t>::min();
  // Rows 3, 1 (step -2 to the beginning); columns 4 down to 1.
  const Tensor y = run_op("Slice", 13, {x, int64s({3, -1}), int64s({min, 0}), int64s({0, 1}), int64s({-2, -1})})[0];
  EXPECT_EQ(y.shape(), (Shape{2, 4}));
  EXPECT_EQ(values_of<int64_t>(y), (std::vector<int64_t>{19, 18, 17, 16, 9, 8, 7, 6}));
  // Empty result when the range runs the wrong way.
  EXPECT_EQ(run_op("Slice", 13, {x, int64s({1}), int64s({3}), int64s({1}), int64s({-1})})[0].shape(), (Shape{4, 0}));
}

TEST(ShapeOps, SliceOneTakesAttributes) {
  const Tensor x = iota_tensor<float>({2, 4});
  const Tensor y = run_op("Slice", 1, {x},
                          {{"starts", Attribute::of_ints({1})},
                           {"ends", Attribute::of_ints({std::numeric_limits<int32_t>::max()})},
                           {"axes", Attribute::of_ints({1})}})[0];
  EXPECT_EQ(y.shape(), (Shape{2, 3}));
  EXPECT_EQ(values_of<float>(y), (std::vector<float>{1, 2, 3, 5, 6, 7}));
}

// The naive definition of a transpose, to compare the blocked copy against.
template <typename T>
std::vector<T> naive_transpose(const Tensor& x, const std::vector<int64_t>& perm) {
  const Shape& in = x.shape();
  std::vector<int64_t> in_strides(in.size(), 1);
  for (size_t d = in.size() - 1; d-- > 0;) in_strides[d] = in_strides[d + 1] * in[d + 1];
  Shape out(perm.size());
  for (size_t i = 0; i < perm.size(); ++i) out[i] = in[perm[i]];
  std::vector<T> result;
  std::vector<int64_t> index(out.size(), 0);
  for (int64_t flat = 0; flat < x.numel(); ++flat) {
    int64_t offset = 0;
    for (size_t i = 0; i < out.size(); ++i) offset += index[i] * in_strides[perm[i]];
    result.push_back(x.data<T>()[offset]);
    for (size_t d = out.size(); d-- > 0;) {
      if (++index[d] < out[d]) break;
      index[d] = 0;
    }
  }
  return result;
}

TEST(ShapeOps, TransposeFourDimensionsMatchesNaive) {
  // Large enough dimensions for the blocked path, odd sizes for partial blocks.
  for (const auto& perm : std::vector<std::vector<int64_t>>{{3, 2, 0, 1}, {0, 3, 1, 2}, {1, 0, 3, 2}, {0, 1, 2, 3}}) {
    const Tensor x = iota_tensor<double>({2, 37, 3, 41});
    const Tensor y = run_op("Transpose", 13, {x}, {{"perm", Attribute::of_ints(perm)}})[0];
    EXPECT_EQ(values_of<double>(y), naive_transpose<double>(x, perm)) << shape_str(perm);
    const Tensor xi = iota_tensor<int8_t>({3, 9, 2, 10});
    EXPECT_EQ(values_of<int8_t>(run_op("Transpose", 1, {xi}, {{"perm", Attribute::of_ints(perm)}})[0]),
              naive_transpose<int8_t>(xi, perm));
  }
  // Default perm reverses the axes.
  const Tensor x = iota_tensor<float>({2, 3, 4, 5});
  const Tensor y = run_op("Transpose", 13, {x})[0];
  EXPECT_EQ(y.shape(), (Shape{5, 4, 3, 2}));
  EXPECT_EQ(values_of<float>(y), naive_transpose<float>(x, {3, 2, 1, 0}));
  EXPECT_THROW(run_op("Transpose", 13, {x}, {{"perm", Attribute::of_ints({0, 0, 1, 2})}}), Error);
}

TEST(ShapeOps, SplitAttributeBefore13InputFrom13) {
  const Tensor x = iota_tensor<int32_t>({2, 5});
  const auto a = run_op("Split", 11, {x}, {{"axis", Attribute::of_int(-1)}, {"split", Attribute::of_ints({2, 3})}}, 2);
  const auto b = run_op("Split", 13, {x, int64s({2, 3})}, {{"axis", Attribute::of_int(1)}}, 2);
  for (const auto* parts : {&a, &b}) {
    EXPECT_EQ(values_of<int32_t>((*parts)[0]), (std::vector<int32_t>{0, 1, 5, 6}));
    EXPECT_EQ(values_of<int32_t>((*parts)[1]), (std::vector<int32_t>{2, 3, 4, 7, 8, 9}));
  }
  // Without 'split' the parts must be equal (before opset 18).
  EXPECT_THROW(run_op("Split", 13, {x}, {{"axis", Attribute::of_int(1)}}, 2), Error);
}

TEST(ShapeOps, PadModesAndCropping) {
  const Tensor x = Tensor::from<float>({1, 3}, {1, 2, 3});
  const Tensor pads = int64s({0, 2, 0, 1});
  EXPECT_EQ(values_of<float>(run_op("Pad", 13, {x, pads}, {{"mode", Attribute::of_string("reflect")}})[0]),
            (std::vector<float>{3, 2, 1, 2, 3, 2}));
  EXPECT_EQ(values_of<float>(run_op("Pad", 13, {x, pads}, {{"mode", Attribute::of_string("edge")}})[0]),
            (std::vector<float>{1, 1, 1, 2, 3, 3}));
  EXPECT_EQ(values_of<float>(run_op("Pad", 13, {x, pads, Tensor::scalar<float>(9)})[0]),
            (std::vector<float>{9, 9, 1, 2, 3, 9}));
  // Pad-2: pads and value are attributes; negative pads crop.
  EXPECT_EQ(values_of<float>(run_op("Pad", 2, {x}, {{"pads", Attribute::of_ints({0, -1, 0, 1})}})[0]),
            (std::vector<float>{2, 3, 0}));
}

TEST(ShapeOps, TileExpandAndBoolConcat) {
  const Tensor x = Tensor::from<int64_t>({2, 1}, {1, 2});
  EXPECT_EQ(values_of<int64_t>(run_op("Tile", 13, {x, int64s({2, 3})})[0]),
            (std::vector<int64_t>{1, 1, 1, 2, 2, 2, 1, 1, 1, 2, 2, 2}));
  const Tensor e = run_op("Expand", 13, {x, int64s({2, 1, 3})})[0];
  EXPECT_EQ(e.shape(), (Shape{2, 2, 3}));
  EXPECT_EQ(values_of<int64_t>(e), (std::vector<int64_t>{1, 1, 1, 2, 2, 2, 1, 1, 1, 2, 2, 2}));
  const Tensor a = Tensor::from<bool>({1, 2}, {true, false}), b = Tensor::from<bool>({1, 1}, {true});
  EXPECT_EQ(values_of<bool>(run_op("Concat", 13, {a, b}, {{"axis", Attribute::of_int(-1)}})[0]),
            (std::vector<bool>{true, false, true}));
}

TEST(ShapeOps, SpaceToDepthThenDepthToSpaceIsIdentity) {
  const Tensor x = iota_tensor<float>({2, 3, 4, 6});
  const Tensor packed = run_op("SpaceToDepth", 13, {x}, {{"blocksize", Attribute::of_int(2)}})[0];
  EXPECT_EQ(packed.shape(), (Shape{2, 12, 2, 3}));
  const Tensor back = run_op("DepthToSpace", 13, {packed},
                             {{"blocksize", Attribute::of_int(2)}, {"mode", Attribute::of_string("DCR")}})[0];
  EXPECT_EQ(values_of<float>(back), values_of<float>(x));
  // CRD: channel c' * 4 + i * 2 + j goes to (c', 2h + i, 2w + j).
  const Tensor crd = run_op("DepthToSpace", 13, {iota_tensor<float>({1, 4, 1, 1})},
                            {{"blocksize", Attribute::of_int(2)}, {"mode", Attribute::of_string("CRD")}})[0];
  EXPECT_EQ(values_of<float>(crd), (std::vector<float>{0, 1, 2, 3}));
}

TEST(ShapeOps, SqueezeUnsqueezeVersions) {
  const Tensor x = iota_tensor<float>({1, 3, 1});
  EXPECT_EQ(run_op("Squeeze", 1, {x})[0].shape(), (Shape{3}));
  EXPECT_EQ(run_op("Squeeze", 13, {x, int64s({-1})})[0].shape(), (Shape{1, 3}));
  EXPECT_THROW(run_op("Squeeze", 11, {x}, {{"axes", Attribute::of_ints({1})}}), Error);
  EXPECT_EQ(run_op("Unsqueeze", 11, {x}, {{"axes", Attribute::of_ints({-1, 0})}})[0].shape(), (Shape{1, 1, 3, 1, 1}));
  const Tensor u = run_op("Unsqueeze", 13, {x, int64s({2})})[0];
  EXPECT_EQ(u.shape(), (Shape{1, 3, 1, 1}));
  EXPECT_EQ(u.raw_data(), x.raw_data());
}

TEST(ShapeOps, RangeShapeAndTrilu) {
  EXPECT_EQ(
      values_of<int32_t>(run_op(
          "Range", 11, {Tensor::scalar<int32_t>(10), Tensor::scalar<int32_t>(4), Tensor::scalar<int32_t>(-3)})[0]),
      (std::vector<int32_t>{10, 7}));
  const Tensor x = iota_tensor<float>({2, 3, 4});
  EXPECT_EQ(values_of<int64_t>(run_op("Shape", 15, {x}, {{"start", Attribute::of_int(-2)}})[0]),
            (std::vector<int64_t>{3, 4}));
  const Tensor m = iota_tensor<int64_t>({2, 3});
  EXPECT_EQ(
      values_of<int64_t>(run_op("Trilu", 14, {m, Tensor::scalar<int64_t>(1)}, {{"upper", Attribute::of_int(0)}})[0]),
      (std::vector<int64_t>{0, 1, 0, 3, 4, 5}));
}

// Range's length is computed where it cannot overflow: a float length past int64 (a fuzzer
// finding: start -9.7e24, delta 1) and an int64 span of 65 bits are refused or exact.
TEST(ShapeOps, RangeLengthsAtTheEdgesOfInt64) {
  EXPECT_THROW(run_op("Range", 11, {Tensor::scalar<float>(-9.67e24f), Tensor::scalar<float>(0.f),
                                    Tensor::scalar<float>(1.f)}),
               Error);
  const int64_t low = std::numeric_limits<int64_t>::min(), high = std::numeric_limits<int64_t>::max();
  const int64_t step = int64_t{1} << 62;  // 4 values from the lowest int64 up: -2^63, -2^62, 0, 2^62
  EXPECT_EQ(values_of<int64_t>(run_op("Range", 11, {Tensor::scalar<int64_t>(low), Tensor::scalar<int64_t>(high),
                                                     Tensor::scalar<int64_t>(step)})[0]),
            (std::vector<int64_t>{low, -step, 0, step}));
  EXPECT_EQ(values_of<int64_t>(run_op("Range", 11, {Tensor::scalar<int64_t>(high), Tensor::scalar<int64_t>(low),
                                                     Tensor::scalar<int64_t>(-step)})[0]),
            (std::vector<int64_t>{high, high - step, high - step - step, high - step - step - step}));
}

}  // namespace
}  // namespace onnx_train
