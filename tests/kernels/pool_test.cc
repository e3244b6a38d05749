// Tests of the pooling kernels (runtime/kernels/dnnl/pool.cc, reference/pool_ref.cc): the
// oneDNN float32 MaxPool / AveragePool / global pools against the float64 reference loops
// on a spread of shapes and attributes, the output-size rules (ceil_mode dropping a window
// that starts in the end padding), MaxPool's Indices, MaxUnpool, LpPool, GlobalLpPool and
// errors.
#include <gtest/gtest.h>

#include <cmath>
#include <map>

#include "runtime/kernels/kernel.h"
#include "tests/support/kernel_harness.h"

namespace onnx_train {
namespace {

using testing::random_float32;
using testing::to_double;

// Window attributes of one case; empty vectors and auto_pad are left off the node.
struct PoolAttrs {
  std::vector<int64_t> kernel, strides, dilations, pads;
  std::string auto_pad;
  bool ceil_mode = false;
  bool count_include_pad = false;
};

// A pooling node with the window attributes of `a`.
Node pool_node(const std::string& op, int version, const PoolAttrs& a, size_t num_inputs = 1, size_t num_outputs = 1) {
  std::map<std::string, Attribute> attrs;
  if (!a.kernel.empty()) attrs["kernel_shape"] = Attribute::of_ints(a.kernel);
  if (!a.strides.empty()) attrs["strides"] = Attribute::of_ints(a.strides);
  if (!a.dilations.empty()) attrs["dilations"] = Attribute::of_ints(a.dilations);
  if (!a.pads.empty()) attrs["pads"] = Attribute::of_ints(a.pads);
  if (!a.auto_pad.empty()) attrs["auto_pad"] = Attribute::of_string(a.auto_pad);
  if (a.ceil_mode) attrs["ceil_mode"] = Attribute::of_int(1);
  if (a.count_include_pad) attrs["count_include_pad"] = Attribute::of_int(1);
  return testing::make_node(op, version, num_inputs, num_outputs, std::move(attrs));
}

using testing::run_node;

struct Case {
  Shape x;
  PoolAttrs attrs;
  Shape expected_y;
};

// Runs the node in float32 (oneDNN where it applies) and float64 (reference) and compares.
void expect_dnnl_matches_reference(const std::string& op, int version, const Case& c, unsigned seed) {
  const Node node = pool_node(op, version, c.attrs);
  const Tensor x = random_float32(c.x, seed);
  const Tensor x64 = to_double(x);
  const Tensor y = run_node(node, {x})[0];
  const Tensor ref = run_node(node, {x64})[0];
  ASSERT_EQ(y.shape(), c.expected_y) << op << " x " << shape_str(c.x);
  ASSERT_EQ(ref.shape(), c.expected_y);
  double max_diff = 0;
  for (int64_t i = 0; i < y.numel(); ++i)
    max_diff = std::max(max_diff, std::abs(static_cast<double>(y.data<float>()[i]) - ref.data<double>()[i]));
  EXPECT_LT(max_diff, 1e-6) << op << " x " << shape_str(c.x);
}

TEST(PoolTest, MaxPoolDnnlMatchesReference) {
  const std::vector<Case> cases = {
      {{3, 2, 11}, {{3}, {2}, {}, {1, 1}}, {3, 2, 6}},                           // 1-D, batch 3
      {{1, 3, 8, 9}, {{3, 2}, {2, 3}, {}, {}, "", true}, {1, 3, 4, 3}},          // ceil_mode
      {{3, 2, 10, 10}, {{3, 3}, {1, 1}, {2, 2}, {2, 2, 2, 2}}, {3, 2, 10, 10}},  // dilation
      {{2, 4, 7, 6}, {{3, 3}, {2, 2}, {}, {}, "SAME_UPPER"}, {2, 4, 4, 3}},      // auto_pad
      {{2, 4, 7, 6}, {{2, 3}, {2, 1}, {}, {}, "SAME_LOWER"}, {2, 4, 4, 6}},
      {{1, 2, 7, 6}, {{3, 2}, {2, 2}, {2, 1}, {}, "VALID"}, {1, 2, 2, 3}},
      {{2, 3, 5, 6, 7}, {{2, 2, 3}, {2, 2, 2}, {}, {0, 1, 1, 1, 0, 1}, "", true}, {2, 3, 3, 4, 4}},  // 3-D
      // ceil_mode would start a last window inside the end padding: dropped
      {{1, 1, 5}, {{2}, {2}, {}, {1, 1}, "", true}, {1, 1, 3}},
  };
  unsigned seed = 1;
  for (const Case& c : cases) expect_dnnl_matches_reference("MaxPool", 12, c, seed++);
}

TEST(PoolTest, AveragePoolDnnlMatchesReference) {
  std::vector<Case> cases = {
      {{3, 2, 11}, {{3}, {2}, {}, {1, 2}}, {3, 2, 6}},
      {{1, 3, 8, 9}, {{3, 2}, {2, 3}, {}, {1, 1, 1, 1}, "", true}, {1, 3, 5, 4}},
      {{2, 4, 7, 6}, {{3, 3}, {2, 2}, {}, {}, "SAME_UPPER"}, {2, 4, 4, 3}},
      {{2, 4, 7, 6}, {{2, 3}, {2, 1}, {}, {}, "SAME_LOWER"}, {2, 4, 4, 6}},
      {{2, 3, 5, 6, 7}, {{2, 2, 3}, {2, 2, 2}, {}, {0, 1, 1, 1, 0, 1}, "", true}, {2, 3, 3, 4, 4}},
  };
  unsigned seed = 50;
  for (bool include_pad : {false, true}) {
    for (Case c : cases) {
      c.attrs.count_include_pad = include_pad;
      expect_dnnl_matches_reference("AveragePool", 11, c, seed++);
    }
  }
}

// With count_include_pad, a ceil_mode window reaching past the end padding is divided by
// its positions inside the padded input only (PyTorch's rule).
TEST(PoolTest, AveragePoolIncludePadCeilDivisor) {
  const Tensor x = Tensor::from<float>({1, 1, 5}, {1, 2, 3, 4, 5});
  PoolAttrs a{{3}, {2}, {}, {1, 0}, "", true, true};
  // Padded input [0, 1, 2, 3, 4, 5]; windows [0 1 2], [2 3 4], [4 5 | past the end].
  const Tensor y = run_node(pool_node("AveragePool", 11, a), {x})[0];
  EXPECT_EQ(y.to_doubles(), (std::vector<double>{1, 3, 4.5}));
  a.count_include_pad = false;
  EXPECT_EQ(run_node(pool_node("AveragePool", 11, a), {x})[0].to_doubles(), (std::vector<double>{1.5, 3, 4.5}));
}

TEST(PoolTest, GlobalPoolsDnnlMatchReference) {
  for (const Shape& shape : {Shape{3, 4, 7}, Shape{2, 5, 6, 3}, Shape{1, 3, 2, 4, 5}}) {
    for (const std::string op : {"GlobalAveragePool", "GlobalMaxPool"}) {
      Shape y_shape(shape.size(), 1);
      y_shape[0] = shape[0];
      y_shape[1] = shape[1];
      expect_dnnl_matches_reference(op, 1, {shape, {}, y_shape}, 7);
    }
  }
  const Tensor x = Tensor::from<float>({1, 2, 3}, {1, 5, 3, -1, -2, -6});
  EXPECT_EQ(run_node(pool_node("GlobalAveragePool", 1, {}), {x})[0].to_doubles(), (std::vector<double>{3, -3}));
  EXPECT_EQ(run_node(pool_node("GlobalMaxPool", 1, {}), {x})[0].to_doubles(), (std::vector<double>{5, -1}));
}

// Indices point at the maximum of each window: x.flat[index] == y, in both storage orders.
TEST(PoolTest, MaxPoolIndices) {
  const Shape shape{2, 3, 7, 6};
  const Tensor x = random_float32(shape, 11);
  for (int64_t order : {0, 1}) {
    Node node = pool_node("MaxPool", 12, {{3, 2}, {2, 2}, {1, 2}, {1, 0, 1, 1}}, 1, 2);
    node.attributes["storage_order"] = Attribute::of_int(order);
    const std::vector<Tensor> out = run_node(node, {x});
    const Tensor y_only = run_node(pool_node("MaxPool", 12, {{3, 2}, {2, 2}, {1, 2}, {1, 0, 1, 1}}), {x})[0];
    ASSERT_EQ(out[1].dtype(), DType::Int64);
    ASSERT_EQ(out[1].shape(), out[0].shape());
    const int64_t h = shape[2], w = shape[3];
    for (int64_t i = 0; i < out[0].numel(); ++i) {
      int64_t index = out[1].data<int64_t>()[i];
      if (order == 1) {  // column-major within the plane: index = plane * h * w + col * h + row
        const int64_t plane = index / (h * w), at = index % (h * w);
        index = plane * h * w + (at % h) * w + at / h;
      }
      ASSERT_GE(index, 0);
      EXPECT_EQ(x.data<float>()[index], out[0].data<float>()[i]) << "order " << order << " at " << i;
      EXPECT_EQ(y_only.data<float>()[i], out[0].data<float>()[i]);
    }
  }
}

// MaxUnpool puts MaxPool's maxima back where they came from, zeros elsewhere; a larger
// output_shape keeps that at the origin.
TEST(PoolTest, MaxUnpoolInvertsMaxPool) {
  const Tensor x = random_float32({2, 3, 6, 6}, 21);
  const PoolAttrs a{{2, 2}, {2, 2}};
  const std::vector<Tensor> pooled = run_node(pool_node("MaxPool", 12, a, 1, 2), {x});
  const Tensor unpooled = run_node(pool_node("MaxUnpool", 11, a, 2), {pooled[0], pooled[1]})[0];
  ASSERT_EQ(unpooled.shape(), x.shape());
  std::vector<float> expected(static_cast<size_t>(x.numel()), 0.0f);
  for (int64_t i = 0; i < pooled[1].numel(); ++i) {
    const int64_t at = pooled[1].data<int64_t>()[i];
    expected[static_cast<size_t>(at)] = x.data<float>()[at];
  }
  for (int64_t i = 0; i < x.numel(); ++i) EXPECT_EQ(unpooled.data<float>()[i], expected[static_cast<size_t>(i)]);

  const Tensor out_shape = Tensor::from<int64_t>({4}, {2, 3, 7, 8});
  const Tensor larger = run_node(pool_node("MaxUnpool", 11, a, 3), {pooled[0], pooled[1], out_shape})[0];
  ASSERT_EQ(larger.shape(), (Shape{2, 3, 7, 8}));
  for (int64_t p = 0; p < 6; ++p)
    for (int64_t r = 0; r < 7; ++r)
      for (int64_t c = 0; c < 8; ++c) {
        const float want = r < 6 && c < 6 ? expected[static_cast<size_t>((p * 6 + r) * 6 + c)] : 0.0f;
        EXPECT_EQ(larger.data<float>()[(p * 7 + r) * 8 + c], want);
      }
  const Tensor bad_index = Tensor::from<int64_t>({1, 1, 1, 1}, {4});
  const Tensor one = Tensor::from<float>({1, 1, 1, 1}, {1});
  EXPECT_THROW(run_node(pool_node("MaxUnpool", 11, a, 2), {one, bad_index}), Error);
}

TEST(PoolTest, LpPool) {
  const Tensor x = Tensor::from<float>({1, 1, 4}, {1, -2, 3, -4});
  Node node = pool_node("LpPool", 11, {{2}, {2}});
  const std::vector<double> l2 = run_node(node, {x})[0].to_doubles();
  ASSERT_EQ(l2.size(), 2u);
  EXPECT_NEAR(l2[0], std::sqrt(5.0), 1e-6);
  EXPECT_NEAR(l2[1], 5, 1e-6);
  node.attributes["p"] = Attribute::of_int(1);
  EXPECT_EQ(run_node(node, {x})[0].to_doubles(), (std::vector<double>{3, 7}));
  // Padding contributes zero: windows [0 1], [-2 3], [-4 0].
  const Tensor x64 = Tensor::from<double>({1, 1, 4}, {1, -2, 3, -4});
  const Tensor y = run_node(pool_node("LpPool", 2, {{2}, {2}, {}, {1, 1}}), {x64})[0];
  ASSERT_EQ(y.numel(), 3);
  EXPECT_NEAR(y.data<double>()[0], 1, 1e-12);
  EXPECT_NEAR(y.data<double>()[1], std::sqrt(13.0), 1e-12);
  EXPECT_NEAR(y.data<double>()[2], 4, 1e-12);
}

// GlobalLpPool: (sum of |x|^p over the plane)^(1/p) per (n, c); version 1 takes a float p,
// version 2 an int p, both default 2.
TEST(PoolTest, GlobalLpPool) {
  const std::vector<double> values = {1, -2, 3, -4, 0.5, 0, -1, 2};  // channel 0, channel 1
  const Tensor x = Tensor::from<float>({1, 2, 2, 2}, std::vector<float>(values.begin(), values.end()));
  const Tensor x64 = Tensor::from<double>({1, 2, 2, 2}, values);
  auto expected = [&](double p) {
    std::vector<double> y;
    for (int c = 0; c < 2; ++c) {
      double sum = 0;
      for (int i = 0; i < 4; ++i) sum += std::pow(std::abs(values[static_cast<size_t>(c * 4 + i)]), p);
      y.push_back(std::pow(sum, 1 / p));
    }
    return y;
  };
  // The hand values: p = 1 → 10, 3.5; p = 2 → sqrt(30), sqrt(5.25); p = 3 → cbrt(100), cbrt(9.125).
  const std::map<int64_t, std::vector<double>> by_hand = {
      {1, {10, 3.5}}, {2, {std::sqrt(30.0), std::sqrt(5.25)}}, {3, {std::cbrt(100.0), std::cbrt(9.125)}}};
  for (const auto& [p, want] : by_hand) {
    for (int version : {1, 2}) {
      const Attribute attr = version == 1 ? Attribute::of_float(static_cast<float>(p)) : Attribute::of_int(p);
      for (const Tensor& in : {x, x64}) {
        const Tensor y = testing::run_op("GlobalLpPool", version, {in}, {{"p", attr}})[0];
        ASSERT_EQ(y.shape(), (Shape{1, 2, 1, 1}));
        ASSERT_EQ(y.dtype(), in.dtype());
        const std::vector<double> got = y.to_doubles();
        for (size_t c = 0; c < 2; ++c)
          EXPECT_NEAR(got[c], want[c], 1e-5) << "p " << p << " version " << version << " channel " << c;
      }
    }
  }
  // Defaults: p = 2 in both versions; version 1 also takes a fractional p.
  for (int version : {1, 2}) {
    const std::vector<double> got = testing::run_op("GlobalLpPool", version, {x64})[0].to_doubles();
    EXPECT_NEAR(got[0], std::sqrt(30.0), 1e-12);
    EXPECT_NEAR(got[1], std::sqrt(5.25), 1e-12);
  }
  const std::vector<double> fractional =
      testing::run_op("GlobalLpPool", 1, {x64}, {{"p", Attribute::of_float(1.5f)}})[0].to_doubles();
  EXPECT_NEAR(fractional[0], expected(1.5)[0], 1e-12);
  EXPECT_NEAR(fractional[1], expected(1.5)[1], 1e-12);
  // 1-D and 3-D spatial inputs pool every position; float16 runs through float32.
  const Tensor x1d = Tensor::from<double>({2, 1, 3}, {3, 4, 0, -1, 1, 1});
  EXPECT_EQ(testing::run_op("GlobalLpPool", 2, {x1d})[0].shape(), (Shape{2, 1, 1}));
  const std::vector<double> y1d = testing::run_op("GlobalLpPool", 2, {x1d})[0].to_doubles();
  EXPECT_NEAR(y1d[0], 5, 1e-12);
  EXPECT_NEAR(y1d[1], std::sqrt(3.0), 1e-12);
  EXPECT_EQ(testing::run_op("GlobalLpPool", 2, {random_float32({2, 3, 2, 3, 4}, 5)})[0].shape(),
            (Shape{2, 3, 1, 1, 1}));
  Tensor half(DType::Float16, x.shape());
  for (int64_t i = 0; i < x.numel(); ++i) half.data<Float16>()[i] = Float16(x.data<float>()[i]);
  const Tensor y_half = testing::run_op("GlobalLpPool", 2, {half}, {{"p", Attribute::of_int(3)}})[0];
  ASSERT_EQ(y_half.dtype(), DType::Float16);
  EXPECT_NEAR(y_half.to_doubles()[0], std::cbrt(100.0), 1e-2);
  // p must be >= 1 (version 2) or positive (version 1); integer inputs are rejected.
  EXPECT_THROW(testing::run_op("GlobalLpPool", 2, {x}, {{"p", Attribute::of_int(0)}}), Error);
  EXPECT_THROW(testing::run_op("GlobalLpPool", 1, {x}, {{"p", Attribute::of_float(-1.0f)}}), Error);
  EXPECT_THROW(testing::run_op("GlobalLpPool", 2, {Tensor::from<int32_t>({1, 1, 2}, {1, 2})}), Error);
}

TEST(PoolTest, VersionsAndErrors) {
  ASSERT_NE(KernelRegistry::global().find("", "MaxPool", 12), nullptr);
  auto build = [](const Node& node) { return testing::make_kernel(node); };
  EXPECT_THROW(build(pool_node("MaxPool", 12, {})), Error);  // no kernel_shape
  Node bad_order = pool_node("MaxPool", 12, {{2, 2}});
  bad_order.attributes["storage_order"] = Attribute::of_int(2);
  EXPECT_THROW(build(bad_order), Error);
  // int8 is MaxPool-12's; MaxPool-11 rejects it.
  Tensor x8(DType::Int8, {1, 1, 2, 2});
  for (int i = 0; i < 4; ++i) x8.data<int8_t>()[i] = static_cast<int8_t>(i - 2);
  EXPECT_EQ(run_node(pool_node("MaxPool", 12, {{2, 2}}), {x8})[0].to_doubles(), (std::vector<double>{1}));
  EXPECT_THROW(run_node(pool_node("MaxPool", 11, {{2, 2}}), {x8}), Error);
  // AveragePool-1 has no count_include_pad: the attribute does not apply.
  const Tensor x = Tensor::from<float>({1, 1, 2}, {2, 4});
  PoolAttrs a{{2}, {1}, {}, {1, 0}};
  a.count_include_pad = true;
  EXPECT_EQ(run_node(pool_node("AveragePool", 1, a), {x})[0].to_doubles(), (std::vector<double>{2, 3}));
  EXPECT_EQ(run_node(pool_node("AveragePool", 7, a), {x})[0].to_doubles(), (std::vector<double>{1, 3}));
}

}  // namespace
}  // namespace onnx_train
