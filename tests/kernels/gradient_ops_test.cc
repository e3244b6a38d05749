// Tests of the SumToShape kernel (runtime/kernels/reference/gradient_ops.cc), the adjoint of
// broadcasting that the gradient builder inserts: against a plain per-element sum on
// shapes whose axes are summed in every pattern (leading, trailing, inner, interleaved,
// size-1 axes, to a scalar), small and large enough to run on several threads.
#include <gtest/gtest.h>

#include <cmath>

#include "runtime/kernels/kernel.h"
#include "runtime/kernels/util.h"
#include "tests/support/kernel_harness.h"

namespace onnx_train {
namespace {

using testing::random_float32;
using testing::run_node;

// reduced[j] = sum of grad[i] over the i that broadcasting `target` to grad's shape maps to j.
std::vector<double> sum_to_shape_reference(const Tensor& grad, const Shape& target) {
  int64_t numel = 1;
  for (int64_t d : target) numel *= d;
  std::vector<double> sums(static_cast<size_t>(numel), 0.0);
  const Shape& shape = grad.shape();
  const size_t lead = shape.size() - target.size();
  const std::vector<int64_t> strides = strides_of(target);
  const std::vector<double> g = grad.to_doubles();
  std::vector<int64_t> index(shape.size(), 0);
  for (size_t i = 0; i < g.size(); ++i) {
    int64_t rest = static_cast<int64_t>(i), offset = 0;
    for (size_t a = shape.size(); a-- > 0;) {
      index[a] = rest % shape[a];
      rest /= shape[a];
      if (a >= lead && target[a - lead] != 1) offset += index[a] * strides[a - lead];
    }
    sums[static_cast<size_t>(offset)] += g[i];
  }
  return sums;
}

TEST(SumToShape, MatchesAPerElementSumForEverySummingPattern) {
  const std::vector<std::pair<Shape, Shape>> cases = {
      {{2, 3, 4}, {3, 1}},           {{2, 3, 4}, {4}},       {{2, 3, 4}, {2, 1, 4}},
      {{2, 3, 4}, {1, 3, 1}},        {{2, 3, 4}, {}},        {{2, 1, 4}, {1, 1, 4}},
      {{5, 1, 3, 1}, {1, 3, 1}},     {{3, 4}, {3, 4}},       {{4, 5, 6}, {4, 1, 6}},
      {{2, 96, 56, 56}, {96, 1, 1}},  // per-channel bias, threaded
      {{64, 56, 96}, {96}},          {{256, 512}, {256, 1}}, {{256, 512}, {1, 512}},
      {{8, 2, 64, 32}, {2, 1, 32}},
  };
  const Node node = testing::make_gradient_node("SumToShape", 2);
  unsigned seed = 1;
  for (const auto& [shape, target] : cases) {
    const Tensor grad = random_float32(shape, seed++);
    const Tensor target_tensor = Tensor::from<int64_t>({static_cast<int64_t>(target.size())}, target);
    const std::vector<Tensor> out = run_node(node, {grad, target_tensor});
    ASSERT_EQ(out[0].shape(), target) << shape_str(shape) << " -> " << shape_str(target);
    const std::vector<double> want = sum_to_shape_reference(grad, target), got = out[0].to_doubles();
    for (size_t j = 0; j < want.size(); ++j)
      ASSERT_NEAR(got[j], want[j], 1e-5 * (1 + std::abs(want[j])))
          << shape_str(shape) << " -> " << shape_str(target) << " at " << j;
  }
}

TEST(SumToShape, RejectsAShapeThatDoesNotBroadcast) {
  const Node node = testing::make_gradient_node("SumToShape", 2);
  const std::string error = testing::error_of([&] {
    run_node(node, {random_float32({2, 3}, 1), Tensor::from<int64_t>({1}, {2})});
  });
  EXPECT_NE(error.find("is not a broadcast of shape"), std::string::npos) << error;
}

}  // namespace
}  // namespace onnx_train
