// Gradient check rows of the rules in gradients/rules/rnn.cc.
#include "tests/gradients/gradcheck_cases.h"

namespace onnx_train::testing {

std::vector<GradCase> rnn_grad_cases() { return {}; }

}  // namespace onnx_train::testing
