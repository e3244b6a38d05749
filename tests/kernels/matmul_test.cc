// Tests of the linear-algebra kernels (runtime/kernels/dnnl/matmul.cc): the oneDNN float32
// path against the plain-loop references (runtime/kernels/reference/linalg_ref.h) on
// several shapes (numpy 1-D promotion, batch broadcasting, Gemm transposes and C shapes),
// plus the float64, integer and error paths.
#include <gtest/gtest.h>

#include <cmath>
#include <random>
#include <utility>

#include "runtime/kernels/kernel.h"
#include "runtime/kernels/reference/linalg_ref.h"
#include "tests/support/kernel_harness.h"

namespace onnx_train {
namespace {

using testing::make_node;
using testing::random_tensor;
using testing::run_op;
using testing::to_double;

void expect_close(const Tensor& expected, const Tensor& actual, double tol, const std::string& what) {
  ASSERT_EQ(expected.shape(), actual.shape()) << what;
  const auto e = expected.to_doubles();
  const auto a = actual.to_doubles();
  for (size_t i = 0; i < e.size(); ++i)
    ASSERT_NEAR(e[i], a[i], tol * (1 + std::abs(e[i]))) << what << " at flat index " << i;
}

TEST(MatMulTest, OneDnnMatchesReferenceWithPromotionAndBroadcasting) {
  const std::vector<std::pair<Shape, Shape>> cases = {{{3, 4}, {4, 5}},
                                                      {{4}, {4, 5}},
                                                      {{2, 3, 4}, {4}},
                                                      {{4}, {4}},
                                                      {{2, 3, 4}, {4, 5}},
                                                      {{3, 4}, {2, 4, 5}},
                                                      {{1, 3, 4}, {2, 4, 5}},
                                                      {{2, 1, 3, 4}, {5, 4, 2}},
                                                      {{7, 1, 2, 3}, {1, 6, 3, 2}},
                                                      {{2, 2, 17, 33}, {2, 2, 33, 9}}};
  const std::vector<Shape> expected_shapes = {{3, 5},    {5},       {2, 3},       {},           {2, 3, 5},
                                              {2, 3, 5}, {2, 3, 5}, {2, 5, 3, 2}, {7, 6, 2, 2}, {2, 2, 17, 9}};
  for (size_t c = 0; c < cases.size(); ++c) {
    const auto& [sa, sb] = cases[c];
    const Tensor a = random_tensor<float>(sa, 1 + c);
    const Tensor b = random_tensor<float>(sb, 100 + c);
    const Tensor y = run_op("MatMul", 13, {a, b})[0];
    const MatMulShape shape = matmul_shape(sa, sb, "test");
    ASSERT_EQ(shape.output, expected_shapes[c]);
    Tensor ref(DType::Float64, shape.output);
    const Tensor a64 = to_double(a), b64 = to_double(b);
    matmul_ref(shape, a64.data<double>(), b64.data<double>(), ref.data<double>());
    expect_close(ref, y, 1e-5, shape_str(sa) + " x " + shape_str(sb));
    // float64 runs the reference itself.
    expect_close(ref, run_op("MatMul", 13, {a64, b64})[0], 1e-12, "float64");
  }
}

TEST(MatMulTest, IntegerFloat16AndErrors) {
  const Tensor a = Tensor::from<int64_t>({2, 2}, {1, 2, 3, 4});
  const Tensor b = Tensor::from<int64_t>({2, 2}, {5, 6, 7, 8});
  EXPECT_EQ(run_op("MatMul", 13, {a, b})[0].to_int64s(), (std::vector<int64_t>{19, 22, 43, 50}));

  const Tensor h = Tensor::from<Float16>({2, 2}, {Float16(1), Float16(2), Float16(3), Float16(4)});
  const Tensor hy = run_op("MatMul", 13, {h, h})[0];
  EXPECT_EQ(hy.dtype(), DType::Float16);
  EXPECT_EQ(hy.to_doubles(), (std::vector<double>{7, 10, 15, 22}));

  EXPECT_THROW(run_op("MatMul", 13, {random_tensor<float>({2, 3}, 1), random_tensor<float>({2, 3}, 2)})[0], Error);
  EXPECT_THROW(run_op("MatMul", 13, {random_tensor<float>({2, 2, 3}, 1), random_tensor<float>({3, 3, 2}, 2)})[0],
               Error);
  EXPECT_THROW(run_op("MatMul", 13, {a, random_tensor<float>({2, 2}, 2)})[0], Error);
  // An empty inner dimension gives zeros.
  const Tensor z = run_op("MatMul", 13, {Tensor(DType::Float32, {2, 0}), Tensor(DType::Float32, {0, 3})})[0];
  EXPECT_EQ(z.to_doubles(), std::vector<double>(6, 0.0));
}

// alpha = beta = 1 with a row C ([N], [1, N]) runs as oneDNN's bias; the other Cs are written
// first and the product accumulated onto them.
TEST(GemmTest, OneDnnMatchesReferenceForTransposesAndBiasShapes) {
  const int64_t m = 5, k = 7, n = 4;
  const std::vector<Shape> c_shapes = {{}, {1}, {n}, {m, 1}, {1, n}, {m, n}};
  uint32_t seed = 1;
  for (const auto& [alpha, beta] : {std::pair{0.75f, -1.5f}, std::pair{0.75f, 1.f}, std::pair{1.f, 1.f}})
    for (int trans_a = 0; trans_a < 2; ++trans_a)
      for (int trans_b = 0; trans_b < 2; ++trans_b)
        for (int with_c = 0; with_c <= static_cast<int>(c_shapes.size()); ++with_c) {
          const Tensor a = random_tensor<float>(trans_a ? Shape{k, m} : Shape{m, k}, seed++);
          const Tensor b = random_tensor<float>(trans_b ? Shape{n, k} : Shape{k, n}, seed++);
          const Tensor c = with_c > 0 ? random_tensor<float>(c_shapes[with_c - 1], seed++) : Tensor();
          Node node = make_node("Gemm", 13, 3);
          node.attributes["transA"] = Attribute::of_int(trans_a);
          node.attributes["transB"] = Attribute::of_int(trans_b);
          node.attributes["alpha"] = Attribute::of_float(alpha);
          node.attributes["beta"] = Attribute::of_float(beta);
          const Tensor y = testing::run_node(node, {a, b, c})[0];

          int64_t c_sm = 0, c_sn = 0;
          if (c.defined() && c.rank() == 2) {
            c_sm = c.dim(0) == 1 ? 0 : c.dim(1);
            c_sn = c.dim(1) == 1 ? 0 : 1;
          } else if (c.defined() && c.rank() == 1) {
            c_sn = c.dim(0) == 1 ? 0 : 1;
          }
          Tensor ref(DType::Float64, {m, n});
          const Tensor a64 = to_double(a), b64 = to_double(b), c64 = c.defined() ? to_double(c) : Tensor();
          gemm_ref<double>(trans_a, trans_b, m, n, k, alpha, a64.data<double>(), b64.data<double>(), beta,
                           c.defined() ? c64.data<double>() : nullptr, c_sm, c_sn, ref.data<double>());
          const std::string what = fmt::format("alpha={} beta={} transA={} transB={} C={}", alpha, beta, trans_a,
                                               trans_b, c.defined() ? shape_str(c.shape()) : "none");
          expect_close(ref, y, 1e-5, what);
          expect_close(ref, testing::run_node(node, {a64, b64, c64})[0], 1e-12, what + " float64");
        }
}

TEST(GemmTest, VersionRulesAndErrors) {
  const Tensor a = random_tensor<float>({2, 3}, 1);
  const Tensor b = random_tensor<float>({3, 4}, 2);
  // C is required before Gemm-11: the kernel refuses to be built without it.
  Node gemm7 = make_node("Gemm", 7, 2);
  ASSERT_NE(KernelRegistry::global().find("", "Gemm", 7), nullptr);
  EXPECT_THROW(testing::make_kernel(gemm7), Error);
  EXPECT_THROW(run_op("Gemm", 13, {a, b, random_tensor<float>({3, 4}, 3)})[0], Error);  // bad C
  EXPECT_THROW(run_op("Gemm", 13, {a, random_tensor<float>({4, 3}, 3)})[0], Error);     // bad K
  // Integer Gemm is exact.
  const Tensor ia = Tensor::from<int32_t>({1, 2}, {1, 2});
  const Tensor ib = Tensor::from<int32_t>({2, 1}, {3, 4});
  const Tensor ic = Tensor::from<int32_t>({1}, {100});
  EXPECT_EQ(run_op("Gemm", 13, {ia, ib, ic})[0].to_int64s(), (std::vector<int64_t>{111}));
}

TEST(MatMulIntegerTest, ZeroPoints) {
  // (A - 1) x (B - [0, 2]) with A uint8 [2, 2], B int8 [2, 2].
  const Tensor a = Tensor::from<uint8_t>({2, 2}, {1, 2, 3, 4});
  const Tensor b = Tensor::from<int8_t>({2, 2}, {5, 6, -7, 8});
  const Tensor a_zero = Tensor::from<uint8_t>({}, {1});
  const Tensor b_zero = Tensor::from<int8_t>({2}, {0, 2});
  const Tensor y = run_op("MatMulInteger", 10, {a, b, a_zero, b_zero})[0];
  EXPECT_EQ(y.dtype(), DType::Int32);
  // A - 1 = [[0, 1], [2, 3]]; B - [0, 2] = [[5, 4], [-7, 6]].
  EXPECT_EQ(y.to_int64s(), (std::vector<int64_t>{-7, 6, -11, 26}));
  EXPECT_THROW(run_op("MatMulInteger", 10, {a, b, Tensor::from<uint8_t>({3}, {1, 2, 3}), b_zero})[0], Error);
}

}  // namespace
}  // namespace onnx_train
