// The fast paths of the elementwise loops (reference/elementwise_loops.h) and kernels
// (reference/elementwise.cc) against plain oracles: every broadcast
// pattern the merged-axes walk specialises (same shape, scalar, per-channel, SE scale,
// last-axis bias, and patterns it does not), in both operand orders, odd sizes and sizes on
// both sides of the threading threshold, bit for bit; Clip against its formula with NaN
// and crossed bounds; variadic Sum against folds.
#include <gtest/gtest.h>

#include <cmath>
#include <limits>
#include <random>

#include "runtime/core/parallel.h"
#include "runtime/kernels/reference/elementwise_loops.h"
#include "tests/support/kernel_harness.h"

namespace onnx_train {
namespace {

using testing::random_float32;
using testing::run_op;

// Pairs (a, b) of broadcastable shapes; the threading threshold is 65536 output elements.
std::vector<std::pair<Shape, Shape>> broadcast_patterns() {
  return {
      {{2, 3, 5}, {2, 3, 5}},            // same shape
      {{3, 7}, {1}},                     // scalar
      {{4, 6, 5, 3}, {1, 6, 1, 1}},      // per-channel [1, C, 1, 1]
      {{4, 6, 5, 3}, {6, 1, 1}},         // per-channel [C, 1, 1]
      {{4, 6, 5, 3}, {4, 6, 1, 1}},      // SE scale [N, C, 1, 1]
      {{3, 5, 7}, {7}},                  // last-axis bias
      {{4, 6, 5, 3}, {4, 1, 5, 3}},      // broadcast over the channel axis
      {{2, 1, 4}, {3, 1}},               // both sides broadcast
      {{3, 1}, {1, 5}},                  // outer product
      {{5, 1, 3}, {5, 4, 3}},            // a broadcast in the middle
      {{4, 6, 1, 3}, {1, 6, 5, 1}},      // strided inner runs
      {{1, 1, 1}, {1}},                  // one element
      {{16, 32, 128}, {32, 1}},          // 65536 elements: threaded, per-row scalar
      {{16, 32, 128}, {128}},            // threaded last-axis bias
      {{3, 21845}, {1, 21845}},          // 65535 elements: just below the threshold
      {{1, 65537}, {1}},                 // just above, scalar
      {{8, 24, 19, 19}, {8, 24, 1, 1}},  // threaded SE scale, odd spatial size
      {{7, 3, 3121}, {3, 1}},            // threaded per-row scalar, odd sizes
  };
}

template <typename T>
Tensor random_of(const Shape& shape, std::mt19937& rng) {
  Tensor t(dtype_of<T>(), shape);
  std::uniform_real_distribution<double> dist(-4.0, 4.0);
  for (int64_t i = 0; i < t.numel(); ++i) t.data<T>()[i] = static_cast<T>(dist(rng));
  return t;
}

template <typename T>
void expect_binary_paths_match(const std::string& op, T (*f)(T, T)) {
  std::mt19937 rng(11);
  for (const auto& [sa, sb] : broadcast_patterns()) {
    for (int order = 0; order < 2; ++order) {
      const Shape& s0 = order == 0 ? sa : sb;
      const Shape& s1 = order == 0 ? sb : sa;
      const Tensor a = random_of<T>(s0, rng);
      const Tensor b = random_of<T>(s1, rng);
      const Tensor got = run_op(op, 14, {a, b})[0];
      const Shape out_shape = broadcast_shapes({s0, s1});
      ASSERT_EQ(got.shape(), out_shape);
      std::vector<T> want(static_cast<size_t>(shape_numel(out_shape)));
      broadcast_binary_reference(a.data<T>(), s0, b.data<T>(), s1, want.data(), out_shape, f);
      for (size_t i = 0; i < want.size(); ++i)
        ASSERT_EQ(got.data<T>()[i], want[i]) << op << " " << shape_str(s0) << " , " << shape_str(s1) << " at " << i;
    }
  }
}

TEST(ElementwiseFastPaths, BroadcastArithmeticMatchesIndexLoopBitForBit) {
  expect_binary_paths_match<float>("Sub", [](float x, float y) { return x - y; });
  expect_binary_paths_match<float>("Div", [](float x, float y) { return x / y; });
  expect_binary_paths_match<float>("Mul", [](float x, float y) { return x * y; });
  expect_binary_paths_match<double>("Add", [](double x, double y) { return x + y; });
  expect_binary_paths_match<int32_t>("Sub", [](int32_t x, int32_t y) { return x - y; });
}

TEST(ElementwiseFastPaths, WhereBroadcastsLikeTheIndexLoop) {
  std::mt19937 rng(5);
  const std::vector<std::array<Shape, 3>> cases = {
      {Shape{2, 1, 4, 4}, Shape{2, 3, 4, 4}, Shape{}},
      {Shape{1, 1, 64, 64}, Shape{16, 4, 64, 64}, Shape{1}},  // threaded
      {Shape{4, 4}, Shape{3, 4, 4}, Shape{3, 4, 4}},
      {Shape{5}, Shape{2, 5}, Shape{3, 1, 1}},
  };
  for (const auto& [sc, sx, sy] : cases) {
    Tensor cond(DType::Bool, sc);
    for (int64_t i = 0; i < cond.numel(); ++i) cond.data<bool>()[i] = (rng() & 1) != 0;
    const Tensor x = random_float32(sx, rng);
    const Tensor y = random_float32(sy, rng);
    const Tensor got = run_op("Where", 16, {cond, x, y})[0];
    // Where(c, x, y) = c ? x : y, computed as two binary broadcasts: select x, then y.
    const Shape out_shape = broadcast_shapes({sc, sx, sy});
    ASSERT_EQ(got.shape(), out_shape);
    const Shape cx_shape = broadcast_shapes({sc, sx});
    std::vector<float> cx(static_cast<size_t>(shape_numel(cx_shape)));
    const float nan = std::numeric_limits<float>::quiet_NaN();
    broadcast_binary_reference(cond.data<bool>(), sc, x.data<float>(), sx, cx.data(), cx_shape,
                               [nan](bool c, float v) { return c ? v : nan; });
    std::vector<float> want(static_cast<size_t>(shape_numel(out_shape)));
    broadcast_binary_reference(cx.data(), cx_shape, y.data<float>(), sy, want.data(), out_shape,
                               [](float v, float w) { return std::isnan(v) ? w : v; });
    for (size_t i = 0; i < want.size(); ++i) ASSERT_EQ(got.data<float>()[i], want[i]) << shape_str(sc) << " at " << i;
  }
}

TEST(ElementwiseFastPaths, ClipMatchesItsFormula) {
  std::mt19937 rng(3);
  const float nan = std::numeric_limits<float>::quiet_NaN();
  for (const int64_t n : {int64_t{1}, int64_t{17}, kParallelMinCheapElements - 1, kParallelMinCheapElements + 3}) {
    Tensor x = random_float32({n}, rng, -10.f, 10.f);
    x.data<float>()[0] = nan;
    if (n > 2) x.data<float>()[1] = -std::numeric_limits<float>::infinity();
    for (const auto& [lo, hi] : std::vector<std::pair<float, float>>{{0.f, 6.f}, {-1.f, 1.f}, {3.f, -2.f}}) {
      const Tensor y = run_op("Clip", 13, {x, Tensor::scalar(lo), Tensor::scalar(hi)})[0];
      for (int64_t i = 0; i < n; ++i) {
        const float v = x.data<float>()[i];
        const float want = std::isnan(v) ? v : v < lo ? (lo > hi ? hi : lo) : (v > hi ? hi : v);
        if (std::isnan(want))
          ASSERT_TRUE(std::isnan(y.data<float>()[i]));
        else
          ASSERT_EQ(y.data<float>()[i], want) << "clip(" << v << ", " << lo << ", " << hi << ")";
      }
    }
  }
}

// Sum and Mean of three broadcast inputs: the fold ((a + b) + c), in that order.
TEST(ElementwiseFastPaths, VariadicSumFoldsInInputOrder) {
  std::mt19937 rng(2);
  const std::vector<std::array<Shape, 3>> cases = {
      {Shape{16, 64, 96}, Shape{16, 64, 96}, Shape{16, 64, 96}},  // threaded, same shapes
      {Shape{3, 1}, Shape{4}, Shape{2, 3, 4}},
      {Shape{5}, Shape{5}, Shape{5}},
  };
  for (const auto& shapes : cases) {
    std::vector<Tensor> in;
    for (const Shape& s : shapes) in.push_back(random_float32(s, rng));
    const Shape out_shape = broadcast_shapes({shapes[0], shapes[1], shapes[2]});
    const Tensor sum = run_op("Sum", 13, in)[0];
    const Tensor mean = run_op("Mean", 13, in)[0];
    const Shape ab_shape = broadcast_shapes({shapes[0], shapes[1]});
    std::vector<float> ab(static_cast<size_t>(shape_numel(ab_shape)));
    broadcast_binary_reference(in[0].data<float>(), shapes[0], in[1].data<float>(), shapes[1], ab.data(), ab_shape,
                               [](float x, float y) { return x + y; });
    std::vector<float> want(static_cast<size_t>(shape_numel(out_shape)));
    broadcast_binary_reference(ab.data(), ab_shape, in[2].data<float>(), shapes[2], want.data(), out_shape,
                               [](float x, float y) { return x + y; });
    for (size_t i = 0; i < want.size(); ++i) {
      ASSERT_EQ(sum.data<float>()[i], want[i]) << i;
      ASSERT_EQ(mean.data<float>()[i], want[i] / 3.f) << i;
    }
  }
}

}  // namespace
}  // namespace onnx_train
