// Unit tests for the elementwise and activation kernels (reference/elementwise.cc,
// dnnl/activations.cc, dnnl/eltwise.cc): oneDNN float32 activations against the
// float64 reference on several shapes and attribute values, the broadcasting paths, and
// semantics the conformance data does not pin down (integer division and modulo signs,
// casts, version differences, errors).
#include <gtest/gtest.h>

#include <cstring>

#include <cmath>
#include <limits>
#include <memory>
#include <random>

#include "runtime/kernels/kernel.h"
#include "tests/support/kernel_harness.h"

namespace onnx_train {
namespace {

using testing::error_of;
using testing::to_double;

// One node with its registered kernel, built once and run any number of times (so a
// kernel's per-shape caches are exercised).
class KernelRunner {
 public:
  KernelRunner(const std::string& op, int since_version, size_t num_inputs, std::map<std::string, Attribute> attrs = {})
      : node_(testing::make_node(op, since_version, num_inputs, 1, std::move(attrs))),
        kernel_(testing::make_kernel(node_)) {}

  Tensor run(const std::vector<Tensor>& inputs) { return testing::run_kernel(*kernel_, node_, inputs)[0]; }

 private:
  Node node_;
  std::unique_ptr<Kernel> kernel_;
};

Tensor run(const std::string& op, int since_version, const std::vector<Tensor>& inputs,
           std::map<std::string, Attribute> attrs = {}) {
  return testing::run_op(op, since_version, inputs, std::move(attrs))[0];
}

struct ActivationCase {
  std::string op;
  int version;
  std::map<std::string, Attribute> attrs;
};

// The float32 path (oneDNN where it has the op) agrees with the float64 reference.
TEST(ActivationKernels, OneDnnMatchesReference) {
  const std::vector<ActivationCase> cases = {
      {"Relu", 14, {}},
      {"LeakyRelu", 16, {}},
      {"LeakyRelu", 6, {{"alpha", Attribute::of_float(0.3f)}}},
      {"Sigmoid", 13, {}},
      {"Tanh", 13, {}},
      {"Elu", 6, {}},
      {"Elu", 6, {{"alpha", Attribute::of_float(0.5f)}}},
      {"Selu", 6, {}},
      {"Selu", 6, {{"alpha", Attribute::of_float(2.f)}, {"gamma", Attribute::of_float(0.5f)}}},
      {"Softplus", 1, {}},
      {"HardSwish", 14, {}},
      {"HardSigmoid", 6, {}},
      {"HardSigmoid", 6, {{"alpha", Attribute::of_float(0.5f)}, {"beta", Attribute::of_float(0.1f)}}},
      {"Celu", 12, {{"alpha", Attribute::of_float(2.f)}}},
      {"Softsign", 1, {}},
      {"ThresholdedRelu", 10, {{"alpha", Attribute::of_float(0.5f)}}},
      {"Shrink", 9, {{"bias", Attribute::of_float(0.5f)}, {"lambd", Attribute::of_float(1.f)}}},
  };
  const std::vector<Shape> shapes = {{7}, {2, 3, 4, 5}, {1, 33, 17}, {}, {0, 3}, {7}};
  std::mt19937 rng(42);
  for (const auto& c : cases) {
    KernelRunner f32(c.op, c.version, 1, c.attrs);
    KernelRunner f64(c.op, c.version, 1, c.attrs);
    for (const Shape& shape : shapes) {
      const Tensor x = testing::random_float32(shape, rng, -6.f, 6.f);
      const Tensor y = f32.run({x});
      const Tensor ref = f64.run({to_double(x)});
      ASSERT_EQ(y.dtype(), DType::Float32);
      ASSERT_EQ(y.shape(), shape);
      for (int64_t i = 0; i < x.numel(); ++i) {
        const double want = ref.data<double>()[i];
        EXPECT_NEAR(y.data<float>()[i], want, 1e-5 + 1e-5 * std::abs(want))
            << c.op << " " << shape_str(shape) << " x=" << x.data<float>()[i];
      }
    }
  }
}

TEST(ActivationKernels, SoftplusAndSigmoidDoNotOverflow) {
  const Tensor x = Tensor::from<double>({4}, {-1000, -30, 30, 1000});
  const Tensor s = run("Sigmoid", 13, {x});
  EXPECT_EQ(s.data<double>()[0], 0.0);
  EXPECT_EQ(s.data<double>()[3], 1.0);
  const Tensor p = run("Softplus", 1, {x});
  EXPECT_NEAR(p.data<double>()[1], std::log1p(std::exp(-30.0)), 1e-20);
  EXPECT_EQ(p.data<double>()[3], 1000.0);
}

TEST(ActivationKernels, ReluTakesIntegersFromOpset14) {
  const Tensor x = Tensor::from<int32_t>({3}, {-2, 0, 5});
  EXPECT_EQ(run("Relu", 14, {x}).to_int64s(), (std::vector<int64_t>{0, 0, 5}));
  EXPECT_NE(error_of([&] { run("Relu", 13, {x}); }).find("int32"), std::string::npos);
}

TEST(ActivationKernels, PReluBroadcastsSlope) {
  const Tensor x = Tensor::from<float>({6}, {-1, 2, -3, 4, -5, 6}).reshaped({2, 3});
  const Tensor slope = Tensor::from<float>({3}, {0.5f, 1.f, 2.f});
  EXPECT_EQ(run("PRelu", 16, {x, slope}).to_doubles(), (std::vector<double>{-0.5, 2, -6, 4, -5, 6}));
  // A per-channel slope [C] for [N, C, L] (PRelu-6 exports upgraded to opset 7).
  const Tensor x3 = Tensor::from<float>({6}, {-1, -1, -1, -1, -1, -1}).reshaped({1, 2, 3});
  EXPECT_EQ(run("PRelu", 7, {x3, Tensor::from<float>({2}, {0.5f, 2.f})}).to_doubles(),
            (std::vector<double>{-0.5, -0.5, -0.5, -2, -2, -2}));
  const Tensor bad = Tensor::from<float>({2}, {1, 2});
  EXPECT_NE(error_of([&] { run("PRelu", 16, {x, bad}); }).find("does not broadcast"), std::string::npos);
}

// General broadcasting (neither equal shapes nor a scalar) against an index-by-index loop.
TEST(ElementwiseKernels, BroadcastPathsMatchIndexLoop) {
  std::mt19937 rng(7);
  const std::vector<std::pair<Shape, Shape>> pairs = {{{2, 3, 4}, {2, 3, 4}}, {{2, 3, 4}, {}},  {{1}, {2, 3, 4}},
                                                      {{2, 3, 1}, {1, 4}},    {{3, 1}, {1, 5}}, {{4}, {2, 3, 4}},
                                                      {{2, 1, 4}, {3, 1}}};
  for (const auto& [sa, sb] : pairs) {
    const Tensor a = testing::random_float32(sa, rng, -6.f, 6.f);
    const Tensor b = testing::random_float32(sb, rng, -6.f, 6.f);
    const Tensor c = run("Sub", 14, {a, b});
    // Expected: index each operand with its own (right-aligned, size-1 => 0) coordinates.
    const Shape& so = c.shape();
    for (int64_t flat = 0; flat < c.numel(); ++flat) {
      std::vector<int64_t> idx(so.size());
      for (int64_t d = static_cast<int64_t>(so.size()) - 1, rest = flat; d >= 0; --d) {
        idx[d] = rest % so[d];
        rest /= so[d];
      }
      auto offset = [&](const Shape& s) {
        int64_t off = 0;
        const size_t lead = so.size() - s.size();
        for (size_t d = 0; d < s.size(); ++d) off = off * s[d] + (s[d] == 1 ? 0 : idx[lead + d]);
        return off;
      };
      EXPECT_FLOAT_EQ(c.data<float>()[flat], a.data<float>()[offset(sa)] - b.data<float>()[offset(sb)])
          << shape_str(sa) << " - " << shape_str(sb);
    }
  }
  EXPECT_NE(error_of([&] {
              run("Add", 14, {Tensor(DType::Float32, {2, 3}), Tensor(DType::Float32, {4})});
            }).find("cannot be broadcast"),
            std::string::npos);
}

TEST(ElementwiseKernels, IntegerDivisionAndModulo) {
  const Tensor a = Tensor::from<int32_t>({4}, {7, -7, 7, -7});
  const Tensor b = Tensor::from<int32_t>({4}, {2, 2, -2, -2});
  EXPECT_EQ(run("Div", 14, {a, b}).to_int64s(), (std::vector<int64_t>{3, -3, -3, 3}));
  EXPECT_EQ(run("Mod", 13, {a, b}).to_int64s(), (std::vector<int64_t>{1, 1, -1, -1}));
  EXPECT_EQ(run("Mod", 13, {a, b}, {{"fmod", Attribute::of_int(1)}}).to_int64s(), (std::vector<int64_t>{1, -1, 1, -1}));
  const Tensor zero = Tensor::from<int32_t>({4}, {1, 0, 1, 1});
  EXPECT_NE(error_of([&] { run("Div", 14, {a, zero}); }).find("division by zero"), std::string::npos);
  // A zero divisor in a broadcast large enough to run on every core: refused before the loop
  // (an exception thrown inside an OpenMP region ends the process; a fuzzer found it).
  Tensor big(DType::UInt8, {64, 64, 64}), zeros(DType::UInt8, {1, 64, 64});
  std::memset(big.raw_data(), 7, big.nbytes());
  std::memset(zeros.raw_data(), 0, zeros.nbytes());
  EXPECT_NE(error_of([&] { run("Div", 14, {big, zeros}); }).find("integer division by zero (element 0 of the divisor)"),
            std::string::npos);
  EXPECT_NE(error_of([&] { run("Mod", 13, {big, zeros}); }).find("integer modulo by zero"), std::string::npos);
  const Tensor min = Tensor::scalar<int32_t>(std::numeric_limits<int32_t>::min());
  EXPECT_EQ(run("Div", 14, {min, Tensor::scalar<int32_t>(-1)}).to_int64s()[0], std::numeric_limits<int32_t>::min());
  const Tensor f = Tensor::from<float>({1}, {1.5f});
  EXPECT_NE(error_of([&] { run("Mod", 13, {f, f}); }).find("fmod=1"), std::string::npos);
}

TEST(ElementwiseKernels, PowMixedTypes) {
  const Tensor base = Tensor::from<int64_t>({3}, {2, -3, 10});
  EXPECT_EQ(run("Pow", 15, {base, Tensor::from<int64_t>({3}, {10, 3, 18})}).to_int64s(),
            (std::vector<int64_t>{1024, -27, 1000000000000000000}));
  EXPECT_EQ(run("Pow", 15, {base, Tensor::scalar<float>(0.5f)}).to_int64s(), (std::vector<int64_t>{1, 0, 3}));
  const Tensor fb = Tensor::from<float>({2}, {2.f, 4.f});
  EXPECT_EQ(run("Pow", 15, {fb, Tensor::scalar<int32_t>(3)}).to_doubles(), (std::vector<double>{8, 64}));
  EXPECT_NE(error_of([&] {
              run("Pow", 7, {fb, Tensor::scalar<int32_t>(3)});
            }).find("different element types"),
            std::string::npos);
}

TEST(ElementwiseKernels, VariadicOps) {
  const Tensor a = Tensor::from<float>({3}, {1, 5, NAN});
  const Tensor b = Tensor::from<float>({2}, {4, 2}).reshaped({2, 1});
  const Tensor mx = run("Max", 13, {a, b});
  ASSERT_EQ(mx.shape(), (Shape{2, 3}));
  const auto v = mx.to_doubles();
  EXPECT_EQ(v[0], 4);
  EXPECT_EQ(v[1], 5);
  EXPECT_TRUE(std::isnan(v[2]));
  const auto mean =
      run("Mean", 13, {Tensor::from<float>({2}, {1, 2}), Tensor::from<float>({2}, {3, 6}), Tensor::scalar<float>(2)})
          .to_doubles();
  EXPECT_NEAR(mean[0], 2.0, 1e-6);
  EXPECT_NEAR(mean[1], 10.0 / 3.0, 1e-6);
  EXPECT_EQ(run("Sum", 13, {Tensor::from<double>({2}, {1, 2})}).to_doubles(), (std::vector<double>{1, 2}));
  EXPECT_EQ(run("Min", 13, {Tensor::from<int64_t>({2}, {3, -1}), Tensor::scalar<int64_t>(0)}).to_int64s(),
            (std::vector<int64_t>{0, -1}));
  EXPECT_NE(error_of([&] {
              run("Sum", 6, {Tensor::from<float>({2}, {1, 2}), Tensor::scalar<float>(1)});
            }).find("equal shapes"),
            std::string::npos);
  EXPECT_NE(error_of([&] { run("Max", 8, {Tensor::from<int32_t>({1}, {1})}); }).find("int32"), std::string::npos);
}

TEST(ElementwiseKernels, UnaryEdgeCases) {
  EXPECT_EQ(run("Round", 11, {Tensor::from<float>({6}, {0.5f, 1.5f, 2.5f, -0.5f, -1.5f, 2.6f})}).to_doubles(),
            (std::vector<double>{0, 2, 2, -0, -2, 3}));
  EXPECT_EQ(run("Sign", 13, {Tensor::from<int8_t>({3}, {-5, 0, 9})}).to_int64s(), (std::vector<int64_t>{-1, 0, 1}));
  EXPECT_EQ(run("Abs", 13, {Tensor::from<uint8_t>({2}, {0, 200})}).to_int64s(), (std::vector<int64_t>{0, 200}));
  const Tensor inf = Tensor::from<float>({4}, {INFINITY, -INFINITY, NAN, 1});
  EXPECT_EQ(run("IsInf", 10, {inf}, {{"detect_negative", Attribute::of_int(0)}}).to_int64s(),
            (std::vector<int64_t>{1, 0, 0, 0}));
  EXPECT_EQ(run("IsNaN", 13, {inf}).to_int64s(), (std::vector<int64_t>{0, 0, 1, 0}));
  EXPECT_NE(error_of([&] { run("Sqrt", 13, {Tensor::from<int32_t>({1}, {4})}); }).find("floating-point"),
            std::string::npos);
}

TEST(ElementwiseKernels, CastConversions) {
  auto cast = [](const Tensor& x, DType to) {
    return run("Cast", 13, {x}, {{"to", Attribute::of_int(static_cast<int>(to))}});
  };
  const Tensor f = Tensor::from<float>({5}, {-2.7f, -0.5f, 0.f, 0.5f, 300.9f});
  EXPECT_EQ(cast(f, DType::Int32).to_int64s(), (std::vector<int64_t>{-2, 0, 0, 0, 300}));
  EXPECT_EQ(cast(f, DType::Bool).to_int64s(), (std::vector<int64_t>{1, 1, 0, 1, 1}));
  EXPECT_EQ(cast(f, DType::UInt8).to_int64s(), (std::vector<int64_t>{254, 0, 0, 0, 44}));
  const Tensor h = cast(f, DType::Float16);
  EXPECT_EQ(h.dtype(), DType::Float16);
  EXPECT_NEAR(cast(h, DType::Float64).to_doubles()[0], -2.7, 1e-3);
  EXPECT_EQ(cast(Tensor::from<bool>({2}, {true, false}), DType::BFloat16).to_doubles(), (std::vector<double>{1, 0}));
  EXPECT_EQ(cast(Tensor::from<float>({1}, {NAN}), DType::Int64).to_int64s()[0], 0);
  const Tensor like = run("CastLike", 15, {f, Tensor::scalar<int64_t>(0)});
  EXPECT_EQ(like.dtype(), DType::Int64);
}

TEST(ElementwiseKernels, ClipVersions) {
  const Tensor x = Tensor::from<float>({4}, {-3, -1, 1, 3});
  EXPECT_EQ(run("Clip", 6, {x}, {{"min", Attribute::of_float(-2)}, {"max", Attribute::of_float(2)}}).to_doubles(),
            (std::vector<double>{-2, -1, 1, 2}));
  EXPECT_EQ(run("Clip", 13, {x, Tensor(), Tensor::scalar<float>(0)}).to_doubles(), (std::vector<double>{-3, -1, 0, 0}));
  // min > max: everything becomes max.
  EXPECT_EQ(run("Clip", 13, {x, Tensor::scalar<float>(2), Tensor::scalar<float>(-2)}).to_doubles(),
            (std::vector<double>{-2, -2, -2, -2}));
  const Tensor i = Tensor::from<int8_t>({3}, {-100, 0, 100});
  EXPECT_EQ(run("Clip", 12, {i, Tensor::scalar<int8_t>(-5)}).to_int64s(), (std::vector<int64_t>{-5, 0, 100}));
  EXPECT_NE(error_of([&] { run("Clip", 11, {i}); }).find("floating-point"), std::string::npos);
}

TEST(ElementwiseKernels, WhereAndComparisons) {
  const Tensor cond = Tensor::from<bool>({2}, {true, false}).reshaped({2, 1});
  const Tensor x = Tensor::from<int64_t>({3}, {1, 2, 3});
  const Tensor y = Tensor::scalar<int64_t>(-1);
  EXPECT_EQ(run("Where", 16, {cond, x, y}).to_int64s(), (std::vector<int64_t>{1, 2, 3, -1, -1, -1}));
  const Tensor a = Tensor::from<float>({3}, {1, 2, 3});
  const Tensor b = Tensor::scalar<float>(2);
  EXPECT_EQ(run("LessOrEqual", 16, {a, b}).to_int64s(), (std::vector<int64_t>{1, 1, 0}));
  EXPECT_EQ(run("Greater", 13, {a, b}).to_int64s(), (std::vector<int64_t>{0, 0, 1}));
  EXPECT_EQ(run("BitShift", 11, {Tensor::from<uint8_t>({2}, {1, 255}), Tensor::from<uint8_t>({2}, {3, 8})},
                {{"direction", Attribute::of_string("LEFT")}})
                .to_int64s(),
            (std::vector<int64_t>{8, 0}));
  EXPECT_NE(error_of([&] { run("Equal", 13, {a, x}); }).find("different element types"), std::string::npos);
}

}  // namespace
}  // namespace onnx_train
