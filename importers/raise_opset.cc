// Raising an opset-17 graph to the model's newer opset (importers/raise_opset.h).
#include "importers/raise_opset.h"

#include <algorithm>
#include <optional>
#include <utility>
#include <vector>

#include "runtime/ir/schema.h"

namespace onnx_train {

namespace {

// The Reduce ops whose `axes` became an input at opset 18 (ReduceSum's did at 13).
bool axes_input_from_18(const std::string& op) {
  static const std::set<std::string> ops = {"ReduceL1",   "ReduceL2",  "ReduceLogSum", "ReduceLogSumExp", "ReduceMax",
                                            "ReduceMean", "ReduceMin", "ReduceProd",   "ReduceSumSquare"};
  return ops.count(op) != 0;
}

// Names for the constants the raise adds: none the graph or `reserved` has.
class FreshNames {
 public:
  FreshNames(const Graph& graph, const std::set<std::string>& reserved) : taken_(value_names(graph)) {
    taken_.insert(reserved.begin(), reserved.end());
    for (const Node& n : graph.nodes) taken_.insert(n.name);
  }
  std::string operator()(const std::string& hint) {
    std::string name = hint;
    for (int k = 1; taken_.count(name); ++k) name = hint + "_" + std::to_string(k);
    taken_.insert(name);
    return name;
  }

 private:
  std::set<std::string> taken_;
};

// A Constant node writing `value` into a new value named after `hint`, at `opset`.
Node constant_node(const Tensor& value, const std::string& hint, int opset, FreshNames& fresh) {
  Node c;
  c.op_type = "Constant";
  c.name = fresh(hint);
  c.outputs = {fresh(hint)};
  c.opset = opset;
  c.since_version = schema_version("Constant", std::min(opset, kMaxOpset), "");
  c.attributes["value"] = Attribute::of_tensor(value);
  return c;
}

// The attribute `name` of `n` as the int64 input `index` (given by a Constant added to `added`),
// the inputs before it padded with omitted ones; `fallback` when the attribute is absent
// (nullopt: nothing added).
void attribute_to_input(Node& n, const std::string& name, size_t index, std::optional<Tensor> fallback, int opset,
                        FreshNames& fresh, std::vector<Node>& added) {
  std::optional<Tensor> value = fallback;
  if (n.has_attr(name)) {
    const Attribute& a = n.attributes.at(name);
    if (a.kind == Attribute::Kind::Ints)
      value = Tensor::from<int64_t>({static_cast<int64_t>(a.ints.size())}, a.ints);
    else
      value = Tensor::scalar<int64_t>(a.i);
    n.attributes.erase(name);
  }
  if (!value) return;
  added.push_back(constant_node(*value, n.name + "/" + name, opset, fresh));
  if (n.inputs.size() < index) n.inputs.resize(index);
  n.inputs.insert(n.inputs.begin() + static_cast<std::ptrdiff_t>(index), added.back().outputs[0]);
}

// The opset-`opset` form of one default-domain node; constants it needs go to `added`.
void raise_node(Node& n, int opset, FreshNames& fresh, std::vector<Node>& added) {
  if (opset >= 18 && axes_input_from_18(n.op_type)) {
    attribute_to_input(n, "axes", 1, std::nullopt, opset, fresh, added);
  } else if (opset >= 18 && n.op_type == "Split" && !n.has_input(1) && !n.has_attr("num_outputs")) {
    n.inputs.resize(1);
    n.attributes["num_outputs"] = Attribute::of_int(static_cast<int64_t>(n.outputs.size()));
  } else if (opset >= 20 && n.op_type == "GridSample" && n.has_attr("mode")) {
    std::string& mode = n.attributes.at("mode").s;
    if (mode == "bilinear") mode = "linear";
    if (mode == "bicubic") mode = "cubic";
  } else if (opset >= 20 && n.op_type == "DFT") {
    attribute_to_input(n, "axis", 2, Tensor::scalar<int64_t>(1), opset, fresh, added);
  }
  n.opset = opset;
}

}  // namespace

void raise_from_opset17(Graph& graph, int opset, const std::set<std::string>& reserved) {
  if (opset <= kMaxOpset) return;
  FreshNames fresh(graph, reserved);
  std::vector<Node> nodes;
  nodes.reserve(graph.nodes.size());
  for (Node& n : graph.nodes) {
    std::vector<Node> added;
    if (n.domain.empty()) raise_node(n, opset, fresh, added);
    for (Node& c : added) nodes.push_back(std::move(c));  // before their reader
    nodes.push_back(std::move(n));
  }
  graph.nodes = std::move(nodes);
  graph.opsets[""] = opset;
}

}  // namespace onnx_train
