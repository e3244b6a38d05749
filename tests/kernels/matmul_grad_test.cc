// Tests of the fused MatMul gradient kernel MatMulGrad (runtime/kernels/dnnl/matmul_grad.cc):
// the float32 path (oneDNN) against the float64 reference on shapes with broadcast batch
// axes and 1-D operands; both against the adjoint identity <A @ B, dY> = <A, dA> = <B, dB>
// (MatMul is bilinear) with the forward MatMul kernel; only the wanted outputs; and the shape
// error.
#include <gtest/gtest.h>

#include <cmath>

#include "runtime/kernels/kernel.h"
#include "runtime/kernels/util.h"
#include "tests/support/kernel_harness.h"

namespace onnx_train {
namespace {

using testing::error_of;
using testing::make_kernel;
using testing::random_float32;
using testing::run_kernel;
using testing::run_op;
using testing::to_double;

// A MatMulGrad node; `want_da` / `want_db` false leave that output out (empty name).
Node matmul_grad_node(bool want_da = true, bool want_db = true) {
  Node node = testing::make_gradient_node("MatMulGrad", 3, 2);
  if (!want_da) node.outputs[0].clear();
  if (!want_db) node.outputs[1].clear();
  return node;
}

std::vector<Tensor> run_grad(const Tensor& dy, const Tensor& a, const Tensor& b,
                             const Node& node = matmul_grad_node()) {
  auto kernel = make_kernel(node);
  return run_kernel(*kernel, node, {dy, a, b});
}

double dot(const Tensor& x, const Tensor& y) {
  const std::vector<double> u = x.to_doubles(), v = y.to_doubles();
  double sum = 0;
  for (size_t i = 0; i < u.size(); ++i) sum += u[i] * v[i];
  return sum;
}

struct Problem {
  Shape a, b;
};

const std::vector<Problem> kProblems = {
    {{2, 3}, {3, 4}},
    {{5, 2, 3}, {3, 4}},               // B shared: the batch folds into M
    {{3, 4}, {2, 4, 5}},               // A broadcast over B's batch
    {{2, 1, 3, 4}, {5, 4, 2}},         // both broadcast: dA and dB sum over batch axes
    {{1, 3, 4}, {2, 1, 4, 2}},         //
    {{2, 3, 3, 4}, {2, 1, 4, 2}},      // B broadcast along axis 1
    {{16, 1, 8, 5}, {6, 5, 7}},        // many summed matrices (the parallel loop)
    {{4, 2, 33, 17}, {4, 2, 17, 29}},  // attention-like, no broadcast
    {{3}, {2, 3, 4}},                  // 1-D A
    {{7}, {7, 5}},                     //
    {{2, 2, 3}, {3}},                  // 1-D B
    {{2, 1, 2, 3}, {3}},               //
    {{4}, {4}},                        // both 1-D: Y a scalar
};

// The shape of MatMul(A, B), from the forward kernel.
Tensor forward(const Tensor& a, const Tensor& b) { return run_op("MatMul", 13, {a, b})[0]; }

TEST(MatMulGradTest, Float32MatchesFloat64Reference) {
  unsigned seed = 1;
  for (const Problem& p : kProblems) {
    const Tensor a = random_float32(p.a, seed++);
    const Tensor b = random_float32(p.b, seed++);
    const Tensor dy = random_float32(forward(a, b).shape(), seed++);
    const std::vector<Tensor> fast = run_grad(dy, a, b);
    const std::vector<Tensor> ref = run_grad(to_double(dy), to_double(a), to_double(b));
    const std::string what = "A " + shape_str(p.a) + " B " + shape_str(p.b);
    for (size_t i = 0; i < 2; ++i) {
      ASSERT_EQ(fast[i].dtype(), DType::Float32) << what;
      ASSERT_EQ(ref[i].dtype(), DType::Float64) << what;
      ASSERT_EQ(fast[i].shape(), i == 0 ? p.a : p.b) << what;
      ASSERT_EQ(ref[i].shape(), fast[i].shape()) << what;
      const std::vector<double> x = fast[i].to_doubles(), y = ref[i].to_doubles();
      for (size_t j = 0; j < x.size(); ++j)
        ASSERT_NEAR(x[j], y[j], 1e-4 * (1 + std::abs(y[j]))) << what << " output " << i << " element " << j;
    }
  }
}

TEST(MatMulGradTest, AdjointIdentity) {
  unsigned seed = 100;
  for (const Problem& p : kProblems) {
    for (bool wide : {false, true}) {
      Tensor a = random_float32(p.a, seed++);
      Tensor b = random_float32(p.b, seed++);
      Tensor dy = random_float32(forward(a, b).shape(), seed++);
      if (wide) {
        a = to_double(a);
        b = to_double(b);
        dy = to_double(dy);
      }
      const std::vector<Tensor> grads = run_grad(dy, a, b);
      const double y_dy = dot(forward(a, b), dy);
      const double tolerance = (wide ? 1e-10 : 1e-4) * (1 + std::abs(y_dy));
      const std::string what = "A " + shape_str(p.a) + " B " + shape_str(p.b) + (wide ? " float64" : " float32");
      EXPECT_NEAR(dot(a, grads[0]), y_dy, tolerance) << what;
      EXPECT_NEAR(dot(b, grads[1]), y_dy, tolerance) << what;
    }
  }
}

TEST(MatMulGradTest, ProducesOnlyWantedOutputs) {
  const Tensor a = random_float32({2, 1, 3, 4}, 7);
  const Tensor b = random_float32({5, 4, 2}, 8);
  const Tensor dy = random_float32({2, 5, 3, 2}, 9);
  const std::vector<Tensor> both = run_grad(dy, a, b);
  for (bool want_da : {false, true}) {
    const std::vector<Tensor> out = run_grad(dy, a, b, matmul_grad_node(want_da, !want_da));
    const size_t made = want_da ? 0 : 1;
    EXPECT_FALSE(out[1 - made].defined());
    ASSERT_TRUE(out[made].defined());
    EXPECT_EQ(out[made].to_doubles(), both[made].to_doubles());
  }
}

TEST(MatMulGradTest, RejectsGradientOfWrongShape) {
  const Tensor a = random_float32({2, 3}, 1);
  const Tensor b = random_float32({3, 4}, 2);
  const std::string message = error_of([&] { run_grad(random_float32({2, 5}, 3), a, b); });
  EXPECT_NE(message.find("does not have the shape of MatMul"), std::string::npos) << message;
}

}  // namespace
}  // namespace onnx_train
