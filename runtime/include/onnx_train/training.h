// onnx_train/training.h: building the training graph of a model.
//
//   auto info = onnx_train::write_training_graph("model.onnx", "model.training.onnx", {"loss"});
//
// The training graph is the model's forward graph plus the backward graph built by the
// gradient builder: one extra output "<weight>_grad" per trainable initializer. Weights held
// in Constant nodes become initializers (and so trainable) first. It is an
// ordinary ONNX file (gradient-only ops in the ai.onnx_train domain, declared in its
// opset imports) that any ONNX tool can open.
#pragma once

#include <cstddef>
#include <map>
#include <string>
#include <vector>

namespace onnx_train {

// The trainable set is TrainingSession's (runtime/train/parameters.h): the float initializers
// reaching the loss, less BatchNormalization's running statistics, selected by freeze and
// train_only as TrainingOptions selects them. A bad regex throws OptionError naming "freeze" or
// "train_only".
struct TrainingGraphOptions {
  std::string loss;                          // the value to minimise (a model output or any value)
  std::vector<std::string> freeze;           // regexes: initializers whose names match are not trained
  std::vector<std::string> input_gradients;  // graph inputs whose gradients are wanted too
  std::vector<std::string> train_only;       // regexes: if any, only initializers matching one are trained
};

struct TrainingGraphInfo {
  std::vector<std::string> trainable;            // initializers that get a gradient
  std::vector<std::string> promoted_constants;   // weights held in Constant nodes, now initializers
  std::map<std::string, std::string> gradients;  // value -> its gradient output
  size_t forward_nodes = 0;
  size_t backward_nodes = 0;
  double build_seconds = 0;  // time the gradient builder took (not loading or saving)
};

TrainingGraphInfo write_training_graph(const std::string& model_path, const std::string& output_path,
                                       const TrainingGraphOptions& options);

}  // namespace onnx_train
