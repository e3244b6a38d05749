// Loading models of opsets 18 to 23: lowering the op versions they introduced to opset 17.
//
// Debian 12's ONNX library (1.12) knows schemas up to opset 17, and the runtime's kernels and
// gradient rules are written against those schemas. A model of a newer default-domain opset is
// lowered at load: every node whose op version is newer than opset 17 is rewritten into
// opset-17 nodes with the same outputs (ReduceMean-18's `axes` input becomes ReduceMean-13's
// attribute, Mish-18 becomes x * tanh(softplus(x)), Attention-23 becomes MatMul/Softmax/...),
// and the model then imports opset 17, so ONNX's checker, shape inference and everything after
// them see ops they know. Op versions whose change was only new element types (Identity-19/21,
// the bfloat16 additions of 22, ...) stay as they are.
//
// Which op versions opsets 18-23 introduced is this project's own table (kOpsetChanges in
// lower_opset.cc), read from the ONNX operator specification; a node of a version there with
// no lowering registered is reported with every other such node at load, in one message.
//
// A lowering rule is a function of a LoweringContext, registered per op version by a family
// file importers/lowerings/<family>.cc:
//
//   ONNX_TRAIN_LOWERINGS(activations) {
//     rules.push_back({"Mish", 18, lower_mish, "Softplus, Tanh, Mul"});
//   }
//
//   void lower_mish(LoweringContext& cx) {           // y = x * tanh(softplus(x))
//     GraphEditor& e = cx.editor();
//     const std::string& x = cx.node().inputs[0];
//     const std::string sp = e.add1("Softplus", {x}, e.fresh(x + "_softplus"));
//     const std::string t = e.add1("Tanh", {sp}, e.fresh(x + "_tanh_softplus"));
//     cx.emit("Mul", {x, t}, {cx.node().outputs[0]});   // the last node writes the node's outputs
//   }
//
// This header does not load models (importers/onnx_model.h calls lower_to_opset17) and makes
// no kernels: a lowering only uses ops the runtime has at opset 17 (or the project's domain).
#pragma once

#include <map>
#include <optional>
#include <set>
#include <string>
#include <vector>

#include "runtime/ir/editor.h"
#include "runtime/ir/graph.h"

namespace onnx {
class ModelProto;
}  // namespace onnx

namespace onnx_train {

// The newest default-domain opset a model may import (lowered at load to kMaxOpset).
constexpr int kMaxLoweredOpset = 23;

class ShapeOracle;

// What a lowering rule sees and does. Nodes it adds go to the lowered graph at opset 17.
class LoweringContext {
 public:
  LoweringContext(const Node& node, GraphEditor& editor, ShapeOracle& shapes, const std::string& path);

  // The node being lowered, as the model wrote it; node().since_version is its op version at
  // the model's opset (e.g. 18 for ReduceMean in an opset-20 model).
  const Node& node() const { return node_; }
  // Adds opset-17 nodes to the lowered graph (fresh names, constants as Constant nodes).
  GraphEditor& editor() { return editor_; }

  // Adds one node writing exactly `outputs` (normally the lowered node's outputs): the
  // rule's last node. The node keeps the lowered node's name when `keep_name`.
  Node& emit(const std::string& op, std::vector<std::string> inputs, std::vector<std::string> outputs,
             std::map<std::string, Attribute> attributes = {}, const std::string& domain = "",
             bool keep_name = true);
  // The node itself at opset 17 with `attributes` (the node's own, edited), for a version
  // whose new features the node does not use.
  void keep(std::map<std::string, Attribute> attributes);
  void keep() { keep(node_.attributes); }

  // The value of `value` when it is a constant: an initializer or the output of a Constant
  // node (already in the lowered graph); nullopt otherwise.
  std::optional<Tensor> constant(const std::string& value) const;
  // A constant integer tensor (int32 or int64) as int64s; nullopt when `value` is not constant.
  std::optional<std::vector<int64_t>> constant_ints(const std::string& value) const;
  // The constant input `index` as integers, or the rule's error naming the input when it is
  // not constant (`what`: "axes", "pads", ...). An omitted input gives nullopt.
  std::optional<std::vector<int64_t>> required_constant_ints(size_t index, const std::string& what) const;

  // Static knowledge of a value computed above the node: its element type and shape (-1 for a
  // symbolic dimension), from the model's inputs, initializers and value_info, else from ONNX's
  // shape inference over the lowered graph so far. Undefined / nullopt when unknown.
  DType dtype(const std::string& value);
  std::optional<Shape> shape(const std::string& value);
  std::optional<int64_t> rank(const std::string& value);
  // The rank, or the rule's error saying that `what` needs it.
  int64_t required_rank(const std::string& value, const std::string& what);

  // `axes` made non-negative against `rank`, or the rule's error when one lies outside
  // [-rank, rank) ("<what> 3 is out of range for an input of rank 2").
  std::vector<int64_t> normalized_axes(std::vector<int64_t> axes, int64_t rank, const std::string& what = "axis") const;

  // Throws "<path>: node 'n' (Op-18): <detail>".
  [[noreturn]] void fail(const std::string& detail) const;

 private:
  const Node& node_;
  GraphEditor& editor_;
  ShapeOracle& shapes_;
  std::string path_;
};

// A float32 or float64 tensor of `shape` holding `values` (row-major): the constants a rule
// computes (a base grid, a filter) in the type of the values they meet.
Tensor float_tensor(DType dtype, Shape shape, const std::vector<double>& values);

using LowerFn = void (*)(LoweringContext& cx);

// One op version a lowering covers: `op_type` of the default domain from `since_version`
// (18-23) on, lowered by `lower`; `form` says in a few words what it becomes (`onnx-train ops`).
struct LoweringRule {
  std::string op_type;
  int since_version = 0;
  LowerFn lower = nullptr;
  std::string form;
};

// Every registered lowering, sorted by op and version.
const std::vector<LoweringRule>& lowering_rules();

// The op versions opsets 18 to 23 introduced for `op_type` (empty: none), and whether a
// version only added element types (it loads unchanged where the node uses the old types).
struct OpsetChange {
  int since_version = 0;
  bool types_only = false;
};
std::vector<OpsetChange> opset_changes(const std::string& op_type);

// What is wrong with `node` as a node of `op_type`-`version` (a version of opsets 18-23): its
// inputs, outputs or attributes against the operator specification, which ONNX 1.12's checker
// does not know; "" when nothing is (or the version is not in the table).
std::string signature_problem(const Node& node, int version);

// Every op with a version in opsets 18-23, in name order.
std::vector<std::string> ops_changed_after_opset17();

// The version of `op_type` (default domain) whose meaning is in force at `opset`, when it is
// newer than 17 (types-only versions skipped: Mish at 22 is Mish-18); 0 when the op means at
// `opset` what it meant at 17 (or is not an ONNX op).
int lowered_version(const std::string& op_type, int opset);

// Rewrites `model` (a default-domain opset above kMaxOpset, local functions already inlined)
// into an equivalent opset-17 model in place: the nodes of new op versions lowered, the rest
// unchanged, opset_import set to 17. Initializers are not copied. Throws naming `path` and
// every node that has no lowering (or whose lowering refuses it, e.g. a non-constant `axes`).
// Returns the values the lowered nodes read as settings rather than weights (Graph::settings:
// RotaryEmbedding's caches and positions, Attention's mask and past).
std::set<std::string> lower_to_opset17(onnx::ModelProto& model, const std::string& path);

// For a model of opset 18-23 (as the user gave it: `model` is not lowered), one line saying
// which op versions run lowered ("m.onnx is at opset 21: 3 nodes run lowered to opset-17 ops
// (GroupNormalization-21 x2, Gelu-20 x1); the export keeps opset 21"); "" for opset 17 or
// older. Nodes of local functions count once per function.
std::string lowering_note(const onnx::ModelProto& model, const std::string& path);

// How a rule family joins the table (the pattern of gradients/rules/registry.h):
using LoweringFamily = void (*)(std::vector<LoweringRule>& rules);
struct LoweringFamilyRegistrar {
  LoweringFamilyRegistrar(const char* family, LoweringFamily add);
};

}  // namespace onnx_train

#define ONNX_TRAIN_LOWERINGS(family)                                                                          \
  static void add_##family##_lowerings(std::vector<::onnx_train::LoweringRule>& rules);                       \
  static const ::onnx_train::LoweringFamilyRegistrar family##_lowerings_registrar(#family,                    \
                                                                                  add_##family##_lowerings); \
  static void add_##family##_lowerings(std::vector<::onnx_train::LoweringRule>& rules)
