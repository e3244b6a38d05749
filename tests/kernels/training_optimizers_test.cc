// Unit tests for the ai.onnx.preview.training optimizers (reference/training_optimizers.cc):
// Adagrad, Momentum (standard, Nesterov) and Adam against the spec's pseudo code written out
// here in double, for float32 and float64, one and several tensors, first (T = 0) and later
// updates; a few steps of each minimising a quadratic; and the errors.
#include <gtest/gtest.h>

#include <cmath>
#include <vector>

#include "runtime/kernels/kernel.h"
#include "tests/support/kernel_harness.h"

namespace onnx_train {
namespace {

using testing::error_of;
using testing::make_kernel;
using testing::make_node;
using testing::run_kernel;

const char* const kDomain = "ai.onnx.preview.training";

Node optimizer_node(const std::string& op, size_t inputs, size_t outputs, std::map<std::string, Attribute> attrs) {
  Node node = make_node(op, 1, inputs, outputs, std::move(attrs));
  node.domain = kDomain;
  return node;
}

std::vector<Tensor> run_optimizer(const std::string& op, const std::vector<Tensor>& inputs, size_t outputs,
                                  std::map<std::string, Attribute> attrs) {
  const Node node = optimizer_node(op, inputs.size(), outputs, std::move(attrs));
  auto kernel = make_kernel(node);
  return run_kernel(*kernel, node, inputs);
}

template <typename T>
Tensor vec(std::vector<double> values) {
  std::vector<T> v(values.begin(), values.end());
  return Tensor::from<T>({static_cast<int64_t>(v.size())}, v);
}

Tensor step(int64_t t) { return Tensor::scalar<int64_t>(t); }

void expect_near_values(const Tensor& actual, const std::vector<double>& expected, double rtol,
                        const std::string& what) {
  const std::vector<double> a = actual.to_doubles();
  ASSERT_EQ(a.size(), expected.size()) << what;
  for (size_t i = 0; i < a.size(); ++i)
    EXPECT_NEAR(a[i], expected[i], rtol * std::abs(expected[i]) + 1e-12) << what << " [" << i << "]";
}

// The spec's pseudo code, in double.
struct Updated {
  std::vector<double> x, s1, s2;
};

Updated adagrad_ref(double r, int64_t t, std::vector<double> x, std::vector<double> g, std::vector<double> h,
                    double lambda, double eps, double decay) {
  Updated u;
  const double rate = r / (1 + t * decay);
  for (size_t i = 0; i < x.size(); ++i) {
    const double gr = lambda * x[i] + g[i];
    const double hn = h[i] + gr * gr;
    u.x.push_back(x[i] - rate * gr / (std::sqrt(hn) + eps));
    u.s1.push_back(hn);
  }
  return u;
}

Updated momentum_ref(double r, int64_t t, std::vector<double> x, std::vector<double> g, std::vector<double> v,
                     double lambda, double alpha, double beta, bool nesterov) {
  Updated u;
  const double b = t > 0 ? beta : 1;
  for (size_t i = 0; i < x.size(); ++i) {
    const double gr = lambda * x[i] + g[i];
    const double vn = alpha * v[i] + b * gr;
    u.x.push_back(nesterov ? x[i] - r * (gr + alpha * vn) : x[i] - r * vn);
    u.s1.push_back(vn);
  }
  return u;
}

Updated adam_ref(double r, int64_t t, std::vector<double> x, std::vector<double> g, std::vector<double> v,
                 std::vector<double> h, double lambda, double lambda_post, double alpha, double beta, double eps) {
  Updated u;
  const double ra = t > 0 ? r * std::sqrt(1 - std::pow(beta, t)) / (1 - std::pow(alpha, t)) : r;
  for (size_t i = 0; i < x.size(); ++i) {
    const double gr = lambda * x[i] + g[i];
    const double vn = alpha * v[i] + (1 - alpha) * gr;
    const double hn = beta * h[i] + (1 - beta) * gr * gr;
    u.x.push_back((1 - lambda_post) * (x[i] - ra * vn / (std::sqrt(hn) + eps)));
    u.s1.push_back(vn);
    u.s2.push_back(hn);
  }
  return u;
}

// The attributes as the kernel sees them (float attributes are float32).
double f32(double v) { return static_cast<float>(v); }

template <typename T>
class OptimizerTyped : public ::testing::Test {};
using FloatTypes = ::testing::Types<float, double>;
TYPED_TEST_SUITE(OptimizerTyped, FloatTypes);

TYPED_TEST(OptimizerTyped, AdagradOneAndTwoTensors) {
  using T = TypeParam;
  const double rtol = std::is_same_v<T, float> ? 1e-6 : 1e-13;
  const std::map<std::string, Attribute> attrs = {{"norm_coefficient", Attribute::of_float(0.001f)},
                                                  {"epsilon", Attribute::of_float(1e-5f)},
                                                  {"decay_factor", Attribute::of_float(0.1f)}};
  const std::vector<double> x1 = {1.0}, g1 = {-1.0}, h1 = {2.0};
  const std::vector<double> x2 = {1.0, 2.0, -0.5}, g2 = {-1.0, -3.0, 0.25}, h2 = {4.0, 1.0, 0.0};
  for (int64_t t : {0, 1, 7}) {
    const auto out = run_optimizer(
        "Adagrad",
        {Tensor::scalar<T>(T(0.1)), step(t), vec<T>(x1), vec<T>(x2), vec<T>(g1), vec<T>(g2), vec<T>(h1), vec<T>(h2)}, 4,
        attrs);
    const auto r1 = adagrad_ref(double(T(0.1)), t, x1, g1, h1, f32(0.001), f32(1e-5), f32(0.1));
    const auto r2 = adagrad_ref(double(T(0.1)), t, x2, g2, h2, f32(0.001), f32(1e-5), f32(0.1));
    const std::string at = "T = " + std::to_string(t);
    EXPECT_EQ(out[0].dtype(), dtype_of<T>());
    expect_near_values(out[0], r1.x, rtol, "X1_new, " + at);
    expect_near_values(out[1], r2.x, rtol, "X2_new, " + at);
    expect_near_values(out[2], r1.s1, rtol, "H1_new, " + at);
    expect_near_values(out[3], r2.s1, rtol, "H2_new, " + at);
  }
}

TYPED_TEST(OptimizerTyped, MomentumStandardAndNesterov) {
  using T = TypeParam;
  const double rtol = std::is_same_v<T, float> ? 1e-6 : 1e-13;
  const std::vector<double> x = {1.2, 2.8, -0.3}, g = {-0.94, -2.5, 0.1}, v = {1.7, 3.6, -0.2};
  for (const bool nesterov : {false, true}) {
    const std::map<std::string, Attribute> attrs = {{"norm_coefficient", Attribute::of_float(0.01f)},
                                                    {"alpha", Attribute::of_float(0.95f)},
                                                    {"beta", Attribute::of_float(0.85f)},
                                                    {"mode", Attribute::of_string(nesterov ? "nesterov" : "standard")}};
    for (int64_t t : {0, 3}) {  // beta applies from the second update on
      const auto out =
          run_optimizer("Momentum", {Tensor::scalar<T>(T(0.1)), step(t), vec<T>(x), vec<T>(g), vec<T>(v)}, 2, attrs);
      const auto ref = momentum_ref(double(T(0.1)), t, x, g, v, f32(0.01), f32(0.95), f32(0.85), nesterov);
      const std::string what = std::string(nesterov ? "nesterov" : "standard") + ", T = " + std::to_string(t);
      expect_near_values(out[0], ref.x, rtol, "X_new, " + what);
      expect_near_values(out[1], ref.s1, rtol, "V_new, " + what);
    }
  }
}

TYPED_TEST(OptimizerTyped, AdamWithBiasCorrectionAndPostRegularization) {
  using T = TypeParam;
  const double rtol = std::is_same_v<T, float> ? 1e-5 : 1e-12;
  const std::map<std::string, Attribute> attrs = {{"norm_coefficient", Attribute::of_float(0.001f)},
                                                  {"norm_coefficient_post", Attribute::of_float(0.01f)},
                                                  {"alpha", Attribute::of_float(0.9f)},
                                                  {"beta", Attribute::of_float(0.999f)},
                                                  {"epsilon", Attribute::of_float(1e-7f)}};
  const std::vector<double> x1 = {1.0}, g1 = {-1.0}, v1 = {2.0}, h1 = {0.5};
  const std::vector<double> x2 = {1.0, 2.0}, g2 = {-1.0, -3.0}, v2 = {4.0, 1.0}, h2 = {1.0, 10.0};
  for (int64_t t : {0, 1, 10}) {
    const auto out = run_optimizer("Adam",
                                   {Tensor::scalar<double>(0.05), step(t), vec<T>(x1), vec<T>(x2), vec<T>(g1),
                                    vec<T>(g2), vec<T>(v1), vec<T>(v2), vec<T>(h1), vec<T>(h2)},
                                   6, attrs);
    const auto r1 = adam_ref(0.05, t, x1, g1, v1, h1, f32(0.001), f32(0.01), f32(0.9), f32(0.999), f32(1e-7));
    const auto r2 = adam_ref(0.05, t, x2, g2, v2, h2, f32(0.001), f32(0.01), f32(0.9), f32(0.999), f32(1e-7));
    const std::string at = "T = " + std::to_string(t);
    expect_near_values(out[0], r1.x, rtol, "X1_new, " + at);
    expect_near_values(out[1], r2.x, rtol, "X2_new, " + at);
    expect_near_values(out[2], r1.s1, rtol, "V1_new, " + at);
    expect_near_values(out[3], r2.s1, rtol, "V2_new, " + at);
    expect_near_values(out[4], r1.s2, rtol, "H1_new, " + at);
    expect_near_values(out[5], r2.s2, rtol, "H2_new, " + at);
  }
}

// ONNX's test_adam case (onnx/backend/test/case/node/adam.py), values from its test data.
TEST(Optimizers, AdamMatchesOnnxTestData) {
  const auto out = run_optimizer("Adam",
                                 {Tensor::scalar<float>(0.1f), step(0), vec<float>({1.2, 2.8}),
                                  vec<float>({-0.94, -2.5}), vec<float>({1.7, 3.6}), vec<float>({0.1, 0.1})},
                                 3,
                                 {{"norm_coefficient", Attribute::of_float(0.001f)},
                                  {"alpha", Attribute::of_float(0.95f)},
                                  {"beta", Attribute::of_float(0.1f)},
                                  {"epsilon", Attribute::of_float(1e-7f)}});
  const auto ref = adam_ref(0.1, 0, {1.2, 2.8}, {-0.94, -2.5}, {1.7, 3.6}, {0.1, 0.1}, 0.001, 0, 0.95, 0.1, 1e-7);
  expect_near_values(out[0], ref.x, 1e-5, "X_new");
  expect_near_values(out[1], ref.s1, 1e-5, "V_new");
  expect_near_values(out[2], ref.s2, 1e-5, "H_new");
}

// Repeated steps on f(x) = 0.5 * sum((x - target)^2), whose gradient is x - target, with the
// state fed back and T counting up: every optimizer ends close to the target.
TEST(Optimizers, StepsMinimiseAQuadratic) {
  const std::vector<double> target = {3.0, -1.0, 0.5};
  struct Case {
    std::string op;
    std::map<std::string, Attribute> attrs;
    int state_count;
    double rate;
  };
  const std::vector<Case> cases = {
      {"Adagrad", {{"epsilon", Attribute::of_float(1e-6f)}}, 1, 1.0},
      {"Momentum",
       {{"alpha", Attribute::of_float(0.9f)},
        {"beta", Attribute::of_float(1.f)},
        {"norm_coefficient", Attribute::of_float(0.f)},
        {"mode", Attribute::of_string("standard")}},
       1,
       0.05},
      {"Momentum",
       {{"alpha", Attribute::of_float(0.9f)},
        {"beta", Attribute::of_float(1.f)},
        {"norm_coefficient", Attribute::of_float(0.f)},
        {"mode", Attribute::of_string("nesterov")}},
       1,
       0.05},
      {"Adam", {}, 2, 0.1},
  };
  for (const Case& c : cases) {
    const Node node = optimizer_node(c.op, 4 + c.state_count, 1 + c.state_count, c.attrs);
    auto kernel = make_kernel(node);
    Tensor x = vec<double>({0, 0, 0});
    std::vector<Tensor> state(c.state_count, vec<double>({0, 0, 0}));
    for (int64_t t = 0; t < 400; ++t) {
      Tensor g = x.clone();
      for (size_t i = 0; i < target.size(); ++i) g.data<double>()[i] -= target[i];
      std::vector<Tensor> inputs = {Tensor::scalar<double>(c.rate), step(t), x, g};
      inputs.insert(inputs.end(), state.begin(), state.end());
      const auto out = run_kernel(*kernel, node, inputs);
      x = out[0];
      for (int s = 0; s < c.state_count; ++s) state[s] = out[1 + s];
    }
    expect_near_values(x, target, 1e-2, c.op + " " + node.attr_string("mode", ""));
  }
}

TEST(Optimizers, Errors) {
  const std::map<std::string, Attribute> momentum = {{"alpha", Attribute::of_float(0.9f)},
                                                     {"beta", Attribute::of_float(1.f)},
                                                     {"norm_coefficient", Attribute::of_float(0.f)},
                                                     {"mode", Attribute::of_string("standard")}};
  const Tensor r = Tensor::scalar<float>(0.1f), x = vec<float>({1, 2}), x3 = vec<float>({1, 2, 3});
  // Input and output counts that do not fit R, T, X..., G..., state...
  EXPECT_NE(error_of([&] { make_kernel(optimizer_node("Adam", 5, 3, {})); }).find("expected R, T"), std::string::npos);
  EXPECT_NE(error_of([&] { make_kernel(optimizer_node("Adagrad", 5, 3, {})); }).find("outputs"), std::string::npos);
  // Momentum's attributes are required; mode is one of two.
  EXPECT_NE(error_of([&] { make_kernel(optimizer_node("Momentum", 5, 2, {})); }).find("alpha"), std::string::npos);
  auto bad_mode = momentum;
  bad_mode["mode"] = Attribute::of_string("heavy-ball");
  EXPECT_NE(error_of([&] { make_kernel(optimizer_node("Momentum", 5, 2, bad_mode)); }).find("heavy-ball"),
            std::string::npos);
  // Shapes and types of a tensor's gradient and state must match it.
  EXPECT_NE(error_of([&] {
              run_optimizer("Momentum", {r, step(0), x, x3, x}, 2, momentum);
            }).find("[3]"),
            std::string::npos);
  EXPECT_NE(error_of([&] {
              run_optimizer("Momentum", {r, step(0), x, vec<double>({1, 2}), x}, 2, momentum);
            }).find("float64"),
            std::string::npos);
  // X must be float32 or float64; R a float scalar; T a non-negative int64 scalar.
  const Tensor xi = Tensor::from<int64_t>({2}, {1, 2});
  EXPECT_NE(error_of([&] {
              run_optimizer("Momentum", {r, step(0), xi, xi, xi}, 2, momentum);
            }).find("float32"),
            std::string::npos);
  EXPECT_NE(error_of([&] {
              run_optimizer("Momentum", {x, step(0), x, x, x}, 2, momentum);
            }).find("learning rate"),
            std::string::npos);
  EXPECT_NE(error_of([&] {
              run_optimizer("Momentum", {r, step(-1), x, x, x}, 2, momentum);
            }).find("negative"),
            std::string::npos);
  EXPECT_NE(error_of([&] {
              run_optimizer("Momentum", {r, Tensor::scalar<int32_t>(0), x, x, x}, 2, momentum);
            }).find("int64"),
            std::string::npos);
}

}  // namespace
}  // namespace onnx_train
