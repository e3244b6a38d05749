// Unit tests for the loss and resampling gradient kernels (SoftmaxCrossEntropyLossGrad and
// NegativeLogLikelihoodLossGrad in runtime/kernels/reference/loss_resize_grad.cc, ResizeGrad
// in reference/resize.cc, GridSampleGrad in reference/vision_ops.cc): the float32 path
// against the float64 one on several shapes and attributes, and independent checks
// (SoftmaxCrossEntropyLossGrad = softmax - onehot for the sum, NLL's scatter, ResizeGrad and
// GridSampleGrad's dX as the adjoints of the forward ops: <Resize(x), g> = <x, ResizeGrad(g)>;
// and through the gradient rule of Upsample-7, whose scales attribute the gradient check
// table cannot express).
#include <gtest/gtest.h>

#include <cmath>
#include <map>
#include <string>
#include <vector>

#include "gradients/autodiff.h"
#include "importers/onnx_model.h"
#include "runtime/exec/plan.h"
#include "runtime/kernels/kernel.h"
#include "tests/support/kernel_harness.h"
#include "tests/support/model_builder.h"

namespace onnx_train {
namespace {

using testing::make_node;
using testing::random_float32;
using testing::run_node;
using testing::to_double;

using Attributes = std::map<std::string, Attribute>;

// Runs the project-domain gradient op `op` on `inputs` (undefined tensors: omitted).
std::vector<Tensor> run_grad_op(const std::string& op, const std::vector<Tensor>& inputs, Attributes attributes,
                                size_t num_outputs = 1) {
  Node node = testing::make_gradient_node(op, inputs.size(), num_outputs, std::move(attributes));
  for (size_t i = 0; i < inputs.size(); ++i)
    if (!inputs[i].defined()) node.inputs[i].clear();
  return run_node(node, inputs);
}

// Expects float32 `got` to match float64 `want` within float32 rounding.
void expect_close(const Tensor& got, const Tensor& want, const std::string& what) {
  ASSERT_EQ(got.shape(), want.shape()) << what;
  const std::vector<double> g = got.to_doubles(), w = want.to_doubles();
  for (size_t i = 0; i < g.size(); ++i) EXPECT_NEAR(g[i], w[i], 1e-5 + 1e-4 * std::abs(w[i])) << what << " at " << i;
}

// LogSoftmax over axis 1 of [N, C, d...] in double, returned as float32 (the forward's
// log_prob output).
Tensor log_softmax_axis1(const Tensor& scores) {
  const int64_t n = scores.dim(0), c = scores.dim(1), d = scores.numel() / (n * c);
  const std::vector<double> s = scores.to_doubles();
  std::vector<float> out(s.size());
  for (int64_t b = 0; b < n; ++b) {
    for (int64_t j = 0; j < d; ++j) {
      double m = -1e300, total = 0;
      for (int64_t k = 0; k < c; ++k) m = std::max(m, s[(b * c + k) * d + j]);
      for (int64_t k = 0; k < c; ++k) total += std::exp(s[(b * c + k) * d + j] - m);
      for (int64_t k = 0; k < c; ++k)
        out[(b * c + k) * d + j] = static_cast<float>(s[(b * c + k) * d + j] - m - std::log(total));
    }
  }
  return Tensor::from<float>(scores.shape(), out);
}

// Labels in [0, c) for a [N, d...] target.
Tensor labels_for(const Shape& shape, int64_t c, unsigned seed) {
  Tensor t(DType::Int64, shape);
  for (int64_t i = 0; i < t.numel(); ++i) t.data<int64_t>()[i] = static_cast<int64_t>((i * 7 + seed) % c);
  return t;
}

// Positive class weights.
Tensor weights_for(int64_t c, unsigned seed) {
  Tensor t = random_float32({c}, seed);
  for (int64_t i = 0; i < c; ++i) t.data<float>()[i] = 1.25f + t.data<float>()[i];
  return t;
}

struct LossCase {
  Shape shape;
  std::string reduction;
  bool weighted;
  bool ignore;  // ignore_index = label value 1
};

const std::vector<LossCase> kLossCases = {
    {{4, 5}, "mean", false, false},  {{4, 5}, "sum", true, false},         {{3, 4}, "none", true, true},
    {{2, 3, 4}, "mean", true, true}, {{2, 4, 3, 2}, "none", false, false}, {{2, 3, 2, 3}, "sum", false, true},
    {{5, 6}, "mean", false, true},   {{64, 10, 64}, "mean", true, true},  // large enough for the parallel loop
    {{16, 5000}, "mean", false, true},  // a language model's [positions, vocabulary]: the parallel rows
};

void check_loss_grad_precisions(const std::string& op, bool softmax) {
  unsigned seed = 1;
  for (const LossCase& lc : kLossCases) {
    const int64_t c = lc.shape[1];
    Shape target_shape{lc.shape[0]};
    target_shape.insert(target_shape.end(), lc.shape.begin() + 2, lc.shape.end());
    const Tensor scores = random_float32(lc.shape, seed++);
    const Tensor values = softmax ? log_softmax_axis1(scores) : scores;
    const Tensor target = labels_for(target_shape, c, seed++);
    const Tensor dy = random_float32(lc.reduction == "none" ? target_shape : Shape{}, seed++);
    const Tensor weights = lc.weighted ? weights_for(c, seed++) : Tensor();
    Attributes attrs{{"reduction", Attribute::of_string(lc.reduction)}};
    if (lc.ignore) attrs["ignore_index"] = Attribute::of_int(1);
    const auto f32 = run_grad_op(op, {dy, values, target, weights}, attrs, lc.weighted ? 2 : 1);
    const auto f64 =
        run_grad_op(op, {to_double(dy), to_double(values), target, lc.weighted ? to_double(weights) : weights}, attrs,
                    lc.weighted ? 2 : 1);
    const std::string what = op + " " + shape_str(lc.shape) + " " + lc.reduction;
    expect_close(f32[0], f64[0], what);
    if (lc.weighted) expect_close(f32[1], f64[1], what + " dWeights");
  }
}

TEST(LossResizeGrad, SoftmaxCrossEntropyFloat32MatchesFloat64) {
  check_loss_grad_precisions("SoftmaxCrossEntropyLossGrad", true);
}

TEST(LossResizeGrad, NegativeLogLikelihoodFloat32MatchesFloat64) {
  check_loss_grad_precisions("NegativeLogLikelihoodLossGrad", false);
}

TEST(LossResizeGrad, SoftmaxCrossEntropySumIsSoftmaxMinusOnehot) {
  const Tensor scores = Tensor::from<double>({2, 3}, {1, 2, 3, -1, 0, 0.5});
  const Tensor target = Tensor::from<int64_t>({2}, {2, 0});
  const Tensor log_prob = to_double(log_softmax_axis1(scores));
  const Tensor dy = Tensor::scalar<double>(2.0);
  const Tensor dx = run_grad_op("SoftmaxCrossEntropyLossGrad", {dy, log_prob, target},
                                {{"reduction", Attribute::of_string("sum")}})[0];
  const std::vector<double> s = scores.to_doubles();
  for (int64_t b = 0; b < 2; ++b) {
    double total = 0;
    for (int64_t k = 0; k < 3; ++k) total += std::exp(s[b * 3 + k]);
    for (int64_t k = 0; k < 3; ++k) {
      const double onehot = k == target.data<int64_t>()[b] ? 1 : 0;
      EXPECT_NEAR(dx.data<double>()[b * 3 + k], 2.0 * (std::exp(s[b * 3 + k]) / total - onehot), 1e-6);
    }
  }
}

TEST(LossResizeGrad, NegativeLogLikelihoodScattersAtTheLabels) {
  // mean with weights and an ignored position: dInput[n, t] = -w[t] * dY / sum(w), else 0.
  const Tensor input = Tensor::from<double>({3, 2}, {0.1, 0.2, 0.3, 0.4, 0.5, 0.6});
  const Tensor target = Tensor::from<int64_t>({3}, {1, -5, 0});
  const Tensor weights = Tensor::from<double>({2}, {2.0, 3.0});
  const Tensor dx = run_grad_op("NegativeLogLikelihoodLossGrad", {Tensor::scalar<double>(1.0), input, target, weights},
                                {{"ignore_index", Attribute::of_int(-5)}})[0];
  const std::vector<double> want{0, -3.0 / 5, 0, 0, -2.0 / 5, 0};
  for (size_t i = 0; i < want.size(); ++i) EXPECT_NEAR(dx.data<double>()[i], want[i], 1e-12) << i;
}

// A Resize-13 / Resize-10 / Upsample-9 case: X's shape, scales or sizes, roi, attributes.
struct ResizeCase {
  std::string op;
  int version;
  Shape x;
  std::vector<float> scales;
  std::vector<int64_t> sizes;
  std::vector<float> roi;
  Attributes attrs;
};

std::vector<ResizeCase> resize_cases() {
  auto s = [](const char* v) { return Attribute::of_string(v); };
  return {
      {"Resize", 13, {1, 2, 3, 4}, {1, 1, 2, 1.5f}, {}, {}, {{"mode", s("nearest")}}},
      {"Resize", 13, {2, 1, 5, 6}, {}, {2, 1, 3, 4}, {}, {{"mode", s("nearest")}, {"nearest_mode", s("ceil")}}},
      {"Resize", 13, {1, 3, 4, 4}, {1, 1, 1.75f, 0.5f}, {}, {}, {{"mode", s("linear")}}},
      {"Resize",
       13,
       {1, 1, 5, 7},
       {},
       {1, 1, 8, 3},
       {},
       {{"mode", s("linear")}, {"coordinate_transformation_mode", s("align_corners")}}},
      {"Resize", 13, {1, 2, 4, 5}, {1, 1, 2, 2}, {}, {}, {{"mode", s("cubic")}}},
      {"Resize",
       13,
       {1, 1, 6, 6},
       {},
       {1, 1, 4, 9},
       {},
       {{"mode", s("cubic")},
        {"exclude_outside", Attribute::of_int(1)},
        {"cubic_coeff_a", Attribute::of_float(-0.5f)},
        {"coordinate_transformation_mode", s("pytorch_half_pixel")}}},
      {"Resize",
       13,
       {1, 1, 4, 5},
       {},
       {1, 1, 3, 6},
       {0, 0, -0.2f, 0.1f, 1, 1, 1.1f, 0.8f},
       {{"mode", s("linear")}, {"coordinate_transformation_mode", s("tf_crop_and_resize")}}},
      {"Resize", 10, {1, 1, 4, 6}, {1, 1, 0.5f, 1.5f}, {}, {}, {{"mode", s("nearest")}}},
      {"Upsample", 9, {1, 2, 3, 3}, {1, 1, 2, 2.5f}, {}, {}, {{"mode", s("linear")}}},
  };
}

// The forward Resize and ResizeGrad of one case, in the dtype of `x`.
Tensor forward_resize(const ResizeCase& rc, const Tensor& x) {
  Attributes attrs = rc.attrs;
  std::vector<Tensor> inputs{x};
  if (rc.version < 11) {
    inputs.push_back(Tensor::from<float>({static_cast<int64_t>(rc.scales.size())}, rc.scales));
  } else {
    inputs.push_back(Tensor::from<float>({static_cast<int64_t>(rc.roi.size())}, rc.roi));
    inputs.push_back(Tensor::from<float>({static_cast<int64_t>(rc.scales.size())}, rc.scales));
    if (!rc.sizes.empty()) inputs.push_back(Tensor::from<int64_t>({static_cast<int64_t>(rc.sizes.size())}, rc.sizes));
  }
  return run_node(make_node(rc.op, rc.version, inputs.size(), 1, attrs), inputs)[0];
}

Tensor resize_grad(const ResizeCase& rc, const Tensor& dy) {
  Attributes attrs = rc.attrs;
  if (rc.version < 11) attrs["legacy"] = Attribute::of_int(1);
  const Tensor x_shape = Tensor::from<int64_t>({static_cast<int64_t>(rc.x.size())}, rc.x);
  const Tensor roi = rc.roi.empty() ? Tensor() : Tensor::from<float>({static_cast<int64_t>(rc.roi.size())}, rc.roi);
  const Tensor scales =
      rc.scales.empty() ? Tensor() : Tensor::from<float>({static_cast<int64_t>(rc.scales.size())}, rc.scales);
  return run_grad_op("ResizeGrad", {dy, x_shape, roi, scales}, attrs)[0];
}

TEST(LossResizeGrad, ResizeFloat32MatchesFloat64AndIsTheAdjoint) {
  unsigned seed = 100;
  for (const ResizeCase& rc : resize_cases()) {
    const std::string what = rc.op + "-" + std::to_string(rc.version) + " " + shape_str(rc.x);
    const Tensor x = to_double(random_float32(rc.x, seed++));
    const Tensor y = forward_resize(rc, x);
    const Tensor dy32 = random_float32(y.shape(), seed++);
    const Tensor dy = to_double(dy32);
    const Tensor dx = resize_grad(rc, dy);
    ASSERT_EQ(dx.shape(), rc.x) << what;
    expect_close(resize_grad(rc, dy32), dx, what);
    // <Resize(x), dy> = <x, ResizeGrad(dy)> (tf_crop_and_resize's extrapolation value is 0).
    double lhs = 0, rhs = 0;
    for (int64_t i = 0; i < y.numel(); ++i) lhs += y.data<double>()[i] * dy.data<double>()[i];
    for (int64_t i = 0; i < x.numel(); ++i) rhs += x.data<double>()[i] * dx.data<double>()[i];
    EXPECT_NEAR(lhs, rhs, 1e-9 * (1 + std::abs(lhs))) << what;
  }
}

TEST(LossResizeGrad, GridSampleFloat32MatchesFloat64AndIsTheAdjointInX) {
  unsigned seed = 300;
  for (const char* mode : {"bilinear", "nearest", "bicubic"}) {
    for (const char* padding : {"zeros", "border", "reflection"}) {
      for (int64_t align : {0, 1}) {
        const std::string what = std::string(mode) + " " + padding + " align_corners " + std::to_string(align);
        const Attributes attrs{{"mode", Attribute::of_string(mode)},
                               {"padding_mode", Attribute::of_string(padding)},
                               {"align_corners", Attribute::of_int(align)}};
        const Tensor x32 = random_float32({2, 3, 4, 5}, seed++);
        Tensor grid32 = random_float32({2, 3, 2, 2}, seed++);
        for (int64_t i = 0; i < grid32.numel(); ++i) grid32.data<float>()[i] *= 1.3f;  // some points outside
        const Tensor dy32 = random_float32({2, 3, 3, 2}, seed++);
        const Tensor x = to_double(x32), grid = to_double(grid32), dy = to_double(dy32);
        const auto f32 = run_grad_op("GridSampleGrad", {dy32, x32, grid32}, attrs, 2);
        const auto f64 = run_grad_op("GridSampleGrad", {dy, x, grid}, attrs, 2);
        expect_close(f32[0], f64[0], what + " dX");
        expect_close(f32[1], f64[1], what + " dGrid");
        // GridSample is linear in X: <GridSample(x, grid), dy> = <x, dX>.
        const Tensor y = run_node(make_node("GridSample", 16, 2, 1, attrs), {x, grid})[0];
        double lhs = 0, rhs = 0;
        for (int64_t i = 0; i < y.numel(); ++i) lhs += y.data<double>()[i] * dy.data<double>()[i];
        for (int64_t i = 0; i < x.numel(); ++i) rhs += x.data<double>()[i] * f64[0].data<double>()[i];
        EXPECT_NEAR(lhs, rhs, 1e-9 * (1 + std::abs(lhs))) << what;
      }
    }
  }
}

TEST(LossResizeGrad, Upsample7RuleIsTheAdjoint) {
  // loss = sum(Upsample(x) * r) is linear in x, so loss = <x, d loss / d x>.
  for (const char* mode : {"nearest", "linear"}) {
    testing::TempDir dir;
    testing::ModelBuilder m(7);
    m.input("x", onnx::TensorProto::DOUBLE, {1, 2, 2, 3});
    m.input("r", onnx::TensorProto::DOUBLE, {1, 2, 5, 6});
    m.node("Upsample", {"x"}, {"y"});
    m.attr("scales", std::vector<float>{1.0f, 1.0f, 2.5f, 2.0f}).attr("mode", mode);
    m.node("Mul", {"y", "r"}, {"t"});
    m.node("ReduceSum", {"t"}, {"loss"});
    m.attr("keepdims", 0);
    m.output("loss", onnx::TensorProto::DOUBLE, {});
    m.save(dir.path() + "/model.onnx");
    Graph training = load_onnx_model(dir.path() + "/model.onnx");
    build_gradient_graph(training, "loss", {"x"});
    Plan plan(training, KernelRegistry::global(), "Upsample-7 training");
    const Tensor x = to_double(random_float32({1, 2, 2, 3}, 7));
    const std::vector<Tensor> out = plan.run({x, to_double(random_float32({1, 2, 5, 6}, 8))});
    const Tensor& dx = out[1];
    ASSERT_EQ(dx.shape(), x.shape()) << mode;
    double inner = 0;
    for (int64_t i = 0; i < x.numel(); ++i) inner += x.data<double>()[i] * dx.data<double>()[i];
    EXPECT_NEAR(out[0].to_doubles()[0], inner, 1e-9) << mode;
  }
}

}  // namespace
}  // namespace onnx_train
