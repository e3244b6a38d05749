// Gradient check rows of the rules in gradients/rules/collectives.cc. The check runs in one
// process, so group 0 (the local group): AllReduceSum is the identity there, and so is its
// gradient; tests/train/sync_batchnorm_test.cc checks the rule's form (the same group).
#include "tests/gradients/gradcheck_cases.h"

namespace onnx_train::testing {

ONNX_TRAIN_GRAD_CASES(collectives) {
  return {
      GradCase("AllReduceSum", 13).input({2, 3}).attr("group", 0).domain("ai.onnx_train"),
      GradCase("AllReduceSum", 9).input({1, 4, 1, 1}).attr("group", 0).domain("ai.onnx_train"),
  };
}

}  // namespace onnx_train::testing
