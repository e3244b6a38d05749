// How a rule family joins the rule table: each gradients/rules/<family>.cc opens its table
// rows with
//
//   ONNX_TRAIN_GRADIENT_RULES(elementwise) {
//     rules.push_back({"", "Add", {7, 13, 14}, add_grad});
//     ...
//   }
//
// which defines the family's function and registers it when the program starts;
// gradient_rules() (rules/table.cc) calls every registered family, in name order, once.
// Adding a family is adding a file: no list to edit. The rule files are linked as objects
// (CMakeLists.txt), so the linker cannot drop a family that nothing else refers to.
//
// This header is the registry only; the rule language is gradients/builder.h.
#pragma once

#include <vector>

#include "gradients/builder.h"

namespace onnx_train {

// A family's function: appends its rows to `rules`.
using GradRuleFamily = void (*)(std::vector<GradRuleEntry>& rules);

// Registers `add` under `family` (a name used once); ONNX_TRAIN_GRADIENT_RULES makes one per file.
struct GradRuleFamilyRegistrar {
  GradRuleFamilyRegistrar(const char* family, GradRuleFamily add);
};

}  // namespace onnx_train

#define ONNX_TRAIN_GRADIENT_RULES(family)                                                                              \
  static void add_##family##_gradient_rules(std::vector<::onnx_train::GradRuleEntry>& rules);                          \
  static const ::onnx_train::GradRuleFamilyRegistrar family##_gradient_rules_registrar(#family,                        \
                                                                                       add_##family##_gradient_rules); \
  static void add_##family##_gradient_rules(std::vector<::onnx_train::GradRuleEntry>& rules)
