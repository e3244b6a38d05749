// Gradient check rows of the rules in gradients/rules/loss_resize.cc.
#include "tests/gradients/gradcheck_cases.h"

namespace onnx_train::testing {

std::vector<GradCase> loss_resize_grad_cases() { return {}; }

}  // namespace onnx_train::testing
