// load_model_for_training: load (runtime/transforms/load_model.h: Gradient ops expanded),
// upgrade for the loss, separate, eval form, head, promote Constant weights, keep what the
// export cannot write back constant.
#include "runtime/train/load_for_training.h"

#include <algorithm>
#include <map>

#include "gradients/autodiff.h"
#include "gradients/losses.h"
#include "importers/lower_opset.h"
#include "importers/model_source.h"
#include "runtime/ir/editor.h"
#include "runtime/ir/schema.h"
#include "runtime/transforms/classifier_head.h"
#include "runtime/transforms/load_model.h"
#include "runtime/train/lora_adapter.h"
#include "runtime/transforms/train_mode.h"

namespace onnx_train {

namespace {

// The edits every graph of a session starts from, on a freshly loaded graph. An error from the
// head names the model file (an OptionError keeps naming its option). Returns the head replaced
// (none: classes 0).
ReplacedHead edit_loaded_model(Graph& graph, const LoadModelOptions& options, const std::string& model_path) {
  graph.separate_deduplicated_initializers();
  if (options.eval_form) to_eval_form(graph);
  if (options.num_classes <= 0) return {};
  try {
    return replace_classifier_head(graph, options.head_output, options.num_classes, options.seed);
  } catch (const OptionError& e) {
    throw OptionError(e.option(), e.detail(), model_path);
  } catch (const Error& e) {
    throw Error(fmt::format("{}: {}", model_path, e.what()), e.category());
  }
}

// The Identity-of-an-initializer outputs of `graph` (output -> initializer) that its source
// cannot hold (an Identity inside a local function): separate_deduplicated_initializers would
// make them weights of their own, which the export cannot write back.
std::map<std::string, std::string> unholdable_copies(const Graph& graph) {
  std::map<std::string, std::string> copies;
  if (!graph.source) return copies;
  for (const Node& n : graph.nodes)
    if (n.op_type == "Identity" && n.domain.empty() && n.inputs.size() == 1 && n.outputs.size() == 1 &&
        graph.initializers.count(n.inputs[0]) && !graph.source->can_hold(n.outputs[0]))
      copies[n.outputs[0]] = n.inputs[0];
  return copies;
}

// Initializers of `graph` that its source cannot hold (load_for_training.h) become Constant nodes
// again, or the Identity of the initializer they were separated from (`copies`), placed first.
// Returns their names.
std::vector<std::string> keep_unholdable_constant(Graph& graph, const std::map<std::string, std::string>& copies) {
  std::vector<std::string> kept;
  if (!graph.source) return kept;
  for (const auto& [name, t] : graph.initializers)
    if (!graph.source->can_hold(name)) kept.push_back(name);
  if (kept.empty()) return kept;
  GraphEditor e(graph, "load for training", "export/");
  for (const auto& name : kept) {
    Tensor value = graph.initializers.at(name);
    graph.initializers.erase(name);
    e.set_type(name, value.dtype(), value.shape());  // what the initializer said of it
    const auto copy = copies.find(name);
    if (copy != copies.end())
      e.add("Identity", {copy->second}, {name});
    else
      e.add("Constant", {}, {name}, {{"value", Attribute::of_tensor(std::move(value))}});
  }
  // A Constant reads nothing, an Identity an initializer: the new nodes go first.
  std::rotate(graph.nodes.begin(), graph.nodes.end() - static_cast<std::ptrdiff_t>(kept.size()), graph.nodes.end());
  return kept;
}

// The weights among `kept` that were promoted to train, out of `promoted`, and the note about them.
void note_kept_weights(LoadedModel& loaded, const std::vector<std::string>& kept, const std::string& model_path) {
  std::vector<std::string> weights;
  for (const auto& name : kept) {
    const auto it = std::find(loaded.promoted.begin(), loaded.promoted.end(), name);
    if (it == loaded.promoted.end()) continue;
    loaded.promoted.erase(it);
    weights.push_back(name);
  }
  if (weights.empty()) return;
  loaded.notes.push_back(fmt::format(
      "{}: weights held in Constant nodes inside local functions or made while loading stay as they are ({}): the "
      "export writes the model's own graph and functions, which have no place for their trained values",
      model_path, fmt::join(weights, ", ")));
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
  load.lora = options.lora;
  return load;
}

// A model exported at an older opset (torch's opset_version=9..11 with a class loss, which is
// built from opset-12 ops) is loaded again through ONNX's version converter; the export writes
// the user's own file (Graph::source) all the same.
LoadedModel load_model_for_training(const std::string& model_path, const LoadModelOptions& options) {
  LoadedModel loaded;
  loaded.model = std::make_unique<Graph>(load_model(model_path));
  loaded.opset = graph_opset(*loaded.model);
  if (loaded.opset < options.min_opset) {
    LoadOptions upgrade;
    upgrade.min_opset = options.min_opset;
    upgrade.min_opset_reason = fmt::format("the {} loss ({})", options.min_opset_loss, options.min_opset_op);
    loaded.model = std::make_unique<Graph>(load_model(model_path, upgrade));
    loaded.notes.push_back(fmt::format(
        "{} is at opset {}, but the {} loss needs opset {} ({}): upgraded it to opset {} with ONNX's version "
        "converter for training; the exported inference model keeps opset {}",
        model_path, loaded.opset, options.min_opset_loss, options.min_opset, options.min_opset_op, options.min_opset,
        loaded.opset));
  }
  const std::map<std::string, std::string> copies = unholdable_copies(*loaded.model);
  loaded.head = edit_loaded_model(*loaded.model, options, model_path);
  loaded.loss = options.loss;
  if (loaded.loss.empty() && !loaded.model->outputs.empty()) loaded.loss = loaded.model->outputs.front().name;
  // A loss that names no value is left to the caller to report (with the outputs there are).
  if (value_names(*loaded.model).count(loaded.loss)) {
    try {
      loaded.promoted = promote_constant_weights(*loaded.model, loaded.loss);
    } catch (const Error& e) {
      throw Error(fmt::format("{}: {}", model_path, e.what()), e.category());
    }
  }
  note_kept_weights(loaded, keep_unholdable_constant(*loaded.model, copies), model_path);
  // Adapters last: their A and B are initializers no source holds, which the export merges.
  if (options.lora.enabled()) {
    try {
      if (!options.lora.adapter.empty())
        loaded.lora = apply_lora_adapter(*loaded.model, options.lora, options.seed, model_path);  // names both files
      else
        loaded.lora = apply_lora(*loaded.model, options.lora, options.seed, loaded.loss);
    } catch (const OptionError& e) {
      throw OptionError(e.option(), e.detail(), model_path);
    } catch (const Error& e) {
      if (!options.lora.adapter.empty()) throw;
      throw Error(fmt::format("{}: {}", model_path, e.what()), e.category());
    }
  }
  if (loaded.model->source) {
    std::string lowered = lowering_note(loaded.model->source->model(), model_path);
    if (!lowered.empty()) loaded.notes.push_back(std::move(lowered));
    for (auto& line : export_limits(*loaded.model->source)) loaded.notes.push_back(std::move(line));
  }
  return loaded;
}

}  // namespace onnx_train
