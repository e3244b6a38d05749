// Unit tests for the GatherNDGrad, DetGrad and STFTGrad kernels (runtime/kernels/reference/
// indexing_grad.cc): float32 against float64 on several shapes and attributes, and an
// independent check for each: the adjoint identity <GatherND(x), dy> = <x, GatherNDGrad(dy)>
// with the forward kernel, hand-computed sums with repeated indices, and central
// differences of the Det and STFT kernels.
#include <gtest/gtest.h>

#include <algorithm>
#include <cmath>
#include <map>
#include <random>
#include <string>
#include <vector>

#include "runtime/kernels/kernel.h"
#include "tests/support/kernel_harness.h"

namespace onnx_train {
namespace {

using testing::error_of;
using testing::random_float32;
using testing::run_node;
using testing::run_op;
using testing::to_double;

// A project-domain gradient node with the given inputs and attributes.
Node grad_node(const std::string& op, size_t num_inputs, std::map<std::string, Attribute> attributes = {}) {
  return testing::make_gradient_node(op, num_inputs, 1, std::move(attributes));
}

Tensor shape_tensor(const Shape& shape) { return Tensor::from<int64_t>({static_cast<int64_t>(shape.size())}, shape); }

// Uniform integers in [low, high] of the given shape.
Tensor random_indices(const Shape& shape, int64_t low, int64_t high, unsigned seed) {
  std::mt19937 gen(seed);
  std::uniform_int_distribution<int64_t> dist(low, high);
  Tensor t(DType::Int64, shape);
  for (int64_t i = 0; i < t.numel(); ++i) t.data<int64_t>()[i] = dist(gen);
  return t;
}

double dot(const Tensor& a, const Tensor& b) {
  const std::vector<double> x = a.to_doubles(), y = b.to_doubles();
  EXPECT_EQ(x.size(), y.size());
  double s = 0;
  for (size_t i = 0; i < x.size() && i < y.size(); ++i) s += x[i] * y[i];
  return s;
}

void expect_near_all(const Tensor& got, const Tensor& want, double tolerance) {
  ASSERT_EQ(got.shape(), want.shape());
  const std::vector<double> g = got.to_doubles(), w = want.to_doubles();
  for (size_t i = 0; i < g.size(); ++i) EXPECT_NEAR(g[i], w[i], tolerance) << "element " << i;
}

TEST(IndexingGradKernels, Registered) {
  const auto& r = KernelRegistry::global();
  for (const char* op : {"GatherNDGrad", "DetGrad", "STFTGrad"})
    EXPECT_EQ(r.versions(kProjectDomain, op), (std::vector<int>{1})) << op;
}

TEST(GatherNDGrad, RepeatedTuplesAccumulate) {
  // data [2, 2], whole-row slices (m = 1) and a repeated row.
  const Node n = grad_node("GatherNDGrad", 3);
  const Tensor idx = Tensor::from<int64_t>({3, 1}, {1, -1, 0});
  const Tensor dy = Tensor::from<double>({3, 2}, {1, 2, 3, 4, 5, 6});
  const Tensor dx = run_node(n, {dy, idx, shape_tensor({2, 2})})[0];
  EXPECT_EQ(dx.to_doubles(), (std::vector<double>{5, 6, 4, 6}));
}

TEST(GatherNDGrad, Float32MatchesFloat64AndIsTheAdjointOfGatherND) {
  struct Case {
    Shape data;
    Shape tuples;  // indices shape without the batch dims and the tuple length
    int64_t m, batch_dims;
  };
  const std::vector<Case> cases = {{{4, 3}, {5}, 2, 0},
                                   {{4, 3}, {2, 3}, 1, 0},
                                   {{2, 3, 4}, {3}, 1, 1},
                                   {{2, 3, 4, 2}, {4}, 2, 1},
                                   {{2, 2, 3}, {2}, 1, 2}};
  unsigned seed = 40;
  for (const Case& c : cases) {
    const size_t b = static_cast<size_t>(c.batch_dims);
    Shape idx_shape(c.data.begin(), c.data.begin() + static_cast<std::ptrdiff_t>(b));
    idx_shape.insert(idx_shape.end(), c.tuples.begin(), c.tuples.end());
    idx_shape.push_back(c.m);
    // Every tuple component drawn within the smallest of the m indexed dims.
    int64_t size = c.data[b];
    for (size_t j = 0; j < static_cast<size_t>(c.m); ++j) size = std::min(size, c.data[b + j]);
    const Tensor idx = random_indices(idx_shape, -size, size - 1, ++seed);
    const Tensor x = to_double(random_float32(c.data, ++seed));
    const std::map<std::string, Attribute> attrs{{"batch_dims", Attribute::of_int(c.batch_dims)}};
    const Tensor gathered = run_op("GatherND", 13, {x, idx}, attrs)[0];
    const Tensor dy32 = random_float32(gathered.shape(), ++seed);
    const Tensor dy64 = to_double(dy32);
    const Node n = grad_node("GatherNDGrad", 3, attrs);
    const Tensor dx32 = run_node(n, {dy32, idx, shape_tensor(c.data)})[0];
    const Tensor dx64 = run_node(n, {dy64, idx, shape_tensor(c.data)})[0];
    ASSERT_EQ(dx64.shape(), c.data);
    expect_near_all(dx32, dx64, 1e-5);
    EXPECT_NEAR(dot(gathered, dy64), dot(x, dx64), 1e-12);
  }
}

TEST(GatherNDGrad, WrongGradientShapeIsAClearError) {
  const Node n = grad_node("GatherNDGrad", 3);
  const std::string msg = error_of([&] {
    run_node(n, {Tensor::from<float>({3}, {1, 2, 3}), Tensor::from<int64_t>({1, 1}, {0}), shape_tensor({2, 2})});
  });
  EXPECT_NE(msg.find("GatherND's output shape"), std::string::npos) << msg;
}

TEST(DetGrad, Float32MatchesFloat64AndCentralDifferences) {
  const Node n = grad_node("DetGrad", 2);
  unsigned seed = 70;
  for (const Shape& shape : std::vector<Shape>{{1, 1}, {3, 3}, {2, 2, 2}, {2, 1, 4, 4}, {5, 5}}) {
    const Tensor a32 = random_float32(shape, ++seed);
    const Shape batch(shape.begin(), shape.end() - 2);
    const Tensor dy32 = random_float32(batch, ++seed);
    const Tensor a64 = to_double(a32), dy64 = to_double(dy32);
    const Tensor da32 = run_node(n, {a32, dy32})[0];
    const Tensor da64 = run_node(n, {a64, dy64})[0];
    expect_near_all(da32, da64, 1e-4);
    // d <Det(A), dy> / dA by central differences of the Det kernel.
    const double eps = 1e-6;
    for (int64_t i = 0; i < a64.numel(); ++i) {
      Tensor plus = a64.clone(), minus = a64.clone();
      plus.data<double>()[i] += eps;
      minus.data<double>()[i] -= eps;
      const double numeric =
          (dot(run_op("Det", 11, {plus})[0], dy64) - dot(run_op("Det", 11, {minus})[0], dy64)) / (2 * eps);
      EXPECT_NEAR(da64.data<double>()[i], numeric, 1e-6) << "element " << i;
    }
  }
}

TEST(DetGrad, SingularMatrixGivesTheCofactors) {
  // A = [[1, 2], [2, 4]] (det 0): cofactors [[4, -2], [-2, 1]]; a rank-1 3 x 3 has rank-1 ones.
  const Node n = grad_node("DetGrad", 2);
  const Tensor da = run_node(n, {Tensor::from<double>({2, 2}, {1, 2, 2, 4}), Tensor::from<double>({}, {2})})[0];
  EXPECT_EQ(da.to_doubles(), (std::vector<double>{8, -4, -4, 2}));
  const Tensor db =
      run_node(n, {Tensor::from<double>({3, 3}, {1, 2, 3, 2, 4, 6, 0, 1, 1}), Tensor::from<double>({}, {1})})[0];
  // Cofactors of [[1, 2, 3], [2, 4, 6], [0, 1, 1]].
  EXPECT_EQ(db.to_doubles(), (std::vector<double>{-2, -2, 2, 1, 1, -1, 0, 0, 0}));
}

TEST(STFTGrad, Float32MatchesFloat64AndCentralDifferences) {
  struct Case {
    Shape signal;
    int64_t frame_length, step, onesided;
  };
  const std::vector<Case> cases = {
      {{2, 8, 1}, 4, 2, 1}, {{1, 7, 2}, 3, 2, 0}, {{1, 9, 1}, 5, 4, 1}, {{2, 6, 1}, 4, 1, 0}};
  unsigned seed = 100;
  for (const Case& c : cases) {
    const std::map<std::string, Attribute> attrs{{"onesided", Attribute::of_int(c.onesided)}};
    const Tensor step = Tensor::scalar<int64_t>(c.step);
    const Tensor x32 = random_float32(c.signal, ++seed);
    const Tensor w32 = random_float32({c.frame_length}, ++seed);
    const Tensor x64 = to_double(x32), w64 = to_double(w32);
    const Tensor y = run_op("STFT", 17, {x64, step, w64}, attrs)[0];
    const Tensor dy32 = random_float32(y.shape(), ++seed);
    const Tensor dy64 = to_double(dy32);
    Node n = grad_node("STFTGrad", 4, attrs);
    n.outputs = {"d_signal", "d_window"};
    const std::vector<Tensor> g32 = run_node(n, {dy32, x32, step, w32});
    const std::vector<Tensor> g64 = run_node(n, {dy64, x64, step, w64});
    expect_near_all(g32[0], g64[0], 1e-4);
    expect_near_all(g32[1], g64[1], 1e-4);
    // <STFT(x, w), dy> is linear in x and in w: central differences are exact up to rounding.
    const double eps = 1e-6;
    const auto loss = [&](const Tensor& x, const Tensor& w) {
      return dot(run_op("STFT", 17, {x, step, w}, attrs)[0], dy64);
    };
    for (int64_t i = 0; i < x64.numel(); ++i) {
      Tensor plus = x64.clone(), minus = x64.clone();
      plus.data<double>()[i] += eps;
      minus.data<double>()[i] -= eps;
      EXPECT_NEAR(g64[0].data<double>()[i], (loss(plus, w64) - loss(minus, w64)) / (2 * eps), 1e-6) << "signal " << i;
    }
    for (int64_t i = 0; i < w64.numel(); ++i) {
      Tensor plus = w64.clone(), minus = w64.clone();
      plus.data<double>()[i] += eps;
      minus.data<double>()[i] -= eps;
      EXPECT_NEAR(g64[1].data<double>()[i], (loss(x64, plus) - loss(x64, minus)) / (2 * eps), 1e-6) << "window " << i;
    }
  }
}

TEST(STFTGrad, NoWindowIsAWindowOfOnes) {
  const Tensor x = to_double(random_float32({1, 7, 1}, 120));
  const Tensor step = Tensor::scalar<int64_t>(3), length = Tensor::scalar<int64_t>(4);
  const Tensor dy = to_double(random_float32({1, 2, 3, 2}, 121));
  const Tensor ones = Tensor::from<double>({4}, {1, 1, 1, 1});
  const Tensor without = run_node(grad_node("STFTGrad", 5), {dy, x, step, Tensor(), length})[0];
  const Tensor with = run_node(grad_node("STFTGrad", 5), {dy, x, step, ones, length})[0];
  expect_near_all(without, with, 1e-15);
}

}  // namespace
}  // namespace onnx_train
