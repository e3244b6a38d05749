// Tests of the convolution kernels (runtime/kernels/dnnl/conv.cc, reference/conv_ref.cc):
// the oneDNN float32 Conv / ConvTranspose against the float64 reference loops on a spread
// of shapes and attributes, the reference against hand-computed values, ConvTranspose as
// the adjoint of Conv, and attribute errors.
#include <gtest/gtest.h>

#include <cmath>

#include "runtime/kernels/kernel.h"
#include "tests/support/kernel_harness.h"

namespace onnx_train {
namespace {

using testing::random_float32;
using testing::to_double;

// Attributes of one test case; empty vectors are left off the node.
struct ConvAttrs {
  std::vector<int64_t> strides, dilations, pads, output_padding, output_shape;
  int64_t group = 1;
  std::string auto_pad;
};

// A Conv / ConvTranspose node with inputs (x, w[, b]) and the attributes of `a`.
Node conv_node(const std::string& op, int version, const ConvAttrs& a, bool bias) {
  std::map<std::string, Attribute> attrs;
  if (!a.strides.empty()) attrs["strides"] = Attribute::of_ints(a.strides);
  if (!a.dilations.empty()) attrs["dilations"] = Attribute::of_ints(a.dilations);
  if (!a.pads.empty()) attrs["pads"] = Attribute::of_ints(a.pads);
  if (!a.output_padding.empty()) attrs["output_padding"] = Attribute::of_ints(a.output_padding);
  if (!a.output_shape.empty()) attrs["output_shape"] = Attribute::of_ints(a.output_shape);
  if (!a.auto_pad.empty()) attrs["auto_pad"] = Attribute::of_string(a.auto_pad);
  attrs["group"] = Attribute::of_int(a.group);
  return testing::make_node(op, version, bias ? 3 : 2, 1, std::move(attrs));
}

// Runs `node` once and returns its output.
Tensor run_conv(const Node& node, const std::vector<Tensor>& inputs) { return testing::run_node(node, inputs)[0]; }

struct Case {
  Shape x, w;
  ConvAttrs attrs;
  bool bias;
  Shape expected_y;
};

// Runs the case in float32 (oneDNN) and float64 (reference) and compares.
void expect_dnnl_matches_reference(const std::string& op, int version, const Case& c, unsigned seed) {
  const Node node = conv_node(op, version, c.attrs, c.bias);
  const Tensor x = random_float32(c.x, seed), w = random_float32(c.w, seed + 1);
  const int64_t maps = op == "Conv" ? c.w[0] : c.w[1] * c.attrs.group;
  const Tensor b = random_float32({maps}, seed + 2);
  const Tensor x64 = to_double(x), w64 = to_double(w), b64 = to_double(b);
  std::vector<Tensor> in32{x, w}, in64{x64, w64};
  if (c.bias) {
    in32.push_back(b);
    in64.push_back(b64);
  }
  const Tensor y = run_conv(node, in32);
  const Tensor ref = run_conv(node, in64);
  ASSERT_EQ(y.shape(), c.expected_y) << op << " x " << shape_str(c.x) << " w " << shape_str(c.w);
  ASSERT_EQ(ref.shape(), c.expected_y);
  double max_diff = 0;
  for (int64_t i = 0; i < y.numel(); ++i)
    max_diff = std::max(max_diff, std::abs(static_cast<double>(y.data<float>()[i]) - ref.data<double>()[i]));
  EXPECT_LT(max_diff, 1e-4) << op << " x " << shape_str(c.x) << " w " << shape_str(c.w);
}

TEST(ConvTest, DnnlMatchesReference) {
  const std::vector<Case> cases = {
      // 1-D: padding; batch 3 with stride and dilation, no bias
      {{1, 3, 10}, {4, 3, 3}, {{}, {}, {1, 1}}, true, {1, 4, 10}},
      {{3, 2, 17}, {5, 2, 4}, {{2}, {2}, {0, 3}}, false, {3, 5, 7}},
      // 2-D: groups with mixed strides/dilations and asymmetric pads
      {{3, 4, 9, 8}, {6, 2, 3, 3}, {{2, 1}, {1, 2}, {1, 0, 2, 1}, {}, {}, 2}, true, {3, 6, 5, 5}},
      // depthwise, and depthwise with a channel multiplier
      {{2, 8, 7, 7}, {8, 1, 3, 3}, {{}, {}, {1, 1, 1, 1}, {}, {}, 8}, true, {2, 8, 7, 7}},
      {{1, 4, 6, 5}, {8, 1, 3, 3}, {{}, {}, {}, {}, {}, 4}, false, {1, 8, 4, 3}},
      // enough channels for oneDNN's blocked layouts
      {{2, 16, 12, 12}, {32, 16, 3, 3}, {{1, 1}, {}, {1, 1, 1, 1}}, true, {2, 32, 12, 12}},
      // auto_pad
      {{1, 3, 7, 6}, {2, 3, 3, 3}, {{2, 2}, {}, {}, {}, {}, 1, "SAME_UPPER"}, true, {1, 2, 4, 3}},
      {{3, 3, 7, 6}, {2, 3, 2, 3}, {{2, 1}, {}, {}, {}, {}, 1, "SAME_LOWER"}, true, {3, 2, 4, 6}},
      {{1, 3, 7, 6}, {2, 3, 3, 2}, {{2, 2}, {}, {}, {}, {}, 1, "VALID"}, false, {1, 2, 3, 3}},
      // 3-D: strides and pads; groups with dilation
      {{3, 2, 5, 6, 4}, {4, 2, 2, 3, 2}, {{1, 2, 1}, {}, {1, 0, 1, 0, 1, 1}}, true, {3, 4, 5, 3, 5}},
      {{1, 4, 6, 6, 6}, {4, 2, 2, 2, 2}, {{}, {2, 2, 2}, {}, {}, {}, 2}, true, {1, 4, 4, 4, 4}},
  };
  unsigned seed = 1;
  for (const Case& c : cases) expect_dnnl_matches_reference("Conv", 11, c, seed += 3);
}

TEST(ConvTest, TransposeDnnlMatchesReference) {
  const std::vector<Case> cases = {
      // 1-D plain; batch 3 with stride, dilation and pads
      {{1, 2, 5}, {2, 3, 3}, {}, true, {1, 3, 7}},
      {{3, 3, 6}, {3, 2, 4}, {{2}, {2}, {1, 2}}, false, {3, 2, 14}},
      // 2-D: stride with output_padding and pads (PyTorch's export); groups
      {{1, 3, 4, 5}, {3, 4, 3, 3}, {{3, 2}, {}, {1, 1, 1, 1}, {1, 1}}, true, {1, 4, 11, 10}},
      {{3, 4, 5, 4}, {4, 3, 3, 2}, {{2, 2}, {1, 2}, {0, 1, 1, 0}, {}, {}, 2}, true, {3, 6, 10, 8}},
      // output_shape larger than the computed extent; SAME_UPPER
      {{1, 1, 3, 3}, {1, 2, 3, 3}, {{3, 2}, {}, {}, {}, {10, 8}}, true, {1, 2, 10, 8}},
      {{2, 2, 3, 4}, {2, 2, 3, 3}, {{2, 2}, {}, {}, {}, {}, 1, "SAME_UPPER"}, true, {2, 2, 6, 8}},
      // enough channels for blocked layouts; depthwise
      {{2, 16, 6, 6}, {16, 16, 4, 4}, {{2, 2}, {}, {1, 1, 1, 1}}, true, {2, 16, 12, 12}},
      {{1, 8, 5, 5}, {8, 1, 3, 3}, {{2, 2}, {}, {}, {}, {}, 8}, false, {1, 8, 11, 11}},
      // 3-D
      {{3, 2, 3, 4, 2}, {2, 3, 2, 3, 2}, {{2, 1, 2}, {1, 1, 2}, {0, 1, 0, 1, 0, 1}}, true, {3, 3, 5, 5, 4}},
  };
  unsigned seed = 100;
  for (const Case& c : cases) expect_dnnl_matches_reference("ConvTranspose", 11, c, seed += 3);
}

// The 3x3 all-ones kernel over a 5x5 ramp, pads 1 (ONNX's basic_conv_with_padding).
TEST(ConvTest, ReferenceHandComputed) {
  std::vector<double> xs(25);
  for (int i = 0; i < 25; ++i) xs[static_cast<size_t>(i)] = i;
  const Tensor x = Tensor::from<double>({1, 1, 5, 5}, xs);
  const Tensor w = Tensor::from<double>({1, 1, 3, 3}, std::vector<double>(9, 1.0));
  const Tensor y = run_conv(conv_node("Conv", 11, {{}, {}, {1, 1, 1, 1}}, false), {x, w});
  const std::vector<double> expected = {12,  21, 27, 33,  24,  33,  54,  63, 72,  51,  63,  99, 108,
                                        117, 81, 93, 144, 153, 162, 111, 72, 111, 117, 123, 84};
  ASSERT_EQ(y.shape(), (Shape{1, 1, 5, 5}));
  for (size_t i = 0; i < expected.size(); ++i) EXPECT_DOUBLE_EQ(y.data<double>()[i], expected[i]) << i;
}

// <conv(x, w), g> == <x, conv_transpose(g, w)>: ConvTranspose is Conv's adjoint.
TEST(ConvTest, TransposeIsAdjointOfConv) {
  struct Adjoint {
    Shape x, w;
    ConvAttrs conv, transpose;
  };
  // Conv output sizes are exact (or the remainder goes to output_padding) so shapes line up.
  const std::vector<Adjoint> cases = {
      {{2, 4, 9, 8},
       {6, 2, 3, 3},
       {{2, 1}, {1, 2}, {1, 0, 1, 1}, {}, {}, 2},
       {{2, 1}, {1, 2}, {1, 0, 1, 1}, {}, {}, 2}},
      {{1, 3, 10}, {2, 3, 3}, {{3}, {}, {1, 0}}, {{3}, {}, {1, 0}, {2}}},
      {{1, 2, 6, 5, 4}, {3, 2, 2, 2, 3}, {{2, 1, 1}, {}, {0, 0, 1, 0, 0, 1}}, {{2, 1, 1}, {}, {0, 0, 1, 0, 0, 1}}},
  };
  unsigned seed = 200;
  for (const Adjoint& c : cases) {
    const Tensor x = to_double(random_float32(c.x, seed++)), w = to_double(random_float32(c.w, seed++));
    const Tensor y = run_conv(conv_node("Conv", 11, c.conv, false), {x, w});
    const Tensor g = to_double(random_float32(y.shape(), seed++));
    const Tensor xt = run_conv(conv_node("ConvTranspose", 11, c.transpose, false), {g, w});
    ASSERT_EQ(xt.shape(), x.shape());
    double lhs = 0, rhs = 0;
    for (int64_t i = 0; i < y.numel(); ++i) lhs += y.data<double>()[i] * g.data<double>()[i];
    for (int64_t i = 0; i < x.numel(); ++i) rhs += x.data<double>()[i] * xt.data<double>()[i];
    EXPECT_NEAR(lhs, rhs, 1e-9 * (1 + std::abs(lhs))) << shape_str(c.x);
  }
}

// ConvTranspose-1 and -11 split an odd output_shape crop differently, each as its schema says.
TEST(ConvTest, TransposeOutputShapeSplitPerVersion) {
  const Tensor x = Tensor::from<double>({1, 1, 3}, {1, 2, 3});
  const Tensor w = Tensor::from<double>({1, 1, 3}, {1, 1, 1});
  // Uncropped: [1, 3, 6, 5, 3]; output_shape 4 crops one element.
  ConvAttrs a;
  a.output_shape = {4};
  const Tensor v11 = run_conv(conv_node("ConvTranspose", 11, a, false), {x, w});
  const Tensor v1 = run_conv(conv_node("ConvTranspose", 1, a, false), {x, w});
  EXPECT_EQ(v11.to_doubles(), (std::vector<double>{3, 6, 5, 3}));  // crop at the start
  EXPECT_EQ(v1.to_doubles(), (std::vector<double>{1, 3, 6, 5}));   // crop at the end
}

// float16 takes the float32 path: the same numbers, rounded to half precision.
TEST(ConvTest, Float16UsesFloat32Path) {
  const Tensor x = random_float32({2, 3, 6, 5}, 300), w = random_float32({3, 3, 3, 3}, 301);  // fits both ops
  auto to_half = [](const Tensor& t) {
    Tensor h(DType::Float16, t.shape());
    for (int64_t i = 0; i < t.numel(); ++i) h.data<Float16>()[i] = Float16(t.data<float>()[i]);
    return h;
  };
  auto to_float = [](const Tensor& h) {
    Tensor t(DType::Float32, h.shape());
    for (int64_t i = 0; i < h.numel(); ++i) t.data<float>()[i] = static_cast<float>(h.data<Float16>()[i]);
    return t;
  };
  const Tensor xh = to_half(x), wh = to_half(w);
  const Tensor x_rounded = to_float(xh), w_rounded = to_float(wh);
  for (const char* op : {"Conv", "ConvTranspose"}) {
    const Node node = conv_node(op, 11, {{2, 1}, {}, {1, 1, 0, 1}}, false);
    const Tensor yh = run_conv(node, {xh, wh});
    const Tensor y = run_conv(node, {x_rounded, w_rounded});
    ASSERT_EQ(yh.dtype(), DType::Float16);
    ASSERT_EQ(yh.shape(), y.shape());
    for (int64_t i = 0; i < y.numel(); ++i)
      EXPECT_NEAR(static_cast<float>(yh.data<Float16>()[i]), y.data<float>()[i],
                  2e-3 * (1 + std::abs(y.data<float>()[i])))
          << op;
  }
}

TEST(ConvTest, BadAttributesAreReported) {
  ASSERT_NE(KernelRegistry::global().find("", "Conv", 11), nullptr);
  auto build = [](const Node& node) { return testing::make_kernel(node); };
  EXPECT_THROW(build(conv_node("Conv", 11, {{0, 1}}, false)), Error);                              // stride 0
  EXPECT_THROW(build(conv_node("Conv", 11, {{1, 1}, {1}}, false)), Error);                         // lengths
  EXPECT_THROW(build(conv_node("Conv", 11, {{}, {}, {1, 1, 1}}, false)), Error);                   // odd pads
  EXPECT_THROW(build(conv_node("Conv", 11, {{}, {}, {}, {}, {}, 0}, false)), Error);               // group 0
  EXPECT_THROW(build(conv_node("Conv", 11, {{}, {}, {}, {}, {}, 1, "SAME"}, false)), Error);       // auto_pad
  EXPECT_THROW(build(conv_node("Conv", 11, {{}, {}, {1, 1}, {}, {}, 1, "VALID"}, false)), Error);  // both
  // Channels that do not fit the group are reported when run.
  const Tensor x = random_float32({1, 3, 5, 5}, 1), w = random_float32({4, 2, 3, 3}, 2);
  EXPECT_THROW(run_conv(conv_node("Conv", 11, {{}, {}, {}, {}, {}, 2}, false), {x, w}), Error);
}

}  // namespace
}  // namespace onnx_train
