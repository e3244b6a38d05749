// Gradient clipping (runtime/optim/clipping.h): parity with torch.nn.utils.clip_grad_norm_
// and clip_grad_value_, and the edge cases (no clipping leaves bits alone, zero gradients,
// the 1e-6 window, non-finite totals, threads).
//
// The fixture tests/data/schedule_parity/clipping.txt is made by
// tests/data/make_schedule_parity.py (regenerate with /usr/bin/python3 and Debian's
// python3-torch): three gradients of shapes [3, 4], [5], [2, 1, 3] per case, before and after
// PyTorch's clipping, and the total norm it returned. Tolerance: float64 rtol 1e-12; float32
// rtol 1e-6, atol 1e-7, since PyTorch sums the norm and forms the scale in float32 where we
// use double (a few float32 ulps apart).
#include "onnx_train/clipping.h"

#include <gtest/gtest.h>

#include <cmath>
#include <cstring>
#include <fstream>
#include <limits>
#include <sstream>

namespace onnx_train {
namespace {

const std::string kFixture = std::string(ONNX_TRAIN_SOURCE_DIR) + "/tests/data/schedule_parity/clipping.txt";

struct ClipCase {
  std::string name, mode, dtype;
  double limit = 0, norm_type = 0, total = 0;
  std::vector<Shape> shapes;
  std::vector<std::vector<double>> before, after;
};

std::vector<double> numbers(std::istringstream& words) {
  std::vector<double> values;
  std::string w;
  while (words >> w) values.push_back(std::stod(w));  // stod reads "inf"
  return values;
}

std::vector<ClipCase> read_cases() {
  std::ifstream in(kFixture);
  EXPECT_TRUE(in) << "cannot open " << kFixture;
  std::vector<ClipCase> cases;
  std::string line;
  while (std::getline(in, line)) {
    std::istringstream words(line);
    std::string tag;
    words >> tag;
    if (tag == "clip") {
      ClipCase c;
      std::string limit, norm_type;
      int count;
      words >> c.name >> c.mode >> limit >> norm_type >> c.dtype >> count;
      c.limit = std::stod(limit);
      c.norm_type = std::stod(norm_type);
      cases.push_back(c);
    } else if (tag == "total") {
      cases.back().total = numbers(words).at(0);
    } else if (tag == "shape") {
      Shape shape;
      for (double d : numbers(words)) shape.push_back(static_cast<int64_t>(d));
      cases.back().shapes.push_back(shape);
    } else if (tag == "before") {
      cases.back().before.push_back(numbers(words));
    } else if (tag == "after") {
      cases.back().after.push_back(numbers(words));
    }
  }
  return cases;
}

Tensor make(DType dtype, const Shape& shape, const std::vector<double>& values) {
  Tensor t(dtype, shape);
  for (size_t i = 0; i < values.size(); ++i) {
    if (dtype == DType::Float32) {
      t.data<float>()[i] = static_cast<float>(values[i]);
    } else {
      t.data<double>()[i] = values[i];
    }
  }
  return t;
}

TEST(Clipping, MatchesPyTorch) {
  const auto cases = read_cases();
  ASSERT_EQ(cases.size(), 9u);
  for (const auto& c : cases) {
    SCOPED_TRACE(c.name);
    const DType dtype = c.dtype == "float32" ? DType::Float32 : DType::Float64;
    const double rtol = dtype == DType::Float32 ? 1e-6 : 1e-12, atol = dtype == DType::Float32 ? 1e-7 : 0;
    std::vector<Tensor> tensors;
    for (size_t k = 0; k < c.shapes.size(); ++k) tensors.push_back(make(dtype, c.shapes[k], c.before[k]));
    std::vector<Tensor*> grads;
    for (auto& t : tensors) grads.push_back(&t);
    if (c.mode == "norm") {
      const double total = clip_grad_norm(grads, c.limit, c.norm_type);
      EXPECT_NEAR(total, c.total, rtol * c.total);
    } else {
      clip_grad_value(grads, c.limit);
    }
    for (size_t k = 0; k < tensors.size(); ++k) {
      const auto got = tensors[k].to_doubles();
      ASSERT_EQ(got.size(), c.after[k].size());
      for (size_t i = 0; i < got.size(); ++i) {
        EXPECT_NEAR(got[i], c.after[k][i], atol + rtol * std::abs(c.after[k][i]))
            << "gradient " << k << " [" << i << "]";
      }
    }
  }
}

TEST(Clipping, BelowTheLimitLeavesGradientsBitwiseUntouched) {
  Tensor a = Tensor::from<float>({3}, {0.1f, -0.2f, 0.3f});
  Tensor b = Tensor::from<double>({2}, {1e-3, -0.7});
  const Tensor a0 = a.clone(), b0 = b.clone();
  std::vector<Tensor*> grads = {&a, &b};  // a mix of dtypes is fine
  const double total = clip_grad_norm(grads, 5.0);
  double sum = 1e-6 + 0.49;  // the float32 values squared in double, then the float64 ones
  for (float v : {0.1f, -0.2f, 0.3f}) sum += static_cast<double>(v) * static_cast<double>(v);
  EXPECT_DOUBLE_EQ(total, std::sqrt(sum));
  EXPECT_EQ(std::memcmp(a.raw_data(), a0.raw_data(), a.nbytes()), 0);
  EXPECT_EQ(std::memcmp(b.raw_data(), b0.raw_data(), b.nbytes()), 0);
  clip_grad_value(grads, 1.0);
  EXPECT_EQ(std::memcmp(a.raw_data(), a0.raw_data(), a.nbytes()), 0);
  EXPECT_EQ(std::memcmp(b.raw_data(), b0.raw_data(), b.nbytes()), 0);
}

TEST(Clipping, ZeroGradientsAndNoGradients) {
  Tensor z(DType::Float32, {4, 4});
  std::vector<Tensor*> grads = {&z};
  EXPECT_EQ(clip_grad_norm(grads, 1.0), 0.0);
  EXPECT_EQ(clip_grad_norm(grads, 0.0), 0.0);  // coef 0 / 1e-6 = 0 < 1 scales, and zeros stay zero
  EXPECT_EQ(clip_grad_norm(grads, 1.0, std::numeric_limits<double>::infinity()), 0.0);
  for (double v : z.to_doubles()) EXPECT_EQ(v, 0.0);
  std::vector<Tensor*> none;
  EXPECT_EQ(clip_grad_norm(none, 1.0), 0.0);
}

TEST(Clipping, FollowsPyTorchsCoefficientAtTheLimitAndForNonFiniteNorms) {
  // Total exactly max_norm: PyTorch still scales, by max_norm / (max_norm + 1e-6).
  Tensor g = Tensor::from<double>({2}, {3.0, 4.0});
  std::vector<Tensor*> grads = {&g};
  EXPECT_EQ(clip_grad_norm(grads, 5.0), 5.0);
  EXPECT_DOUBLE_EQ(g.to_doubles()[0], 3.0 * 5.0 / (5.0 + 1e-6));
  // An infinite gradient: total inf, coefficient 0, so inf * 0 = NaN there and 0 elsewhere.
  Tensor h = Tensor::from<float>({2}, {std::numeric_limits<float>::infinity(), 2.0f});
  grads = {&h};
  EXPECT_TRUE(std::isinf(clip_grad_norm(grads, 1.0)));
  EXPECT_TRUE(std::isnan(h.to_doubles()[0]));
  EXPECT_EQ(h.to_doubles()[1], 0.0);
  // A NaN gradient: total NaN, every element NaN (also for the inf norm, as torch.max).
  Tensor n = Tensor::from<float>({2}, {std::nanf(""), 2.0f});
  grads = {&n};
  EXPECT_TRUE(std::isnan(clip_grad_norm(grads, 1.0, std::numeric_limits<double>::infinity())));
  EXPECT_TRUE(std::isnan(n.to_doubles()[1]));
  // clip_grad_value keeps NaN.
  Tensor v = Tensor::from<float>({3}, {std::nanf(""), -5.0f, 5.0f});
  grads = {&v};
  clip_grad_value(grads, 1.0);
  EXPECT_TRUE(std::isnan(v.to_doubles()[0]));
  EXPECT_EQ(v.to_doubles()[1], -1.0);
  EXPECT_EQ(v.to_doubles()[2], 1.0);
}

TEST(Clipping, LargeTensorsAgreeWithAPlainLoopAndRepeatBitForBit) {
  // 2^20 + 3 elements: many chunks on all threads, and a partial last chunk.
  const int64_t n = (1 << 20) + 3;
  Tensor g(DType::Float32, {n});
  float* x = g.data<float>();
  for (int64_t i = 0; i < n; ++i) x[i] = static_cast<float>(std::sin(0.001 * static_cast<double>(i)));
  double sum = 0, sum3 = 0, max = 0;
  for (int64_t i = 0; i < n; ++i) {
    const double a = std::abs(static_cast<double>(x[i]));
    sum += a * a;
    sum3 += a * a * a;
    max = std::max(max, a);
  }
  const Tensor original = g.clone();
  std::vector<Tensor*> grads = {&g};
  const double total = clip_grad_norm(grads, 1e9);
  EXPECT_NEAR(total, std::sqrt(sum), 1e-12 * std::sqrt(sum));
  EXPECT_NEAR(clip_grad_norm(grads, 1e9, 3.0), std::cbrt(sum3), 1e-12 * std::cbrt(sum3));
  EXPECT_EQ(clip_grad_norm(grads, 1e9, std::numeric_limits<double>::infinity()), max);

  const double clipped = clip_grad_norm(grads, 1.0);
  EXPECT_EQ(clipped, total);  // the same chunks in the same order: bit for bit
  const double coef = 1.0 / (total + 1e-6);
  const float* o = original.data<float>();
  for (int64_t i = 0; i < n; i += 4099) ASSERT_EQ(x[i], static_cast<float>(o[i] * coef)) << i;
  Tensor again = original.clone();
  std::vector<Tensor*> more = {&again};
  clip_grad_norm(more, 1.0);
  EXPECT_EQ(std::memcmp(again.raw_data(), g.raw_data(), g.nbytes()), 0);

  clip_grad_value(grads, 1e-4);
  for (int64_t i = 0; i < n; i += 4099) {
    ASSERT_EQ(x[i], std::min(std::max(static_cast<float>(o[i] * coef), -1e-4f), 1e-4f)) << i;
  }
}

TEST(Clipping, RejectsBadArguments) {
  Tensor i = Tensor::from<int64_t>({2}, {1, 2});
  Tensor f = Tensor::from<float>({1}, {1.0f});
  std::vector<Tensor*> ints = {&i}, floats = {&f}, null = {nullptr};
  EXPECT_THROW(clip_grad_norm(ints, 1.0), Error);
  EXPECT_THROW(clip_grad_norm(null, 1.0), Error);
  EXPECT_THROW(clip_grad_norm(floats, 1.0, 0.0), Error);
  EXPECT_THROW(clip_grad_norm(floats, -1.0), Error);
  EXPECT_THROW(clip_grad_value(floats, -1.0), Error);
  EXPECT_THROW(clip_grad_value(ints, 1.0), Error);
}

}  // namespace
}  // namespace onnx_train
