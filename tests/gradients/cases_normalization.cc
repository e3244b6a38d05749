// Gradient check rows of the rules in gradients/rules/normalization.cc.
#include "tests/gradients/gradcheck_cases.h"

namespace onnx_train::testing {

namespace {

// A float64 tensor of `shape` holding `values` (fixed statistics inputs).
Tensor doubles(const Shape& shape, const std::vector<double>& values) { return Tensor::from<double>(shape, values); }

// BatchNormalization with every input differentiated (X, scale, B, mean, var; var drawn
// positive); `params` is the shape of the four per-channel inputs.
GradCase batch_norm(int opset, const Shape& x, const Shape& params,
                    std::vector<std::pair<std::string, int64_t>> int_attrs = {},
                    std::vector<std::pair<std::string, float>> float_attrs = {}) {
  GradCase c{"BatchNormalization", opset, {x, params, params, params, params}, x};
  c.int_attrs = std::move(int_attrs);
  c.float_attrs = std::move(float_attrs);
  c.positive_inputs = {4};
  return c;
}

// BatchNormalization 7/9 in training: the four statistics outputs listed (which is what
// makes these versions train) and weighed in the loss. The saved batch statistics are
// functions of X; the running ones, input * momentum + batch * (1 - momentum), are state
// whose gradient is ignored, so momentum 1 and fixed input statistics make them constant.
GradCase batch_norm_training_old(int opset, const Shape& x, const Shape& params, const std::vector<double>& mean,
                                 const std::vector<double>& var, float epsilon = 1e-5f) {
  GradCase c{"BatchNormalization", opset, {x, params, params}, x};
  c.fixed_inputs = {{3, doubles(params, mean)}, {4, doubles(params, var)}};
  c.float_attrs = {{"momentum", 1.0f}, {"epsilon", epsilon}};
  c.more_outputs = {params, params, params, params};
  return c;
}

// `c` with the given attributes.
GradCase with_attrs(GradCase c, std::vector<std::pair<std::string, int64_t>> int_attrs,
                    std::vector<std::pair<std::string, float>> float_attrs = {}) {
  c.int_attrs = std::move(int_attrs);
  c.float_attrs = std::move(float_attrs);
  return c;
}

}  // namespace

std::vector<GradCase> normalization_grad_cases() {
  const std::pair<std::string, int64_t> training{"training_mode", 1};
  return {
      // BatchNormalization, inference (the given mean/var): 4-D, 3-D, 2-D (N, C) and 1-D
      // (N) inputs, epsilon, the old versions and BatchNormalization-7's spatial=0
      // (per-activation parameters [C x D1]).
      batch_norm(15, {2, 3, 2, 2}, {3}),
      batch_norm(14, {2, 2, 3}, {2}, {}, {{"epsilon", 0.1f}}),
      batch_norm(15, {3, 4}, {4}),
      batch_norm(15, {4}, {1}),
      batch_norm(9, {2, 3, 2}, {3}, {}, {{"epsilon", 1e-3f}}),
      batch_norm(7, {2, 2, 3}, {2}),
      batch_norm(7, {2, 2, 3}, {2, 3}, {{"spatial", 0}}),

      // BatchNormalization, training (batch statistics): the mean/var inputs only feed the
      // running statistics, so their gradient through Y is zero.
      batch_norm(15, {3, 2, 2, 2}, {2}, {training}),
      batch_norm(14, {2, 3, 3}, {3}, {training}, {{"epsilon", 0.01f}}),
      batch_norm(15, {5, 3}, {3}, {training}),
      batch_norm(15, {6}, {1}, {training}),
      // Versions 9 (and 7, the same rule; ONNX infers no types for BatchNormalization-7's
      // statistics outputs, so its training rows cannot be built here).
      batch_norm_training_old(9, {2, 3, 2}, {3}, {0.1, -0.2, 0.3}, {0.5, 1.5, 0.8}),
      batch_norm_training_old(9, {3, 2, 2, 2}, {2}, {0.0, 0.4}, {1.0, 0.6}, 1e-3f),
      batch_norm_training_old(9, {4, 3}, {3}, {0.1, -0.2, 0.3}, {0.5, 1.5, 0.8}),

      // InstanceNormalization: 3-D and 4-D, epsilon.
      {"InstanceNormalization", 7, {{2, 3, 4}, {3}, {3}}, {2, 3, 4}},
      with_attrs({"InstanceNormalization", 13, {{2, 2, 2, 3}, {2}, {2}}, {2, 2, 2, 3}}, {}, {{"epsilon", 0.01f}}),
      {"InstanceNormalization", 17, {{1, 2, 5}, {2}, {2}}, {1, 2, 5}},

      // LayerNormalization: axis last / middle / negative / 0, broadcast Scale and B, no B,
      // epsilon.
      {"LayerNormalization", 17, {{3, 4}, {4}, {4}}, {3, 4}},
      with_attrs({"LayerNormalization", 17, {{2, 3, 4}, {3, 4}, {3, 4}}, {2, 3, 4}}, {{"axis", 1}}),
      with_attrs({"LayerNormalization", 17, {{2, 3, 4}, {1, 4}, {4}}, {2, 3, 4}}, {{"axis", -2}}, {{"epsilon", 1e-3f}}),
      with_attrs({"LayerNormalization", 17, {{2, 3, 4}, {3, 1}, {1}}, {2, 3, 4}}, {{"axis", -2}}),
      with_attrs({"LayerNormalization", 17, {{2, 5}, {5}}, {2, 5}}, {}, {{"epsilon", 0.1f}}),
      with_attrs({"LayerNormalization", 17, {{2, 3}, {2, 3}, {2, 3}}, {2, 3}}, {{"axis", 0}}),
      with_attrs({"LayerNormalization", 17, {{2, 2, 3}, {1, 1, 3}, {3}}, {2, 2, 3}}, {{"axis", 2}}),

      // LRN: odd and even windows, 3-D and 4-D.
      with_attrs({"LRN", 7, {{2, 4, 2, 2}}, {2, 4, 2, 2}}, {{"size", 3}}),
      with_attrs({"LRN", 13, {{1, 5, 3}}, {1, 5, 3}}, {{"size", 2}}, {{"alpha", 0.5f}, {"beta", 0.6f}, {"bias", 2.f}}),
      with_attrs({"LRN", 13, {{2, 3, 2, 1}}, {2, 3, 2, 1}}, {{"size", 4}}, {{"alpha", 0.3f}, {"beta", 1.5f}}),

      // LpNormalization: p 2 / 1, last / first / middle axis, old opset (ReduceSum
      // attribute form, no Sign).
      {"LpNormalization", 7, {{3, 4}}, {3, 4}},
      with_attrs({"LpNormalization", 7, {{2, 3}}, {2, 3}}, {{"p", 1}, {"axis", 0}}),
      with_attrs({"LpNormalization", 13, {{2, 3, 4}}, {2, 3, 4}}, {{"axis", 1}}),
      with_attrs({"LpNormalization", 13, {{2, 3, 2}}, {2, 3, 2}}, {{"p", 1}, {"axis", -1}}),

      // MeanVarianceNormalization: default axes, explicit and negative axes.
      {"MeanVarianceNormalization", 9, {{2, 2, 2, 2}}, {2, 2, 2, 2}},
      {"MeanVarianceNormalization", 13, {{3, 4}}, {3, 4}, false, {}, {{"axes", {1}}}},
      {"MeanVarianceNormalization", 13, {{2, 3, 3}}, {2, 3, 3}, false, {}, {{"axes", {0, -1}}}},
  };
}

}  // namespace onnx_train::testing
