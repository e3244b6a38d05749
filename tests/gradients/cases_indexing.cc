// Gradient check rows of the rules in gradients/rules/indexing.cc.
#include "tests/gradients/gradcheck_cases.h"

namespace onnx_train::testing {

std::vector<GradCase> indexing_grad_cases() { return {}; }

}  // namespace onnx_train::testing
