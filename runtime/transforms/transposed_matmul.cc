// MatMul(x, Transpose(W)) -> FusedMatMul(x, W, trans_b = 1) (see transposed_matmul.h).
#include "runtime/transforms/transposed_matmul.h"

#include <map>
#include <set>
#include <string>
#include <utility>
#include <vector>

#include "runtime/ir/editor.h"

namespace onnx_train {

namespace {

bool is_float(DType t) { return t == DType::Float32 || t == DType::BFloat16 || t == DType::Float16; }

// Whether `value` is a matrix weight the product can read as stored: a 2-D float initializer,
// or a Cast of one to a float type (autocast's bfloat16 copy of W).
bool stored_matrix(const Graph& g, const std::string& value) {
  auto initializer_matrix = [&](const std::string& name) {
    const auto it = g.initializers.find(name);
    return it != g.initializers.end() && it->second.rank() == 2 && is_float(it->second.dtype());
  };
  if (initializer_matrix(value)) return true;
  const Node* cast = g.producer_of(value);
  if (cast == nullptr || cast->op_type != "Cast" || !cast->domain.empty() || cast->inputs.size() != 1 ||
      cast->outputs.size() != 1)
    return false;
  const auto to = cast->attributes.find("to");
  return to != cast->attributes.end() && to->second.kind == Attribute::Kind::Int &&
         is_float(static_cast<DType>(to->second.i)) && initializer_matrix(cast->inputs[0]);
}

// A Transpose that swaps the two axes of a matrix: perm [1, 0], or no perm (reversed axes).
bool swaps_matrix_axes(const Node& n) {
  if (n.op_type != "Transpose" || !n.domain.empty() || n.inputs.size() != 1 || n.outputs.size() != 1) return false;
  const auto perm = n.attributes.find("perm");
  if (perm == n.attributes.end()) return true;
  return perm->second.kind == Attribute::Kind::Ints && perm->second.ints == std::vector<int64_t>{1, 0};
}

bool has_subgraphs(const Graph& g) {
  for (const Node& n : g.nodes)
    for (const auto& [name, a] : n.attributes)
      if (a.kind == Attribute::Kind::Graph) return true;
  return false;
}

}  // namespace

TransposedMatMuls fuse_transposed_matmul(Graph& graph) {
  TransposedMatMuls result;
  if (has_subgraphs(graph)) return result;
  // Every reader of each value, as (node index, input position).
  std::map<std::string, std::vector<std::pair<size_t, size_t>>> readers;
  for (size_t i = 0; i < graph.nodes.size(); ++i)
    for (size_t j = 0; j < graph.nodes[i].inputs.size(); ++j)
      if (!graph.nodes[i].inputs[j].empty()) readers[graph.nodes[i].inputs[j]].emplace_back(i, j);
  std::set<std::string> graph_outputs;
  for (const auto& v : graph.outputs) graph_outputs.insert(v.name);

  std::set<size_t> removed;                  // the Transpose nodes that go
  std::map<size_t, std::string> rewritten;   // MatMul node -> the stored weight it reads
  for (size_t i = 0; i < graph.nodes.size(); ++i) {
    const Node& t = graph.nodes[i];
    if (!swaps_matrix_axes(t) || !stored_matrix(graph, t.inputs[0]) || graph_outputs.count(t.outputs[0])) continue;
    const auto it = readers.find(t.outputs[0]);
    if (it == readers.end()) continue;
    bool all_matmuls = true;
    for (const auto& [node, position] : it->second) {
      const Node& m = graph.nodes[node];
      all_matmuls = all_matmuls && m.op_type == "MatMul" && m.domain.empty() && position == 1 &&
                    m.inputs.size() == 2 && m.outputs.size() == 1 && m.inputs[0] != t.outputs[0];
    }
    if (!all_matmuls) continue;
    removed.insert(i);
    for (const auto& reader : it->second) rewritten.emplace(reader.first, t.inputs[0]);
  }
  if (rewritten.empty()) return result;

  GraphEditor editor(graph, "transposed matmul");
  editor.import_domain(kProjectDomain, 1);
  std::vector<Node> nodes;
  nodes.reserve(graph.nodes.size() - removed.size());
  for (size_t i = 0; i < graph.nodes.size(); ++i) {
    if (removed.count(i)) {
      graph.value_info.erase(graph.nodes[i].outputs[0]);
      continue;
    }
    Node n = std::move(graph.nodes[i]);
    const auto it = rewritten.find(i);
    if (it != rewritten.end()) {
      n.op_type = "FusedMatMul";
      n.domain = kProjectDomain;
      n.opset = editor.opset(kProjectDomain);
      n.since_version = 1;
      n.inputs[1] = it->second;
      n.attributes = {{"trans_b", Attribute::of_int(1)}};
    }
    nodes.push_back(std::move(n));
  }
  graph.nodes = std::move(nodes);
  result.matmuls = rewritten.size();
  result.transposes = removed.size();
  return result;
}

}  // namespace onnx_train
