// Loading a model for training: the one pipeline TrainingSession::from_file,
// write_training_graph and inspect_model run, so that all three see the same graph.
//
//   load (upgraded to the opset a loss needs) -> expand ONNX Gradient ops -> separate
//   deduplicated initializers -> eval form (sessions) -> new classifier head (num_classes)
//   -> weights held in Constant nodes that reach the loss become initializers
//   -> initializers the export cannot write back become Constant nodes again
//
// The last step keeps the export true (importers/model_source.h): the export writes the trained
// values into the user's file as given, which can hold a value only as an initializer, a
// Constant node or an Identity of an initializer of its main graph. A weight inside a local
// function (inlined at load), a constant a lowering of opsets 18-23 made, or an initializer
// ONNX's version converter made has no such place: it stays a constant and never trains (a
// note says so for the weights among them that reach the loss). An Identity of an initializer
// inside a local function is not separated: it stays a copy of the initializer, as the
// function the export writes computes it.
//
// Not here: the loss itself, the training form, the trainable set (runtime/train/parameters.h)
// and the gradients, which the callers add on top.
#pragma once

#include <cstdint>
#include <memory>
#include <string>
#include <vector>

#include "onnx_train/training_session.h"
#include "runtime/ir/graph.h"
#include "runtime/transforms/classifier_head.h"
#include "runtime/transforms/lora.h"

namespace onnx_train {

struct LoadModelOptions {
  // The value to minimise, or the model output a loss will be appended to; "" for the model's
  // first output. Constant weights reaching it become initializers (none when it names no value
  // of the graph: the caller reports that, as appending the loss does).
  std::string loss;
  // > 0: a model at an older default-domain opset is upgraded to it with ONNX's version
  // converter, for `min_opset_loss` (the loss's name) and `min_opset_op` (the op that needs it).
  int min_opset = 0;
  std::string min_opset_loss, min_opset_op;
  bool eval_form = false;  // to_eval_form: inference form, whatever form the model was exported in
  // > 0: replace_classifier_head on `head_output` ("" for the first output), seeded by `seed`.
  int64_t num_classes = 0;
  std::string head_output;
  uint64_t seed = 0;
  // Low-rank adapters (lora.enabled()), added last, seeded by `seed`; an adapter file's values
  // replace the drawn ones.
  LoraOptions lora;
};

// What a TrainingSession needs: its loss's opset, eval form, the new head. `loss` is the
// model's own loss output or the output the loss is appended to.
LoadModelOptions session_load_options(const TrainingOptions& options);

struct LoadedModel {
  std::unique_ptr<Graph> model;       // the edited model (see above)
  std::string loss;                   // the loss value resolved ("" became the first output)
  std::vector<std::string> promoted;  // Constant weights made initializers
  int opset = 0;                      // the model file's default-domain opset
  ReplacedHead head;                  // the new classifier head (num_classes; new_classes 0: none)
  LoraInfo lora;                      // the adapters added (none without lora options)
  // The upgrade, when there was one; weights kept constant for the export; training-form nodes
  // inside local functions, which the export writes as they are (export_limits).
  std::vector<std::string> notes;
};

LoadedModel load_model_for_training(const std::string& model_path, const LoadModelOptions& options);

}  // namespace onnx_train
