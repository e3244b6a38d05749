// decide_parameters: the trainable / frozen / buffer split of a graph's initializers, and what
// that split says about the model (parameter_notes).
#include "runtime/train/parameters.h"

#include <algorithm>
#include <regex>
#include <set>
#include <tuple>

#include "gradients/autodiff.h"
#include "runtime/core/name_patterns.h"

namespace onnx_train {

namespace {

// Names torch.onnx.export gives the weights it computes at export (constant folding): folded
// BatchNormalization's Conv weight and bias ("onnx::Conv_193"), a transposed MatMul weight
// ("onnx::MatMul_45"); before torch 1.13 these were bare numbers ("193").
bool is_generated_weight_name(const std::string& name) {
  static const std::regex generated(R"(^(onnx::[A-Za-z]+_)?[0-9]+$)");
  return std::regex_match(name, generated);
}

// A model exported for inference with constant folding has lost what fine-tuning needs: the
// BatchNormalization layers (folded into the Conv before them: training then runs without
// batch statistics) and the layers' weight names (so freeze patterns cannot name them). Says so
// when the trainable weights show it.
void note_lost_training_structure(const Graph& model, const std::string& model_path,
                                  const std::vector<std::string>& candidates, std::vector<std::string>& notes) {
  std::vector<std::string> generated;
  for (const auto& name : candidates)
    if (is_generated_weight_name(name)) generated.push_back(name);
  if (generated.empty()) return;
  bool batch_norm = false, folded_conv = false;
  for (const Node& n : model.nodes) {
    batch_norm |= n.op_type == "BatchNormalization";
    folded_conv |= n.op_type == "Conv" && n.inputs.size() == 3 && is_generated_weight_name(n.inputs[1]) &&
                   is_generated_weight_name(n.inputs[2]);
  }
  const size_t shown = std::min<size_t>(generated.size(), 3);
  const std::string examples = fmt::format("{}{}", fmt::join(generated.begin(), generated.begin() + shown, ", "),
                                           generated.size() > shown ? ", ..." : "");
  const std::string what =
      folded_conv && !batch_norm
          ? fmt::format(
                "its BatchNormalization was folded into Conv (no BatchNormalization left; the Conv weights are named "
                "{}), so training runs without batch statistics",
                examples)
          : fmt::format("{} of its {} trainable weights have names the exporter generated ({})", generated.size(),
                        candidates.size(), examples);
  notes.push_back(fmt::format(
      "{} was exported for inference and lost its training structure: {}, and freeze patterns cannot name those "
      "layers. To fine-tune, export it with torch.onnx.export(..., training=torch.onnx.TrainingMode.TRAINING, "
      "do_constant_folding=False, opset_version=12 or more) (README: Exporting a model for fine-tuning)",
      model_path, what));
}

// A freeze or train_only pattern that matches no parameter is most likely a typo, or a name from
// another export of the model: say so, with some of the names there are.
void note_unmatched_patterns(const std::vector<std::string>& freeze, const std::vector<std::string>& train_only,
                             const std::vector<std::string>& candidates, std::vector<std::string>& notes) {
  const size_t shown = std::min<size_t>(candidates.size(), 4);
  const std::string names = fmt::format("{}{}", fmt::join(candidates.begin(), candidates.begin() + shown, ", "),
                                        candidates.size() > shown ? ", ..." : "");
  for (const auto& [patterns, option, effect] :
       {std::tuple{&freeze, "freeze", "freezes nothing"}, std::tuple{&train_only, "train_only", "selects nothing"}}) {
    for (const auto& pattern : *patterns) {
      const NamePatterns one({pattern}, option);
      if (std::none_of(candidates.begin(), candidates.end(), [&](const std::string& n) { return one.matches(n); }))
        notes.push_back(fmt::format("{} pattern '{}' matches no parameter and {}; the {} parameters are named {}",
                                    option, pattern, effect, candidates.size(), names));
    }
  }
}

}  // namespace

ParameterSets decide_parameters(const Graph& graph, const std::string& loss, const std::vector<std::string>& freeze,
                                const std::vector<std::string>& train_only, const std::vector<std::string>& adapters) {
  const NamePatterns frozen(freeze, "freeze");
  const std::set<std::string> adapter_set(adapters.begin(), adapters.end());
  const NamePatterns only(train_only, "train_only");
  ParameterSets sets;
  sets.candidates = trainable_initializers(graph, loss);
  for (const auto& name : sets.candidates) {
    const bool chosen = adapters.empty() ? train_only.empty() || only.matches(name)
                                         : adapter_set.count(name) != 0 || (!train_only.empty() && only.matches(name));
    const bool selected = !frozen.matches(name) && chosen;
    (selected ? sets.trainable : sets.frozen).push_back(name);
  }
  std::set<std::string> seen;
  for (const Node& n : graph.nodes) {
    if (!n.domain.empty() || n.op_type != "BatchNormalization") continue;
    for (size_t i = 3; i < n.inputs.size() && i < 5; ++i) {
      const std::string& name = n.inputs[i];
      if (graph.initializers.count(name) && seen.insert(name).second) sets.buffers.push_back(name);
    }
  }
  return sets;
}

std::vector<std::string> parameter_notes(const Graph& model, const std::string& model_path, const ParameterSets& sets,
                                         const std::vector<std::string>& freeze,
                                         const std::vector<std::string>& train_only) {
  std::vector<std::string> notes;
  note_lost_training_structure(model, model_path, sets.candidates, notes);
  note_unmatched_patterns(freeze, train_only, sets.candidates, notes);
  return notes;
}

}  // namespace onnx_train
