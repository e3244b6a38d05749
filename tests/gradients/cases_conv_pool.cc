// Gradient check rows of the rules in gradients/rules/conv_pool.cc.
#include "tests/gradients/gradcheck_cases.h"

namespace onnx_train::testing {

std::vector<GradCase> conv_pool_grad_cases() { return {}; }

}  // namespace onnx_train::testing
