// One function per rule family; gradient_rules() (rules/table.cc) calls them all.
#pragma once

#include <vector>

#include "gradients/builder.h"

namespace onnx_train {

void add_elementwise_gradient_rules(std::vector<GradRuleEntry>& rules);  // rules/elementwise.cc
void add_reduction_gradient_rules(std::vector<GradRuleEntry>& rules);    // rules/reductions.cc
void add_activation_gradient_rules(std::vector<GradRuleEntry>& rules);   // rules/activations.cc
void add_shape_gradient_rules(std::vector<GradRuleEntry>& rules);        // rules/shape_ops.cc
void add_linalg_gradient_rules(std::vector<GradRuleEntry>& rules);       // rules/linalg.cc

}  // namespace onnx_train
