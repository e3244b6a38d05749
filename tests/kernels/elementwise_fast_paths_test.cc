// The fast paths of the elementwise loops (reference/elementwise_loops.h) and kernels
// (reference/elementwise.cc, elementwise_erf.h) against plain oracles: every broadcast
// pattern the merged-axes walk specialises (same shape, scalar, per-channel, SE scale,
// last-axis bias, and patterns it does not), in both operand orders, odd sizes and sizes on
// both sides of the threading threshold, bit for bit; Clip against its formula with NaN
// and crossed bounds; Erf against std::erf over a dense range; variadic Sum against folds.
#include <gtest/gtest.h>

#include <cmath>
#include <limits>
#include <random>

#include "runtime/core/parallel.h"
#include "runtime/kernels/reference/elementwise_erf.h"
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

// erf_float is within one float ulp of erf: relative error <= 1e-7 against std::erf in
// double, on every float step of 1e-5 over [-6, 6], at the ends of the pieces and specials.
TEST(ElementwiseFastPaths, ErfPolynomialMatchesStdErf) {
  double worst = 0;
  float worst_at = 0;
  for (float x = -6.f; x <= 6.f; x = std::nextafter(x + 1e-5f, 7.f)) {
    const double want = std::erf(static_cast<double>(x));
    const double error = std::abs(erf_float(x) - want) / std::max(std::abs(want), 1e-30);
    if (error > worst) {
      worst = error;
      worst_at = x;
    }
  }
  EXPECT_LE(worst, 1e-7) << "at x = " << worst_at;
  for (float x : {0.f, -0.f, 1e-38f, -1e-30f, 1.f, std::nextafter(1.f, 0.f), 3.75f, 4.f, std::nextafter(4.f, 0.f),
                  100.f, -100.f}) {
    const double want = std::erf(static_cast<double>(x));
    EXPECT_LE(std::abs(erf_float(x) - want), 1e-7 * std::abs(want)) << x;
    EXPECT_EQ(std::signbit(erf_float(x)), std::signbit(x)) << x;
  }
  // A subnormal result has no relative precision to spare: it rounds like erf in double does.
  EXPECT_EQ(erf_float(1e-45f), static_cast<float>(std::erf(static_cast<double>(1e-45f))));
  EXPECT_EQ(erf_float(std::numeric_limits<float>::infinity()), 1.f);
  EXPECT_EQ(erf_float(-std::numeric_limits<float>::infinity()), -1.f);
  EXPECT_TRUE(std::isnan(erf_float(std::numeric_limits<float>::quiet_NaN())));
}

// The Erf kernel's float32 loop (threaded above the threshold) gives erf_float's values;
// float64 keeps std::erf.
TEST(ElementwiseFastPaths, ErfKernelUsesThePolynomialForFloat32) {
  std::mt19937 rng(9);
  for (const int64_t n : {int64_t{5}, kParallelMinCheapElements + 7}) {
    const Tensor x = random_float32({n}, rng, -5.f, 5.f);
    const Tensor y = run_op("Erf", 13, {x})[0];
    for (int64_t i = 0; i < n; ++i) ASSERT_EQ(y.data<float>()[i], erf_float(x.data<float>()[i])) << i;
    const Tensor y64 = run_op("Erf", 13, {testing::to_double(x)})[0];
    for (int64_t i = 0; i < n; i += 97)
      ASSERT_EQ(y64.data<double>()[i], std::erf(static_cast<double>(x.data<float>()[i])));
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

// The threaded two-axis reductions fold each output in the single-threaded order: a
// sequential double sum per output element, bit for bit.
TEST(ElementwiseFastPaths, ThreadedReductionsKeepTheSequentialOrder) {
  std::mt19937 rng(4);
  struct Case {
    Shape shape;
    std::vector<int64_t> axes;
  };
  const std::vector<Case> cases = {
      {{64, 1024}, {1}},          // [rows, n] reducing n
      {{8, 24, 19, 19}, {2, 3}},  // global average over H, W
      {{1000, 129}, {0}},         // [n, cols] reducing n, a partial column block
      {{4, 300, 70}, {0, 1}},     // leading axes
      {{3, 5}, {1}},              // below the threshold
  };
  for (const Case& c : cases) {
    const Tensor x = random_float32(c.shape, rng);
    const Tensor sum =
        run_op("ReduceSum", 11, {x}, {{"axes", Attribute::of_ints(c.axes)}, {"keepdims", Attribute::of_int(0)}})[0];
    const Tensor mean = run_op("ReduceMean", 13, {x}, {{"axes", Attribute::of_ints(c.axes)}})[0];
    const Tensor max = run_op("ReduceMax", 13, {x}, {{"axes", Attribute::of_ints(c.axes)}})[0];
    // The reduced axes are the trailing or the leading ones: x viewed as [outer, inner].
    const bool trailing = c.axes.back() == static_cast<int64_t>(c.shape.size()) - 1;
    int64_t reduced = 1;
    for (int64_t a : c.axes) reduced *= c.shape[static_cast<size_t>(a)];
    const int64_t kept = x.numel() / reduced;
    for (int64_t o = 0; o < kept; ++o) {
      double total = 0, top = -std::numeric_limits<double>::infinity();
      for (int64_t k = 0; k < reduced; ++k) {
        const double v = x.data<float>()[trailing ? o * reduced + k : k * kept + o];
        total += v;
        top = std::max(top, v);
      }
      ASSERT_EQ(sum.data<float>()[o], static_cast<float>(total)) << shape_str(c.shape) << " at " << o;
      ASSERT_EQ(mean.data<float>()[o], static_cast<float>(total / static_cast<double>(reduced))) << o;
      ASSERT_EQ(max.data<float>()[o], static_cast<float>(top)) << o;
    }
  }
}

}  // namespace
}  // namespace onnx_train
