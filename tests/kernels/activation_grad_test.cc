// Tests of the fused activation, softmax and gather gradient kernels (dnnl/activation_grad.cc,
// reference/indexing_grad.cc): each kernel run on float32 (the oneDNN path for
// the ops oneDNN has) against the same kernel on the float64 copies of the inputs (the
// reference loops), on several shapes and attributes; the gather gradients also against a
// plain scatter-add written here, and their index errors.
#include <gtest/gtest.h>

#include <cmath>
#include <random>

#include "runtime/kernels/kernel.h"
#include "runtime/kernels/util.h"
#include "tests/support/kernel_harness.h"

namespace onnx_train {
namespace {

using testing::make_kernel;
using testing::random_float32;
using testing::run_kernel;
using testing::to_double;

// A node of the project domain with `num_inputs` inputs (an undefined tensor in the inputs
// passed to run() is an omitted optional input).
Node grad_node(const std::string& op, size_t num_inputs, std::map<std::string, Attribute> attributes = {}) {
  return testing::make_gradient_node(op, num_inputs, 1, std::move(attributes));
}

std::vector<Tensor> run(const Node& node, const std::vector<Tensor>& inputs) {
  auto kernel = make_kernel(node);
  return run_kernel(*kernel, node, inputs);
}

// Runs `node` on float32 inputs and on their float64 copies and compares the outputs.
// Non-float inputs are passed to both runs as they are.
void expect_float32_matches_float64(const Node& node, const std::vector<Tensor>& inputs, double tolerance,
                                    const std::string& what) {
  std::vector<Tensor> wide;
  for (const Tensor& t : inputs) wide.push_back(t.defined() && t.dtype() == DType::Float32 ? to_double(t) : t);
  const Tensor fast = run(node, inputs)[0];
  const Tensor ref = run(node, wide)[0];
  ASSERT_EQ(fast.dtype(), DType::Float32) << what;
  ASSERT_EQ(ref.dtype(), DType::Float64) << what;
  ASSERT_EQ(fast.shape(), ref.shape()) << what;
  const std::vector<double> a = fast.to_doubles(), b = ref.to_doubles();
  for (size_t i = 0; i < a.size(); ++i)
    ASSERT_NEAR(a[i], b[i], tolerance * (1 + std::abs(b[i]))) << what << " element " << i;
}

// x scaled by `scale`, mapped elementwise by f.
Tensor mapped(const Tensor& x, float scale, float (*f)(float)) {
  Tensor out(DType::Float32, x.shape());
  for (int64_t i = 0; i < x.numel(); ++i) out.data<float>()[i] = f(scale * x.data<float>()[i]);
  return out;
}

float identity(float v) { return v; }
float relu(float v) { return v > 0 ? v : 0; }
float sigmoid(float v) { return 1 / (1 + std::exp(-v)); }
float tanh_of(float v) { return std::tanh(v); }

TEST(ActivationGradTest, DnnlAndReferenceAgree) {
  struct Case {
    std::string op;
    float scale;              // x is drawn in [-scale, scale)
    float (*forward)(float);  // the forward value the grad op reads (x itself or y)
    std::map<std::string, Attribute> attributes;
    std::vector<float> kinks = {};  // x values kept 1e-3 away (float32 and float64 round differently there)
  };
  const std::vector<Case> cases = {
      {"ReluGrad", 1, relu, {}},
      {"LeakyReluGrad", 1, identity, {}},
      {"LeakyReluGrad", 2, identity, {{"alpha", Attribute::of_float(0.3f)}}},
      {"EluGrad", 3, identity, {}},
      {"EluGrad", 3, identity, {{"alpha", Attribute::of_float(0.6f)}}},
      {"SeluGrad", 3, identity, {}},
      {"SeluGrad", 3, identity, {{"alpha", Attribute::of_float(1.5f)}, {"gamma", Attribute::of_float(2.0f)}}},
      {"SigmoidGrad", 6, sigmoid, {}},
      {"TanhGrad", 3, tanh_of, {}},
      {"HardSigmoidGrad", 5, identity, {}, {-2.5f, 2.5f}},
      {"HardSigmoidGrad",
       2,
       identity,
       {{"alpha", Attribute::of_float(0.6f)}, {"beta", Attribute::of_float(0.4f)}},
       {-2.0f / 3, 1.0f}},
      {"HardSwishGrad", 5, identity, {}},
      {"SoftplusGrad", 8, identity, {}},
  };
  const std::vector<Shape> shapes = {{7}, {3, 5, 4}, {2, 256, 200}};
  unsigned seed = 1;
  for (const Case& c : cases) {
    for (const Shape& shape : shapes) {
      const Tensor dy = random_float32(shape, seed++);
      Tensor v = mapped(random_float32(shape, seed++), c.scale, c.forward);
      for (int64_t i = 0; i < v.numel(); ++i)
        for (float kink : c.kinks)
          if (std::abs(v.data<float>()[i] - kink) < 1e-3f) v.data<float>()[i] = kink + 1e-3f;
      expect_float32_matches_float64(grad_node(c.op, 2, c.attributes), {dy, v}, 1e-5, c.op + " " + shape_str(shape));
    }
  }
}

TEST(ActivationGradTest, ClipGradBounds) {
  const Shape shape{4, 300, 70};
  const Tensor dy = random_float32(shape, 11);
  const Tensor x = random_float32(shape, 12);
  const Tensor lo = Tensor::scalar<float>(-0.45f), hi = Tensor::scalar<float>(0.55f);
  expect_float32_matches_float64(grad_node("ClipGrad", 4), {dy, x, lo, hi}, 1e-6, "both bounds");
  expect_float32_matches_float64(grad_node("ClipGrad", 3), {dy, x, lo}, 1e-6, "min only");
  Node max_only = grad_node("ClipGrad", 4);
  max_only.inputs[2].clear();
  expect_float32_matches_float64(max_only, {dy, x, Tensor(), hi}, 1e-6, "max only");
  // Exact values: dy inside [min, max], 0 outside.
  const Tensor small_x = Tensor::from<double>({4}, {-1.0, -0.2, 0.3, 0.9});
  const Tensor small_dy = Tensor::from<double>({4}, {1.0, 2.0, 3.0, 4.0});
  const std::vector<double> got =
      run(grad_node("ClipGrad", 4), {small_dy, small_x, Tensor::scalar<double>(-0.5), Tensor::scalar<double>(0.5)})[0]
          .to_doubles();
  EXPECT_EQ(got, (std::vector<double>{0.0, 2.0, 3.0, 0.0}));
}

TEST(ActivationGradTest, SoftmaxGradDnnlAndReferenceAgree) {
  struct Case {
    Shape shape;
    int64_t axis;
    bool coerce_2d;
  };
  const std::vector<Case> cases = {{{4, 10}, -1, false},   {{3, 5, 4}, 1, false},    {{2, 3, 4, 5}, 1, true},
                                   {{64, 1000}, 1, false}, {{2, 3, 4}, 0, true},     {{2, 3, 4}, 0, false},
                                   {{6}, 0, false},        {{8, 128, 64}, 2, false}, {{8, 16, 128}, 1, true}};
  unsigned seed = 100;
  for (bool log : {false, true}) {
    for (const Case& c : cases) {
      // y: the forward op's output for the same axis semantics (Softmax-11 coerces to 2-D).
      const Tensor x = mapped(random_float32(c.shape, seed++), 4, identity);
      const Tensor y = testing::run_op(log ? "LogSoftmax" : "Softmax", c.coerce_2d ? 11 : 13, {x},
                                       {{"axis", Attribute::of_int(c.axis)}})[0];
      const Tensor dy = random_float32(c.shape, seed++);
      const Node node = grad_node(log ? "LogSoftmaxGrad" : "SoftmaxGrad", 2,
                                  {{"axis", Attribute::of_int(c.axis)}, {"coerce_2d", Attribute::of_int(c.coerce_2d)}});
      expect_float32_matches_float64(
          node, {dy, y}, 2e-5,
          fmt::format("log={} {} axis {} coerce_2d {}", log, shape_str(c.shape), c.axis, c.coerce_2d));
    }
  }
}

// A plain scatter-add: dX[o, indices[j], p] += dY[o, j, p].
std::vector<double> gather_adjoint(const std::vector<double>& dy, const std::vector<int64_t>& indices,
                                   const Shape& data, size_t axis) {
  int64_t outer = 1, inner = 1;
  for (size_t d = 0; d < data.size(); ++d)
    if (d != axis) (d < axis ? outer : inner) *= data[d];
  const int64_t size = data[axis], count = static_cast<int64_t>(indices.size());
  std::vector<double> dx(static_cast<size_t>(outer * size * inner), 0.0);
  for (int64_t o = 0; o < outer; ++o)
    for (int64_t j = 0; j < count; ++j) {
      const int64_t k = indices[static_cast<size_t>(j)] < 0 ? indices[static_cast<size_t>(j)] + size
                                                            : indices[static_cast<size_t>(j)];
      for (int64_t p = 0; p < inner; ++p)
        dx[static_cast<size_t>((o * size + k) * inner + p)] += dy[static_cast<size_t>((o * count + j) * inner + p)];
    }
  return dx;
}

Tensor random_indices(const Shape& shape, int64_t size, unsigned seed) {
  std::mt19937 gen(seed);
  std::uniform_int_distribution<int64_t> dist(-size, size - 1);
  Tensor t(DType::Int64, shape);
  for (int64_t i = 0; i < t.numel(); ++i) t.data<int64_t>()[i] = dist(gen);
  return t;
}

TEST(ActivationGradTest, GatherGradScatterAdds) {
  struct Case {
    Shape data;
    Shape indices;
    int64_t axis;
  };
  const std::vector<Case> cases = {{{30, 8}, {4, 5}, 0},      {{3, 4, 5}, {2, 3}, 1}, {{3, 4, 5}, {7}, -1},
                                   {{1000, 64}, {32, 40}, 0}, {{6, 50, 40}, {90}, 1}, {{5, 4}, {}, 0}};
  unsigned seed = 200;
  for (const Case& c : cases) {
    const size_t axis = static_cast<size_t>(c.axis < 0 ? c.axis + static_cast<int64_t>(c.data.size()) : c.axis);
    const Tensor indices = random_indices(c.indices, c.data[axis], seed++);
    Shape dy_shape(c.data.begin(), c.data.begin() + axis);
    dy_shape.insert(dy_shape.end(), c.indices.begin(), c.indices.end());
    dy_shape.insert(dy_shape.end(), c.data.begin() + axis + 1, c.data.end());
    const Tensor dy = random_float32(dy_shape, seed++);
    const Tensor data_shape = Tensor::from<int64_t>({static_cast<int64_t>(c.data.size())}, c.data);
    const Node node = grad_node("GatherGrad", 3, {{"axis", Attribute::of_int(c.axis)}});
    const std::string what = shape_str(c.data) + " " + shape_str(c.indices);
    expect_float32_matches_float64(node, {dy, indices, data_shape}, 1e-5, what);
    const std::vector<double> expected = gather_adjoint(dy.to_doubles(), indices.to_int64s(), c.data, axis);
    const Tensor got = run(node, {to_double(dy), indices, data_shape})[0];
    ASSERT_EQ(got.shape(), c.data) << what;
    const std::vector<double> values = got.to_doubles();
    for (size_t i = 0; i < values.size(); ++i) ASSERT_NEAR(values[i], expected[i], 1e-12) << what << " element " << i;
  }
  // int32 indices, and an index out of range.
  const Tensor dy = Tensor::from<float>({2, 2}, {1, 2, 3, 4});
  const Tensor shape = Tensor::from<int64_t>({2}, {3, 2});
  const Tensor dx = run(grad_node("GatherGrad", 3), {dy, Tensor::from<int32_t>({2}, {-1, -1}), shape})[0];
  EXPECT_EQ(dx.to_doubles(), (std::vector<double>{0, 0, 0, 0, 4, 6}));
  EXPECT_NE(testing::error_of([&] {
              run(grad_node("GatherGrad", 3), {dy, Tensor::from<int64_t>({2}, {0, 3}), shape});
            }).find("out of range"),
            std::string::npos);
}

TEST(ActivationGradTest, GatherElementsGradScatterAdds) {
  struct Case {
    Shape data;
    Shape indices;
    int64_t axis;
  };
  const std::vector<Case> cases = {
      {{4, 5}, {6, 3}, 0}, {{3, 4, 5}, {2, 4, 3}, -1}, {{3, 4, 5}, {3, 7, 5}, 1}, {{300, 400}, {500, 300}, 0}};
  unsigned seed = 300;
  for (const Case& c : cases) {
    const size_t axis = static_cast<size_t>(c.axis < 0 ? c.axis + static_cast<int64_t>(c.data.size()) : c.axis);
    const Tensor indices = random_indices(c.indices, c.data[axis], seed++);
    const Tensor dy = random_float32(c.indices, seed++);
    const Tensor data_shape = Tensor::from<int64_t>({static_cast<int64_t>(c.data.size())}, c.data);
    const Node node = grad_node("GatherElementsGrad", 3, {{"axis", Attribute::of_int(c.axis)}});
    const std::string what = shape_str(c.data) + " " + shape_str(c.indices);
    expect_float32_matches_float64(node, {dy, indices, data_shape}, 1e-5, what);
    // Expected: walk every index position.
    std::vector<double> expected(static_cast<size_t>(shape_numel(c.data)), 0.0);
    const std::vector<int64_t> data_strides = strides_of(c.data), index_strides = strides_of(c.indices);
    const std::vector<int64_t> idx = indices.to_int64s();
    const std::vector<double> g = dy.to_doubles();
    for (int64_t p = 0; p < dy.numel(); ++p) {
      int64_t offset = 0;
      for (size_t d = 0; d < c.data.size(); ++d) {
        int64_t coordinate = p / index_strides[d] % c.indices[d];
        if (d == axis)
          coordinate =
              idx[static_cast<size_t>(p)] < 0 ? idx[static_cast<size_t>(p)] + c.data[d] : idx[static_cast<size_t>(p)];
        offset += coordinate * data_strides[d];
      }
      expected[static_cast<size_t>(offset)] += g[static_cast<size_t>(p)];
    }
    const std::vector<double> values = run(node, {to_double(dy), indices, data_shape})[0].to_doubles();
    for (size_t i = 0; i < values.size(); ++i) ASSERT_NEAR(values[i], expected[i], 1e-12) << what << " element " << i;
  }
  EXPECT_NE(testing::error_of([&] {
              run(grad_node("GatherElementsGrad", 3),
                  {Tensor::from<float>({1, 2}, {1, 2}), Tensor::from<int64_t>({1, 2}, {0, -3}),
                   Tensor::from<int64_t>({2}, {2, 2})});
            }).find("out of range"),
            std::string::npos);
}

}  // namespace
}  // namespace onnx_train
