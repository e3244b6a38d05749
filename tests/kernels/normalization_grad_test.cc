// Tests of the normalization gradient kernels (runtime/kernels/dnnl/normalization_grad.cc):
// each kernel's float32 path (the two-pass loop of BatchNormalizationGrad in training and
// InstanceNormalizationGrad, oneDNN's backward primitives for BatchNormalizationGrad in
// inference and LayerNormalizationGrad) against its float64 path (the
// plain-loop references of reference/normalization_grad_ref.h) on several shapes and
// attributes; and BatchNormalizationGrad with explicit batch statistics.
#include <gtest/gtest.h>

#include <cmath>

#include "runtime/kernels/kernel.h"
#include "tests/support/kernel_harness.h"

namespace onnx_train {
namespace {

using testing::random_float32;
using testing::run_node;
using testing::to_double;

// A gradient op node of the project's domain with `num_inputs` inputs (an undefined tensor
// in `inputs` is an omitted optional input).
Node grad_node(const std::string& op, const std::vector<Tensor>& inputs, size_t num_outputs,
               std::map<std::string, Attribute> attributes) {
  Node node = testing::make_gradient_node(op, inputs.size(), num_outputs, std::move(attributes));
  for (size_t i = 0; i < inputs.size(); ++i)
    if (!inputs[i].defined()) node.inputs[i].clear();
  return node;
}

// Runs `node` on float32 inputs and on their float64 copies and compares every output.
void expect_float32_matches_float64(const Node& node, const std::vector<Tensor>& inputs, const std::string& what) {
  std::vector<Tensor> doubles;
  for (const Tensor& t : inputs) doubles.push_back(t.defined() ? to_double(t) : Tensor());
  const std::vector<Tensor> got = run_node(node, inputs);
  const std::vector<Tensor> want = run_node(node, doubles);
  ASSERT_EQ(got.size(), want.size()) << what;
  for (size_t k = 0; k < got.size(); ++k) {
    ASSERT_TRUE(got[k].defined() && want[k].defined()) << what << ": output " << k;
    ASSERT_EQ(got[k].dtype(), DType::Float32) << what << ": output " << k;
    ASSERT_EQ(got[k].shape(), want[k].shape()) << what << ": output " << k;
    const std::vector<double> g = got[k].to_doubles(), w = want[k].to_doubles();
    for (size_t i = 0; i < g.size(); ++i)
      ASSERT_NEAR(g[i], w[i], 1e-4 * (1 + std::abs(w[i]))) << what << ": output " << k << " at flat index " << i;
  }
}

// A float32 tensor of `shape` with values in [0.5, 1.5) (a variance).
Tensor positive_float32(const Shape& shape, unsigned seed) {
  Tensor t = random_float32(shape, seed);
  for (int64_t i = 0; i < t.numel(); ++i) t.data<float>()[i] = std::abs(t.data<float>()[i]) + 0.5f;
  return t;
}

// [C] of a BatchNormalization input shape, or [C x D1 x ... x Dn] for spatial=0.
Shape channel_shape(const Shape& x, bool spatial) {
  if (x.size() < 2) return {1};
  if (spatial) return {x[1]};
  return Shape(x.begin() + 1, x.end());
}

TEST(NormalizationGradTest, BatchNormGradFloat32MatchesFloat64) {
  unsigned seed = 1;
  // The last shape is large enough for the multithreaded statistics loop.
  const std::vector<Shape> shapes = {{2, 3, 4, 5}, {4, 5}, {8}, {2, 3, 7}, {3, 2, 2, 3, 2}, {4, 16, 24, 24}};
  for (const bool training : {false, true})
    for (const bool spatial : {true, false})
      for (const Shape& shape : shapes) {
        if (!spatial && shape.size() < 3) continue;
        const Shape c = channel_shape(shape, spatial);
        const Tensor x = random_float32(shape, seed++), dy = random_float32(shape, seed++);
        const Tensor scale = random_float32(c, seed++);
        const Tensor mean = training ? Tensor() : random_float32(c, seed++);
        const Tensor var = training ? Tensor() : positive_float32(c, seed++);
        const std::vector<Tensor> inputs{dy, x, scale, mean, var};
        const Node node = grad_node("BatchNormalizationGrad", inputs, training ? 3 : 5,
                                    {{"epsilon", Attribute::of_float(training ? 1e-5f : 1e-3f)},
                                     {"training_mode", Attribute::of_int(training ? 1 : 0)},
                                     {"spatial", Attribute::of_int(spatial ? 1 : 0)}});
        expect_float32_matches_float64(
            node, inputs,
            fmt::format("BatchNormalizationGrad training={} spatial={} X {}", training, spatial, shape_str(shape)));
      }
}

// In training, explicit batch statistics give what the kernel recomputes without them.
TEST(NormalizationGradTest, BatchNormGradTakesExplicitBatchStatistics) {
  const Shape shape{3, 2, 4};
  const Tensor x = to_double(random_float32(shape, 7)), dy = to_double(random_float32(shape, 8));
  const Tensor scale = to_double(random_float32({2}, 9));
  std::vector<double> mean(2, 0.0), var(2, 0.0);
  const double* xd = x.data<double>();
  for (int64_t i = 0; i < x.numel(); ++i) mean[(i / 4) % 2] += xd[i] / 12;
  for (int64_t i = 0; i < x.numel(); ++i)
    var[(i / 4) % 2] += (xd[i] - mean[(i / 4) % 2]) * (xd[i] - mean[(i / 4) % 2]) / 12;
  const std::map<std::string, Attribute> attrs{{"training_mode", Attribute::of_int(1)}};
  const std::vector<Tensor> recomputed =
      run_node(grad_node("BatchNormalizationGrad", {dy, x, scale}, 3, attrs), {dy, x, scale});
  const std::vector<Tensor> with_stats = {dy, x, scale, Tensor::from<double>({2}, mean),
                                          Tensor::from<double>({2}, var)};
  const std::vector<Tensor> given = run_node(grad_node("BatchNormalizationGrad", with_stats, 3, attrs), with_stats);
  for (size_t k = 0; k < 3; ++k) {
    const std::vector<double> a = recomputed[k].to_doubles(), b = given[k].to_doubles();
    ASSERT_EQ(a.size(), b.size());
    for (size_t i = 0; i < a.size(); ++i) EXPECT_NEAR(a[i], b[i], 1e-12) << "output " << k << " at " << i;
  }
}

// The float32 training path (one statistics-and-sums pass, one dX pass) against the float64
// reference where one-pass statistics lose precision: a mean 50 times the spread, and the
// explicit batch statistics the kernel then takes instead of recomputing them.
TEST(NormalizationGradTest, BatchNormGradFloat32TrainingHoldsUpUnderALargeMean) {
  const Shape shape{4, 3, 6, 5};
  Tensor x = random_float32(shape, 21);
  for (int64_t i = 0; i < x.numel(); ++i) x.data<float>()[i] += 50.0f;
  const Tensor dy = random_float32(shape, 22), scale = random_float32({3}, 23);
  const std::map<std::string, Attribute> attrs{{"training_mode", Attribute::of_int(1)}};
  expect_float32_matches_float64(grad_node("BatchNormalizationGrad", {dy, x, scale}, 3, attrs), {dy, x, scale},
                                 "BatchNormalizationGrad training, mean ~50");
  std::vector<double> mean(3, 0.0), var(3, 0.0);
  const int64_t per_channel = x.numel() / 3;
  for (int64_t i = 0; i < x.numel(); ++i) mean[(i / 30) % 3] += double(x.data<float>()[i]) / per_channel;
  for (int64_t i = 0; i < x.numel(); ++i) {
    const double d = x.data<float>()[i] - mean[(i / 30) % 3];
    var[(i / 30) % 3] += d * d / per_channel;
  }
  const std::vector<float> mean32(mean.begin(), mean.end()), var32(var.begin(), var.end());
  const std::vector<Tensor> with_stats = {dy, x, scale, Tensor::from<float>({3}, mean32),
                                          Tensor::from<float>({3}, var32)};
  expect_float32_matches_float64(grad_node("BatchNormalizationGrad", with_stats, 3, attrs), with_stats,
                                 "BatchNormalizationGrad training, explicit statistics");
}

TEST(NormalizationGradTest, BatchNormGradRejectsInferenceWithoutStatistics) {
  const Tensor x = random_float32({2, 3}, 1);
  const Node node = grad_node("BatchNormalizationGrad", {x, x, random_float32({3}, 2)}, 3, {});
  EXPECT_NE(testing::error_of([&] {
              run_node(node, {x, x, random_float32({3}, 2)});
            }).find("needs the mean and var"),
            std::string::npos);
}

TEST(NormalizationGradTest, InstanceNormGradFloat32MatchesFloat64) {
  unsigned seed = 100;
  for (const Shape& shape : std::vector<Shape>{{2, 3, 4, 5}, {1, 2, 7}, {3, 4, 2, 2, 2}, {2, 2, 1}, {4, 16, 24, 24}}) {
    const Tensor x = random_float32(shape, seed++), dy = random_float32(shape, seed++);
    const Tensor scale = random_float32({shape[1]}, seed++);
    const std::vector<Tensor> inputs{dy, x, scale};
    const Node node = grad_node("InstanceNormalizationGrad", inputs, 3,
                                {{"epsilon", Attribute::of_float(shape[2] == 1 ? 0.1f : 1e-5f)}});
    expect_float32_matches_float64(node, inputs, "InstanceNormalizationGrad X " + shape_str(shape));
  }
}

TEST(NormalizationGradTest, LayerNormGradFloat32MatchesFloat64) {
  struct Case {
    Shape x;
    int64_t axis;
    Shape scale, bias;
    bool has_bias;  // false: B omitted
  };
  const std::vector<Case> cases = {
      {{4, 6}, -1, {6}, {6}, true},      {{2, 3, 4}, 1, {3, 4}, {4}, true},  {{2, 3, 4}, -1, {1, 4}, {}, false},
      {{5, 3, 8}, 2, {8}, {1, 8}, true}, {{2, 3, 4}, -2, {3, 1}, {1}, true}, {{3, 2, 2}, 0, {3, 2, 2}, {2}, true},
      {{16, 32}, -1, {32}, {32}, true},
  };
  unsigned seed = 200;
  for (const Case& c : cases) {
    const Tensor x = random_float32(c.x, seed++), dy = random_float32(c.x, seed++);
    const Tensor scale = random_float32(c.scale, seed++);
    const Tensor bias = c.has_bias ? random_float32(c.bias, seed++) : Tensor();
    const std::vector<Tensor> inputs{dy, x, scale, bias};
    const Node node = grad_node("LayerNormalizationGrad", inputs, c.has_bias ? 3 : 2,
                                {{"axis", Attribute::of_int(c.axis)}, {"epsilon", Attribute::of_float(1e-5f)}});
    expect_float32_matches_float64(node, inputs,
                                   fmt::format("LayerNormalizationGrad X {} axis {}", shape_str(c.x), c.axis));
  }
}

TEST(NormalizationGradTest, LrnGradFloat32MatchesFloat64) {
  unsigned seed = 300;
  for (const int64_t size : {1, 2, 3, 5})
    for (const Shape& shape : std::vector<Shape>{{2, 5, 3, 3}, {1, 4, 6}}) {
      const Tensor x = random_float32(shape, seed++), dy = random_float32(shape, seed++);
      const std::vector<Tensor> inputs{dy, x};
      const Node node = grad_node("LRNGrad", inputs, 1,
                                  {{"size", Attribute::of_int(size)},
                                   {"alpha", Attribute::of_float(0.2f)},
                                   {"beta", Attribute::of_float(0.75f)},
                                   {"bias", Attribute::of_float(1.5f)}});
      expect_float32_matches_float64(node, inputs, fmt::format("LRNGrad size {} X {}", size, shape_str(shape)));
    }
}

}  // namespace
}  // namespace onnx_train
