// Unit tests for the recurrent gradient kernels (runtime/kernels/dnnl/rnn_grad.cc):
// LSTMGrad / GRUGrad / RNNGrad (and the forward kernels) in float32 against float64 on larger cases, and an
// independent check of the float64 gradients against directional central differences of
// the forward kernels (dnnl/rnn.cc), with non-default activations (which the graph
// gradient check cannot express), clip, peepholes, input_forget, linear_before_reset,
// layouts and sequence lengths.
#include <gtest/gtest.h>

#include <algorithm>
#include <cmath>
#include <map>
#include <random>
#include <string>
#include <vector>

#include "gradients/builder.h"
#include "runtime/kernels/kernel.h"
#include "tests/support/kernel_harness.h"

namespace onnx_train {
namespace {

using testing::make_node;
using testing::random_float32;
using testing::run_node;
using testing::to_double;

using Attributes = std::map<std::string, Attribute>;

// One recurrent configuration: the forward inputs (float32; undefined = omitted) and attributes.
struct Config {
  std::string op;  // LSTM, GRU, RNN
  Attributes attrs;
  std::vector<Tensor> inputs;  // X W R B sequence_lens initial_h [initial_c P]
  int64_t seq, batch, hidden, directions, layout;
};

Config make_config(const std::string& op, int64_t seq, int64_t batch, int64_t input, int64_t hidden,
                   const std::string& direction, int64_t layout, bool full, std::vector<int32_t> lengths,
                   Attributes extra, unsigned seed) {
  const int64_t d = direction == "bidirectional" ? 2 : 1;
  const int64_t gates = op == "LSTM" ? 4 : op == "GRU" ? 3 : 1;
  const Shape state = layout == 0 ? Shape{d, batch, hidden} : Shape{batch, d, hidden};
  Config c{op, std::move(extra), {}, seq, batch, hidden, d, layout};
  c.attrs["direction"] = Attribute::of_string(direction);
  c.attrs["hidden_size"] = Attribute::of_int(hidden);
  if (layout != 0) c.attrs["layout"] = Attribute::of_int(layout);
  c.inputs.push_back(random_float32(layout == 0 ? Shape{seq, batch, input} : Shape{batch, seq, input}, seed));
  c.inputs.push_back(random_float32({d, gates * hidden, input}, seed + 1));
  c.inputs.push_back(random_float32({d, gates * hidden, hidden}, seed + 2));
  c.inputs.push_back(full ? random_float32({d, 2 * gates * hidden}, seed + 3) : Tensor());
  c.inputs.push_back(lengths.empty() ? Tensor() : Tensor::from<int32_t>({batch}, lengths));
  c.inputs.push_back(full ? random_float32(state, seed + 4) : Tensor());
  if (op == "LSTM") {
    c.inputs.push_back(full ? random_float32(state, seed + 5) : Tensor());
    c.inputs.push_back(full ? random_float32({d, 3 * hidden}, seed + 6) : Tensor());
  }
  return c;
}

Shape y_shape(const Config& c) {
  return c.layout == 0 ? Shape{c.seq, c.directions, c.batch, c.hidden} : Shape{c.batch, c.seq, c.directions, c.hidden};
}
Shape state_shape(const Config& c) {
  return c.layout == 0 ? Shape{c.directions, c.batch, c.hidden} : Shape{c.batch, c.directions, c.hidden};
}
size_t num_outputs(const Config& c) { return c.op == "LSTM" ? 3 : 2; }

// A node with empty names for the undefined inputs.
Node node_for(const std::string& op, int since_version, const std::string& domain, const std::vector<Tensor>& inputs,
              size_t outputs, const Attributes& attrs) {
  Node n = make_node(op, since_version, inputs.size(), outputs, attrs);
  n.domain = domain;
  n.since_version = n.opset = since_version;
  for (size_t i = 0; i < inputs.size(); ++i)
    if (!inputs[i].defined()) n.inputs[i].clear();
  return n;
}

std::vector<Tensor> as_double(const std::vector<Tensor>& ts) {
  std::vector<Tensor> out;
  for (const Tensor& t : ts) out.push_back(t.defined() && t.dtype() == DType::Float32 ? to_double(t) : t);
  return out;
}

// The gradient op's outputs for forward inputs `inputs` and output gradients `dys`.
std::vector<Tensor> run_grad(const Config& c, const std::vector<Tensor>& inputs, const std::vector<Tensor>& dys) {
  std::vector<Tensor> all = inputs;
  all.insert(all.end(), dys.begin(), dys.end());
  const size_t outputs = c.op == "LSTM" ? 7 : 5;
  return run_node(node_for(c.op + "Grad", 1, kGradientDomain, all, outputs, c.attrs), all);
}

std::vector<Tensor> run_forward(const Config& c, const std::vector<Tensor>& inputs) {
  return run_node(node_for(c.op, 14, "", inputs, num_outputs(c), c.attrs), inputs);
}

std::vector<Tensor> random_output_gradients(const Config& c, unsigned seed) {
  std::vector<Tensor> dys{random_float32(y_shape(c), seed), random_float32(state_shape(c), seed + 1)};
  if (c.op == "LSTM") dys.push_back(random_float32(state_shape(c), seed + 2));
  return dys;
}

// The larger configurations both tests run.
std::vector<Config> configs() {
  std::vector<Config> cs;
  cs.push_back(make_config("LSTM", 7, 5, 6, 8, "bidirectional", 0, true, {7, 3, 0, 5, 7}, {}, 10));
  cs.push_back(make_config("LSTM", 6, 4, 5, 7, "reverse", 1, true, {6, 2, 5, 1},
                           {{"input_forget", Attribute::of_int(1)}, {"clip", Attribute::of_float(2.5f)}}, 20));
  cs.push_back(make_config("LSTM", 5, 3, 4, 6, "forward", 0, false, {},
                           {{"activations", Attribute::of_strings({"HardSigmoid", "Softsign", "ScaledTanh"})},
                            {"activation_alpha", Attribute::of_floats({0.3f, 0.8f})},
                            {"activation_beta", Attribute::of_floats({0.4f, 1.3f})}},
                           30));
  cs.push_back(make_config("GRU", 7, 5, 6, 8, "bidirectional", 0, true, {7, 4, 6, 1, 7}, {}, 40));
  cs.push_back(make_config("GRU", 6, 4, 5, 7, "reverse", 1, true, {6, 0, 3, 6},
                           {{"linear_before_reset", Attribute::of_int(1)}, {"clip", Attribute::of_float(1.5f)}}, 50));
  cs.push_back(make_config("GRU", 5, 3, 4, 6, "bidirectional", 0, true, {},
                           {{"linear_before_reset", Attribute::of_int(1)},
                            {"activations", Attribute::of_strings({"Sigmoid", "Softsign", "HardSigmoid", "Elu"})},
                            {"activation_alpha", Attribute::of_floats({0.25f, 0.7f})},
                            {"activation_beta", Attribute::of_floats({0.45f})}},
                           60));
  cs.push_back(make_config("RNN", 7, 5, 6, 8, "bidirectional", 1, true, {2, 7, 7, 5, 3},
                           {{"activations", Attribute::of_strings({"Relu", "Softplus"})}}, 70));
  cs.push_back(make_config("RNN", 6, 4, 5, 7, "reverse", 0, true, {6, 3, 1, 6},
                           {{"activations", Attribute::of_strings({"LeakyRelu"})},
                            {"activation_alpha", Attribute::of_floats({0.1f})},
                            {"clip", Attribute::of_float(1.0f)}},
                           80));
  cs.push_back(make_config("RNN", 5, 3, 4, 6, "forward", 0, false, {},
                           {{"activations", Attribute::of_strings({"Affine"})},
                            {"activation_alpha", Attribute::of_floats({0.6f})},
                            {"activation_beta", Attribute::of_floats({0.2f})}},
                           90));
  return cs;
}

std::string describe(const Config& c, size_t k) { return c.op + " config " + std::to_string(k); }

// The forward kernels' float32 path (oneDNN sgemm) against their float64 path (plain loops).
TEST(RecurrentForward, Float32MatchesFloat64) {
  const std::vector<Config> cs = configs();
  for (size_t k = 0; k < cs.size(); ++k) {
    const Config& c = cs[k];
    const std::vector<Tensor> got = run_forward(c, c.inputs);
    const std::vector<Tensor> want = run_forward(c, as_double(c.inputs));
    ASSERT_EQ(got.size(), want.size());
    for (size_t i = 0; i < got.size(); ++i) {
      ASSERT_EQ(got[i].dtype(), DType::Float32);
      ASSERT_EQ(got[i].shape(), want[i].shape()) << describe(c, k) << " output " << i;
      const std::vector<double> g = got[i].to_doubles(), w = want[i].to_doubles();
      for (size_t j = 0; j < g.size(); ++j) ASSERT_NEAR(g[j], w[j], 1e-5) << describe(c, k) << " output " << i;
    }
  }
}

TEST(RecurrentGrad, Float32MatchesFloat64) {
  const std::vector<Config> cs = configs();
  for (size_t k = 0; k < cs.size(); ++k) {
    const Config& c = cs[k];
    const std::vector<Tensor> dys = random_output_gradients(c, 100 + static_cast<unsigned>(k));
    const std::vector<Tensor> got = run_grad(c, c.inputs, dys);
    const std::vector<Tensor> want = run_grad(c, as_double(c.inputs), as_double(dys));
    ASSERT_EQ(got.size(), want.size());
    for (size_t i = 0; i < got.size(); ++i) {
      ASSERT_TRUE(got[i].defined() && want[i].defined()) << describe(c, k) << " output " << i;
      ASSERT_EQ(got[i].dtype(), DType::Float32);
      ASSERT_EQ(got[i].shape(), want[i].shape()) << describe(c, k) << " output " << i;
      const std::vector<double> g = got[i].to_doubles(), w = want[i].to_doubles();
      double scale = 1;  // float32 rounding grows with the largest terms summed
      for (double x : w) scale = std::max(scale, std::abs(x));
      for (size_t j = 0; j < g.size(); ++j)
        ASSERT_NEAR(g[j], w[j], 2e-5 * scale) << describe(c, k) << " output " << i << " at " << j;
    }
  }
}

// L = sum_k <r_k, output_k> of the forward node; its gradient from the grad kernel (with
// dY_k = r_k) against (L(x + eps v) - L(x - eps v)) / (2 eps) along a random direction v
// per differentiable input.
TEST(RecurrentGrad, MatchesDirectionalDifferencesOfTheForwardKernel) {
  const std::vector<Config> cs = configs();
  for (size_t k = 0; k < cs.size(); ++k) {
    const Config& c = cs[k];
    const std::vector<Tensor> inputs = as_double(c.inputs);
    const std::vector<Tensor> weights = as_double(random_output_gradients(c, 200 + static_cast<unsigned>(k)));
    const std::vector<Tensor> grads = run_grad(c, inputs, weights);
    auto loss = [&](const std::vector<Tensor>& xs) {
      const std::vector<Tensor> ys = run_forward(c, xs);
      double l = 0;
      for (size_t o = 0; o < weights.size(); ++o) {
        const std::vector<double> y = ys[o].to_doubles(), r = weights[o].to_doubles();
        for (size_t j = 0; j < y.size(); ++j) l += y[j] * r[j];
      }
      return l;
    };
    // Forward input index of each gradient output.
    const std::vector<size_t> input_of =
        c.op == "LSTM" ? std::vector<size_t>{0, 1, 2, 3, 5, 6, 7} : std::vector<size_t>{0, 1, 2, 3, 5};
    for (size_t j = 0; j < input_of.size(); ++j) {
      const size_t i = input_of[j];
      if (!inputs[i].defined()) continue;
      const Tensor v = to_double(random_float32(inputs[i].shape(), 300 + static_cast<unsigned>(10 * k + j)));
      const double eps = 1e-6;
      std::vector<Tensor> plus = inputs, minus = inputs;
      plus[i] = inputs[i].clone();
      minus[i] = inputs[i].clone();
      const double* vp = v.data<double>();
      for (int64_t e = 0; e < v.numel(); ++e) {
        plus[i].data<double>()[e] += eps * vp[e];
        minus[i].data<double>()[e] -= eps * vp[e];
      }
      const double numeric = (loss(plus) - loss(minus)) / (2 * eps);
      double analytic = 0;
      const double* g = grads[j].data<double>();
      for (int64_t e = 0; e < v.numel(); ++e) analytic += g[e] * vp[e];
      EXPECT_GT(std::abs(numeric), 1e-3) << describe(c, k) << " input " << i << ": a trivial check";
      EXPECT_NEAR(analytic, numeric, 1e-6 + 1e-6 * std::abs(numeric)) << describe(c, k) << " input " << i;
    }
  }
}

TEST(RecurrentGrad, ProducesOnlyWantedOutputsAndTakesAbsentGradientsAsZero) {
  const Config c = make_config("GRU", 4, 3, 3, 2, "forward", 0, true, {4, 2, 3}, {}, 5);
  std::vector<Tensor> all = c.inputs;
  all.push_back(Tensor());                           // no dY
  all.push_back(random_float32(state_shape(c), 6));  // dY_h
  Node n = node_for("GRUGrad", 1, kGradientDomain, all, 5, c.attrs);
  n.outputs[1].clear();  // dW not wanted
  const std::vector<Tensor> out = run_node(n, all);
  EXPECT_TRUE(out[0].defined());
  EXPECT_FALSE(out[1].defined());
  EXPECT_TRUE(out[2].defined());
  // Without dY, a batch entry's dX rows past its length stay zero (row x_row(t, b) = t * batch + b).
  const float* dx = out[0].data<float>();
  for (int64_t t = 2; t < 4; ++t)
    for (int64_t i = 0; i < 3; ++i) EXPECT_EQ(dx[(t * 3 + 1) * 3 + i], 0.0f);
}

}  // namespace
}  // namespace onnx_train
