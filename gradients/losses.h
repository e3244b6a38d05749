// Losses appended to an inference graph as ONNX nodes.
//
// A model exported for inference ends in its prediction (logits, log-probabilities, a
// regression output). append_loss adds the target as a new graph input, the nodes that
// score the prediction against it, and the scalar loss as a new graph output, so that
// build_gradient_graph (gradients/autodiff.h) can differentiate it:
//
//   Graph graph = load_onnx_model("model.onnx");
//   const AppendedLoss loss = append_loss(graph, {LossKind::CrossEntropy, "logits"});
//   build_gradient_graph(graph, loss.loss, trainable_initializers(graph, loss.loss));
//   // feed the batch and `loss.label` (int64 class indices [N] or [N, d1, ...])
//
// The losses and their options are documented in onnx_train/losses.h.
#pragma once

#include <cstdint>
#include <string>

#include "onnx_train/losses.h"
#include "runtime/ir/graph.h"

namespace onnx_train {

struct AppendedLoss {
  std::string loss;   // the scalar loss value, a new graph output
  std::string label;  // the new graph input
};

// Appends the loss nodes, the label input and the loss output to `graph` (with value infos
// for every new value, so the gradient builder knows their types). Throws a clear Error for
// an unknown output, an output whose type or rank does not fit the loss, a label name that
// is already a value of the graph, or bad options; `graph` is unchanged then.
AppendedLoss append_loss(Graph& graph, const LossOptions& options);

// The default-domain opset the loss's ONNX ops need: 12 for the class losses
// (NegativeLogLikelihoodLoss, SoftmaxCrossEntropyLoss), 0 for the others (any opset the runtime
// runs). `op`, when given, receives the op that needs it. A graph at an older opset is refused by
// append_loss; load the model with LoadOptions::min_opset (importers/onnx_model.h) to upgrade it,
// as TrainingSession does.
int loss_min_opset(LossKind kind, std::string* op = nullptr);

}  // namespace onnx_train
