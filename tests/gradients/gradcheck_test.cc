// Numeric gradient checks: every gradient rule against central differences, in float64.
//
// Each row builds y = op(x...) and the scalar loss L = ReduceSum(y * r) with a fixed random
// r (so every element of y matters), appends the backward graph with the gradient builder,
// and compares dL/dx from the built graph with (L(x + eps) - L(x - eps)) / (2 eps) for every
// element of every input. Inputs are drawn away from kinks (|x| >= 0.2, or positive where
// the op needs it). The seed is printed on failure.
#include <gtest/gtest.h>

#include <algorithm>
#include <random>
#include <set>

#include "gradients/autodiff.h"
#include "gradients/builder.h"
#include "importers/onnx_model.h"
#include "runtime/exec/plan.h"
#include "tests/gradients/gradcheck_cases.h"
#include "tests/support/model_builder.h"

namespace onnx_train {
namespace {

using testing::GradCase;

Tensor random_input(const Shape& shape, bool positive, std::mt19937& gen, double magnitude_min = 0.2,
                    double magnitude_max = 1.2) {
  std::uniform_real_distribution<double> magnitude(magnitude_min, magnitude_max);
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
  for (size_t i = 0; i < c.input_shapes.size(); ++i) {
    names.push_back("x" + std::to_string(i));
    m.input(names.back(), onnx::TensorProto::DOUBLE, c.input_shapes[i]);
  }
  // Every weighed output k gets its own weights r_k.
  std::vector<Shape> outputs{c.output_shape};
  outputs.insert(outputs.end(), c.more_outputs.begin(), c.more_outputs.end());
  std::vector<std::string> output_names;
  for (size_t k = 0; k < outputs.size(); ++k) {
    output_names.push_back(k == 0 ? "y" : "y" + std::to_string(k));
    m.input(k == 0 ? "r" : "r" + std::to_string(k), onnx::TensorProto::DOUBLE, outputs[k]);
  }
  std::vector<std::string> node_inputs = names;
  for (const auto& [position, value] : c.fixed_inputs) {
    const std::string name = "fixed" + std::to_string(position);
    m.initializer(name, value);
    node_inputs.insert(node_inputs.begin() + static_cast<std::ptrdiff_t>(std::min(position, node_inputs.size())), name);
  }
  std::vector<std::string> node_outputs = output_names;
  for (size_t k = 0; k < c.unweighed_outputs; ++k) node_outputs.push_back("unweighed" + std::to_string(k));
  if (!c.op_domain.empty()) m.opset_import(c.op_domain, 1);
  m.node(c.op, node_inputs, node_outputs, c.op_domain);
  for (const auto& [name, v] : c.int_attrs) m.attr(name, v);
  for (const auto& [name, v] : c.ints_attrs) m.attr(name, v);
  for (const auto& [name, v] : c.float_attrs) m.attr(name, v);
  for (const auto& [name, v] : c.string_attrs) m.attr(name, v);
  std::vector<std::string> terms;
  for (size_t k = 0; k < outputs.size(); ++k) {
    const std::string suffix = k == 0 ? "" : std::to_string(k);
    m.node("Mul", {output_names[k], "r" + suffix}, {"t" + suffix});
    terms.push_back(outputs.size() == 1 ? "loss" : "l" + suffix);
    m.node("ReduceSum", {"t" + suffix}, {terms.back()});
    m.attr("keepdims", 0);
  }
  if (outputs.size() > 1) m.node("Sum", terms, {"loss"});
  m.output("loss", onnx::TensorProto::DOUBLE, {});
  m.save(dir.path() + "/model.onnx");

  Graph forward = load_onnx_model(dir.path() + "/model.onnx");
  Graph training = forward;
  const GradientGraph grads = build_gradient_graph(training, "loss", names);
  Plan forward_plan(forward, KernelRegistry::global(), c.op + " forward");
  Plan training_plan(training, KernelRegistry::global(), c.op + " training");

  std::mt19937 gen(seed);
  std::vector<Tensor> feeds;
  for (size_t i = 0; i < c.input_shapes.size(); ++i) {
    const bool positive =
        c.all_positive || std::find(c.positive_inputs.begin(), c.positive_inputs.end(), i) != c.positive_inputs.end();
    feeds.push_back(random_input(c.input_shapes[i], positive, gen, c.magnitude_min, c.magnitude_max));
  }
  for (const Shape& s : outputs) feeds.push_back(random_input(s, false, gen));
  const std::vector<Tensor> out = training_plan.run(feeds);

  const double eps = 1e-6;
  for (size_t i = 0; i < c.input_shapes.size(); ++i) {
    const Tensor& analytic = out[1 + i];
    if (analytic.shape() != c.input_shapes[i])
      return fmt::format("gradient of x{} has shape {}, the input {}", i, shape_str(analytic.shape()),
                         shape_str(c.input_shapes[i]));
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
  const std::vector<GradCase> cases = testing::all_grad_cases();
  int passed = 0, failed = 0;
  for (size_t k = 0; k < cases.size(); ++k) {
    const GradCase& c = cases[k];
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
  std::set<std::pair<std::string, std::string>> covered;
  for (const auto& c : testing::all_grad_cases()) covered.emplace(c.op_domain, c.op);
  for (const GradRuleEntry& e : gradient_rules())
    if (e.rule != nullptr)
      EXPECT_TRUE(covered.count({e.domain, e.op_type}))
          << "gradient rule " << e.domain << " " << e.op_type << " has no row";
}

}  // namespace
}  // namespace onnx_train
