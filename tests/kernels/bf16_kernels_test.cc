// bfloat16 kernels of mixed precision (--precision bf16): the float32 <-> bfloat16
// conversion (vector path against the scalar reference, bit for bit; rounding to nearest
// even, NaN, Inf, denormals), Cast, and MatMul / Gemm / MatMulGrad / Conv / ConvGrad on
// bfloat16 inputs against the float32 kernels on the same (exactly representable) values.
// Each product kernel runs twice: on oneDNN's bf16 primitives where the CPU has AVX-512, and
// on the reference path (widen, multiply in float32, round) that is the default without AMX.
//
// Tolerance: a bfloat16 result is the float32-accumulated value rounded once, within half an
// ulp (8 significant bits: at most 2^-8 relative); the float32 references sum in another
// order, hence |got - want| <= 2^-8 |want| + 1e-4 * (the largest |want|).
#include <gtest/gtest.h>

#include <cmath>
#include <cstring>
#include <limits>
#include <random>

#include "runtime/kernels/bf16_convert.h"
#include "runtime/kernels/dnnl/dnnl_common.h"
#include "runtime/kernels/util.h"
#include "tests/support/kernel_harness.h"

namespace onnx_train {
namespace {

using testing::make_gradient_node;
using testing::make_node;
using testing::random_float32;
using testing::run_node;
using testing::run_op;

uint32_t bits_of(float f) {
  uint32_t u;
  std::memcpy(&u, &f, 4);
  return u;
}

float float_of(uint32_t u) {
  float f;
  std::memcpy(&f, &u, 4);
  return f;
}

// A bfloat16 tensor of values uniform in [lo, hi) (rounded from float32).
Tensor random_bf16(const Shape& shape, uint32_t seed, float lo = -1.f, float hi = 1.f) {
  std::mt19937 rng(seed);
  const Tensor f = random_float32(shape, rng, lo, hi);
  Tensor out(DType::BFloat16, shape);
  store_float32(f, out);
  return out;
}

void expect_bf16_close(const Tensor& got, const Tensor& want32, const std::string& what) {
  ASSERT_EQ(got.dtype(), DType::BFloat16) << what;
  ASSERT_EQ(got.shape(), want32.shape()) << what;
  const std::vector<double> g = got.to_doubles(), w = want32.to_doubles();
  double scale = 0;
  for (double v : w) scale = std::max(scale, std::abs(v));
  for (size_t i = 0; i < g.size(); ++i)
    ASSERT_LE(std::abs(g[i] - w[i]), std::ldexp(std::abs(w[i]), -8) + 1e-4 * scale)
        << what << ": element " << i << " is " << g[i] << ", float32 gives " << w[i];
}

// Runs `body` with oneDNN's bf16 kernels (where the CPU has them), then on the reference path.
template <typename Body>
void on_both_paths(Body&& body) {
  const bool before = dnnl_common::native_bf16();
  dnnl_common::set_native_bf16(true);  // no-op without AVX-512: then both runs widen
  body("oneDNN bf16");
  dnnl_common::set_native_bf16(false);
  body("widened");
  dnnl_common::set_native_bf16(before);
}

// ---- conversion ------------------------------------------------------------------------

TEST(Bf16Convert, RoundsToNearestEvenAndKeepsSpecialValues) {
  struct Case {
    uint32_t in;
    uint16_t out;
  };
  const Case cases[] = {
      {0x3f800000u, 0x3f80},  // 1
      {0x3f808000u, 0x3f80},  // 1 + 2^-8: a tie, to the even 1
      {0x3f818000u, 0x3f82},  // 1 + 3 * 2^-8: a tie, to the even 1 + 2^-6
      {0x3f808001u, 0x3f81},  // just above the tie: up
      {0x3f807fffu, 0x3f80},  // just below: down
      {0x80000000u, 0x8000},  // -0
      {0x7f800000u, 0x7f80},  // Inf
      {0xff800000u, 0xff80},  // -Inf
      {0x7f7fffffu, 0x7f80},  // the largest float rounds to Inf (as PyTorch's)
      {0x00000001u, 0x0000},  // the smallest denormal rounds to 0
      {0x00018000u, 0x0002},  // a denormal tie, to even: kept, not flushed
      {0x000fffffu, 0x0010},  // a denormal rounding up
      {0x807f0000u, 0x807f},  // a negative denormal, exact
  };
  for (const Case& c : cases) {
    const float in = float_of(c.in);
    BFloat16 ref, vec[17];
    bf16_from_float_reference(&in, &ref, 1);
    EXPECT_EQ(ref.bits, c.out) << std::hex << c.in;
    float many[17];
    for (float& f : many) f = in;
    bf16_from_float(many, vec, 17);  // 16 on the vector path, 1 on the scalar tail
    for (const BFloat16& v : vec) EXPECT_EQ(v.bits, c.out) << std::hex << c.in;
  }
  // NaN stays NaN (quiet, sign kept), also a signalling one whose payload rounding would carry into Inf.
  for (uint32_t nan : {0x7fc00000u, 0xffc00001u, 0x7f800001u, 0x7fffffffu}) {
    float many[16];
    for (float& f : many) f = float_of(nan);
    BFloat16 out[16];
    bf16_from_float(many, out, 16);
    EXPECT_TRUE(std::isnan(static_cast<float>(out[0]))) << std::hex << nan;
    EXPECT_EQ(static_cast<uint32_t>(out[0].bits & 0x8000u), (nan >> 16) & 0x8000u);
    EXPECT_EQ(out[0].bits, out[15].bits);
  }
}

TEST(Bf16Convert, VectorPathMatchesTheReferenceBitForBit) {
  std::mt19937 rng(7);
  const int64_t n = (1 << 17) + 13;  // parallel chunks and a scalar tail
  std::vector<float> src(static_cast<size_t>(n));
  for (auto& f : src) f = float_of(static_cast<uint32_t>(rng()));  // every bit pattern: NaN, Inf, denormals
  std::vector<BFloat16> fast(src.size()), ref(src.size());
  bf16_from_float(src.data(), fast.data(), n);
  bf16_from_float_reference(src.data(), ref.data(), n);
  for (size_t i = 0; i < src.size(); ++i) ASSERT_EQ(fast[i].bits, ref[i].bits) << i << " " << src[i];
  std::vector<float> wide(src.size()), wide_ref(src.size());
  float_from_bf16(fast.data(), wide.data(), n);
  float_from_bf16_reference(fast.data(), wide_ref.data(), n);
  for (size_t i = 0; i < src.size(); ++i) ASSERT_EQ(bits_of(wide[i]), bits_of(wide_ref[i])) << i;
  for (size_t i = 0; i < src.size(); ++i) ASSERT_EQ(bits_of(wide[i]), static_cast<uint32_t>(fast[i].bits) << 16);
}

TEST(Bf16Convert, CastKernelRoundTrips) {
  std::mt19937 rng(3);
  const Tensor x = random_float32({3, 1000}, rng, -100.f, 100.f);
  const Tensor b = run_op("Cast", 13, {x}, {{"to", Attribute::of_int(static_cast<int64_t>(DType::BFloat16))}})[0];
  ASSERT_EQ(b.dtype(), DType::BFloat16);
  const Tensor back = run_op("Cast", 13, {b}, {{"to", Attribute::of_int(static_cast<int64_t>(DType::Float32))}})[0];
  ASSERT_EQ(back.dtype(), DType::Float32);
  for (int64_t i = 0; i < x.numel(); ++i) {
    EXPECT_EQ(b.data<BFloat16>()[i].bits, BFloat16(x.data<float>()[i]).bits);
    EXPECT_LE(std::abs(back.data<float>()[i] - x.data<float>()[i]), std::ldexp(std::abs(x.data<float>()[i]), -8));
  }
}

// ---- products --------------------------------------------------------------------------

TEST(Bf16Kernels, MatMulMatchesFloat32) {
  const std::vector<std::pair<Shape, Shape>> problems = {
      {{8, 16}, {16, 24}}, {{4, 37, 64}, {64, 48}},          {{2, 3, 17, 9}, {2, 3, 9, 21}},
      {{3, 9, 5}, {5}},    {{2, 1, 4, 8}, {3, 8, 6}}, {{0, 4}, {4, 3}}};
  on_both_paths([&](const char* path) {
    uint32_t seed = 1;
    for (const auto& [sa, sb] : problems) {
      const Tensor a = random_bf16(sa, seed++), b = random_bf16(sb, seed++);
      const Tensor want = run_op("MatMul", 13, {to_float32(a), to_float32(b)})[0];
      expect_bf16_close(run_op("MatMul", 13, {a, b})[0], want, std::string(path) + " MatMul " + shape_str(sa));
    }
  });
}

TEST(Bf16Kernels, GemmMatchesFloat32) {
  on_both_paths([&](const char* path) {
    for (int ta = 0; ta < 2; ++ta) {
      for (int tb = 0; tb < 2; ++tb) {
        const Tensor a = random_bf16(ta ? Shape{40, 12} : Shape{12, 40}, 10 + ta);
        const Tensor b = random_bf16(tb ? Shape{24, 40} : Shape{40, 24}, 20 + tb);
        const std::map<std::string, Attribute> attrs{
            {"transA", Attribute::of_int(ta)}, {"transB", Attribute::of_int(tb)}, {"alpha", Attribute::of_float(0.5f)}};
        const Tensor want = run_op("Gemm", 13, {to_float32(a), to_float32(b)}, attrs)[0];
        expect_bf16_close(run_op("Gemm", 13, {a, b}, attrs)[0], want,
                          std::string(path) + " Gemm transA " + std::to_string(ta) + " transB " + std::to_string(tb));
      }
    }
    // With a bias C (the path Gemm before opset 11 takes under autocast).
    const Tensor a = random_bf16({6, 8}, 1), b = random_bf16({8, 5}, 2), c = random_bf16({5}, 3);
    const Tensor want = run_op("Gemm", 13, {to_float32(a), to_float32(b), to_float32(c)})[0];
    expect_bf16_close(run_op("Gemm", 13, {a, b, c})[0], want, std::string(path) + " Gemm with C");
  });
}

TEST(Bf16Kernels, MatMulGradMatchesFloat32) {
  const std::vector<std::pair<Shape, Shape>> problems = {
      {{8, 16}, {16, 24}},           // one matrix
      {{4, 37, 64}, {64, 48}},       // B shared: a linear layer
      {{2, 3, 17, 9}, {2, 3, 9, 21}},  // attention: batched, no broadcast
      {{2, 1, 4, 8}, {3, 8, 6}},     // broadcast batch axes: the widened path
      {{7}, {7, 5}}};
  const Node node = make_gradient_node("MatMulGrad", 3, 2);
  on_both_paths([&](const char* path) {
    uint32_t seed = 100;
    for (const auto& [sa, sb] : problems) {
      const Tensor a = random_bf16(sa, seed++), b = random_bf16(sb, seed++);
      const Tensor y = run_op("MatMul", 13, {to_float32(a), to_float32(b)})[0];
      const Tensor dy = random_bf16(y.shape(), seed++);
      const auto want = run_node(node, {to_float32(dy), to_float32(a), to_float32(b)});
      const auto got = run_node(node, {dy, a, b});
      expect_bf16_close(got[0], want[0], std::string(path) + " dA of " + shape_str(sa) + " x " + shape_str(sb));
      expect_bf16_close(got[1], want[1], std::string(path) + " dB of " + shape_str(sa) + " x " + shape_str(sb));
    }
  });
}

TEST(Bf16Kernels, ConvAndConvGradMatchFloat32) {
  const Tensor x = random_bf16({2, 4, 9, 9}, 1), w = random_bf16({6, 4, 3, 3}, 2), bias = random_bf16({6}, 3);
  const std::map<std::string, Attribute> attrs{{"pads", Attribute::of_ints({1, 1, 1, 1})},
                                               {"kernel_shape", Attribute::of_ints({3, 3})}};
  const Tensor want = run_op("Conv", 11, {to_float32(x), to_float32(w), to_float32(bias)}, attrs)[0];
  expect_bf16_close(run_op("Conv", 11, {x, w, bias}, attrs)[0], want, "Conv");

  const Tensor dy = random_bf16(want.shape(), 4);
  const Node grad = make_gradient_node("ConvGrad", 3, 3, attrs);
  const auto want_grads = run_node(grad, {to_float32(dy), to_float32(x), to_float32(w)});
  const auto got = run_node(grad, {dy, x, w});
  expect_bf16_close(got[0], want_grads[0], "ConvGrad dX");
  expect_bf16_close(got[1], want_grads[1], "ConvGrad dW");
  expect_bf16_close(got[2], want_grads[2], "ConvGrad dB");
}

TEST(Bf16Kernels, ConvTransposeAndItsGradientMatchFloat32) {
  const Tensor x = random_bf16({2, 4, 5, 5}, 5), w = random_bf16({4, 3, 3, 3}, 6);
  const std::map<std::string, Attribute> attrs{{"strides", Attribute::of_ints({2, 2})},
                                               {"kernel_shape", Attribute::of_ints({3, 3})}};
  const Tensor want = run_op("ConvTranspose", 11, {to_float32(x), to_float32(w)}, attrs)[0];
  expect_bf16_close(run_op("ConvTranspose", 11, {x, w}, attrs)[0], want, "ConvTranspose");

  const Tensor dy = random_bf16(want.shape(), 7);
  const Node grad = make_gradient_node("ConvTransposeGrad", 3, 3, attrs);
  const auto want_grads = run_node(grad, {to_float32(dy), to_float32(x), to_float32(w)});
  const auto got = run_node(grad, {dy, x, w});
  expect_bf16_close(got[0], want_grads[0], "ConvTransposeGrad dX");
  expect_bf16_close(got[1], want_grads[1], "ConvTransposeGrad dW");
  expect_bf16_close(got[2], want_grads[2], "ConvTransposeGrad dB");
}

TEST(Bf16Kernels, MismatchedTypesAreRefused) {
  const Tensor a = random_bf16({2, 3}, 1);
  std::mt19937 rng(1);
  const Tensor b = random_float32({3, 4}, rng);
  EXPECT_NE(testing::error_of([&] { run_op("MatMul", 13, {a, b}); }).find("same element type"), std::string::npos);
}

// FusedMatMul(trans_b = 1) and its MatMulGrad (the bf16 form of torch's nn.Linear after
// runtime/transforms/transposed_matmul.h): bfloat16 against float32 on the same values.
TEST(Bf16Kernels, FusedMatMulAndItsGradientMatchFloat32) {
  const std::map<std::string, Attribute> trans_b{{"trans_b", Attribute::of_int(1)}};
  const Node forward = make_gradient_node("FusedMatMul", 2, 1, trans_b);
  const Node grad = make_gradient_node("MatMulGrad", 3, 2, trans_b);
  const std::vector<std::pair<Shape, Shape>> problems = {{{8, 16}, {24, 16}}, {{4, 37, 64}, {48, 64}}, {{7}, {5, 7}}};
  on_both_paths([&](const char* path) {
    uint32_t seed = 300;
    for (const auto& [sa, sb] : problems) {
      const std::string what = std::string(path) + " " + shape_str(sa) + " x " + shape_str(sb) + "^T";
      const Tensor a = random_bf16(sa, seed++), b = random_bf16(sb, seed++);
      const Tensor want = run_node(forward, {to_float32(a), to_float32(b)})[0];
      expect_bf16_close(run_node(forward, {a, b})[0], want, what);
      const Tensor dy = random_bf16(want.shape(), seed++);
      const auto want_grads = run_node(grad, {to_float32(dy), to_float32(a), to_float32(b)});
      const auto got = run_node(grad, {dy, a, b});
      expect_bf16_close(got[0], want_grads[0], what + " dA");
      expect_bf16_close(got[1], want_grads[1], what + " dB");
    }
  });
}

}  // namespace
}  // namespace onnx_train
