// Gradient check rows of the elementwise and reduction rules.
#include "tests/gradients/gradcheck_cases.h"

namespace onnx_train::testing {

// Broadcasting and scalar cases where the op broadcasts.
ONNX_TRAIN_GRAD_CASES(elementwise) {
  return {
      GradCase("Add", 13).inputs({2, 3}, {2, 3}),
      GradCase("Add", 13).inputs({2, 3}, {3}),
      GradCase("Add", 14).inputs({2, 1, 4}, {3, 1}).output({2, 3, 4}),
      GradCase("Add", 7).inputs({}, {2, 2}).output({2, 2}),
      GradCase("Sub", 13).inputs({2, 3}, {2, 1}),
      GradCase("Sub", 14).inputs({3}, {}),
      GradCase("Mul", 13).inputs({2, 3}, {2, 3}),
      GradCase("Mul", 13).inputs({4, 1}, {1, 3}).output({4, 3}),
      GradCase("Div", 13).inputs({2, 3}, {2, 3}),
      GradCase("Div", 14).inputs({2, 3}, {3}),
      GradCase("Neg", 13).input({5}),
      GradCase("Identity", 13).input({2, 2}),
      GradCase("Relu", 14).input({3, 4}),
      GradCase("Sigmoid", 13).input({3, 4}),
      GradCase("Tanh", 13).input({3, 4}),
      GradCase("Exp", 13).input({6}),
      GradCase("Log", 13).input({6}).positive(),
      GradCase("Sqrt", 13).input({2, 3}).positive(),
      GradCase("ReduceSum", 13).input({2, 3}).output({1, 1}),
      GradCase("ReduceSum", 11).input({2, 3, 4}).output({2, 4}).attr("keepdims", 0).attr("axes", {-2}),
      GradCase("ReduceSum", 13).input({2, 3, 4}).output({2, 1, 4}).fixed(1, int64s({1})),  // axes as an input
      GradCase("ReduceSum", 13).input({2, 3, 4}).output({3}).attr("keepdims", 0).fixed(1, int64s({0, -1})),
      GradCase("ReduceMean", 13).input({2, 3, 2}).output({1, 1, 1}),
      GradCase("ReduceMean", 13).input({2, 3, 2}).output({3}).attr("keepdims", 0).attr("axes", {0, 2}),
      GradCase("ReduceMean", 7).input({4, 2}).output({4, 1}).attr("axes", {1}),
      // CastLike: the target (a fixed float64 tensor here) gets no gradient.
      GradCase("CastLike", 15).input({2, 3}).fixed(1, Tensor::scalar<double>(0.5)),
      // Mod with fmod = 1: the random operands keep A / B away from integers.
      GradCase("Mod", 10).inputs({2, 3}, {2, 3}).attr("fmod", 1),
      GradCase("Mod", 13).inputs({2, 3}, {3}).attr("fmod", 1),
      GradCase("Mod", 13).inputs({}, {2, 2}).output({2, 2}).attr("fmod", 1),
  };
}

}  // namespace onnx_train::testing
