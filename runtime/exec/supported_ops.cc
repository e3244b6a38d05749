// supported_ops (onnx_train/session.h): the catalogue of what the runtime runs and
// differentiates, read from the kernel registry and the gradient rule table. It is kept apart
// from session.cc so that running a model does not depend on gradients/.
#include <algorithm>
#include <tuple>

#include "gradients/builder.h"
#include "onnx_train/session.h"
#include "runtime/kernels/kernel.h"

namespace onnx_train {

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
    out.push_back(std::move(support));
  }
  // ONNX's Gradient op has no kernel: the gradient builder expands it when a model loads.
  out.push_back({kOnnxTrainingDomain, "Gradient", {1}, {}, true});
  std::sort(out.begin(), out.end(), [](const OpSupport& a, const OpSupport& b) {
    return std::tie(a.domain, a.op_type) < std::tie(b.domain, b.op_type);
  });
  return out;
}

}  // namespace onnx_train
