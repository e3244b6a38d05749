// ONNX schema versions and version-dependent node readings (runtime/ir/schema.h).
#include "runtime/ir/schema.h"

#include <onnx/defs/schema.h>

namespace onnx_train {

int onnx_since_version(const std::string& op_type, int opset, const std::string& domain) {
  const auto* schema = onnx::OpSchemaRegistry::Instance()->GetSchema(op_type, opset, domain);
  return schema != nullptr ? schema->SinceVersion() : 0;
}

int schema_version(const std::string& op_type, int opset, const std::string& domain) {
  return domain == kProjectDomain ? opset : onnx_since_version(op_type, opset, domain);
}

int graph_opset(const Graph& graph, const std::string& domain) {
  const auto it = graph.opsets.find(domain);
  if (it != graph.opsets.end()) return it->second;
  return domain.empty() ? kMinOpset : 0;
}

bool batch_norm_in_training_mode(const Node& node) {
  if (node.since_version >= 14) return node.attr_int("training_mode", 0) != 0;
  for (size_t i = 1; i < node.outputs.size(); ++i)
    if (!node.outputs[i].empty()) return true;
  return false;
}

}  // namespace onnx_train
