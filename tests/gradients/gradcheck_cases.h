// The gradient check table: one row per op and case. Each rule family keeps its rows in
// tests/gradients/cases_<family>.cc, registered with ONNX_TRAIN_GRAD_CASES(<family>);
// gradcheck_test.cc runs every registered row and fails when a registered rule has no row.
//
//   ONNX_TRAIN_GRAD_CASES(activations) {
//     return {
//         GradCase("LeakyRelu", 16).input({3, 4}).attr("alpha", 0.1f),
//         GradCase("Pow", 13).input({2, 3}).fixed(1, Tensor::scalar<double>(3.0)),
//     };
//   }
//
// This header is the row type and its registry, not the check (gradcheck_test.cc).
#pragma once

#include <initializer_list>
#include <map>
#include <string>
#include <utility>
#include <vector>

#include "onnx_train/error.h"
#include "onnx_train/tensor.h"

namespace onnx_train::testing {

// y = op(x0, x1, ...) with float64 inputs of the given shapes; r (shape `output_shape`) weighs
// y in the loss, so it must broadcast against y (normally it is y's shape, and the
// first input's shape unless output() says otherwise).
//
// The fields are what gradcheck_test.cc reads; rows set them through the builder calls.
struct GradCase {
  GradCase(std::string op_type, int op_opset) : op(std::move(op_type)), opset(op_opset) {}

  // ---- builder: each call returns the row, so a row is one expression ----
  // The next differentiated input (the first one also gives `output_shape` unless output() is called).
  GradCase& input(Shape shape) {
    if (input_shapes.empty() && !output_given_) output_shape = shape;
    input_shapes.push_back(std::move(shape));
    return *this;
  }
  // Several differentiated inputs in a row: inputs({2, 3}, {3}) is input({2, 3}).input({3}).
  GradCase& inputs(Shape a, Shape b) { return input(std::move(a)).input(std::move(b)); }
  GradCase& inputs(Shape a, Shape b, Shape c) { return inputs(std::move(a), std::move(b)).input(std::move(c)); }
  GradCase& inputs(Shape a, Shape b, Shape c, Shape d) {
    return inputs(std::move(a), std::move(b), std::move(c)).input(std::move(d));
  }
  GradCase& inputs(Shape a, Shape b, Shape c, Shape d, Shape e) {
    return inputs(std::move(a), std::move(b), std::move(c), std::move(d)).input(std::move(e));
  }
  // The shape of r, the weights of output 0 in the loss.
  GradCase& output(Shape shape) {
    output_shape = std::move(shape);
    output_given_ = true;
    return *this;
  }
  // Attributes of the node, by the type of the value.
  GradCase& attr(const std::string& name, int value) { return attr(name, static_cast<int64_t>(value)); }
  GradCase& attr(const std::string& name, int64_t value) {
    int_attrs.emplace_back(name, value);
    return *this;
  }
  GradCase& attr(const std::string& name, float value) {
    float_attrs.emplace_back(name, value);
    return *this;
  }
  // A braced list is always an INTS attribute (`attr("axes", {1})`), never an INT.
  GradCase& attr(const std::string& name, std::initializer_list<int64_t> values) {
    return attr(name, std::vector<int64_t>(values));
  }
  GradCase& attr(const std::string& name, std::vector<int64_t> values) {
    ints_attrs.emplace_back(name, std::move(values));
    return *this;
  }
  GradCase& attr(const std::string& name, const char* value) { return attr(name, std::string(value)); }
  GradCase& attr(const std::string& name, std::string value) {
    string_attrs.emplace_back(name, std::move(value));
    return *this;
  }
  // Every differentiated input drawn positive, from (0.2, 1.2] (Log, Sqrt).
  GradCase& positive(bool on = true) {
    all_positive = on;
    return *this;
  }
  // Only differentiated input `i` drawn positive (a variance).
  GradCase& positive_input(size_t i) {
    positive_inputs.push_back(i);
    return *this;
  }
  // Inputs drawn with |x| in [min, max] (Asin/Acos need < 1, Acosh > 1).
  GradCase& magnitude(double min, double max) {
    magnitude_min = min;
    magnitude_max = max;
    return *this;
  }
  // A node input that is not differentiated (axes, indices, masks, shapes), at `position`
  // among the node's inputs, given as an initializer.
  GradCase& fixed(size_t position, Tensor value) {
    fixed_inputs.emplace_back(position, std::move(value));
    return *this;
  }
  // The node's next output, weighed in the loss by its own r_k (LSTM's Y_h).
  GradCase& more_output(Shape shape) {
    more_outputs.push_back(std::move(shape));
    return *this;
  }
  // `count` outputs after the weighed ones that the op must have but the loss does not use
  // (TopK's Indices).
  GradCase& unweighed(size_t count) {
    unweighed_outputs = count;
    return *this;
  }
  // The op's domain ("" for ONNX; the project's own ops are imported at version 1).
  GradCase& domain(std::string name) {
    op_domain = std::move(name);
    return *this;
  }

  // ---- what the check reads ----
  std::string op;
  int opset;
  std::vector<Shape> input_shapes;
  Shape output_shape;
  bool all_positive = false;
  std::vector<std::pair<std::string, int64_t>> int_attrs;
  std::vector<std::pair<std::string, std::vector<int64_t>>> ints_attrs;
  std::vector<std::pair<std::string, float>> float_attrs;
  std::vector<std::pair<std::string, std::string>> string_attrs;
  // (position among the node's inputs, value); the float inputs fill the other positions.
  std::vector<std::pair<size_t, Tensor>> fixed_inputs;
  // Outputs 1, 2, ... of the node, each weighed by its own random r_k and added to the loss,
  // so their gradients are checked too.
  std::vector<Shape> more_outputs;
  double magnitude_max = 1.2;
  double magnitude_min = 0.2;
  std::vector<size_t> positive_inputs;  // positions among the differentiated inputs
  size_t unweighed_outputs = 0;
  std::string op_domain;

 private:
  bool output_given_ = false;
};

// An int64 1-D tensor, for fixed().
inline Tensor int64s(const std::vector<int64_t>& values) {
  return Tensor::from<int64_t>({static_cast<int64_t>(values.size())}, values);
}

// ---- the registry: each cases_<family>.cc adds its rows ----

using GradCaseFamily = std::vector<GradCase> (*)();

// Every registered family by name.
inline std::map<std::string, GradCaseFamily>& grad_case_families() {
  static std::map<std::string, GradCaseFamily> families;
  return families;
}

struct GradCaseFamilyRegistrar {
  GradCaseFamilyRegistrar(const char* family, GradCaseFamily rows) {
    OT_CHECK(grad_case_families().emplace(family, rows).second, "two gradcheck case families are named {}", family);
  }
};

// Every registered row, the families in name order (so a row's place, and its seed, do not
// depend on the link order).
inline std::vector<GradCase> all_grad_cases() {
  std::vector<GradCase> cases;
  for (const auto& [family, rows] : grad_case_families()) {
    std::vector<GradCase> family_rows = rows();
    cases.insert(cases.end(), family_rows.begin(), family_rows.end());
  }
  return cases;
}

// ONNX_TRAIN_GRAD_CASES(family) { return {rows...}; } defines and registers a family's rows.
#define ONNX_TRAIN_GRAD_CASES(family)                                                                             \
  static std::vector<::onnx_train::testing::GradCase> family##_grad_cases();                                      \
  static const ::onnx_train::testing::GradCaseFamilyRegistrar family##_grad_cases_registrar(#family,              \
                                                                                            family##_grad_cases); \
  static std::vector<::onnx_train::testing::GradCase> family##_grad_cases()

}  // namespace onnx_train::testing
