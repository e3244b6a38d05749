// Numeric gradient checks: every gradient rule against central differences, in float64.
//
// Each row builds y = op(x...) and the scalar loss L = ReduceSum(y * r) with a fixed random
// r (so every element of y matters), appends the backward graph with the gradient builder,
// and compares dL/dx from the built graph with (L(x + eps) - L(x - eps)) / (2 eps) for every
// element of every input. Inputs are drawn away from kinks (|x| >= 0.2, or positive where
// the op needs it). The seed is printed on failure.
#include <gtest/gtest.h>

#include <random>
#include <set>

#include "gradients/autodiff.h"
#include "gradients/builder.h"
#include "importers/onnx_model.h"
#include "runtime/exec/plan.h"
#include "tests/support/model_builder.h"

namespace onnx_train {
namespace {

struct GradCase {
  std::string op;
  int opset;
  std::vector<Shape> inputs;
  Shape output;
  bool positive = false;  // inputs drawn from (0.2, 1.2] (Log, Sqrt)
  std::vector<std::pair<std::string, int64_t>> int_attrs = {};
  std::vector<std::pair<std::string, std::vector<int64_t>>> ints_attrs = {};
  // Further int64 inputs (axes, shapes), given as initializers after the float inputs.
  std::vector<std::vector<int64_t>> int64_inputs = {};
};

void add_int_attr(onnx::NodeProto& node, const std::string& name, int64_t value) {
  auto* a = node.add_attribute();
  a->set_name(name);
  a->set_type(onnx::AttributeProto::INT);
  a->set_i(value);
}

void add_ints_attr(onnx::NodeProto& node, const std::string& name, const std::vector<int64_t>& values) {
  auto* a = node.add_attribute();
  a->set_name(name);
  a->set_type(onnx::AttributeProto::INTS);
  for (int64_t v : values) a->add_ints(v);
}

// One row per op and case; broadcasting and scalar cases where the op broadcasts.
const std::vector<GradCase> kCases = {
    {"Add", 13, {{2, 3}, {2, 3}}, {2, 3}},
    {"Add", 13, {{2, 3}, {3}}, {2, 3}},
    {"Add", 14, {{2, 1, 4}, {3, 1}}, {2, 3, 4}},
    {"Add", 7, {{}, {2, 2}}, {2, 2}},
    {"Sub", 13, {{2, 3}, {2, 1}}, {2, 3}},
    {"Sub", 14, {{3}, {}}, {3}},
    {"Mul", 13, {{2, 3}, {2, 3}}, {2, 3}},
    {"Mul", 13, {{4, 1}, {1, 3}}, {4, 3}},
    {"Div", 13, {{2, 3}, {2, 3}}, {2, 3}},
    {"Div", 14, {{2, 3}, {3}}, {2, 3}},
    {"Neg", 13, {{5}}, {5}},
    {"Identity", 13, {{2, 2}}, {2, 2}},
    {"Relu", 14, {{3, 4}}, {3, 4}},
    {"Sigmoid", 13, {{3, 4}}, {3, 4}},
    {"Tanh", 13, {{3, 4}}, {3, 4}},
    {"Exp", 13, {{6}}, {6}},
    {"Log", 13, {{6}}, {6}, true},
    {"Sqrt", 13, {{2, 3}}, {2, 3}, true},
    {"ReduceSum", 13, {{2, 3}}, {1, 1}},
    {"ReduceSum", 11, {{2, 3, 4}}, {2, 4}, false, {{"keepdims", 0}}, {{"axes", {-2}}}},
    {"ReduceSum", 13, {{2, 3, 4}}, {2, 1, 4}, false, {}, {}, {{1}}},  // axes as an input
    {"ReduceSum", 13, {{2, 3, 4}}, {3}, false, {{"keepdims", 0}}, {}, {{0, -1}}},
    {"ReduceMean", 13, {{2, 3, 2}}, {1, 1, 1}},
    {"ReduceMean", 13, {{2, 3, 2}}, {3}, false, {{"keepdims", 0}}, {{"axes", {0, 2}}}},
    {"ReduceMean", 7, {{4, 2}}, {4, 1}, false, {}, {{"axes", {1}}}},
};

Tensor random_input(const Shape& shape, bool positive, std::mt19937& gen) {
  std::uniform_real_distribution<double> magnitude(0.2, 1.2);
  std::bernoulli_distribution sign(0.5);
  Tensor t(DType::Float64, shape);
  double* p = t.data<double>();
  for (int64_t i = 0; i < t.numel(); ++i) p[i] = (positive || sign(gen) ? 1 : -1) * magnitude(gen);
  return t;
}

// "passed" or what differs.
std::string check_case(const GradCase& c, unsigned seed) {
  testing::TempDir dir;
  testing::ModelBuilder m(c.opset);
  std::vector<std::string> names;
  for (size_t i = 0; i < c.inputs.size(); ++i) {
    names.push_back("x" + std::to_string(i));
    m.input(names.back(), onnx::TensorProto::DOUBLE, c.inputs[i]);
  }
  m.input("r", onnx::TensorProto::DOUBLE, c.output);
  std::vector<std::string> node_inputs = names;
  for (size_t i = 0; i < c.int64_inputs.size(); ++i) {
    node_inputs.push_back("i" + std::to_string(i));
    m.initializer(node_inputs.back(), Tensor::from<int64_t>({static_cast<int64_t>(c.int64_inputs[i].size())},
                                                            c.int64_inputs[i]));
  }
  auto& node = m.node(c.op, node_inputs, {"y"});
  for (const auto& [name, v] : c.int_attrs) add_int_attr(node, name, v);
  for (const auto& [name, v] : c.ints_attrs) add_ints_attr(node, name, v);
  m.node("Mul", {"y", "r"}, {"t"});
  add_int_attr(m.node("ReduceSum", {"t"}, {"loss"}), "keepdims", 0);
  m.output("loss", onnx::TensorProto::DOUBLE, {});
  m.save(dir.path() + "/model.onnx");

  Graph forward = load_onnx_model(dir.path() + "/model.onnx");
  Graph training = forward;
  const GradientGraph grads = build_gradient_graph(training, "loss", names);
  Plan forward_plan(forward, KernelRegistry::global(), c.op + " forward");
  Plan training_plan(training, KernelRegistry::global(), c.op + " training");

  std::mt19937 gen(seed);
  std::vector<Tensor> feeds;
  for (const Shape& s : c.inputs) feeds.push_back(random_input(s, c.positive, gen));
  feeds.push_back(random_input(c.output, false, gen));
  const std::vector<Tensor> out = training_plan.run(feeds);

  const double eps = 1e-6;
  for (size_t i = 0; i < c.inputs.size(); ++i) {
    const Tensor& analytic = out[1 + i];
    if (analytic.shape() != c.inputs[i])
      return fmt::format("gradient of x{} has shape {}, the input {}", i, shape_str(analytic.shape()),
                         shape_str(c.inputs[i]));
    for (int64_t j = 0; j < feeds[i].numel(); ++j) {
      std::vector<Tensor> plus = feeds, minus = feeds;
      plus[i] = feeds[i].clone();
      minus[i] = feeds[i].clone();
      plus[i].data<double>()[j] += eps;
      minus[i].data<double>()[j] -= eps;
      const double numeric =
          (forward_plan.run(plus)[0].to_doubles()[0] - forward_plan.run(minus)[0].to_doubles()[0]) / (2 * eps);
      const double got = analytic.data<double>()[j];
      if (std::abs(got - numeric) > 1e-6 + 1e-5 * std::abs(numeric))
        return fmt::format("d loss / d x{}[{}]: built graph gives {}, central difference {}", i, j, got, numeric);
    }
  }
  (void)grads;
  return "passed";
}

TEST(GradCheck, EveryCaseMatchesCentralDifferences) {
  int passed = 0, failed = 0;
  for (size_t k = 0; k < kCases.size(); ++k) {
    const GradCase& c = kCases[k];
    const unsigned seed = 1000 + static_cast<unsigned>(k);
    std::string result;
    try {
      result = check_case(c, seed);
    } catch (const std::exception& e) {
      result = e.what();
    }
    if (result == "passed") {
      ++passed;
    } else {
      ++failed;
      ADD_FAILURE() << c.op << "-" << c.opset << " case " << k << " (seed " << seed << "): " << result;
    }
  }
  std::cout << "gradcheck: " << passed << " passed, " << failed << " failed" << std::endl;
}

TEST(GradCheck, EveryRuleHasARow) {
  std::set<std::string> covered;
  for (const auto& c : kCases) covered.insert(c.op);
  for (const GradRuleEntry& e : gradient_rules())
    if (e.rule != nullptr) EXPECT_TRUE(covered.count(e.op_type)) << "gradient rule " << e.op_type << " has no row";
}

}  // namespace
}  // namespace onnx_train
