// Loading a model for running (runtime/transforms/load_model.h).
#include "runtime/transforms/load_model.h"

#include "gradients/autodiff.h"
#include "runtime/transforms/fuse_transformer.h"

namespace onnx_train {

Graph load_model(const std::string& path, const LoadOptions& options) {
  Graph graph = load_onnx_model(path, options);
  fuse_transformer_patterns(graph);  // before any gradient is built: the fused ops' rules apply
  expand_onnx_gradient_ops(graph);   // one scan of the nodes and nothing more for a plain model
  return graph;
}

}  // namespace onnx_train
