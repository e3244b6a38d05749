// decide_parameters: the trainable / frozen / buffer split of a graph's initializers.
#include "runtime/train/parameters.h"

#include <set>

#include "gradients/autodiff.h"
#include "runtime/core/name_patterns.h"

namespace onnx_train {

ParameterSets decide_parameters(const Graph& graph, const std::string& loss, const std::vector<std::string>& freeze,
                                const std::vector<std::string>& train_only) {
  const NamePatterns frozen(freeze, "freeze");
  const NamePatterns only(train_only, "train_only");
  ParameterSets sets;
  sets.candidates = trainable_initializers(graph, loss);
  for (const auto& name : sets.candidates) {
    const bool selected = !frozen.matches(name) && (train_only.empty() || only.matches(name));
    (selected ? sets.trainable : sets.frozen).push_back(name);
  }
  std::set<std::string> seen;
  for (const Node& n : graph.nodes) {
    if (!n.domain.empty() || n.op_type != "BatchNormalization") continue;
    for (size_t i = 3; i < n.inputs.size() && i < 5; ++i) {
      const std::string& name = n.inputs[i];
      if (graph.initializers.count(name) && seen.insert(name).second) sets.buffers.push_back(name);
    }
  }
  return sets;
}

}  // namespace onnx_train
