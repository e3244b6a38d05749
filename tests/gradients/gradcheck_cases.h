// The gradient check table: one row per op and case. Each rule family keeps its rows in
// tests/gradients/cases_<family>.cc; gradcheck_test.cc runs them all and fails when a
// registered rule has no row.
#pragma once

#include <string>
#include <utility>
#include <vector>

#include "onnx_train/tensor.h"

namespace onnx_train::testing {

// y = op(x0, x1, ...) with float64 inputs of the given shapes; r (shape `output`) weighs
// y in the loss, so `output` must broadcast against y (normally it is y's shape).
struct GradCase {
  std::string op;
  int opset;
  std::vector<Shape> inputs;
  Shape output;
  bool positive = false;  // inputs drawn from (0.2, 1.2] (Log, Sqrt)
  std::vector<std::pair<std::string, int64_t>> int_attrs = {};
  std::vector<std::pair<std::string, std::vector<int64_t>>> ints_attrs = {};
  // Inputs that are not differentiated (axes, indices, masks, shapes): (position among the
  // node's inputs, value), given as initializers; the float inputs fill the other positions.
  std::vector<std::pair<size_t, Tensor>> fixed_inputs = {};
  std::vector<std::pair<std::string, float>> float_attrs = {};
  std::vector<std::pair<std::string, std::string>> string_attrs = {};
  // Outputs 1, 2, ... of the node (LSTM's Y_h, BatchNormalization's running statistics):
  // each is weighed by its own random r_k and added to the loss, so their gradients are
  // checked too.
  std::vector<Shape> more_outputs = {};
  // Inputs drawn from |x| in [magnitude_min, magnitude_max] (Asin/Acos need < 1, Acosh > 1).
  double magnitude_max = 1.2;
  double magnitude_min = 0.2;
  // Positions (among the differentiated inputs) drawn positive even when `positive` is
  // false (a variance input).
  std::vector<size_t> positive_inputs = {};
  // Outputs after the weighed ones that the op must have but the loss does not use
  // (TopK's Indices).
  size_t unweighed_outputs = 0;
  // The op's domain ("" for ONNX; the project's own ops are imported at version 1).
  std::string domain = "";
};

// An int64 1-D tensor, for fixed_inputs.
inline Tensor int64s(const std::vector<int64_t>& values) {
  return Tensor::from<int64_t>({static_cast<int64_t>(values.size())}, values);
}

std::vector<GradCase> elementwise_grad_cases();    // cases_elementwise.cc
std::vector<GradCase> activation_grad_cases();     // cases_activations.cc
std::vector<GradCase> shape_grad_cases();          // cases_shape_ops.cc
std::vector<GradCase> linalg_grad_cases();         // cases_linalg.cc
std::vector<GradCase> conv_pool_grad_cases();      // cases_conv_pool.cc
std::vector<GradCase> normalization_grad_cases();  // cases_normalization.cc
std::vector<GradCase> loss_resize_grad_cases();    // cases_loss_resize.cc
std::vector<GradCase> indexing_grad_cases();       // cases_indexing.cc
std::vector<GradCase> rnn_grad_cases();            // cases_rnn.cc

}  // namespace onnx_train::testing
