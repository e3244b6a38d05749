// Tests of the softmax-family kernels and the classification losses
// (runtime/kernels/reference/softmax_loss.cc, runtime/kernels/dnnl/softmax.*): the oneDNN
// float32 softmax / log-softmax against the reference loops, the opset-13 axis change and
// the loss reductions.
#include "runtime/kernels/dnnl/softmax.h"

#include <gtest/gtest.h>

#include <cmath>
#include <random>

#include "runtime/kernels/kernel.h"
#include "runtime/kernels/reference/softmax_ref.h"
#include "tests/support/kernel_harness.h"

namespace onnx_train {
namespace {

using testing::make_node;
using testing::run_node;

std::vector<float> random_floats(size_t n, float scale, unsigned seed) {
  std::mt19937 gen(seed);
  std::uniform_real_distribution<float> dist(-scale, scale);
  std::vector<float> v(n);
  for (float& x : v) x = dist(gen);
  return v;
}

TEST(SoftmaxTest, DnnlMatchesReference) {
  struct Case {
    int64_t outer, n, inner;
    float scale;
  };
  const std::vector<Case> cases = {{1, 5, 1, 1}, {3, 7, 4, 3}, {2, 1000, 3, 10}, {4, 16, 1, 50}, {5, 3, 17, 1000}};
  unsigned seed = 1;
  for (bool log : {false, true}) {
    DnnlSoftmax dnnl(log);
    for (const Case& c : cases) {
      const size_t size = static_cast<size_t>(c.outer * c.n * c.inner);
      const std::vector<float> x = random_floats(size, c.scale, seed++);
      std::vector<float> fast(size), ref(size);
      std::vector<double> x64(x.begin(), x.end()), ref64(size);
      dnnl.run(x.data(), fast.data(), c.outer, c.n, c.inner);
      softmax_reference<float>(x.data(), ref.data(), c.outer, c.n, c.inner, log);
      softmax_reference<double>(x64.data(), ref64.data(), c.outer, c.n, c.inner, log);
      for (size_t i = 0; i < size; ++i) {
        const double tol = 1e-5 * (1 + std::abs(ref64[i]));
        ASSERT_NEAR(fast[i], ref64[i], tol) << "log=" << log << " case " << c.outer << "x" << c.n << "x" << c.inner;
        ASSERT_NEAR(ref[i], ref64[i], tol);
      }
    }
  }
}

TEST(SoftmaxTest, AxisSemanticsChangeAtOpset13) {
  const Tensor x = Tensor::from<float>({2, 2, 2}, {1, 2, 3, 4, 5, 6, 7, 8});
  Node old_node = make_node("Softmax", 11, 1, 1);
  old_node.attributes["axis"] = Attribute::of_int(1);
  Node new_node = make_node("Softmax", 13, 1, 1);
  new_node.attributes["axis"] = Attribute::of_int(1);
  const std::vector<double> coerced = run_node(old_node, {x})[0].to_doubles();
  const std::vector<double> single = run_node(new_node, {x})[0].to_doubles();
  // Opset 11: each row of 4 sums to 1; opset 13: each pair along axis 1 sums to 1.
  EXPECT_NEAR(coerced[0] + coerced[1] + coerced[2] + coerced[3], 1.0, 1e-6);
  EXPECT_NEAR(single[0] + single[2], 1.0, 1e-6);
  EXPECT_NEAR(single[1] + single[3], 1.0, 1e-6);
  EXPECT_NEAR(coerced[3] / coerced[0], std::exp(3.0), 1e-4);
}

TEST(SoftmaxTest, LogSoftmaxLargeNumbersStayFinite) {
  const Tensor x = Tensor::from<double>({1, 3}, {1000, 1001, 1002});
  const std::vector<double> y = run_node(make_node("LogSoftmax", 13, 1, 1), {x})[0].to_doubles();
  const double lse = 1002 + std::log(std::exp(-2.0) + std::exp(-1.0) + 1.0);
  for (int i = 0; i < 3; ++i) EXPECT_NEAR(y[static_cast<size_t>(i)], 1000 + i - lse, 1e-9);
}

TEST(SoftmaxTest, HardmaxPicksFirstMaximum) {
  const Tensor x = Tensor::from<float>({2, 3}, {1, 3, 3, 5, 2, 1});
  const std::vector<double> y = run_node(make_node("Hardmax", 13, 1, 1), {x})[0].to_doubles();
  EXPECT_EQ(y, (std::vector<double>{0, 1, 0, 1, 0, 0}));
}

TEST(SoftmaxTest, NllLossMeanWithWeightsAndIgnoreIndex) {
  // log_prob [N=2, C=3, d=2], target [2, 2] with one ignored entry.
  const std::vector<double> lp = {-1, -2, -3, -4, -5, -6, -0.5, -1.5, -2.5, -3.5, -4.5, -5.5};
  const Tensor x = Tensor::from<double>({2, 3, 2}, lp);
  const Tensor target = Tensor::from<int64_t>({2, 2}, {0, 2, 1, -1});
  const Tensor weight = Tensor::from<double>({3}, {0.5, 2, 3});
  Node node = make_node("NegativeLogLikelihoodLoss", 13, 3, 1);
  node.attributes["ignore_index"] = Attribute::of_int(-1);
  const double l00 = 1 * 0.5, l01 = 6 * 3, l10 = 2.5 * 2;
  const double y = run_node(node, {x, target, weight})[0].to_doubles()[0];
  EXPECT_NEAR(y, (l00 + l01 + l10) / (0.5 + 3 + 2), 1e-12);
  node.attributes["reduction"] = Attribute::of_string("none");
  const std::vector<double> none = run_node(node, {x, target, weight})[0].to_doubles();
  EXPECT_EQ(none, (std::vector<double>{l00, l01, l10, 0}));
}

TEST(SoftmaxTest, SoftmaxCrossEntropyMatchesLogSoftmaxPlusNll) {
  const std::vector<float> scores = random_floats(2 * 4 * 3, 2, 7);
  const Tensor x = Tensor::from<float>({2, 4, 3}, scores);
  const Tensor target = Tensor::from<int32_t>({2, 3}, {0, 3, 1, 2, 2, 0});
  Node node = make_node("SoftmaxCrossEntropyLoss", 13, 2, 2);
  node.attributes["reduction"] = Attribute::of_string("sum");
  const std::vector<Tensor> out = run_node(node, {x, target});
  ASSERT_EQ(out[1].shape(), x.shape());
  const std::vector<double> log_prob = out[1].to_doubles();
  std::vector<double> expected_lp(scores.size());
  std::vector<double> s64(scores.begin(), scores.end());
  softmax_reference<double>(s64.data(), expected_lp.data(), 2, 4, 3, true);
  double expected = 0;
  const int64_t t[6] = {0, 3, 1, 2, 2, 0};
  for (int64_t b = 0; b < 2; ++b)
    for (int64_t j = 0; j < 3; ++j) expected -= expected_lp[static_cast<size_t>((b * 4 + t[b * 3 + j]) * 3 + j)];
  for (size_t i = 0; i < log_prob.size(); ++i) EXPECT_NEAR(log_prob[i], expected_lp[i], 1e-5);
  EXPECT_NEAR(out[0].to_doubles()[0], expected, 1e-4);
}

TEST(SoftmaxTest, LossRejectsOutOfRangeTarget) {
  const Tensor x = Tensor::from<float>({1, 2}, {0.1f, 0.2f});
  const Tensor target = Tensor::from<int64_t>({1}, {5});
  EXPECT_THROW(run_node(make_node("NegativeLogLikelihoodLoss", 13, 2, 1), {x, target}), Error);
}

}  // namespace
}  // namespace onnx_train
