// Unit tests for the random ops (reference/random_ops.cc) and their generator
// (reference/random_ops_philox.h): Philox4x32-10 known answers; sample statistics of
// RandomUniform/RandomNormal(/Like), Bernoulli and Multinomial on 1e5 draws; determinism
// (same seed, same numbers; fresh numbers on the next run; unseeded nodes differ); the
// output type rules; and the errors.
#include <gtest/gtest.h>

#include <cmath>
#include <vector>

#include "runtime/kernels/kernel.h"
#include "runtime/kernels/reference/random_ops_philox.h"
#include "tests/support/kernel_harness.h"

namespace onnx_train {
namespace {

using testing::error_of;
using testing::make_kernel;
using testing::make_node;
using testing::run_kernel;
using testing::run_op;

constexpr int64_t kSamples = 100000;

struct Moments {
  double mean = 0, variance = 0, min = INFINITY, max = -INFINITY;
};

Moments moments_of(const Tensor& t) {
  const std::vector<double> v = t.to_doubles();
  Moments m;
  for (double x : v) {
    m.mean += x;
    m.min = std::min(m.min, x);
    m.max = std::max(m.max, x);
  }
  m.mean /= static_cast<double>(v.size());
  for (double x : v) m.variance += (x - m.mean) * (x - m.mean);
  m.variance /= static_cast<double>(v.size() - 1);
  return m;
}

Attribute seed(float s) { return Attribute::of_float(s); }

TEST(Philox, MatchesRandom123KnownAnswers) {
  EXPECT_EQ(philox4x32_10({0, 0, 0, 0}, {0, 0}), (PhiloxCounter{0x6627e8d5, 0xe169c58d, 0xbc57ac4c, 0x9b00dbd8}));
  EXPECT_EQ(philox4x32_10({0xffffffff, 0xffffffff, 0xffffffff, 0xffffffff}, {0xffffffff, 0xffffffff}),
            (PhiloxCounter{0x408f276d, 0x41c83b0e, 0xa20bc7c6, 0x6d5451fd}));
  EXPECT_EQ(philox4x32_10({0x243f6a88, 0x85a308d3, 0x13198a2e, 0x03707344}, {0xa4093822, 0x299f31d0}),
            (PhiloxCounter{0xd16cfe09, 0x94fdcceb, 0x5001e420, 0x24126ea1}));
}

TEST(RandomOps, UniformStatisticsAndRange) {
  for (const DType dtype : {DType::Float32, DType::Float64, DType::Float16}) {
    const Tensor y = run_op("RandomUniform", 1, {},
                            {{"shape", Attribute::of_ints({100, kSamples / 100})},
                             {"low", Attribute::of_float(-2.f)},
                             {"high", Attribute::of_float(3.f)},
                             {"dtype", Attribute::of_int(static_cast<int64_t>(dtype))}})[0];
    ASSERT_EQ(y.dtype(), dtype);
    ASSERT_EQ(y.shape(), (Shape{100, kSamples / 100}));
    const Moments m = moments_of(y);
    // U[-2, 3): mean 0.5, variance 25/12; the mean's standard error is 0.0046.
    EXPECT_NEAR(m.mean, 0.5, 0.03) << dtype_name(dtype);
    EXPECT_NEAR(m.variance, 25.0 / 12.0, 0.04) << dtype_name(dtype);
    EXPECT_GE(m.min, -2.0) << dtype_name(dtype);
    EXPECT_LT(m.max, 3.0) << dtype_name(dtype);
    EXPECT_LT(m.min, -1.99) << dtype_name(dtype);
    EXPECT_GT(m.max, 2.99) << dtype_name(dtype);
  }
}

TEST(RandomOps, NormalStatistics) {
  for (const DType dtype : {DType::Float32, DType::Float64}) {
    const Tensor y = run_op("RandomNormal", 1, {},
                            {{"shape", Attribute::of_ints({kSamples})},
                             {"mean", Attribute::of_float(1.f)},
                             {"scale", Attribute::of_float(2.f)},
                             {"dtype", Attribute::of_int(static_cast<int64_t>(dtype))}})[0];
    ASSERT_EQ(y.dtype(), dtype);
    const Moments m = moments_of(y);
    // N(1, 2^2): the mean's standard error is 0.0063, the variance's about 0.018.
    EXPECT_NEAR(m.mean, 1.0, 0.03);
    EXPECT_NEAR(m.variance, 4.0, 0.1);
    // About 68.27% within one standard deviation, 95.45% within two.
    int64_t within1 = 0, within2 = 0;
    for (double v : y.to_doubles()) {
      within1 += std::abs(v - 1.0) < 2.0;
      within2 += std::abs(v - 1.0) < 4.0;
    }
    EXPECT_NEAR(static_cast<double>(within1) / kSamples, 0.6827, 0.01);
    EXPECT_NEAR(static_cast<double>(within2) / kSamples, 0.9545, 0.005);
  }
}

TEST(RandomOps, LikeOpsTakeShapeAndTypeFromTheInput) {
  const Tensor x64(DType::Float64, {3, 4, 5});
  const Tensor u = run_op("RandomUniformLike", 1, {x64})[0];
  EXPECT_EQ(u.dtype(), DType::Float64);
  EXPECT_EQ(u.shape(), x64.shape());
  const Tensor n = run_op("RandomNormalLike", 1, {x64}, {{"dtype", Attribute::of_int(1)}})[0];
  EXPECT_EQ(n.dtype(), DType::Float32);
  EXPECT_EQ(n.shape(), x64.shape());
  // An integer input needs 'dtype': the outputs are floating-point.
  const Tensor xi(DType::Int64, {kSamples});
  const Tensor from_int = run_op("RandomNormalLike", 1, {xi}, {{"dtype", Attribute::of_int(11)}})[0];
  EXPECT_EQ(from_int.dtype(), DType::Float64);
  EXPECT_NEAR(moments_of(from_int).mean, 0.0, 0.02);
  EXPECT_NEAR(moments_of(from_int).variance, 1.0, 0.03);
  EXPECT_NE(error_of([&] { run_op("RandomUniformLike", 1, {xi}); }).find("dtype"), std::string::npos);
  // Default dtype of RandomUniform/RandomNormal is float32.
  EXPECT_EQ(run_op("RandomUniform", 1, {}, {{"shape", Attribute::of_ints({2})}})[0].dtype(), DType::Float32);
  EXPECT_EQ(run_op("RandomNormal", 1, {}, {{"shape", Attribute::of_ints({0, 2})}})[0].shape(), (Shape{0, 2}));
}

TEST(RandomOps, SeedsAreDeterministic) {
  const std::map<std::string, Attribute> seeded = {{"shape", Attribute::of_ints({1001})}, {"seed", seed(7.f)}};
  // Two kernels with one seed draw the same sequence, run after run.
  const Node node = make_node("RandomNormal", 1, 0, 1, seeded);
  auto a = make_kernel(node);
  auto b = make_kernel(node);
  const std::vector<double> a1 = run_kernel(*a, node, {})[0].to_doubles();
  const std::vector<double> a2 = run_kernel(*a, node, {})[0].to_doubles();
  EXPECT_EQ(run_kernel(*b, node, {})[0].to_doubles(), a1);
  EXPECT_EQ(run_kernel(*b, node, {})[0].to_doubles(), a2);
  // The next run draws fresh numbers.
  EXPECT_NE(a1, a2);
  // Another seed draws others (1.0 and 1.5 are different seeds).
  auto other = seeded;
  other["seed"] = seed(8.f);
  EXPECT_NE(run_op("RandomNormal", 1, {}, other)[0].to_doubles(), a1);
  auto s1 = seeded, s15 = seeded;
  s1["seed"] = seed(1.f);
  s15["seed"] = seed(1.5f);
  EXPECT_NE(run_op("RandomNormal", 1, {}, s1)[0].to_doubles(), run_op("RandomNormal", 1, {}, s15)[0].to_doubles());
  // Unseeded nodes: fixed by the output name, so the same node reproduces and another differs.
  const std::map<std::string, Attribute> unseeded = {{"shape", Attribute::of_ints({64})}};
  Node first = make_node("RandomUniform", 1, 0, 1, unseeded), second = first;
  second.outputs[0] = "other_output";
  EXPECT_EQ(run_kernel(*make_kernel(first), first, {})[0].to_doubles(),
            run_kernel(*make_kernel(first), first, {})[0].to_doubles());
  EXPECT_NE(run_kernel(*make_kernel(first), first, {})[0].to_doubles(),
            run_kernel(*make_kernel(second), second, {})[0].to_doubles());
}

TEST(RandomOps, BernoulliFrequencyAndTypes) {
  std::vector<float> p(kSamples);
  for (int64_t i = 0; i < kSamples; ++i) p[static_cast<size_t>(i)] = i % 2 == 0 ? 0.3f : 0.9f;
  const Tensor probs = Tensor::from<float>({kSamples}, p);
  const Tensor y = run_op("Bernoulli", 15, {probs}, {{"seed", seed(3.f)}})[0];
  EXPECT_EQ(y.dtype(), DType::Float32);  // the input's type by default
  const std::vector<double> v = y.to_doubles();
  double ones_at_03 = 0, ones_at_09 = 0;
  for (size_t i = 0; i < v.size(); ++i) {
    ASSERT_TRUE(v[i] == 0 || v[i] == 1);
    (i % 2 == 0 ? ones_at_03 : ones_at_09) += v[i];
  }
  // Standard errors 0.002 and 0.0013 on 50000 draws each.
  EXPECT_NEAR(ones_at_03 / (kSamples / 2), 0.3, 0.01);
  EXPECT_NEAR(ones_at_09 / (kSamples / 2), 0.9, 0.01);
  // p = 0 and p = 1 are certain; dtype chooses the output type, bool included.
  const Tensor certain = Tensor::from<double>({4}, {0, 1, 0, 1});
  const Tensor b = run_op("Bernoulli", 15, {certain}, {{"dtype", Attribute::of_int(9)}})[0];
  ASSERT_EQ(b.dtype(), DType::Bool);
  EXPECT_EQ(std::vector<bool>(b.data<bool>(), b.data<bool>() + 4), (std::vector<bool>{false, true, false, true}));
  const Tensor i64 = run_op("Bernoulli", 15, {certain}, {{"dtype", Attribute::of_int(7)}})[0];
  EXPECT_EQ(i64.to_int64s(), (std::vector<int64_t>{0, 1, 0, 1}));
  EXPECT_EQ(run_op("Bernoulli", 15, {certain})[0].dtype(), DType::Float64);
  // Probabilities outside [0, 1] and non-float inputs are errors.
  EXPECT_NE(error_of([&] {
              run_op("Bernoulli", 15, {Tensor::from<float>({2}, {0.5f, 1.5f})});
            }).find("[0, 1]"),
            std::string::npos);
  EXPECT_NE(error_of([&] { run_op("Bernoulli", 15, {Tensor::from<int64_t>({1}, {1})}); }).find("floating-point"),
            std::string::npos);
}

TEST(RandomOps, MultinomialFrequenciesAndTypes) {
  // Row 0: probabilities 0.1, 0.2, 0.7 as log-probabilities (shifted: unnormalized);
  // row 1: class 1 impossible (-inf), classes 0 and 2 equally likely.
  const Tensor logits =
      Tensor::from<float>({2, 3}, {std::log(0.1f) + 5, std::log(0.2f) + 5, std::log(0.7f) + 5, 0.f, -INFINITY, 0.f});
  const Tensor y =
      run_op("Multinomial", 7, {logits}, {{"sample_size", Attribute::of_int(kSamples)}, {"seed", seed(11.f)}})[0];
  ASSERT_EQ(y.dtype(), DType::Int32);  // the default
  ASSERT_EQ(y.shape(), (Shape{2, kSamples}));
  const int32_t* s = y.data<int32_t>();
  std::vector<double> counts0(3), counts1(3);
  for (int64_t i = 0; i < kSamples; ++i) {
    ASSERT_TRUE(s[i] >= 0 && s[i] < 3);
    ++counts0[static_cast<size_t>(s[i])];
    ++counts1[static_cast<size_t>(s[kSamples + i])];
  }
  EXPECT_NEAR(counts0[0] / kSamples, 0.1, 0.006);
  EXPECT_NEAR(counts0[1] / kSamples, 0.2, 0.006);
  EXPECT_NEAR(counts0[2] / kSamples, 0.7, 0.006);
  EXPECT_EQ(counts1[1], 0);
  EXPECT_NEAR(counts1[0] / kSamples, 0.5, 0.006);
  // dtype int64; float64 input.
  const Tensor y64 = run_op("Multinomial", 7, {Tensor::from<double>({1, 2}, {0.0, 0.0})},
                            {{"sample_size", Attribute::of_int(5)}, {"dtype", Attribute::of_int(7)}})[0];
  EXPECT_EQ(y64.dtype(), DType::Int64);
  EXPECT_EQ(y64.shape(), (Shape{1, 5}));
  // Errors: a float dtype, a 1-D input, a row with no possible class, sample_size 0.
  EXPECT_NE(error_of([&] {
              run_op("Multinomial", 7, {logits}, {{"dtype", Attribute::of_int(1)}});
            }).find("int32"),
            std::string::npos);
  EXPECT_NE(error_of([&] {
              run_op("Multinomial", 7, {Tensor::from<float>({2}, {0, 0})});
            }).find("[batch, classes]"),
            std::string::npos);
  EXPECT_NE(error_of([&] {
              run_op("Multinomial", 7, {Tensor::from<float>({1, 2}, {-INFINITY, -INFINITY})});
            }).find("-inf"),
            std::string::npos);
  EXPECT_NE(error_of([&] {
              run_op("Multinomial", 7, {logits}, {{"sample_size", Attribute::of_int(0)}});
            }).find("sample_size"),
            std::string::npos);
}

TEST(RandomOps, AttributeErrors) {
  EXPECT_NE(error_of([&] { run_op("RandomUniform", 1, {}); }).find("shape"), std::string::npos);
  EXPECT_NE(error_of([&] {
              run_op("RandomUniform", 1, {}, {{"shape", Attribute::of_ints({2})}, {"dtype", Attribute::of_int(7)}});
            }).find("float16, float32 or float64"),
            std::string::npos);
  EXPECT_NE(error_of([&] {
              run_op("RandomUniform", 1, {},
                     {{"shape", Attribute::of_ints({2})},
                      {"low", Attribute::of_float(2.f)},
                      {"high", Attribute::of_float(1.f)}});
            }).find("low <= high"),
            std::string::npos);
  EXPECT_NE(error_of([&] {
              run_op("RandomNormal", 1, {}, {{"shape", Attribute::of_ints({2})}, {"scale", Attribute::of_float(-1.f)}});
            }).find("scale"),
            std::string::npos);
  EXPECT_NE(error_of([&] {
              run_op("RandomNormal", 1, {}, {{"shape", Attribute::of_ints({2, -1})}});
            }).find("negative"),
            std::string::npos);
}

}  // namespace
}  // namespace onnx_train
