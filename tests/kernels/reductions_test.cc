// Tests of the reduction kernels (runtime/kernels/reference/reductions.cc), Einsum
// (reduction_einsum.cc) and the reduction-based normalizations (reduction_norms.cc).
#include <gtest/gtest.h>

#include <algorithm>
#include <cmath>
#include <limits>

#include "runtime/kernels/kernel.h"
#include "tests/support/kernel_harness.h"

namespace onnx_train {
namespace {

using testing::make_node;
using testing::run_op;

// Runs a reduction with the axes attribute (opset 11) on x.
Tensor reduce11(const std::string& op, const Tensor& x, std::vector<int64_t> axes, int64_t keepdims = 1) {
  return run_op(op, 11, {x},
                {{"axes", Attribute::of_ints(std::move(axes))}, {"keepdims", Attribute::of_int(keepdims)}})[0];
}

TEST(ReductionsTest, AxesKeepdimsAndNegativeAxes) {
  const Tensor x = Tensor::from<float>({2, 3}, {1, 2, 3, 4, 5, 6});
  const Tensor kept = reduce11("ReduceSum", x, {1});
  EXPECT_EQ(kept.shape(), (Shape{2, 1}));
  EXPECT_EQ(kept.to_doubles(), (std::vector<double>{6, 15}));
  const Tensor dropped = reduce11("ReduceMean", x, {-2}, 0);
  EXPECT_EQ(dropped.shape(), (Shape{3}));
  EXPECT_EQ(dropped.to_doubles(), (std::vector<double>{2.5, 3.5, 4.5}));
  EXPECT_EQ(reduce11("ReduceMax", x, {}, 0).to_doubles(), (std::vector<double>{6}));
  EXPECT_EQ(reduce11("ReduceProd", x, {0}).to_doubles(), (std::vector<double>{4, 10, 18}));
  EXPECT_EQ(reduce11("ReduceSumSquare", x, {1}).to_doubles(), (std::vector<double>{14, 77}));
  EXPECT_THROW(reduce11("ReduceSum", x, {2}), Error);
  EXPECT_THROW(reduce11("ReduceSum", x, {1, -1}), Error);
}

TEST(ReductionsTest, EveryAxisSubsetMatchesNaiveLoops) {
  // Shapes with size-1 axes in between, so the kernel's axis merging is exercised.
  const std::vector<Shape> shapes = {{2, 3, 4}, {3, 1, 4, 2}, {1, 5, 1, 3}, {4, 1, 1}, {2, 2, 2, 2}};
  for (const Shape& shape : shapes) {
    const int64_t rank = static_cast<int64_t>(shape.size());
    std::vector<double> values(static_cast<size_t>(shape_numel(shape)));
    for (size_t i = 0; i < values.size(); ++i) values[i] = std::sin(static_cast<double>(i) * 1.7) * 3;
    const Tensor x = Tensor::from<double>(shape, values);
    for (int64_t mask = 1; mask < (int64_t{1} << rank); ++mask) {
      std::vector<int64_t> axes;
      Shape kept = shape;
      for (int64_t a = 0; a < rank; ++a)
        if (mask & (int64_t{1} << a)) {
          axes.push_back(a);
          kept[static_cast<size_t>(a)] = 1;
        }
      std::vector<double> sum(static_cast<size_t>(shape_numel(kept)), 0.0);
      std::vector<double> max(sum.size(), -INFINITY);
      std::vector<int64_t> index(shape.size(), 0);
      for (size_t i = 0; i < values.size(); ++i) {
        int64_t o = 0;
        for (size_t d = 0; d < shape.size(); ++d) o = o * kept[d] + (kept[d] == 1 ? 0 : index[d]);
        sum[static_cast<size_t>(o)] += values[i];
        max[static_cast<size_t>(o)] = std::max(max[static_cast<size_t>(o)], values[i]);
        for (size_t d = shape.size(); d-- > 0;) {
          if (++index[d] < shape[d]) break;
          index[d] = 0;
        }
      }
      const std::vector<double> got_sum = reduce11("ReduceSum", x, axes).to_doubles();
      const std::vector<double> got_max = reduce11("ReduceMax", x, axes, 0).to_doubles();
      ASSERT_EQ(got_sum.size(), sum.size());
      for (size_t o = 0; o < sum.size(); ++o) {
        EXPECT_NEAR(got_sum[o], sum[o], 1e-12) << shape_str(shape) << " axes " << shape_str(axes);
        EXPECT_EQ(got_max[o], max[o]) << shape_str(shape) << " axes " << shape_str(axes);
      }
    }
  }
}

TEST(ReductionsTest, LargeFloatSumIsAccurate) {
  const int64_t n = 1 << 22;
  Tensor x(DType::Float32, {n});
  float* data = x.data<float>();
  for (int64_t i = 0; i < n; ++i) data[i] = 0.1f;
  const double expected = static_cast<double>(0.1f) * n;
  EXPECT_NEAR(reduce11("ReduceSum", x, {0}).to_doubles()[0], expected, expected * 1e-7);
  EXPECT_NEAR(reduce11("ReduceMean", x, {0}).to_doubles()[0], 0.1f, 1e-7);
}

TEST(ReductionsTest, LogSumExpIsStable) {
  const Tensor x = Tensor::from<double>({2, 2}, {1000, 1000, -1000, -INFINITY});
  const std::vector<double> y = reduce11("ReduceLogSumExp", x, {1}).to_doubles();
  EXPECT_NEAR(y[0], 1000 + std::log(2.0), 1e-9);
  EXPECT_NEAR(y[1], -1000, 1e-9);
}

TEST(ReductionsTest, EmptyReductionsGiveTheIdentity) {
  const Tensor x(DType::Float32, {2, 0, 3});
  EXPECT_EQ(reduce11("ReduceSum", x, {1}).to_doubles(), std::vector<double>(6, 0.0));
  EXPECT_EQ(reduce11("ReduceProd", x, {1}).to_doubles(), std::vector<double>(6, 1.0));
  EXPECT_EQ(reduce11("ReduceMax", x, {1}).to_doubles(), std::vector<double>(6, -INFINITY));
  EXPECT_EQ(reduce11("ReduceLogSumExp", x, {1}).to_doubles(), std::vector<double>(6, -INFINITY));
  EXPECT_EQ(reduce11("ReduceSum", x, {0}).shape(), (Shape{1, 0, 3}));
}

TEST(ReductionsTest, ReduceSum13AxesInputAndNoop) {
  const Tensor x = Tensor::from<int32_t>({2, 2}, {1, 2, 3, 4});
  const Tensor axes = Tensor::from<int64_t>({1}, {0});
  const Tensor no_axes(DType::Int64, {0});
  Node node = make_node("ReduceSum", 13, 2);
  EXPECT_EQ(testing::run_node(node, {x, axes})[0].to_int64s(), (std::vector<int64_t>{4, 6}));
  EXPECT_EQ(testing::run_node(node, {x, no_axes})[0].to_int64s(), (std::vector<int64_t>{10}));
  node.attributes["noop_with_empty_axes"] = Attribute::of_int(1);
  const Tensor same = testing::run_node(node, {x, no_axes})[0];
  EXPECT_EQ(same.shape(), x.shape());
  EXPECT_EQ(same.to_int64s(), x.to_int64s());
}

TEST(ReductionsTest, IntegerMinMax) {
  const Tensor x = Tensor::from<int64_t>({3}, {5, -7, 2});
  EXPECT_EQ(reduce11("ReduceMin", x, {0}).to_int64s(), (std::vector<int64_t>{-7}));
  EXPECT_EQ(reduce11("ReduceL1", x, {0}).to_int64s(), (std::vector<int64_t>{14}));
}

Tensor einsum(const std::string& equation, const std::vector<Tensor>& inputs) {
  return run_op("Einsum", 12, inputs, {{"equation", Attribute::of_string(equation)}})[0];
}

TEST(ReductionsTest, EinsumDiagonalTraceAndImplicitOutput) {
  const Tensor m = Tensor::from<double>({3, 3}, {1, 2, 3, 4, 5, 6, 7, 8, 9});
  EXPECT_EQ(einsum("ii->i", {m}).to_doubles(), (std::vector<double>{1, 5, 9}));
  EXPECT_EQ(einsum("ii", {m}).to_doubles(), (std::vector<double>{15}));
  EXPECT_EQ(einsum("ji", {m}).to_doubles(), (std::vector<double>{1, 4, 7, 2, 5, 8, 3, 6, 9}));  // implicit: ij order
  const Tensor v = Tensor::from<double>({3}, {1, 0, -1});
  EXPECT_EQ(einsum("ij,j", {m, v}).to_doubles(), (std::vector<double>{-2, -2, -2}));
  EXPECT_THROW(einsum("ij,j", {m, m}), Error);
}

TEST(ReductionsTest, EinsumEllipsisBroadcastMatmul) {
  // a: [2, 1, 2, 3] and b: [3, 3, 2] broadcast over "..." to [2, 3].
  std::vector<double> av(12), bv(18);
  for (size_t i = 0; i < av.size(); ++i) av[i] = static_cast<double>(i) - 4;
  for (size_t i = 0; i < bv.size(); ++i) bv[i] = 0.5 * static_cast<double>(i);
  const Tensor a = Tensor::from<double>({2, 1, 2, 3}, av), b = Tensor::from<double>({3, 3, 2}, bv);
  const Tensor y = einsum("...ij,...jk->...ik", {a, b});
  ASSERT_EQ(y.shape(), (Shape{2, 3, 2, 2}));
  const std::vector<double> out = y.to_doubles();
  for (int64_t p = 0; p < 2; ++p)
    for (int64_t q = 0; q < 3; ++q)
      for (int64_t i = 0; i < 2; ++i)
        for (int64_t k = 0; k < 2; ++k) {
          double expected = 0;
          for (int64_t j = 0; j < 3; ++j) expected += av[p * 6 + i * 3 + j] * bv[q * 6 + j * 2 + k];
          EXPECT_DOUBLE_EQ(out[static_cast<size_t>(((p * 3 + q) * 2 + i) * 2 + k)], expected);
        }
}

TEST(ReductionsTest, MeanVarianceAndLpNormalization) {
  const Tensor x = Tensor::from<float>({1, 2, 1, 2}, {1, 3, 10, 20});
  const std::vector<double> y = run_op("MeanVarianceNormalization", 13, {x})[0].to_doubles();
  EXPECT_NEAR(y[0], -1, 1e-6);
  EXPECT_NEAR(y[1], 1, 1e-6);
  EXPECT_NEAR(y[2], -1, 1e-6);
  const Tensor v = Tensor::from<double>({2, 2}, {3, 4, 0, 0});
  EXPECT_EQ(run_op("LpNormalization", 1, {v})[0].to_doubles(), (std::vector<double>{0.6, 0.8, 0, 0}));
}

}  // namespace
}  // namespace onnx_train
