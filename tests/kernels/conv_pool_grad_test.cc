// Unit tests of the Conv / ConvTranspose / pooling gradient kernels (dnnl/conv_pool_grad.cc,
// reference/pool_grad.cc):
// each kernel's float32 path (oneDNN where it has one) against its float64 reference on
// the same fixed-seed random data, over several shapes and attributes, and the optional
// outputs of ConvGrad / ConvTransposeGrad.
#include <gtest/gtest.h>

#include <algorithm>
#include <cmath>

#include "tests/support/kernel_harness.h"

namespace onnx_train {
namespace {

using testing::random_float32;
using testing::run_node;
using testing::run_op;
using testing::to_double;
using Attrs = std::map<std::string, Attribute>;

Attribute ints(std::vector<int64_t> v) { return Attribute::of_ints(std::move(v)); }

// A gradient node of the project's domain with `num_inputs` inputs and `num_outputs` outputs.
Node grad_node(const std::string& op, size_t num_inputs, size_t num_outputs, Attrs attrs) {
  return testing::make_gradient_node(op, num_inputs, num_outputs, std::move(attrs));
}

// Expects the float32 result to match the float64 one up to float32 rounding (relative to
// the largest magnitude of the result).
void expect_close(const Tensor& got32, const Tensor& want64, const std::string& what) {
  ASSERT_TRUE(got32.defined()) << what;
  ASSERT_EQ(got32.shape(), want64.shape()) << what;
  const Tensor got = to_double(got32);
  const double* g = got.data<double>();
  const double* w = want64.data<double>();
  double scale = 0;
  for (int64_t i = 0; i < want64.numel(); ++i) scale = std::max(scale, std::abs(w[i]));
  for (int64_t i = 0; i < want64.numel(); ++i) ASSERT_NEAR(g[i], w[i], 1e-4 * (1 + scale)) << what << " at " << i;
}

// Runs `node` on float32 inputs and on their float64 copies and compares every output.
void expect_float32_matches_float64(const Node& node, const std::vector<Tensor>& inputs32, const std::string& what) {
  std::vector<Tensor> inputs64;
  for (const Tensor& t : inputs32) inputs64.push_back(to_double(t));
  const std::vector<Tensor> out32 = run_node(node, inputs32);
  const std::vector<Tensor> out64 = run_node(node, inputs64);
  for (size_t i = 0; i < node.outputs.size(); ++i) {
    if (node.outputs[i].empty()) {
      EXPECT_FALSE(out32[i].defined()) << what << ": unwanted output " << i << " was computed";
      continue;
    }
    expect_close(out32[i], out64[i], what + " output " + std::to_string(i));
  }
}

struct ConvCase {
  Shape x, w;
  Attrs attrs;
};

std::vector<ConvCase> conv_cases() {
  return {
      {{2, 3, 7, 7}, {4, 3, 3, 3}, {}},
      {{2, 4, 9, 8}, {6, 4, 3, 3}, {{"strides", ints({2, 2})}, {"pads", ints({1, 1, 1, 1})}}},
      {{1, 4, 8, 8}, {4, 2, 3, 3}, {{"group", Attribute::of_int(2)}, {"dilations", ints({2, 2})}}},
      {{2, 8, 6, 6}, {8, 1, 3, 3}, {{"group", Attribute::of_int(8)}, {"pads", ints({1, 1, 1, 1})}}},
      {{2, 3, 11}, {5, 3, 4}, {{"strides", ints({3})}, {"auto_pad", Attribute::of_string("SAME_UPPER")}}},
      {{1, 2, 5, 6, 4}, {3, 2, 2, 3, 2}, {{"pads", ints({1, 0, 1, 0, 1, 0})}}},
      {{2, 2, 9, 9}, {3, 2, 2, 2}, {{"strides", ints({2, 2})}, {"auto_pad", Attribute::of_string("SAME_LOWER")}}},
      {{1, 3, 10, 10}, {2, 3, 3, 3}, {{"strides", ints({3, 3})}}},  // the last column is never read
      // Channel counts oneDNN runs in its blocked layouts (one diff_dst copy for both passes):
      // pointwise, dense 3x3 strided, depthwise 3x3 (jit_dw) and a first layer (C = 3).
      {{2, 32, 5, 5}, {48, 32, 1, 1}, {}},
      {{2, 16, 9, 9}, {32, 16, 3, 3}, {{"strides", ints({2, 2})}, {"pads", ints({1, 1, 1, 1})}}},
      {{2, 48, 7, 7}, {48, 1, 3, 3}, {{"group", Attribute::of_int(48)}, {"pads", ints({1, 1, 1, 1})}}},
      {{2, 3, 12, 12}, {32, 3, 3, 3}, {{"strides", ints({2, 2})}, {"pads", ints({1, 1, 1, 1})}}},
      // Depthwise on an image smaller than the kernel: dW on the nhwc path, dX blocked.
      {{3, 32, 2, 2}, {32, 1, 3, 3}, {{"group", Attribute::of_int(32)}, {"pads", ints({1, 1, 1, 1})}}},
  };
}

TEST(ConvPoolGrad, ConvGradFloat32MatchesFloat64) {
  unsigned seed = 1;
  for (const ConvCase& c : conv_cases()) {
    const Tensor x = random_float32(c.x, seed++), w = random_float32(c.w, seed++);
    const Tensor y = run_op("Conv", 11, {x, w}, c.attrs)[0];
    const Tensor dy = random_float32(y.shape(), seed++);
    const std::string what = "ConvGrad x " + shape_str(c.x) + " w " + shape_str(c.w);
    expect_float32_matches_float64(grad_node("ConvGrad", 3, 3, c.attrs), {dy, x, w}, what);
    // Only dW and dB wanted (a first layer), then only dX.
    Node weights_only = grad_node("ConvGrad", 3, 3, c.attrs);
    weights_only.outputs[0].clear();
    expect_float32_matches_float64(weights_only, {dy, x, w}, what + " (dW, dB)");
    expect_float32_matches_float64(grad_node("ConvGrad", 3, 1, c.attrs), {dy, x, w}, what + " (dX)");
  }
}

TEST(ConvPoolGrad, ConvGradDataIsTheAdjointOfConv) {
  // <conv(x, w), dy> = <x, dX>: checks the float32 oneDNN dX against the forward kernel.
  const Tensor x = random_float32({2, 4, 7, 6}, 7), w = random_float32({6, 2, 3, 2}, 8);
  const Attrs attrs{{"group", Attribute::of_int(2)}, {"strides", ints({2, 1})}, {"pads", ints({1, 0, 0, 1})}};
  const Tensor y = run_op("Conv", 11, {x, w}, attrs)[0];
  const Tensor dy = random_float32(y.shape(), 9);
  const Tensor dx = run_node(grad_node("ConvGrad", 3, 1, attrs), {dy, x, w})[0];
  double lhs = 0, rhs = 0;
  for (int64_t i = 0; i < y.numel(); ++i) lhs += double(y.data<float>()[i]) * dy.data<float>()[i];
  for (int64_t i = 0; i < x.numel(); ++i) rhs += double(x.data<float>()[i]) * dx.data<float>()[i];
  EXPECT_NEAR(lhs, rhs, 1e-3 * (1 + std::abs(lhs)));
}

TEST(ConvPoolGrad, ConvTransposeGradFloat32MatchesFloat64) {
  const std::vector<ConvCase> cases = {
      {{2, 3, 4, 4}, {3, 2, 3, 3}, {}},
      {{1, 4, 5, 4},
       {4, 3, 3, 3},
       {{"strides", ints({2, 2})}, {"pads", ints({1, 1, 1, 1})}, {"output_padding", ints({1, 0})}}},
      {{2, 4, 3, 3}, {4, 2, 2, 2}, {{"group", Attribute::of_int(2)}, {"dilations", ints({2, 2})}}},
      {{1, 2, 4, 4}, {2, 3, 3, 3}, {{"strides", ints({2, 2})}, {"output_shape", ints({8, 9})}}},
      {{2, 2, 5}, {2, 3, 3}, {{"strides", ints({2})}, {"auto_pad", Attribute::of_string("SAME_LOWER")}}},
      {{1, 2, 3, 3, 2}, {2, 2, 2, 2, 2}, {{"strides", ints({2, 1, 2})}}},
      // Blocked layouts: a strided upsampling with 16+ channels, and a depthwise one.
      {{2, 32, 4, 4}, {32, 16, 3, 3}, {{"strides", ints({2, 2})}, {"pads", ints({1, 1, 1, 1})}}},
      {{2, 32, 2, 2}, {32, 1, 3, 3}, {{"group", Attribute::of_int(32)}, {"pads", ints({1, 1, 1, 1})}}},
  };
  unsigned seed = 100;
  for (const ConvCase& c : cases) {
    const Tensor x = random_float32(c.x, seed++), w = random_float32(c.w, seed++);
    const Tensor y = run_op("ConvTranspose", 11, {x, w}, c.attrs)[0];
    const Tensor dy = random_float32(y.shape(), seed++);
    const std::string what = "ConvTransposeGrad x " + shape_str(c.x) + " w " + shape_str(c.w);
    expect_float32_matches_float64(grad_node("ConvTransposeGrad", 3, 3, c.attrs), {dy, x, w}, what);
    Node weights_only = grad_node("ConvTransposeGrad", 3, 2, c.attrs);
    weights_only.outputs[0].clear();
    expect_float32_matches_float64(weights_only, {dy, x, w}, what + " (dW)");
  }
}

struct PoolCase {
  Shape x;
  Attrs attrs;
};

// Runs the forward pool `op` (float32) for dY's shape, then compares the gradient kernel's
// float32 and float64 paths. `with_y`: the gradient op also takes the forward output.
void check_pool_grad(const std::string& op, int version, const std::string& grad_op, const std::vector<PoolCase>& cases,
                     bool with_y, const Attrs& grad_extra = {}) {
  unsigned seed = 200;
  for (const PoolCase& c : cases) {
    const Tensor x = random_float32(c.x, seed++);
    const Tensor y = run_op(op, version, {x}, c.attrs)[0];
    const Tensor dy = random_float32(y.shape(), seed++);
    Attrs attrs = c.attrs;
    attrs.insert(grad_extra.begin(), grad_extra.end());
    std::vector<Tensor> inputs{dy, x};
    if (with_y) inputs.push_back(y);
    expect_float32_matches_float64(grad_node(grad_op, inputs.size(), 1, attrs), inputs,
                                   grad_op + " x " + shape_str(c.x));
  }
}

const std::vector<PoolCase>& window_cases() {
  static const std::vector<PoolCase> cases = {
      {{2, 3, 8, 8}, {{"kernel_shape", ints({2, 2})}, {"strides", ints({2, 2})}}},
      {{2, 2, 7, 7}, {{"kernel_shape", ints({3, 3})}, {"strides", ints({2, 2})}, {"pads", ints({1, 1, 1, 1})}}},
      {{1, 3, 7, 6}, {{"kernel_shape", ints({3, 2})}, {"strides", ints({2, 2})}, {"ceil_mode", Attribute::of_int(1)}}},
      {{2, 2, 9},
       {{"kernel_shape", ints({3})}, {"strides", ints({2})}, {"auto_pad", Attribute::of_string("SAME_UPPER")}}},
      {{1, 2, 4, 5, 6}, {{"kernel_shape", ints({2, 2, 3})}, {"strides", ints({1, 2, 2})}}},
  };
  return cases;
}

TEST(ConvPoolGrad, MaxPoolGradFloat32MatchesFloat64) {
  std::vector<PoolCase> cases = window_cases();
  cases.push_back(
      {{1, 2, 9, 9}, {{"kernel_shape", ints({2, 2})}, {"dilations", ints({2, 2})}, {"strides", ints({2, 2})}}});
  check_pool_grad("MaxPool", 12, "MaxPoolGrad", cases, false);
}

TEST(ConvPoolGrad, MaxPoolGradFromIndicesMatchesRecomputedArgmax) {
  unsigned seed = 300;
  for (int64_t order : {0, 1}) {
    for (PoolCase c : window_cases()) {
      c.attrs["storage_order"] = Attribute::of_int(order);
      const Tensor x = random_float32(c.x, seed++);
      const std::vector<Tensor> forward = run_op("MaxPool", 12, {x}, c.attrs, 2);
      const Tensor dy = random_float32(forward[0].shape(), seed++);
      const Tensor scattered = run_node(grad_node("MaxPoolGrad", 3, 1, c.attrs), {dy, x, forward[1]})[0];
      const Tensor recomputed = run_node(grad_node("MaxPoolGrad", 2, 1, c.attrs), {to_double(dy), to_double(x)})[0];
      expect_close(scattered, recomputed, "MaxPoolGrad with Indices x " + shape_str(c.x));
    }
  }
}

TEST(ConvPoolGrad, AveragePoolGradFloat32MatchesFloat64) {
  std::vector<PoolCase> cases = window_cases();
  for (const PoolCase& c : window_cases()) {  // and each with count_include_pad
    PoolCase included = c;
    included.attrs["count_include_pad"] = Attribute::of_int(1);
    cases.push_back(included);
  }
  check_pool_grad("AveragePool", 11, "AveragePoolGrad", cases, false);
}

TEST(ConvPoolGrad, GlobalPoolGradsFloat32MatchFloat64) {
  const std::vector<PoolCase> cases = {{{2, 3, 5, 4}, {}}, {{2, 2, 7}, {}}, {{1, 2, 3, 2, 4}, {}}};
  const Attrs global{{"global", Attribute::of_int(1)}};
  check_pool_grad("GlobalMaxPool", 1, "MaxPoolGrad", cases, false, global);
  check_pool_grad("GlobalAveragePool", 1, "AveragePoolGrad", cases, false, global);
}

TEST(ConvPoolGrad, LpPoolGradFloat32MatchesFloat64) {
  std::vector<PoolCase> cases;
  for (int64_t p : {1, 2, 3}) {
    for (PoolCase c : window_cases()) {
      c.attrs.erase("ceil_mode");  // LpPool has none
      c.attrs["p"] = Attribute::of_int(p);
      cases.push_back(c);
    }
  }
  check_pool_grad("LpPool", 11, "LpPoolGrad", cases, true);
}

TEST(ConvPoolGrad, MaxUnpoolGradGathersAtTheIndices) {
  // Unpooled shape [1, 2, 4, 4] placed at the origin of a [1, 2, 5, 6] output.
  const Tensor x = random_float32({1, 2, 2, 2}, 3);
  const Tensor indices = Tensor::from<int64_t>({1, 2, 2, 2}, {0, 3, 9, 14, 17, 22, 24, 31});
  const Tensor dy = random_float32({1, 2, 5, 6}, 4);
  const Node node = grad_node("MaxUnpoolGrad", 3, 1, {{"kernel_shape", ints({2, 2})}, {"strides", ints({2, 2})}});
  const Tensor dx = run_node(node, {dy, indices, x})[0];
  const Tensor dx64 = run_node(node, {to_double(dy), indices, to_double(x)})[0];
  for (int64_t j = 0; j < x.numel(); ++j) {
    const int64_t i = indices.data<int64_t>()[j];
    const int64_t plane = i / 16, row = (i % 16) / 4, col = i % 4;
    const float want = dy.data<float>()[plane * 30 + row * 6 + col];
    EXPECT_EQ(dx.data<float>()[j], want) << j;
    EXPECT_EQ(dx64.data<double>()[j], double(want)) << j;
  }
}

TEST(ConvPoolGrad, RoiPoolGradsFloat32MatchFloat64) {
  const Tensor x = random_float32({2, 3, 8, 7}, 400);
  const Tensor boxes =
      Tensor::from<float>({3, 4}, {0.4f, 0.7f, 5.3f, 6.9f, 1.2f, 0.3f, 6.6f, 4.2f, -0.6f, 2.0f, 3.0f, 8.4f});
  const Tensor batches = Tensor::from<int64_t>({3}, {0, 1, 1});
  for (const char* mode : {"avg", "max"}) {
    for (int64_t ratio : {0, 2}) {
      const Attrs attrs{{"mode", Attribute::of_string(mode)},
                        {"output_height", Attribute::of_int(3)},
                        {"output_width", Attribute::of_int(2)},
                        {"sampling_ratio", Attribute::of_int(ratio)}};
      const Tensor dy = random_float32({3, 3, 3, 2}, 401);
      Node node = grad_node("RoiAlignGrad", 4, 1, attrs);
      const Tensor dx32 = run_node(node, {dy, x, boxes, batches})[0];
      const Tensor dx64 = run_node(node, {to_double(dy), to_double(x), to_double(boxes), batches})[0];
      expect_close(dx32, dx64, std::string("RoiAlignGrad ") + mode);
    }
  }
  const Tensor rois = Tensor::from<float>({2, 5}, {0, 0.6f, 1.2f, 5.4f, 7.0f, 1, 1.0f, 0.0f, 6.0f, 3.0f});
  const Tensor dy = random_float32({2, 3, 2, 3}, 402);
  const Node node = grad_node("MaxRoiPoolGrad", 3, 1, {{"pooled_shape", ints({2, 3})}});
  const Tensor dx32 = run_node(node, {dy, x, rois})[0];
  const Tensor dx64 = run_node(node, {to_double(dy), to_double(x), to_double(rois)})[0];
  expect_close(dx32, dx64, "MaxRoiPoolGrad");
}

TEST(ConvPoolGrad, RejectsAMismatchedGradient) {
  const Tensor x = random_float32({1, 2, 4, 4}, 1);
  const Tensor bad_dy = random_float32({1, 2, 3, 3}, 2);
  const std::string message = testing::error_of([&] {
    run_node(grad_node("MaxPoolGrad", 2, 1, {{"kernel_shape", ints({2, 2})}, {"strides", ints({2, 2})}}), {bad_dy, x});
  });
  EXPECT_NE(message.find("dY"), std::string::npos) << message;
}

}  // namespace
}  // namespace onnx_train
