// Gradient rules of Conv, ConvTranspose and the pooling ops.
#include "gradients/builder.h"
#include "gradients/rules/rules.h"

namespace onnx_train {

void add_conv_pool_gradient_rules(std::vector<GradRuleEntry>& rules) {}

}  // namespace onnx_train
