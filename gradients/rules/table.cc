// The rule table: every registered family's rows (rules/registry.h), looked up by (domain,
// op, schema version).
#include <algorithm>
#include <map>
#include <string>

#include "gradients/rules/registry.h"

namespace onnx_train {

namespace {

// Filled while the program starts (a function-local static, so it exists before the first
// registrar runs, whatever the order of the files' initialisation).
std::map<std::string, GradRuleFamily>& rule_families() {
  static std::map<std::string, GradRuleFamily> families;
  return families;
}

}  // namespace

GradRuleFamilyRegistrar::GradRuleFamilyRegistrar(const char* family, GradRuleFamily add) {
  OT_CHECK(rule_families().emplace(family, add).second, "two gradient rule families are named {}", family);
}

const std::vector<GradRuleEntry>& gradient_rules() {
  // The families in name order: the same table whatever the link order.
  static const std::vector<GradRuleEntry> rules = [] {
    std::vector<GradRuleEntry> r;
    for (const auto& [family, add] : rule_families()) add(r);
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
