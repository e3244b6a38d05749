// Gradient rules of the gather/scatter and selection ops.
#include "gradients/builder.h"
#include "gradients/rules/rules.h"

namespace onnx_train {

void add_indexing_gradient_rules(std::vector<GradRuleEntry>& rules) {}

}  // namespace onnx_train
