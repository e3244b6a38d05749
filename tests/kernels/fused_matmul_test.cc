// FusedMatMul (ai.onnx_train, runtime/kernels/dnnl/matmul.cc) with trans_b = 1, Y = A @ B^T
// with B stored [N, K], and its gradient MatMulGrad(trans_b = 1)
// (runtime/kernels/dnnl/matmul_grad.cc). What must hold:
// - float32 (oneDNN reading B through strides) matches the float64 reference (a transposed
//   copy of B and the plain-loop matmul), which equals MatMul(A, B^T) with B^T written out;
// - dA and dB match the float64 reference, and equal MatMulGrad's of MatMul(A, B^T) with dB
//   transposed back to B's [N, K] layout;
// - B that is not a matrix is an error naming the node and B.
#include <gtest/gtest.h>

#include <cmath>

#include "runtime/kernels/kernel.h"
#include "runtime/kernels/util.h"
#include "tests/support/kernel_harness.h"

namespace onnx_train {
namespace {

using testing::error_of;
using testing::make_gradient_node;
using testing::random_float32;
using testing::run_node;
using testing::run_op;
using testing::to_double;

const std::map<std::string, Attribute> kTransB{{"trans_b", Attribute::of_int(1)}};

Tensor fused(const Tensor& a, const Tensor& b) { return run_node(make_gradient_node("FusedMatMul", 2, 1, kTransB), {a, b})[0]; }

std::vector<Tensor> fused_grad(const Tensor& dy, const Tensor& a, const Tensor& b) {
  return run_node(make_gradient_node("MatMulGrad", 3, 2, kTransB), {dy, a, b});
}

// B [N, K] -> B^T [K, N], written out (float64).
Tensor transposed(const Tensor& b) {
  const Tensor d = to_double(b);
  Tensor t(DType::Float64, {b.dim(1), b.dim(0)});
  for (int64_t r = 0; r < b.dim(0); ++r)
    for (int64_t c = 0; c < b.dim(1); ++c) t.data<double>()[c * b.dim(0) + r] = d.data<double>()[r * b.dim(1) + c];
  return t;
}

void expect_close(const Tensor& got, const Tensor& want, double rel, const std::string& what) {
  ASSERT_EQ(got.shape(), want.shape()) << what;
  const std::vector<double> x = got.to_doubles(), y = want.to_doubles();
  for (size_t i = 0; i < x.size(); ++i) ASSERT_NEAR(x[i], y[i], rel * (1 + std::abs(y[i]))) << what << " element " << i;
}

struct Problem {
  Shape a, b;  // b stored [N, K]
};

const std::vector<Problem> kProblems = {
    {{2, 3}, {4, 3}},
    {{5, 2, 3}, {4, 3}},           // a linear layer: the batch folds into M
    {{2, 3, 7, 17}, {29, 17}},     // 4-D A
    {{3}, {4, 3}},                 // 1-D A
    {{4, 64, 48}, {96, 48}},       // GPT-like projection, sizes past oneDNN's small-matrix paths
    {{1, 2, 1, 2, 1, 2, 3}, {5, 3}},  // A of rank 7
};

TEST(FusedMatMul, Float32MatchesFloat64Reference) {
  unsigned seed = 1;
  for (const Problem& p : kProblems) {
    const Tensor a = random_float32(p.a, seed++), b = random_float32(p.b, seed++);
    const std::string what = "A " + shape_str(p.a) + " B " + shape_str(p.b);
    const Tensor ref = fused(to_double(a), to_double(b));
    ASSERT_EQ(ref.dtype(), DType::Float64) << what;
    // The reference is MatMul(A, B^T) with B^T written out.
    expect_close(ref, run_op("MatMul", 13, {to_double(a), transposed(b)})[0], 1e-12, what + " reference");
    const Tensor got = fused(a, b);
    ASSERT_EQ(got.dtype(), DType::Float32) << what;
    expect_close(got, ref, 1e-5, what);
  }
}

TEST(FusedMatMul, GradientMatchesFloat64ReferenceAndTheUnfusedGradient) {
  unsigned seed = 50;
  for (const Problem& p : kProblems) {
    const Tensor a = random_float32(p.a, seed++), b = random_float32(p.b, seed++);
    const Tensor dy = random_float32(fused(a, b).shape(), seed++);
    const std::string what = "A " + shape_str(p.a) + " B " + shape_str(p.b);
    const std::vector<Tensor> got = fused_grad(dy, a, b);
    const std::vector<Tensor> ref = fused_grad(to_double(dy), to_double(a), to_double(b));
    ASSERT_EQ(got[0].shape(), p.a) << what;
    ASSERT_EQ(got[1].shape(), p.b) << what;  // dB in B's stored layout
    expect_close(got[0], ref[0], 1e-5, what + " dA");
    expect_close(got[1], ref[1], 1e-5, what + " dB");
    // The unfused form: MatMulGrad of MatMul(A, B^T); its dB^T transposed back is dB.
    const std::vector<Tensor> unfused =
        run_node(make_gradient_node("MatMulGrad", 3, 2), {to_double(dy), to_double(a), transposed(b)});
    expect_close(ref[0], unfused[0], 1e-12, what + " dA against MatMulGrad");
    expect_close(ref[1], transposed(unfused[1]), 1e-12, what + " dB against MatMulGrad");
  }
}

TEST(FusedMatMul, GradientProducesOnlyWantedOutputs) {
  const Tensor a = random_float32({3, 5, 6}, 7), b = random_float32({4, 6}, 8), dy = random_float32({3, 5, 4}, 9);
  const std::vector<Tensor> both = fused_grad(dy, a, b);
  for (bool want_da : {false, true}) {
    Node node = make_gradient_node("MatMulGrad", 3, 2, kTransB);
    node.outputs[want_da ? 1 : 0].clear();
    const std::vector<Tensor> out = run_node(node, {dy, a, b});
    const size_t made = want_da ? 0 : 1;
    EXPECT_FALSE(out[1 - made].defined());
    ASSERT_TRUE(out[made].defined());
    EXPECT_EQ(out[made].to_doubles(), both[made].to_doubles());
  }
}

TEST(FusedMatMul, RejectsBThatIsNotAMatrix) {
  const Tensor a = random_float32({2, 3}, 1);
  std::string message = error_of([&] { fused(a, random_float32({2, 4, 3}, 2)); });
  EXPECT_NE(message.find("B must be a matrix [N, K]"), std::string::npos) << message;
  message = error_of([&] { fused(a, random_float32({4, 5}, 3)); });  // K differs
  EXPECT_FALSE(message.empty());
  message = error_of([&] { fused_grad(random_float32({2, 4}, 4), a, random_float32({3}, 5)); });
  EXPECT_NE(message.find("B must be a matrix [N, K]"), std::string::npos) << message;
}

}  // namespace
}  // namespace onnx_train
