// One function per rule family; gradient_rules() (rules/table.cc) calls them all.
#pragma once

#include <vector>

#include "gradients/builder.h"

namespace onnx_train {

void add_elementwise_gradient_rules(std::vector<GradRuleEntry>& rules);    // rules/elementwise.cc
void add_reduction_gradient_rules(std::vector<GradRuleEntry>& rules);      // rules/reductions.cc
void add_activation_gradient_rules(std::vector<GradRuleEntry>& rules);     // rules/activations.cc
void add_shape_gradient_rules(std::vector<GradRuleEntry>& rules);          // rules/shape_ops.cc
void add_linalg_gradient_rules(std::vector<GradRuleEntry>& rules);         // rules/linalg.cc
void add_conv_pool_gradient_rules(std::vector<GradRuleEntry>& rules);      // rules/conv_pool.cc
void add_normalization_gradient_rules(std::vector<GradRuleEntry>& rules);  // rules/normalization.cc
void add_loss_resize_gradient_rules(std::vector<GradRuleEntry>& rules);    // rules/loss_resize.cc
void add_indexing_gradient_rules(std::vector<GradRuleEntry>& rules);       // rules/indexing.cc
void add_rnn_gradient_rules(std::vector<GradRuleEntry>& rules);            // rules/rnn.cc

}  // namespace onnx_train
