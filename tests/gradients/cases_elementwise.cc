// Gradient check rows of the elementwise and reduction rules.
#include "tests/gradients/gradcheck_cases.h"

namespace onnx_train::testing {

// Broadcasting and scalar cases where the op broadcasts.
std::vector<GradCase> elementwise_grad_cases() {
  return {
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
      {"ReduceSum", 13, {{2, 3, 4}}, {2, 1, 4}, false, {}, {}, {{1, int64s({1})}}},  // axes as an input
      {"ReduceSum", 13, {{2, 3, 4}}, {3}, false, {{"keepdims", 0}}, {}, {{1, int64s({0, -1})}}},
      {"ReduceMean", 13, {{2, 3, 2}}, {1, 1, 1}},
      {"ReduceMean", 13, {{2, 3, 2}}, {3}, false, {{"keepdims", 0}}, {{"axes", {0, 2}}}},
      {"ReduceMean", 7, {{4, 2}}, {4, 1}, false, {}, {{"axes", {1}}}},
      // CastLike: the target (a fixed float64 tensor here) gets no gradient.
      {"CastLike", 15, {{2, 3}}, {2, 3}, false, {}, {}, {{1, Tensor::scalar<double>(0.5)}}},
      // Mod with fmod = 1: the random operands keep A / B away from integers.
      {"Mod", 10, {{2, 3}, {2, 3}}, {2, 3}, false, {{"fmod", 1}}},
      {"Mod", 13, {{2, 3}, {3}}, {2, 3}, false, {{"fmod", 1}}},
      {"Mod", 13, {{}, {2, 2}}, {2, 2}, false, {{"fmod", 1}}},
  };
}

}  // namespace onnx_train::testing
