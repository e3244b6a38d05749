// load_model_for_training: load (runtime/transforms/load_model.h: Gradient ops expanded),
// upgrade for the loss, separate, eval form, head, promote Constant weights.
#include "runtime/train/load_for_training.h"

#include <algorithm>

#include "gradients/autodiff.h"
#include "gradients/losses.h"
#include "runtime/ir/schema.h"
#include "runtime/transforms/classifier_head.h"
#include "runtime/transforms/load_model.h"
#include "runtime/transforms/train_mode.h"

namespace onnx_train {

namespace {

// The edits every graph of a session starts from, on a freshly loaded graph. An error from the
// head names the model file (an OptionError keeps naming its option).
void edit_loaded_model(Graph& graph, const LoadModelOptions& options, const std::string& model_path) {
  graph.separate_deduplicated_initializers();
  if (options.eval_form) to_eval_form(graph);
  if (options.num_classes <= 0) return;
  try {
    replace_classifier_head(graph, options.head_output, options.num_classes, options.seed);
  } catch (const OptionError& e) {
    throw OptionError(e.option(), e.detail(), model_path);
  } catch (const Error& e) {
    OT_FAIL("{}: {}", model_path, e.what());
  }
}

// The user's graph at its own opset, edited like the upgraded one, with the same Constant
// weights promoted (those it has).
void edit_original(LoadedModel& loaded, const LoadModelOptions& options, const std::string& model_path) {
  try {
    edit_loaded_model(*loaded.original, options, model_path);
    std::vector<std::string> present;
    for (const Node& n : loaded.original->nodes)
      if (n.op_type == "Constant" && n.outputs.size() == 1 &&
          std::find(loaded.promoted.begin(), loaded.promoted.end(), n.outputs[0]) != loaded.promoted.end())
        present.push_back(n.outputs[0]);
    loaded.original->promote_constants_to_initializers(present);
  } catch (const Error& e) {
    loaded.original_problem = e.what();
    loaded.original.reset();
  }
}

}  // namespace

LoadModelOptions session_load_options(const TrainingOptions& options) {
  LoadModelOptions load;
  load.loss = options.model_loss.empty() ? options.loss.output : options.model_loss;
  if (options.model_loss.empty()) {
    load.min_opset = loss_min_opset(options.loss.kind, &load.min_opset_op);
    load.min_opset_loss = loss_kind_name(options.loss.kind);
  }
  load.eval_form = true;
  load.num_classes = options.num_classes;
  load.head_output = options.loss.output;
  load.seed = options.seed;
  return load;
}

// A model exported at an older opset (torch's opset_version=9..11 with a class loss, which is
// built from opset-12 ops) is loaded again through ONNX's version converter; the user's own
// graph is kept in `original` for export.
LoadedModel load_model_for_training(const std::string& model_path, const LoadModelOptions& options) {
  LoadedModel loaded;
  loaded.model = std::make_unique<Graph>(load_model(model_path));
  loaded.opset = graph_opset(*loaded.model);
  if (loaded.opset < options.min_opset) {
    LoadOptions upgrade;
    upgrade.min_opset = options.min_opset;
    upgrade.min_opset_reason = fmt::format("the {} loss ({})", options.min_opset_loss, options.min_opset_op);
    loaded.original = std::move(loaded.model);
    loaded.model = std::make_unique<Graph>(load_model(model_path, upgrade));
    loaded.notes.push_back(fmt::format(
        "{} is at opset {}, but the {} loss needs opset {} ({}): upgraded it to opset {} with ONNX's version "
        "converter for training",
        model_path, loaded.opset, options.min_opset_loss, options.min_opset, options.min_opset_op, options.min_opset));
  }
  edit_loaded_model(*loaded.model, options, model_path);
  loaded.loss = options.loss;
  if (loaded.loss.empty() && !loaded.model->outputs.empty()) loaded.loss = loaded.model->outputs.front().name;
  // A loss that names no value is left to the caller to report (with the outputs there are).
  if (value_names(*loaded.model).count(loaded.loss))
    loaded.promoted = promote_constant_weights(*loaded.model, loaded.loss);
  if (loaded.original) edit_original(loaded, options, model_path);
  return loaded;
}

}  // namespace onnx_train
