// supported_ops (onnx_train/session.h): the catalogue of what the runtime runs and
// differentiates, read from the kernel registry, the gradient rule table and the lowerings of
// opset 18-23 op versions. It is kept apart from session.cc so that running a model does not
// depend on gradients/.
#include <algorithm>
#include <tuple>

#include "gradients/builder.h"
#include "importers/lower_opset.h"
#include "onnx_train/session.h"
#include "runtime/kernels/kernel.h"
#include "runtime/transforms/autocast.h"

namespace onnx_train {

namespace {

// How each opset 18-23 version of `op` runs (OpSupport::newer_versions).
std::vector<std::pair<int, std::string>> newer_versions(const std::string& op) {
  std::vector<std::pair<int, std::string>> out;
  for (const OpsetChange& change : opset_changes(op)) {
    std::string how = change.types_only ? "new types only" : "not supported";
    for (const LoweringRule& rule : lowering_rules())
      if (!change.types_only && rule.op_type == op && rule.since_version == change.since_version)
        how = "lowered: " + rule.form;
    out.emplace_back(change.since_version, how);
  }
  return out;
}

// How --precision bf16 runs an op: the products autocast lowers and the gradient kernels
// their rules emit take bfloat16 (float32 sums); Cast converts float32 <-> bfloat16.
std::string bfloat16_form(const std::string& domain, const std::string& op) {
  if (domain.empty() && autocast_lowers(op)) return "bfloat16 inputs and output, float32 sums (autocast)";
  if (domain == kProjectDomain && (op == "MatMulGrad" || op == "ConvGrad" || op == "ConvTransposeGrad"))
    return "bfloat16, float32 sums (the gradient of an autocast product)";
  if (domain == kProjectDomain && op == "FusedMatMul")
    return "bfloat16 inputs and output, float32 sums (an autocast MatMul reading its weight as stored)";
  if (domain.empty() && op == "Cast") return "float32 <-> bfloat16 vectorised, rounding to nearest even";
  return "";
}

}  // namespace

std::vector<OpSupport> supported_ops() {
  std::vector<OpSupport> out;
  const KernelRegistry& registry = KernelRegistry::global();
  for (const auto& [domain, op] : registry.ops()) {
    OpSupport support{domain, op, registry.versions(domain, op), {}, false};
    for (const GradRuleEntry& rule : gradient_rules()) {
      if (rule.domain != domain || rule.op_type != op) continue;
      support.not_differentiable |= rule.rule == nullptr;
      support.gradient_versions.insert(support.gradient_versions.end(), rule.since_versions.begin(),
                                       rule.since_versions.end());
    }
    if (domain.empty()) support.newer_versions = newer_versions(op);
    support.bfloat16 = bfloat16_form(domain, op);
    out.push_back(std::move(support));
  }
  // Ops that opsets 18-23 introduced run through their lowerings only (no kernel of their own).
  for (const std::string& op : ops_changed_after_opset17()) {
    if (!registry.versions("", op).empty()) continue;
    OpSupport support{"", op, {}, {}, false};
    support.newer_versions = newer_versions(op);
    const bool lowered = std::any_of(support.newer_versions.begin(), support.newer_versions.end(),
                                     [](const auto& v) { return v.second.rfind("lowered", 0) == 0; });
    if (lowered) out.push_back(std::move(support));
  }
  // ONNX's Gradient op has no kernel: the gradient builder expands it when a model loads.
  out.push_back({kOnnxTrainingDomain, "Gradient", {1}, {}, true});
  std::sort(out.begin(), out.end(), [](const OpSupport& a, const OpSupport& b) {
    return std::tie(a.domain, a.op_type) < std::tie(b.domain, b.op_type);
  });
  return out;
}

}  // namespace onnx_train
