// Loading a model for running (runtime/transforms/load_model.h).
#include "runtime/transforms/load_model.h"

#include <algorithm>

#include "gradients/autodiff.h"

namespace onnx_train {

Graph load_model(const std::string& path, const LoadOptions& options) {
  Graph graph = load_onnx_model(path, options);
  const bool has_gradient_ops = std::any_of(graph.nodes.begin(), graph.nodes.end(),
                                            [](const Node& n) { return is_onnx_gradient_op(n.domain, n.op_type); });
  if (has_gradient_ops) expand_onnx_gradient_ops(graph);
  return graph;
}

}  // namespace onnx_train
