// Tests of runtime/optim/optimizers.h: parity with torch.optim (and with a numpy LAMB) on the
// fixtures of tests/data/make_optim_parity.py, checkpoint round trips, errors, threading.
#include "onnx_train/optimizers.h"

#include <gtest/gtest.h>
#include <omp.h>

#include <cmath>
#include <cstring>
#include <fstream>
#include <sstream>

#include "runtime/core/dispatch.h"

namespace onnx_train {
namespace {

// One fixture file of tests/data/optim_parity (format in make_optim_parity.py).
struct ParityParam {
  std::string name;
  bool decay = true;
  Shape shape;
  std::vector<double> init, final;
  std::vector<std::vector<double>> grads;            // [step][element]
  std::map<std::string, std::vector<double>> state;  // slot -> values after the last step
};

struct ParityCase {
  std::string kind;
  DType dtype = DType::Float32;
  OptimizerOptions options;
  std::vector<double> lrs;
  std::vector<ParityParam> params;
};

std::vector<double> read_values(std::istringstream& line) {
  std::vector<double> values;
  for (double v; line >> v;) values.push_back(v);
  return values;
}

void set_option(OptimizerOptions& options, const std::string& name, double value) {
  if (name == "momentum")
    options.momentum = value;
  else if (name == "dampening")
    options.dampening = value;
  else if (name == "nesterov")
    options.nesterov = value != 0;
  else if (name == "weight_decay")
    options.weight_decay = value;
  else if (name == "amsgrad")
    options.amsgrad = value != 0;
  else if (name == "centered")
    options.centered = value != 0;
  else if (name == "lr_decay")
    options.lr_decay = value;
  else if (name == "initial_accumulator_value")
    options.initial_accumulator_value = value;
  else
    FAIL() << "unknown option " << name;
}

ParityCase read_case(const std::string& case_name) {
  const std::string path = std::string(ONNX_TRAIN_SOURCE_DIR) + "/tests/data/optim_parity/" + case_name + ".txt";
  std::ifstream file(path);
  EXPECT_TRUE(file) << "cannot open " << path;
  ParityCase c;
  for (std::string text; std::getline(file, text);) {
    std::istringstream line(text);
    std::string key;
    if (!(line >> key) || key[0] == '#') continue;
    if (key == "kind") {
      line >> c.kind;
      c.options.kind = c.kind;
    } else if (key == "dtype") {
      std::string dtype;
      line >> dtype;
      c.dtype = dtype == "float64" ? DType::Float64 : DType::Float32;
    } else if (key == "option") {
      std::string name;
      double value;
      line >> name >> value;
      set_option(c.options, name, value);
    } else if (key == "lr") {
      c.lrs = read_values(line);
    } else if (key == "param") {
      ParityParam p;
      int decay, rank;
      line >> p.name >> decay >> rank;
      p.decay = decay != 0;
      p.shape.resize(rank);
      for (auto& d : p.shape) line >> d;
      c.params.push_back(p);
    } else if (key == "init") {
      c.params.back().init = read_values(line);
    } else if (key == "grad") {
      c.params.back().grads.push_back(read_values(line));
    } else if (key == "final") {
      c.params.back().final = read_values(line);
    } else if (key == "state") {
      std::string slot;
      line >> slot;
      c.params.back().state[slot] = read_values(line);
    } else {
      ADD_FAILURE() << path << ": unknown record " << key;
    }
  }
  return c;
}

Tensor make_tensor(DType dtype, const Shape& shape, const std::vector<double>& values) {
  Tensor t(dtype, shape);
  EXPECT_EQ(static_cast<int64_t>(values.size()), t.numel());
  visit_float(dtype, [&](auto tag) {
    using T = typename decltype(tag)::type;
    for (size_t i = 0; i < values.size(); ++i) t.data<T>()[i] = static_cast<T>(values[i]);
  });
  return t;
}

// The parameters and this step's gradients of a case, as the optimizer sees them.
struct Model {
  std::vector<Tensor> values, grads;
  std::vector<Param> params;

  explicit Model(const ParityCase& c) {
    for (const ParityParam& p : c.params) {
      values.push_back(make_tensor(c.dtype, p.shape, p.init));
      grads.emplace_back();
    }
    for (size_t i = 0; i < c.params.size(); ++i)
      params.push_back({c.params[i].name, &values[i], &grads[i], c.params[i].decay});
  }

  // Steps [first, last) of the case.
  void run(const ParityCase& c, Optimizer& optimizer, size_t first, size_t last) {
    for (size_t step = first; step < last; ++step) {
      for (size_t i = 0; i < c.params.size(); ++i)
        grads[i] = make_tensor(c.dtype, c.params[i].shape, c.params[i].grads[step]);
      optimizer.step(params, c.lrs[step]);
    }
  }
};

void expect_close(const std::vector<double>& actual, const std::vector<double>& expected, double rtol, double atol,
                  const std::string& what) {
  ASSERT_EQ(actual.size(), expected.size()) << what;
  for (size_t i = 0; i < actual.size(); ++i)
    EXPECT_LE(std::abs(actual[i] - expected[i]), atol + rtol * std::abs(expected[i]))
        << what << "[" << i << "]: " << actual[i] << " vs " << expected[i];
}

bool bitwise_equal(const Tensor& a, const Tensor& b) {
  return a.dtype() == b.dtype() && a.shape() == b.shape() && std::memcmp(a.raw_data(), b.raw_data(), a.nbytes()) == 0;
}

class OptimizerParity : public testing::TestWithParam<std::string> {};

// 20 steps equal torch.optim's or the numpy LAMB's. float32: rtol 1e-5, atol 1e-6. float64:
// rtol 1e-12, atol 1e-13 (the same formulas in the same precision, differing only in rounding
// order; the largest difference seen is 2e-15).
TEST_P(OptimizerParity, MatchesReference) {
  const ParityCase c = read_case(GetParam());
  ASSERT_EQ(c.lrs.size(), 20u);
  const bool f32 = c.dtype == DType::Float32;
  const double rtol = f32 ? 1e-5 : 1e-12, atol = f32 ? 1e-6 : 1e-13;
  auto optimizer = make_optimizer(c.options);
  Model model(c);
  model.run(c, *optimizer, 0, c.lrs.size());
  const auto state = optimizer->state();
  for (size_t i = 0; i < c.params.size(); ++i) {
    const ParityParam& p = c.params[i];
    expect_close(model.values[i].to_doubles(), p.final, rtol, atol, p.name);
    for (const auto& [slot, expected] : p.state) {
      const auto found = state.find(p.name + "/" + slot);
      ASSERT_NE(found, state.end()) << p.name << "/" << slot;
      expect_close(found->second.to_doubles(), expected, rtol, atol, p.name + "/" + slot);
    }
  }
}

// 10 steps, state() into a new optimizer, 10 more steps: bit for bit the 20 steps of one.
TEST_P(OptimizerParity, CheckpointContinuesBitwise) {
  const ParityCase c = read_case(GetParam());
  auto straight = make_optimizer(c.options);
  Model straight_model(c);
  straight_model.run(c, *straight, 0, 20);

  auto first = make_optimizer(c.options);
  Model resumed_model(c);
  resumed_model.run(c, *first, 0, 10);
  const auto saved = first->state();
  first.reset();
  auto second = make_optimizer(c.options);
  second->load_state(saved);
  resumed_model.run(c, *second, 10, 20);

  for (size_t i = 0; i < c.params.size(); ++i)
    EXPECT_TRUE(bitwise_equal(resumed_model.values[i], straight_model.values[i])) << c.params[i].name;
  const auto a = straight->state(), b = second->state();
  ASSERT_EQ(a.size(), b.size());
  for (const auto& [key, tensor] : a) {
    ASSERT_TRUE(b.count(key)) << key;
    EXPECT_TRUE(bitwise_equal(tensor, b.at(key))) << key;
  }
}

INSTANTIATE_TEST_SUITE_P(Fixtures, OptimizerParity,
                         testing::Values("sgd", "sgd_nesterov", "sgd_momentum_dampening_wd", "adam", "adam_amsgrad_wd",
                                         "adamw", "adagrad_lr_decay", "rmsprop_centered_momentum", "rmsprop", "sgd_f64",
                                         "sgd_nesterov_f64", "sgd_momentum_dampening_wd_f64", "adam_f64",
                                         "adam_amsgrad_wd_f64", "adamw_f64", "adagrad_lr_decay_f64",
                                         "rmsprop_centered_momentum_f64", "rmsprop_f64", "lamb"),
                         [](const testing::TestParamInfo<std::string>& info) { return info.param; });

TEST(Optimizer, KindDefaultsArePyTorchs) {
  auto options_of = [](const std::string& kind) {
    OptimizerOptions o;
    o.kind = kind;
    return make_optimizer(o)->options();
  };
  EXPECT_EQ(*options_of("sgd").weight_decay, 0.0);
  EXPECT_EQ(*options_of("adam").weight_decay, 0.0);
  EXPECT_EQ(*options_of("adam").eps, 1e-8);
  EXPECT_EQ(*options_of("adamw").weight_decay, 1e-2);
  EXPECT_EQ(*options_of("adagrad").eps, 1e-10);
  EXPECT_EQ(*options_of("rmsprop").eps, 1e-8);
  EXPECT_EQ(options_of("rmsprop").alpha, 0.99);
  EXPECT_EQ(*options_of("lamb").eps, 1e-6);
  EXPECT_EQ(options_of("lamb").beta2, 0.999);
}

TEST(Optimizer, RejectsBadOptions) {
  OptimizerOptions o;
  o.kind = "adamax";
  EXPECT_THROW(make_optimizer(o), Error);
  o.kind = "sgd";
  o.amsgrad = true;  // an Adam option on SGD
  EXPECT_THROW(make_optimizer(o), Error);
  o.amsgrad = false;
  o.nesterov = true;  // nesterov without momentum, as torch
  EXPECT_THROW(make_optimizer(o), Error);
  o.kind = "adam";
  o.nesterov = false;
  o.beta1 = 1.0;
  EXPECT_THROW(make_optimizer(o), Error);
}

// A gradient of the wrong shape names the parameter, and no parameter of the step changes.
TEST(Optimizer, GradientShapeMismatchNamesParameter) {
  OptimizerOptions o;
  o.kind = "adam";
  auto optimizer = make_optimizer(o);
  Tensor w = Tensor::from<float>({2}, {1, 2}), w_grad = Tensor::from<float>({2}, {1, 1});
  Tensor b = Tensor::from<float>({3}, {1, 2, 3}), b_grad = Tensor::from<float>({2}, {1, 1});
  const std::vector<Param> params = {{"fc.weight", &w, &w_grad, true}, {"fc.bias", &b, &b_grad, false}};
  try {
    optimizer->step(params, 0.1);
    FAIL() << "expected an Error";
  } catch (const Error& e) {
    EXPECT_NE(std::string(e.what()).find("'fc.bias'"), std::string::npos) << e.what();
    EXPECT_NE(std::string(e.what()).find("[2]"), std::string::npos) << e.what();
  }
  EXPECT_EQ(w.to_doubles(), (std::vector<double>{1, 2}));
  EXPECT_TRUE(optimizer->state().empty());
}

// A checkpoint applied to a parameter of another shape fails at the next step, naming it.
TEST(Optimizer, LoadedStateOfWrongShapeNamesParameter) {
  OptimizerOptions o;
  o.kind = "sgd";
  o.momentum = 0.9;
  auto optimizer = make_optimizer(o);
  Tensor w = Tensor::from<float>({2}, {1, 2}), w_grad = Tensor::from<float>({2}, {1, 1});
  optimizer->load_state({{"w/step", Tensor::scalar<int64_t>(3)}, {"w/momentum_buffer", Tensor(DType::Float32, {4})}});
  EXPECT_THROW(optimizer->step({{"w", &w, &w_grad, true}}, 0.1), Error);
  EXPECT_THROW(optimizer->load_state({{"w/step", Tensor::scalar<int64_t>(3)}}), Error);  // no momentum_buffer
}

// A parameter left out of a step keeps its step count, as a PyTorch parameter without .grad.
TEST(Optimizer, ParameterLeftOutDoesNotAdvance) {
  OptimizerOptions o;
  o.kind = "adam";
  auto optimizer = make_optimizer(o);
  Tensor w = Tensor::from<double>({1}, {1}), b = Tensor::from<double>({1}, {1}), g = Tensor::from<double>({1}, {1});
  optimizer->step({{"w", &w, &g, true}, {"b", &b, &g, true}}, 0.1);
  optimizer->step({{"w", &w, &g, true}}, 0.1);
  const auto state = optimizer->state();
  EXPECT_EQ(state.at("w/step").to_int64s()[0], 2);
  EXPECT_EQ(state.at("b/step").to_int64s()[0], 1);
}

// Large parameters are split between threads; every kind gives the single-thread result bit
// for bit (LAMB's norms are summed in fixed blocks, independent of the thread count).
TEST(Optimizer, ThreadedUpdateEqualsSingleThread) {
  const int64_t n = (1 << 17) + 3;
  std::vector<double> init(n), grad(n);
  for (int64_t i = 0; i < n; ++i) {
    init[i] = std::sin(0.37 * static_cast<double>(i));
    grad[i] = std::cos(0.11 * static_cast<double>(i)) * (1 + i % 3);
  }
  const int threads = omp_get_max_threads();
  for (const char* kind : {"sgd", "adam", "adamw", "adagrad", "rmsprop", "lamb"}) {
    std::vector<Tensor> results;
    for (int use_threads : {1, std::max(2, threads)}) {
      omp_set_num_threads(use_threads);
      OptimizerOptions o;
      o.kind = kind;
      o.weight_decay = 1e-2;
      if (o.kind == "sgd" || o.kind == "rmsprop") o.momentum = 0.9;
      auto optimizer = make_optimizer(o);
      Tensor p = make_tensor(DType::Float32, {n}, init), g = make_tensor(DType::Float32, {n}, grad);
      for (int step = 0; step < 3; ++step) optimizer->step({{"p", &p, &g, true}}, 1e-2);
      results.push_back(p);
    }
    omp_set_num_threads(threads);
    EXPECT_TRUE(bitwise_equal(results[0], results[1])) << kind;
    EXPECT_FALSE(bitwise_equal(results[0], make_tensor(DType::Float32, {n}, init))) << kind;
  }
}

}  // namespace
}  // namespace onnx_train
