// The gradient builder's driver: appends the backward graph to a forward graph.
//
// Given a scalar (or any-shaped: its gradient seed is all ones) loss value and the values
// to differentiate with respect to, it walks the graph in reverse from the loss and asks
// each node's rule (builder.h) for the gradients of the inputs that lie on a path between
// a wrt value and the loss. Only float tensors carry gradients; integer and bool values
// (shapes, indices, masks) never do. The driver, not the rules, sums gradients that reach
// one value from several consumers, and sums broadcast gradients back to their input's
// shape (SumToShape, in the project's own domain).
#pragma once

#include <map>
#include <set>
#include <string>
#include <vector>

#include "runtime/ir/graph.h"

namespace onnx_train {

struct GradientGraph {
  // wrt value -> name of its gradient in the graph ("<wrt>_grad"), also a graph output.
  std::map<std::string, std::string> gradients;
  size_t nodes_added = 0;
  // Backward node (by its first output) -> the label of the forward node whose gradient rule
  // emitted it (or whose input's broadcast it undoes). Nodes of the driver alone (the seed, the
  // sums of fan-in, the final Identity per gradient) are not in it.
  std::map<std::string, std::string> rule_of;
};

// Weights some exporters store as Constant nodes (float, at least 2 elements) that reach
// `loss` through edges that carry a gradient become initializers, so that they train like
// any other weight. Returns their names.
std::vector<std::string> promote_constant_weights(Graph& graph, const std::string& loss);

// The float initializers on a differentiable path to `loss`, except BatchNormalization's
// running statistics and the class weights of SoftmaxCrossEntropyLoss and
// NegativeLogLikelihoodLoss: the default trainable set.
std::vector<std::string> trainable_initializers(const Graph& graph, const std::string& loss);

// Appends the backward nodes to `graph` and returns where each gradient is. Throws one
// Error listing every node that needs a gradient rule and has none.
GradientGraph build_gradient_graph(Graph& graph, const std::string& loss, const std::vector<std::string>& wrt);

// ONNX's own Gradient operator (domain ai.onnx.preview.training): no kernel runs it; the
// gradient builder expands each such node into the backward graph of its 'y' with respect
// to its 'xs', the results named as the node's outputs. Returns how many were expanded.
bool is_onnx_gradient_op(const std::string& domain, const std::string& op_type);
size_t expand_onnx_gradient_ops(Graph& graph);

// Every value `loss` depends on through edges that can carry a gradient.
std::set<std::string> values_feeding(const Graph& graph, const std::string& loss);

}  // namespace onnx_train
