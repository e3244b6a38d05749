// Unit tests for the recurrent kernels (runtime/kernels/dnnl/rnn.cc): single steps against
// hand computations, directions, sequence lengths, layout, activations and errors.
#include <gtest/gtest.h>

#include <cmath>
#include <map>
#include <string>
#include <vector>

#include "runtime/kernels/kernel.h"
#include "tests/support/kernel_harness.h"

namespace onnx_train {
namespace {

using testing::run_op;

// Deterministic pseudo-random values in [-1, 1).
std::vector<float> values(size_t n, uint32_t seed) {
  std::vector<float> v(n);
  for (auto& x : v) {
    seed = seed * 1664525u + 1013904223u;
    x = static_cast<float>((seed >> 8) & 0xffff) / 32768.0f - 1.0f;
  }
  return v;
}

Tensor random_tensor(const Shape& shape, uint32_t seed) {
  return Tensor::from<float>(shape, values(static_cast<size_t>(shape_numel(shape)), seed));
}

float sigmoid(float x) { return 1.0f / (1.0f + std::exp(-x)); }

TEST(Lstm, OneStepMatchesHandComputation) {
  // input 2, hidden 1, batch 1: gates i o f c, with biases, peepholes and initial states.
  const std::vector<float> w = {0.1f, 0.2f, 0.3f, -0.4f, 0.5f, 0.6f, -0.7f, 0.8f};
  const std::vector<float> r = {0.9f, -0.1f, 0.2f, 0.3f};
  const std::vector<float> b = {0.01f, 0.02f, 0.03f, 0.04f, 0.05f, 0.06f, 0.07f, 0.08f};
  const std::vector<float> p = {0.11f, 0.12f, 0.13f};  // pi po pf
  const float x0 = 1.5f, x1 = -0.5f, h0 = 0.25f, c0 = -0.75f;
  auto gate = [&](int g) { return w[2 * g] * x0 + w[2 * g + 1] * x1 + r[g] * h0 + b[g] + b[4 + g]; };
  const float i = sigmoid(gate(0) + p[0] * c0);
  const float f = sigmoid(gate(2) + p[2] * c0);
  const float c = f * c0 + i * std::tanh(gate(3));
  const float o = sigmoid(gate(1) + p[1] * c);
  const float h = o * std::tanh(c);

  auto out = run_op(
      "LSTM", 14,
      {Tensor::from<float>({1, 1, 2}, {x0, x1}), Tensor::from<float>({1, 4, 2}, w), Tensor::from<float>({1, 4, 1}, r),
       Tensor::from<float>({1, 8}, b), Tensor(), Tensor::from<float>({1, 1, 1}, {h0}),
       Tensor::from<float>({1, 1, 1}, {c0}), Tensor::from<float>({1, 3}, p)},
      {{"hidden_size", Attribute::of_int(1)}}, 3);
  ASSERT_EQ(out[0].shape(), (Shape{1, 1, 1, 1}));
  EXPECT_NEAR(out[0].data<float>()[0], h, 1e-6);
  EXPECT_NEAR(out[1].data<float>()[0], h, 1e-6);
  EXPECT_NEAR(out[2].data<float>()[0], c, 1e-6);
}

TEST(Gru, OneStepMatchesHandComputationBothResetForms) {
  // input 1, hidden 1: gates z r h.
  const float x = 0.7f, h0 = -0.3f;
  const std::vector<float> w = {0.4f, -0.6f, 0.9f}, r = {0.2f, 0.5f, -0.8f};
  const std::vector<float> b = {0.1f, 0.2f, 0.3f, -0.1f, -0.2f, 0.4f};
  const float z = sigmoid(w[0] * x + r[0] * h0 + b[0] + b[3]);
  const float rs = sigmoid(w[1] * x + r[1] * h0 + b[1] + b[4]);
  const float n_default = std::tanh(w[2] * x + r[2] * (rs * h0) + b[2] + b[5]);
  const float n_linear = std::tanh(w[2] * x + rs * (r[2] * h0 + b[5]) + b[2]);
  for (int lbr : {0, 1}) {
    auto out = run_op(
        "GRU", 7,
        {Tensor::from<float>({1, 1, 1}, {x}), Tensor::from<float>({1, 3, 1}, w), Tensor::from<float>({1, 3, 1}, r),
         Tensor::from<float>({1, 6}, b), Tensor(), Tensor::from<float>({1, 1, 1}, {h0})},
        {{"linear_before_reset", Attribute::of_int(lbr)}}, 2);
    const float n = lbr ? n_linear : n_default;
    EXPECT_NEAR(out[1].data<float>()[0], (1 - z) * n + z * h0, 1e-6) << "linear_before_reset " << lbr;
  }
}

TEST(Rnn, CustomActivationWithAlpha) {
  // f = LeakyRelu(alpha 0.5): one step with a negative pre-activation.
  auto out = run_op(
      "RNN", 14,
      {Tensor::from<float>({1, 1, 1}, {2.0f}), Tensor::from<float>({1, 1, 1}, {-1.0f}),
       Tensor::from<float>({1, 1, 1}, {0.0f})},
      {{"activations", Attribute::of_strings({"LeakyRelu"})}, {"activation_alpha", Attribute::of_floats({0.5f})}}, 2);
  EXPECT_FLOAT_EQ(out[1].data<float>()[0], -1.0f);
}

TEST(Lstm, BidirectionalShapesAndReverseMatchesReversedInput) {
  const int64_t S = 4, B = 2, I = 3, H = 5;
  const Tensor x = random_tensor({S, B, I}, 1);
  const Tensor w1 = random_tensor({1, 4 * H, I}, 2), r1 = random_tensor({1, 4 * H, H}, 3);
  // Both directions use the same weights.
  std::vector<float> w2 = values(4 * H * I, 2), r2 = values(4 * H * H, 3);
  w2.insert(w2.end(), w2.begin(), w2.end());
  r2.insert(r2.end(), r2.begin(), r2.end());
  auto bi = run_op("LSTM", 14, {x, Tensor::from<float>({2, 4 * H, I}, w2), Tensor::from<float>({2, 4 * H, H}, r2)},
                   {{"direction", Attribute::of_string("bidirectional")}, {"hidden_size", Attribute::of_int(H)}}, 3);
  EXPECT_EQ(bi[0].shape(), (Shape{S, 2, B, H}));
  EXPECT_EQ(bi[1].shape(), (Shape{2, B, H}));
  EXPECT_EQ(bi[2].shape(), (Shape{2, B, H}));

  std::vector<float> xr(S * B * I);
  for (int64_t t = 0; t < S; ++t)
    for (int64_t k = 0; k < B * I; ++k) xr[t * B * I + k] = x.data<float>()[(S - 1 - t) * B * I + k];
  auto fwd = run_op("LSTM", 14, {Tensor::from<float>({S, B, I}, xr), w1, r1}, {}, 2);
  const float* yb = bi[0].data<float>();
  const float* yf = fwd[0].data<float>();
  for (int64_t t = 0; t < S; ++t)
    for (int64_t k = 0; k < B * H; ++k) EXPECT_NEAR(yb[(t * 2 + 1) * B * H + k], yf[(S - 1 - t) * B * H + k], 1e-6);
  for (int64_t k = 0; k < B * H; ++k) EXPECT_NEAR(bi[1].data<float>()[B * H + k], fwd[1].data<float>()[k], 1e-6);
}

TEST(Gru, SequenceLengthsStopEachBatchEntry) {
  const int64_t S = 3, B = 2, I = 2, H = 3;
  const Tensor x = random_tensor({S, B, I}, 4), w = random_tensor({1, 3 * H, I}, 5),
               r = random_tensor({1, 3 * H, H}, 6);
  const Tensor lens = Tensor::from<int32_t>({B}, {3, 1});
  for (const char* direction : {"forward", "reverse"}) {
    auto out = run_op("GRU", 14, {x, w, r, Tensor(), lens}, {{"direction", Attribute::of_string(direction)}}, 2);
    const float* y = out[0].data<float>();
    // Batch entry 1 has one step: Y is zero after it, Y_h is that step.
    for (int64_t t = 1; t < S; ++t)
      for (int64_t k = 0; k < H; ++k) EXPECT_EQ(y[(t * B + 1) * H + k], 0.0f);
    for (int64_t k = 0; k < H; ++k) EXPECT_EQ(out[1].data<float>()[H + k], y[(0 * B + 1) * H + k]);
    // Batch entry 0 runs the whole sequence; reverse ends at t = 0.
    const int64_t last = std::string(direction) == "forward" ? S - 1 : 0;
    for (int64_t k = 0; k < H; ++k) EXPECT_EQ(out[1].data<float>()[k], y[(last * B + 0) * H + k]);
  }
}

TEST(Rnn, BatchMajorLayoutMatchesTransposedTimeMajor) {
  const int64_t S = 3, B = 2, I = 2, H = 4;
  const Tensor x = random_tensor({S, B, I}, 7), w = random_tensor({1, H, I}, 8), r = random_tensor({1, H, H}, 9);
  std::vector<float> xb(S * B * I);
  for (int64_t t = 0; t < S; ++t)
    for (int64_t b = 0; b < B; ++b)
      for (int64_t i = 0; i < I; ++i) xb[(b * S + t) * I + i] = x.data<float>()[(t * B + b) * I + i];
  auto time_major = run_op("RNN", 14, {x, w, r}, {}, 2);
  auto batch_major =
      run_op("RNN", 14, {Tensor::from<float>({B, S, I}, xb), w, r}, {{"layout", Attribute::of_int(1)}}, 2);
  ASSERT_EQ(batch_major[0].shape(), (Shape{B, S, 1, H}));
  ASSERT_EQ(batch_major[1].shape(), (Shape{B, 1, H}));
  for (int64_t t = 0; t < S; ++t)
    for (int64_t b = 0; b < B; ++b)
      for (int64_t k = 0; k < H; ++k)
        EXPECT_EQ(batch_major[0].data<float>()[(b * S + t) * H + k], time_major[0].data<float>()[(t * B + b) * H + k]);
}

TEST(Lstm, RunsInDouble) {
  std::vector<double> x = {0.5, -1.0}, w(8, 0.1), r(4, 0.2);
  auto out = run_op(
      "LSTM", 7,
      {Tensor::from<double>({1, 1, 2}, x), Tensor::from<double>({1, 4, 2}, w), Tensor::from<double>({1, 4, 1}, r)}, {},
      3);
  const double g = 0.1 * (0.5 - 1.0);
  const double c = 1.0 / (1.0 + std::exp(-g)) * std::tanh(g);
  EXPECT_NEAR(out[2].data<double>()[0], c, 1e-12);
}

TEST(Rnn, RejectsBadAttributesAndShapes) {
  const Tensor x = random_tensor({1, 1, 2}, 1), w = random_tensor({1, 1, 2}, 2), r = random_tensor({1, 1, 1}, 3);
  EXPECT_THROW(run_op("RNN", 14, {x, w, r}, {{"activations", Attribute::of_strings({"Swish"})}}, 1), Error);
  EXPECT_THROW(run_op("RNN", 14, {x, w, r}, {{"direction", Attribute::of_string("sideways")}}, 1), Error);
  EXPECT_THROW(run_op("RNN", 7, {x, w, r}, {{"layout", Attribute::of_int(1)}}, 1), Error);
  EXPECT_THROW(run_op("RNN", 14, {x, random_tensor({1, 1, 3}, 2), r}, {}, 1), Error);
}

}  // namespace
}  // namespace onnx_train
