// The rule table: every family's rows, looked up by (domain, op, schema version).
#include <algorithm>

#include "gradients/rules/rules.h"

namespace onnx_train {

const std::vector<GradRuleEntry>& gradient_rules() {
  static const std::vector<GradRuleEntry> rules = [] {
    std::vector<GradRuleEntry> r;
    add_elementwise_gradient_rules(r);
    add_reduction_gradient_rules(r);
    add_activation_gradient_rules(r);
    add_shape_gradient_rules(r);
    add_linalg_gradient_rules(r);
    add_conv_pool_gradient_rules(r);
    add_normalization_gradient_rules(r);
    add_loss_resize_gradient_rules(r);
    add_indexing_gradient_rules(r);
    add_rnn_gradient_rules(r);
    return r;
  }();
  return rules;
}

const GradRuleEntry* find_gradient_rule(const Node& node) {
  for (const GradRuleEntry& e : gradient_rules()) {
    if (e.domain != node.domain || e.op_type != node.op_type) continue;
    // A declared non-differentiable op has no versions: it holds for all of them.
    if (e.rule == nullptr) return &e;
    if (std::find(e.since_versions.begin(), e.since_versions.end(), node.since_version) != e.since_versions.end())
      return &e;
  }
  return nullptr;
}

bool input_takes_gradient(const GradRuleEntry* entry, size_t i) {
  if (entry == nullptr) return true;
  if (entry->rule == nullptr) return false;
  return std::find(entry->no_gradient_inputs.begin(), entry->no_gradient_inputs.end(), i) ==
         entry->no_gradient_inputs.end();
}

}  // namespace onnx_train
