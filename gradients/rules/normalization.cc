// Gradient rules of the normalization ops (BatchNormalization, InstanceNormalization, LayerNormalization, LRN, LpNormalization, MeanVarianceNormalization).
#include "gradients/builder.h"
#include "gradients/rules/rules.h"

namespace onnx_train {

void add_normalization_gradient_rules(std::vector<GradRuleEntry>& rules) {}

}  // namespace onnx_train
