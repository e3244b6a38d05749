// Gradient check rows of the rules in gradients/rules/normalization.cc.
#include "tests/gradients/gradcheck_cases.h"

namespace onnx_train::testing {

namespace {

// A float64 tensor of `shape` holding `values` (fixed statistics inputs).
Tensor doubles(const Shape& shape, const std::vector<double>& values) { return Tensor::from<double>(shape, values); }

// BatchNormalization with every input differentiated (X, scale, B, mean, var; var drawn
// positive); `params` is the shape of the four per-channel inputs.
GradCase batch_norm(int opset, const Shape& x, const Shape& params) {
  return GradCase("BatchNormalization", opset).inputs(x, params, params, params, params).positive_input(4);
}

// BatchNormalization 7/9 in training: the four statistics outputs listed (which is what
// makes these versions train) and weighed in the loss. The saved batch statistics are
// functions of X; the running ones, input * momentum + batch * (1 - momentum), are state
// whose gradient is ignored, so momentum 1 and fixed input statistics make them constant.
GradCase batch_norm_training_old(int opset, const Shape& x, const Shape& params, const std::vector<double>& mean,
                                 const std::vector<double>& var, float epsilon = 1e-5f) {
  return GradCase("BatchNormalization", opset)
      .inputs(x, params, params)
      .fixed(3, doubles(params, mean))
      .fixed(4, doubles(params, var))
      .attr("momentum", 1.0f)
      .attr("epsilon", epsilon)
      .more_output(params)
      .more_output(params)
      .more_output(params)
      .more_output(params);
}

}  // namespace

ONNX_TRAIN_GRAD_CASES(normalization) {
  return {
      // BatchNormalization, inference (the given mean/var): 4-D, 3-D, 2-D (N, C) and 1-D
      // (N) inputs, epsilon, the old versions and BatchNormalization-7's spatial=0
      // (per-activation parameters [C x D1]).
      batch_norm(15, {2, 3, 2, 2}, {3}),
      batch_norm(14, {2, 2, 3}, {2}).attr("epsilon", 0.1f),
      batch_norm(15, {3, 4}, {4}),
      batch_norm(15, {4}, {1}),
      batch_norm(9, {2, 3, 2}, {3}).attr("epsilon", 1e-3f),
      batch_norm(7, {2, 2, 3}, {2}),
      batch_norm(7, {2, 2, 3}, {2, 3}).attr("spatial", 0),

      // BatchNormalization, training (batch statistics): the mean/var inputs only feed the
      // running statistics, so their gradient through Y is zero.
      batch_norm(15, {3, 2, 2, 2}, {2}).attr("training_mode", 1),
      batch_norm(14, {2, 3, 3}, {3}).attr("training_mode", 1).attr("epsilon", 0.01f),
      batch_norm(15, {5, 3}, {3}).attr("training_mode", 1),
      batch_norm(15, {6}, {1}).attr("training_mode", 1),
      // Versions 9 (and 7, the same rule; ONNX infers no types for BatchNormalization-7's
      // statistics outputs, so its training rows cannot be built here).
      batch_norm_training_old(9, {2, 3, 2}, {3}, {0.1, -0.2, 0.3}, {0.5, 1.5, 0.8}),
      batch_norm_training_old(9, {3, 2, 2, 2}, {2}, {0.0, 0.4}, {1.0, 0.6}, 1e-3f),
      batch_norm_training_old(9, {4, 3}, {3}, {0.1, -0.2, 0.3}, {0.5, 1.5, 0.8}),

      // InstanceNormalization: 3-D and 4-D, epsilon.
      GradCase("InstanceNormalization", 7).inputs({2, 3, 4}, {3}, {3}),
      GradCase("InstanceNormalization", 13).inputs({2, 2, 2, 3}, {2}, {2}).attr("epsilon", 0.01f),
      GradCase("InstanceNormalization", 17).inputs({1, 2, 5}, {2}, {2}),

      // LayerNormalization: axis last / middle / negative / 0, broadcast Scale and B, no B,
      // epsilon.
      GradCase("LayerNormalization", 17).inputs({3, 4}, {4}, {4}),
      GradCase("LayerNormalization", 17).inputs({2, 3, 4}, {3, 4}, {3, 4}).attr("axis", 1),
      GradCase("LayerNormalization", 17).inputs({2, 3, 4}, {1, 4}, {4}).attr("axis", -2).attr("epsilon", 1e-3f),
      GradCase("LayerNormalization", 17).inputs({2, 3, 4}, {3, 1}, {1}).attr("axis", -2),
      GradCase("LayerNormalization", 17).inputs({2, 5}, {5}).attr("epsilon", 0.1f),
      GradCase("LayerNormalization", 17).inputs({2, 3}, {2, 3}, {2, 3}).attr("axis", 0),
      GradCase("LayerNormalization", 17).inputs({2, 2, 3}, {1, 1, 3}, {3}).attr("axis", 2),

      // LRN: odd and even windows, 3-D and 4-D.
      GradCase("LRN", 7).input({2, 4, 2, 2}).attr("size", 3),
      GradCase("LRN", 13).input({1, 5, 3}).attr("size", 2).attr("alpha", 0.5f).attr("beta", 0.6f).attr("bias", 2.f),
      GradCase("LRN", 13).input({2, 3, 2, 1}).attr("size", 4).attr("alpha", 0.3f).attr("beta", 1.5f),

      // LpNormalization: p 2 / 1, last / first / middle axis, old opset (ReduceSum
      // attribute form, no Sign).
      GradCase("LpNormalization", 7).input({3, 4}),
      GradCase("LpNormalization", 7).input({2, 3}).attr("p", 1).attr("axis", 0),
      GradCase("LpNormalization", 13).input({2, 3, 4}).attr("axis", 1),
      GradCase("LpNormalization", 13).input({2, 3, 2}).attr("p", 1).attr("axis", -1),

      // MeanVarianceNormalization: default axes, explicit and negative axes.
      GradCase("MeanVarianceNormalization", 9).input({2, 2, 2, 2}),
      GradCase("MeanVarianceNormalization", 13).input({3, 4}).attr("axes", {1}),
      GradCase("MeanVarianceNormalization", 13).input({2, 3, 3}).attr("axes", {0, -1}),
  };
}

}  // namespace onnx_train::testing
