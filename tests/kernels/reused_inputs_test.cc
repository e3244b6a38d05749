// KernelContext::reuse_input_as_output: an input becomes an output's storage only when the
// executor marked it as dying at this node and no other handle shares its storage; the loss
// gradient that uses it gives the same values in place as on fresh storage.
#include <gtest/gtest.h>

#include <cmath>
#include <string>

#include "tests/support/kernel_harness.h"

namespace onnx_train::testing {
namespace {

TEST(ReusedInputs, OnlyADyingInputNobodyElseHoldsIsReused) {
  const Node node = make_node("Identity", 16, 2, 1);
  Tensor kept = random_tensor<float>({3, 4}, 1);
  Tensor dying = random_tensor<float>({3, 4}, 2);
  std::vector<Tensor> outputs(1);
  KernelContext ctx(node, {&kept, &dying}, outputs, nullptr);
  EXPECT_EQ(ctx.reuse_input_as_output(1, 0), nullptr);  // no flags: outside a plan, nothing is reused
  const char flags[] = {0, 1};
  ctx.set_dying_inputs(flags);
  EXPECT_EQ(ctx.reuse_input_as_output(0, 0), nullptr);  // not dying here
  {
    const Tensor view = dying.reshaped({12});  // another handle on the same storage
    EXPECT_EQ(ctx.reuse_input_as_output(1, 0), nullptr);
  }
  const void* storage = dying.raw_data();
  Tensor* out = ctx.reuse_input_as_output(1, 0);
  ASSERT_NE(out, nullptr);
  EXPECT_EQ(out->raw_data(), storage);
  EXPECT_EQ(out->shape(), (Shape{3, 4}));
}

// SoftmaxCrossEntropyLossGrad writes dScores over log_prob when it may: the same values as a
// run on fresh storage, for each reduction.
TEST(ReusedInputs, SoftmaxCrossEntropyGradientInPlaceMatchesFreshStorage) {
  const int64_t n = 5, c = 7, d = 3;
  Tensor scores = random_tensor<float>({n, c, d}, 3);
  // log_prob = scores - logsumexp over the class axis
  Tensor log_prob = scores.clone();
  float* lp = log_prob.data<float>();
  for (int64_t b = 0; b < n; ++b)
    for (int64_t j = 0; j < d; ++j) {
      double sum = 0;
      for (int64_t k = 0; k < c; ++k) sum += std::exp(lp[(b * c + k) * d + j]);
      for (int64_t k = 0; k < c; ++k) lp[(b * c + k) * d + j] -= static_cast<float>(std::log(sum));
    }
  const Tensor labels = random_tensor<int64_t>({n, d}, 4, 0, c);
  for (const char* reduction : {"mean", "sum", "none"}) {
    SCOPED_TRACE(reduction);
    const bool none = std::string(reduction) == "none";
    const Tensor dy = none ? random_tensor<float>({n, d}, 5) : Tensor::scalar<float>(0.75f);
    const Node node = make_gradient_node("SoftmaxCrossEntropyLossGrad", 3, 1,
                                         {{"reduction", Attribute::of_string(reduction)}});
    const std::vector<Tensor> fresh = run_node(node, {dy, log_prob, labels});

    Tensor dying = log_prob.clone();
    const void* storage = dying.raw_data();
    std::vector<Tensor> outputs(1);
    {
      const Tensor* inputs[] = {&dy, &dying, &labels};
      KernelContext ctx(node, inputs, 3, outputs, nullptr);
      const char flags[] = {0, 1, 0};
      ctx.set_dying_inputs(flags);
      make_kernel(node)->run(ctx);
    }
    EXPECT_EQ(outputs[0].raw_data(), storage);
    ASSERT_EQ(outputs[0].shape(), fresh[0].shape());
    for (int64_t i = 0; i < fresh[0].numel(); ++i)
      EXPECT_EQ(outputs[0].data<float>()[i], fresh[0].data<float>()[i]) << "at " << i;
  }
}

}  // namespace
}  // namespace onnx_train::testing
