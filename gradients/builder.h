// The small language gradient rules are written in.
//
// A rule sees one forward node and the gradients flowing into its outputs, and emits the
// nodes that compute the gradients of its inputs:
//
//   // dx = dy * (1 - y * y)
//   void tanh_grad(GradContext& g) {
//     g.set_dx(0, g.emit("Mul", {g.dy(0), g.emit("Sub", {g.scalar(1, g.y(0)), g.emit("Mul", {g.y(0), g.y(0)})})}));
//   }
//
// Everything else is the driver's job (autodiff.h: which inputs need a gradient, summing
// fan-in, undoing broadcasting) or the graph editor's, which GradContext wraps
// (runtime/ir/editor.h: names, schema versions, the opset-dependent forms of ops).
#pragma once

#include <map>
#include <string>
#include <vector>

#include "runtime/ir/editor.h"

namespace onnx_train {

// Gradient-only ops (SumToShape, ...) live in the project's own domain.
inline const char* const kGradientDomain = kProjectDomain;

class GradientBuilder;  // the driver's state; rules only see GradContext

class GradContext {
 public:
  GradContext(GradientBuilder& builder, const Node& node, size_t node_index, std::vector<std::string> dys,
              std::vector<bool> wanted);

  const Node& node() const { return node_; }
  // Forward input / output names.
  const std::string& x(size_t i) const;
  const std::string& y(size_t i) const;
  // Forward output i, added to the forward node when the model left that optional output
  // out (MaxPool's Indices, Dropout's mask): what a backward pass needs from the forward
  // pass travels as an explicit graph value, never in a kernel's private cache.
  std::string forward_output(size_t i);
  // The gradient flowing into output i, or "" when none does (it is zero).
  const std::string& dy(size_t i) const;
  // Whether the driver needs the gradient of input i.
  bool wants_dx(size_t i) const { return i < wanted_.size() && wanted_[i]; }
  // Sets the gradient of input i. `broadcast`: `grad` has the shape of the node's broadcast
  // output rather than of x(i), and the driver sums it back to x(i)'s shape.
  void set_dx(size_t i, const std::string& grad, bool broadcast = false);

  // Emits a node with one output and returns the output's name.
  std::string emit(const std::string& op, const std::vector<std::string>& inputs,
                   std::map<std::string, Attribute> attributes = {}, const std::string& domain = "");
  // Emits a node with `num_outputs` outputs and returns their names.
  std::vector<std::string> emit_multi(const std::string& op, const std::vector<std::string>& inputs, size_t num_outputs,
                                      std::map<std::string, Attribute> attributes = {}, const std::string& domain = "");
  // Emits a node whose output i exists only where wanted[i]: an unwanted output gets the
  // empty name (ONNX's "omitted"), so a fused gradient op computes only what is asked for.
  // Returns the names, "" where not wanted.
  std::vector<std::string> emit_optional(const std::string& op, const std::vector<std::string>& inputs,
                                         const std::vector<bool>& wanted,
                                         std::map<std::string, Attribute> attributes = {},
                                         const std::string& domain = "");
  // Opset-aware forms of the ops rules emit most (GraphEditor's): axes are an input from
  // opset 13 and an attribute before (Unsqueeze/Squeeze axes must be non-negative below opset 11).
  std::string unsqueeze(const std::string& v, const std::vector<int64_t>& axes);
  std::string squeeze(const std::string& v, const std::vector<int64_t>& axes);
  // ReduceSum over `axes` (empty: every axis).
  std::string reduce_sum(const std::string& v, const std::vector<int64_t>& axes, bool keepdims);
  // v cast to the element type of the forward value `like`.
  std::string cast_like(const std::string& v, const std::string& like);
  // A Constant node holding `value`.
  std::string constant(Tensor value);
  // A scalar constant with the element type of `like`, a forward value (x or y: their
  // types are known from shape inference; gradients have their forward value's type).
  std::string scalar(double value, const std::string& like);
  // An int64 1-D constant.
  std::string ints(const std::vector<int64_t>& values);
  // The element type and rank of a forward value, from shape inference (rank -1: unknown).
  DType dtype_of(const std::string& value) const;
  int rank_of(const std::string& value) const;
  // The default-domain opset of the graph (which decides attribute-vs-input forms).
  int opset() const;

  struct Set {
    std::string grad;
    bool broadcast;
  };
  const std::map<size_t, Set>& results() const { return results_; }

 private:
  // A fresh name for an output of `op`, "<node name>/<op>".
  std::string fresh(const std::string& op);

  GradientBuilder& builder_;
  GraphEditor& editor_;
  const Node& node_;
  size_t node_index_;
  std::vector<std::string> dys_;
  std::vector<bool> wanted_;
  std::map<size_t, Set> results_;
};

using GradRule = void (*)(GradContext&);

// One row of the rule table: an op, the schema versions the rule covers, and the rule.
// A null rule declares that the op has no gradient (Shape, comparisons, ArgMax...): the
// driver never differentiates through it and it is not a "missing rule".
struct GradRuleEntry {
  std::string domain;
  std::string op_type;
  std::vector<int> since_versions;
  GradRule rule;
  // Float inputs that never get a gradient: sizes and scales (Resize), running statistics
  // (BatchNormalization), ratios (Dropout). The driver never asks for them, and an
  // initializer that reaches the loss only through them is not trainable.
  std::vector<size_t> no_gradient_inputs = {};
};

// Every rule; rules/*.cc each add their family's rows.
const std::vector<GradRuleEntry>& gradient_rules();
const GradRuleEntry* find_gradient_rule(const Node& node);
// Whether input i of `node` can carry a gradient under `entry` (see no_gradient_inputs).
bool input_takes_gradient(const GradRuleEntry* entry, size_t i);

}  // namespace onnx_train
