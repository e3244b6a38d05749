// Which initializers a training run trains: the one decision TrainingSession::from_file,
// write_training_graph and inspect_model all take from here, so that what inspect reports,
// what a training graph differentiates and what a session steps are the same set.
//
// Not here: loading and editing the model (runtime/train/load_for_training.h), the gradients
// (gradients/autodiff.h), weight decay groups (the session's no_decay).
#pragma once

#include <string>
#include <vector>

#include "runtime/ir/graph.h"

namespace onnx_train {

// What trains, given a graph and the value its loss is computed from.
struct ParameterSets {
  // The float initializers on a differentiable path to the loss, except BatchNormalization's
  // running statistics and a built-in loss's class weights (trainable_initializers), in the
  // graph's initializer order: trainable and frozen together.
  std::vector<std::string> candidates;
  std::vector<std::string> trainable;  // the candidates the options select, in the same order
  std::vector<std::string> frozen;     // the candidates `freeze` matches or `train_only` leaves out
  // BatchNormalization running means and variances held in initializers (state the training
  // form updates, PyTorch's buffers), in node order, mean before variance, each once.
  std::vector<std::string> buffers;
};

// `loss` is the value to minimise, or the model output a loss is appended to (the same set:
// an appended loss adds no weights). A candidate trains unless a `freeze` regex matches part of
// its name, or `train_only` is not empty and none of its regexes does (std::regex_search). An
// invalid regex throws OptionError naming "freeze" or "train_only".
// With `adapters` (LoRA's A and B, runtime/transforms/lora.h) the adapters train and the other
// candidates only when `train_only` names them (PEFT's modules_to_save); `freeze` still removes.
ParameterSets decide_parameters(const Graph& graph, const std::string& loss, const std::vector<std::string>& freeze,
                                const std::vector<std::string>& train_only,
                                const std::vector<std::string>& adapters = {});

// What the split says that changes what training means, one line each (TrainingSession::notes()
// after the opset upgrade's): a model exported for inference that lost its training structure
// (BatchNormalization folded into Conv, weights named by the exporter), and each freeze /
// train_only pattern that matches no candidate. `model` is the graph the split was made on.
std::vector<std::string> parameter_notes(const Graph& model, const std::string& model_path, const ParameterSets& sets,
                                         const std::vector<std::string>& freeze,
                                         const std::vector<std::string>& train_only);

}  // namespace onnx_train
