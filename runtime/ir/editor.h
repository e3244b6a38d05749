// The one graph editor: how code adds nodes, values and constants to a Graph.
//
// Every rewrite (the gradient builder, the losses, the train/eval forms, the classifier head,
// the TrainingInfo algorithm) edits through a GraphEditor, so that names, schema versions and
// the opset-dependent forms of ops are decided here once:
//
//   GraphEditor e(graph, "my pass", "my_pass/");
//   const std::string s = e.unsqueeze(x, {0}, e.fresh("x_unsqueezed"));   // axes: attribute or input
//   const std::string y = e.add1("Mul", {s, e.constant(scalar_tensor(DType::Float32, 2), "two")}, e.fresh("y"));
//
// - Names: fresh(hint) gives `hint` when no value or node of the graph has it, else hint_1,
//   hint_2, ... (in constant time per name).
// - Nodes are added at the graph's opset for their domain, with since_version from ONNX's
//   schema (runtime/ir/schema.h; the project's own domain versions its ops by its opset), so
//   kernels and gradient rules read them like imported nodes. An op that does not exist at
//   that opset is an error at once, not when a kernel is looked for.
// - Constants are Constant nodes or initializers (chosen per editor), typed.
// - Versioned forms: ops whose attribute became an input across opsets (Unsqueeze/Squeeze
//   axes and ReduceSum axes at 13, the other Reduce* axes at 18, Clip min/max at 11), and
//   ConstantOfShape (opset 9) with its fallback.
//
// Nodes are appended in emission order; a pass that adds nodes ahead of their consumers
// sorts the graph itself (sort_topologically). The editor does not check what it is told to
// connect: shape inference and the planner do.
#pragma once

#include <map>
#include <optional>
#include <string>
#include <unordered_map>
#include <unordered_set>
#include <vector>

#include "runtime/ir/graph.h"
#include "runtime/ir/schema.h"

namespace onnx_train {

// How an editor stores the constants it makes: Constant nodes (the graph stays
// self-contained when spliced), or initializers (TrainingInfo's algorithm graph).
enum class ConstantForm { Node, Initializer };

// A scalar tensor of `dtype` (float32, float64, int32, int64 or bool) holding `value`.
Tensor scalar_tensor(DType dtype, double value);

class GraphEditor {
 public:
  // `context` begins the editor's errors ("train mode: ONNX has no op ..."); `node_prefix`
  // begins the names of the nodes it names itself ("grad/" gives "grad/Mul", "grad/Mul_1").
  explicit GraphEditor(Graph& graph, std::string context = "graph editor", std::string node_prefix = "",
                       ConstantForm constants = ConstantForm::Node);

  Graph& graph() { return graph_; }
  const Graph& graph() const { return graph_; }
  // The graph's opset for `domain` (graph_opset: kMinOpset for a default domain it does not import).
  int opset(const std::string& domain = "") const { return graph_opset(graph_, domain); }
  // Imports `domain` at `version` unless the graph already imports it.
  void import_domain(const std::string& domain, int version) { graph_.opsets.emplace(domain, version); }

  // ---- names
  std::string fresh(const std::string& hint);
  // From now on, nodes the editor names itself are named fresh(prefix + op) (a pass that
  // rewrites node by node names the new nodes after the node they replace).
  void set_node_prefix(std::string prefix) { node_prefix_ = std::move(prefix); }
  bool taken(const std::string& name) const { return names_.count(name) != 0; }
  // Marks `name` as used (a name a caller will give a value itself).
  void reserve(const std::string& name) { names_.insert(name); }

  // ---- nodes
  // Appends a node `op` of `domain` at the graph's opset for that domain, its outputs named
  // `outputs` (reserved; "" for an omitted optional output), named `name` or
  // fresh(node_prefix + op). The reference lives until the next node is added.
  Node& add(const std::string& op, std::vector<std::string> inputs, std::vector<std::string> outputs,
            std::map<std::string, Attribute> attributes = {}, const std::string& domain = "", std::string name = "");
  // The one-output form; returns `output`.
  std::string add1(const std::string& op, std::vector<std::string> inputs, const std::string& output,
                   std::map<std::string, Attribute> attributes = {}, const std::string& domain = "");
  size_t nodes_added() const { return nodes_added_; }

  // ---- types
  // Records `value`'s element type and shape (nullopt: unknown) as a ValueInfo.
  void set_type(const std::string& value, DType dtype, std::optional<Shape> shape);
  // From the initializer of that name, else from a ValueInfo (Undefined / nullopt / -1 when unknown).
  DType dtype_of(const std::string& value) const { return graph_.dtype_of(value); }
  std::optional<Shape> shape_of(const std::string& value) const { return graph_.shape_of(value); }
  int rank_of(const std::string& value) const;

  // Sets initializer `name` to `value`, and the ValueInfo of that name, if any, to its type.
  void set_initializer(const std::string& name, Tensor value);

  // ---- constants, named fresh(hint) and typed
  std::string constant(Tensor value, const std::string& hint);
  std::string ints(const std::vector<int64_t>& values, const std::string& hint);  // int64 [n]

  // ---- versioned forms, each writing `output` (named by the caller)
  std::string unsqueeze(const std::string& v, const std::vector<int64_t>& axes, const std::string& output);
  std::string squeeze(const std::string& v, const std::vector<int64_t>& axes, const std::string& output);
  // ReduceSum, ReduceMean, ... over `axes` (empty: every axis).
  std::string reduce(const std::string& op, const std::string& v, const std::vector<int64_t>& axes, bool keepdims,
                     const std::string& output);
  // Clip to [low, high], the bounds of `dtype` (v's element type).
  std::string clip(const std::string& v, double low, double high, DType dtype, const std::string& output);
  // A tensor of `value` with the type and shape of `like`: a constant when the shape is known
  // and fixed, else ConstantOfShape(Shape(like)) (opset 9), else like * 0 + value.
  std::string filled_like(const std::string& like, double value, const std::string& output);

 private:
  // Adds a node `op` whose axes are an input from opset `input_from` and an attribute before.
  std::string with_axes(const std::string& op, const std::string& v, const std::vector<int64_t>& axes, int input_from,
                        std::map<std::string, Attribute> attributes, const std::string& output);

  Graph& graph_;
  std::string context_, node_prefix_;
  ConstantForm constants_;
  std::unordered_set<std::string> names_;
  std::unordered_map<std::string, int> next_suffix_;  // hint -> first suffix not yet tried
  size_t nodes_added_ = 0;
};

}  // namespace onnx_train
