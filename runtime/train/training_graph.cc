// write_training_graph: load for training, choose the trainable set, build the backward graph, save.
// The model keeps its own form and opset (no loss is appended: `loss` is a value of the model; a
// model lowered from opset 18-23 is raised back to its opset).
#include <chrono>

#include "gradients/autodiff.h"
#include "importers/model_source.h"
#include "importers/onnx_model.h"
#include "importers/raise_opset.h"
#include "onnx_train/training.h"
#include "runtime/train/load_for_training.h"
#include "runtime/train/parameters.h"

namespace onnx_train {

TrainingGraphInfo write_training_graph(const std::string& model_path, const std::string& output_path,
                                       const TrainingGraphOptions& options) {
  OT_CHECK(!options.loss.empty(), "name the loss: the value of {} to minimise", model_path);
  // The model as written (its own form and opset), with Constant weights reaching the loss promoted.
  LoadModelOptions load;
  load.loss = options.loss;
  LoadedModel loaded = load_model_for_training(model_path, load);
  Graph& graph = *loaded.model;
  TrainingGraphInfo info;
  info.promoted_constants = loaded.promoted;
  info.trainable = decide_parameters(graph, options.loss, options.freeze, options.train_only).trainable;
  std::vector<std::string> wrt = info.trainable;
  for (const auto& input : options.input_gradients) {
    bool known = false;
    for (const auto& v : graph.inputs) known |= v.name == input;
    OT_CHECK(known, "{}: '{}' is not a graph input, so it has no input gradient", model_path, input);
    wrt.push_back(input);
  }
  OT_CHECK(!wrt.empty(), "{}: nothing to train: no float initializer reaches the loss '{}' (or all are frozen)",
           model_path, options.loss);
  info.forward_nodes = graph.nodes.size();
  try {
    const auto start = std::chrono::steady_clock::now();
    const GradientGraph grads = build_gradient_graph(graph, options.loss, wrt);
    info.build_seconds = std::chrono::duration<double>(std::chrono::steady_clock::now() - start).count();
    info.gradients = grads.gradients;
    info.backward_nodes = grads.nodes_added;
  } catch (const Error& e) {
    throw Error(fmt::format("{}: {}", model_path, e.what()), e.category());
  }
  // A model lowered from opset 18-23 is written at its own opset (importers/raise_opset.h).
  if (graph.source && graph.source->opset() > graph_opset(graph)) raise_from_opset17(graph, graph.source->opset());
  save_onnx_model(graph, output_path);
  return info;
}

}  // namespace onnx_train
