#include "runtime/ir/graph.h"

#include <algorithm>
#include <set>
#include <unordered_map>

namespace onnx_train {

Attribute Attribute::of_int(int64_t value) {
  Attribute a;
  a.kind = Kind::Int;
  a.i = value;
  return a;
}
Attribute Attribute::of_float(float value) {
  Attribute a;
  a.kind = Kind::Float;
  a.f = value;
  return a;
}
Attribute Attribute::of_string(std::string value) {
  Attribute a;
  a.kind = Kind::String;
  a.s = std::move(value);
  return a;
}
Attribute Attribute::of_ints(std::vector<int64_t> values) {
  Attribute a;
  a.kind = Kind::Ints;
  a.ints = std::move(values);
  return a;
}
Attribute Attribute::of_floats(std::vector<float> values) {
  Attribute a;
  a.kind = Kind::Floats;
  a.floats = std::move(values);
  return a;
}
Attribute Attribute::of_strings(std::vector<std::string> values) {
  Attribute a;
  a.kind = Kind::Strings;
  a.strings = std::move(values);
  return a;
}
Attribute Attribute::of_tensor(Tensor value) {
  Attribute a;
  a.kind = Kind::Tensor;
  a.t = std::move(value);
  return a;
}

std::string Node::label() const {
  const std::string op = domain.empty() ? op_type : domain + "." + op_type;
  return fmt::format("node '{}' ({}, opset {})", name, op, opset);
}

const Attribute& Node::attr(const std::string& key, Attribute::Kind kind) const {
  auto it = attributes.find(key);
  OT_CHECK(it != attributes.end(), "{}: required attribute '{}' is missing", label(), key);
  OT_CHECK(it->second.kind == kind, "{}: attribute '{}' has the wrong type", label(), key);
  return it->second;
}

int64_t Node::attr_int(const std::string& key) const { return attr(key, Attribute::Kind::Int).i; }
int64_t Node::attr_int(const std::string& key, int64_t fallback) const {
  return has_attr(key) ? attr_int(key) : fallback;
}
float Node::attr_float(const std::string& key) const {
  auto it = attributes.find(key);
  // Some exporters write an integral value for a float attribute; accept it.
  if (it != attributes.end() && it->second.kind == Attribute::Kind::Int) return static_cast<float>(it->second.i);
  return attr(key, Attribute::Kind::Float).f;
}
float Node::attr_float(const std::string& key, float fallback) const {
  return has_attr(key) ? attr_float(key) : fallback;
}
std::string Node::attr_string(const std::string& key) const { return attr(key, Attribute::Kind::String).s; }
std::string Node::attr_string(const std::string& key, const std::string& fallback) const {
  return has_attr(key) ? attr_string(key) : fallback;
}
std::vector<int64_t> Node::attr_ints(const std::string& key) const { return attr(key, Attribute::Kind::Ints).ints; }
std::vector<int64_t> Node::attr_ints(const std::string& key, const std::vector<int64_t>& fallback) const {
  return has_attr(key) ? attr_ints(key) : fallback;
}
std::vector<float> Node::attr_floats(const std::string& key) const { return attr(key, Attribute::Kind::Floats).floats; }
std::vector<float> Node::attr_floats(const std::string& key, const std::vector<float>& fallback) const {
  return has_attr(key) ? attr_floats(key) : fallback;
}
std::vector<std::string> Node::attr_strings(const std::string& key, const std::vector<std::string>& fallback) const {
  return has_attr(key) ? attr(key, Attribute::Kind::Strings).strings : fallback;
}
const Tensor& Node::attr_tensor(const std::string& key) const { return attr(key, Attribute::Kind::Tensor).t; }

const ValueInfo* Graph::find_value_info(const std::string& name) const {
  for (const auto& v : inputs)
    if (v.name == name) return &v;
  for (const auto& v : overridable_initializers)
    if (v.name == name) return &v;
  for (const auto& v : outputs)
    if (v.name == name) return &v;
  auto it = value_info.find(name);
  return it == value_info.end() ? nullptr : &it->second;
}

DType Graph::dtype_of(const std::string& name) const {
  if (auto it = initializers.find(name); it != initializers.end()) return it->second.dtype();
  const ValueInfo* vi = find_value_info(name);
  return vi != nullptr ? vi->dtype : DType::Undefined;
}

std::optional<Shape> Graph::shape_of(const std::string& name) const {
  if (auto it = initializers.find(name); it != initializers.end()) return it->second.shape();
  const ValueInfo* vi = find_value_info(name);
  return vi != nullptr ? vi->shape : std::nullopt;
}

const Node* Graph::producer_of(const std::string& name) const {
  for (const Node& n : nodes)
    if (std::find(n.outputs.begin(), n.outputs.end(), name) != n.outputs.end()) return &n;
  return nullptr;
}

size_t Graph::uses_of(const std::string& name) const {
  size_t uses = 0;
  for (const Node& n : nodes) uses += std::count(n.inputs.begin(), n.inputs.end(), name);
  return uses;
}

std::vector<const Node*> Graph::constant_weight_nodes(int64_t min_elements) const {
  std::vector<const Node*> out;
  for (const Node& n : nodes) {
    if (n.op_type != "Constant" || !n.domain.empty() || !n.has_attr("value")) continue;
    const Attribute& a = n.attributes.at("value");
    if (a.kind == Attribute::Kind::Tensor && dtype_is_float(a.t.dtype()) && a.t.numel() >= min_elements)
      out.push_back(&n);
  }
  return out;
}

void Graph::promote_constants_to_initializers(const std::vector<std::string>& output_names) {
  const std::set<std::string> wanted(output_names.begin(), output_names.end());
  std::vector<Node> kept;
  for (Node& n : nodes) {
    if (n.op_type == "Constant" && n.domain.empty() && n.outputs.size() == 1 && wanted.count(n.outputs[0])) {
      OT_CHECK(n.has_attr("value"), "{}: only a Constant with a 'value' tensor can become a weight", n.label());
      initializers[n.outputs[0]] = n.attr_tensor("value");
    } else {
      kept.push_back(std::move(n));
    }
  }
  nodes = std::move(kept);
}

size_t Graph::separate_deduplicated_initializers() {
  std::set<std::string> graph_outputs;
  for (const auto& v : outputs) graph_outputs.insert(v.name);
  std::vector<Node> kept;
  size_t separated = 0;
  for (Node& n : nodes) {
    const bool copy_of_initializer = n.op_type == "Identity" && n.domain.empty() && n.inputs.size() == 1 &&
                                     n.outputs.size() == 1 && initializers.count(n.inputs[0]) &&
                                     !graph_outputs.count(n.outputs[0]) && !initializers.count(n.outputs[0]);
    if (copy_of_initializer) {
      initializers[n.outputs[0]] = initializers.at(n.inputs[0]).clone();
      ++separated;
    } else {
      kept.push_back(std::move(n));
    }
  }
  nodes = std::move(kept);
  return separated;
}

std::set<std::string> value_names(const Graph& graph) {
  std::set<std::string> names;
  for (const auto& [name, t] : graph.initializers) names.insert(name);
  for (const auto* list : {&graph.inputs, &graph.outputs, &graph.overridable_initializers})
    for (const auto& v : *list) names.insert(v.name);
  for (const auto& [name, v] : graph.value_info) names.insert(name);
  for (const Node& n : graph.nodes)
    for (const auto& o : n.outputs)
      if (!o.empty()) names.insert(o);
  return names;
}

void sort_topologically(Graph& graph) {
  std::set<std::string> available;
  for (const auto& v : graph.inputs) available.insert(v.name);
  for (const auto& [name, t] : graph.initializers) available.insert(name);
  available.insert("");  // omitted optional inputs

  std::vector<Node> pending = std::move(graph.nodes);
  std::vector<Node> ordered;
  ordered.reserve(pending.size());
  while (!pending.empty()) {
    std::vector<Node> rest;
    const size_t before = ordered.size();
    for (Node& n : pending) {
      const bool ready = std::all_of(n.inputs.begin(), n.inputs.end(),
                                     [&](const std::string& in) { return available.count(in) != 0; });
      if (ready) {
        for (const auto& out : n.outputs) available.insert(out);
        ordered.push_back(std::move(n));
      } else {
        rest.push_back(std::move(n));
      }
    }
    if (ordered.size() == before) {
      const Node& stuck = rest.front();
      std::string missing;
      for (const auto& in : stuck.inputs)
        if (!available.count(in)) missing = in;
      graph.nodes = std::move(ordered);
      for (Node& n : rest) graph.nodes.push_back(std::move(n));
      OT_FAIL("{} reads '{}', which no node, graph input or initializer produces (or the graph has a cycle)",
              stuck.label(), missing);
    }
    pending = std::move(rest);
  }
  graph.nodes = std::move(ordered);
}

}  // namespace onnx_train
