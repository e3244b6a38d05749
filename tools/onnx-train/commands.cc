// onnx-train graph (and its older name training-graph) / export.
#include "tools/onnx-train/commands.h"

#include <fmt/format.h>

#include <algorithm>
#include <cstdio>
#include <optional>

#include "onnx_train/lora.h"
#include "onnx_train/session.h"
#include "onnx_train/training.h"
#include "tools/onnx-train/model_metadata.h"
#include "tools/onnx-train/run_folder.h"
#include "tools/onnx-train/subcommands.h"
#include "tools/onnx-train/train_common.h"
#include "tools/onnx-train/train_data.h"
#include "tools/onnx-train/train_options.h"

namespace onnx_train::cli {

namespace {

// graph --minimise VALUE: the forward + backward graph of a value of the model itself (no loss
// appended, so no loss or optimizer option applies), as write_training_graph builds it.
int write_value_graph(const TrainConfig& config, TrainingGraphOptions options, const std::string& out) {
  for (size_t i = 0; i < config.args.size(); ++i) {
    const std::string& arg = config.args[i];
    if (arg.rfind("--", 0) != 0) continue;  // the model
    OT_CHECK(arg == "--freeze" || arg == "--train-only",
             "graph --minimise {} differentiates a value of the model (no loss is appended, nothing is stepped): {} "
             "does not apply; it takes --freeze REGEX, --train-only REGEX and --input-grad NAME",
             options.loss, arg);
    if (train_flag_takes_value(arg)) ++i;
  }
  OT_CHECK(!config.resume, "graph --minimise {}: --resume does not apply", options.loss);
  options.freeze = config.training.freeze;
  options.train_only = config.training.train_only;
  CreatedFolders folders;  // made for -o, and removed again if the command fails
  check_output_file("-o", out, folders);
  const auto info = write_training_graph(config.model, out, options);
  std::printf("wrote %s: %zu forward + %zu backward nodes (backward built in %.1f ms), gradients of %zu values:\n",
              out.c_str(), info.forward_nodes, info.backward_nodes, info.build_seconds * 1e3, info.gradients.size());
  for (const auto& [value, grad] : info.gradients) std::printf("  %s -> %s\n", value.c_str(), grad.c_str());
  if (!info.promoted_constants.empty())
    std::printf("weights held in Constant nodes, made trainable initializers: %s\n",
                fmt::format("{}", fmt::join(info.promoted_constants, ", ")).c_str());
  return 0;
}

}  // namespace

int graph_command(const std::vector<std::string>& raw) {
  std::string out;
  TrainingGraphOptions value_graph;  // with --minimise VALUE
  const std::vector<std::string> args =
      take_own_flags("graph", raw,
                     {{"-o", [&](const std::string& v) { out = v; }},
                      {"--minimise", [&](const std::string& v) { value_graph.loss = v; }},
                      {"--input-grad", [&](const std::string& v) { value_graph.input_gradients.push_back(v); }}});
  const TrainConfig config = parse_train_args(args, /*need_data=*/false, "graph");
  // --output is a training option (the model output the loss reads), easily taken for the file.
  const bool output_given = std::find(args.begin(), args.end(), "--output") != args.end();
  OT_CHECK(!out.empty(), "graph needs -o PATH, the file to write{}; see onnx-train graph --help",
           output_given ? " (--output NAME is the model output the loss reads)" : "");
  if (!value_graph.loss.empty()) return write_value_graph(config, value_graph, out);
  OT_CHECK(value_graph.input_gradients.empty(),
           "graph: --input-grad goes with --minimise VALUE (the gradients of a value of the model)");
  CreatedFolders folders;  // made for -o, and removed again if the command fails
  check_output_file("-o", out, folders);
  Prepared run = prepare_session(config);
  for (const auto& note : run.session->notes()) std::printf("note: %s\n", cli_note(note).c_str());
  run.session->export_training_graph(out);
  std::printf("wrote %s: the training graph of %s (loss '%s', %zu parameter gradients)\n", out.c_str(),
              config.model.c_str(), run.session->loss_name().c_str(), run.session->parameter_names().size());
  return 0;
}

int training_graph_command(const std::vector<std::string>& args) {
  // Its flags become graph's, in their order: --loss VALUE is graph's --minimise VALUE.
  std::vector<std::string> as_graph;
  bool has_value = false, has_output = false;
  const auto as = [&](const std::string& graph_flag, bool* given) {
    return [&as_graph, graph_flag, given](const std::string& v) {
      if (given != nullptr) *given = true;
      as_graph.insert(as_graph.end(), {graph_flag, v});
    };
  };
  const std::vector<std::string> rest = take_own_flags("training-graph", args,
                                                       {{"--loss", as("--minimise", &has_value)},
                                                        {"-o", as("-o", &has_output)},
                                                        {"--freeze", as("--freeze", nullptr)},
                                                        {"--train-only", as("--train-only", nullptr)},
                                                        {"--input-grad", as("--input-grad", nullptr)}});
  OT_CHECK(has_value && has_output,
           "training-graph needs MODEL.onnx, --loss NAME and -o OUT.onnx; see onnx-train training-graph --help");
  as_graph.insert(as_graph.begin(), rest.begin(), rest.end());
  return graph_command(as_graph);
}

int export_command(const std::vector<std::string>& raw) {
  std::string out, adapter;
  std::optional<ExternalDataMode> external_data;  // else the run's own
  const std::vector<std::string> args = take_own_flags(
      "export", raw,
      {{"-o", [&](const std::string& v) { out = v; }},
       {kMaxMemoryFlag, set_max_memory},
       {"--lora-adapter", [&](const std::string& v) { adapter = v; }},
       {kExternalDataFlag, [&](const std::string& v) { external_data = parse_external_data(v); }}});
  OT_CHECK(!out.empty(), "export needs -o PATH; see onnx-train export --help");
  OT_CHECK(args.size() == 1, "export takes one CHECKPOINT and -o PATH; see onnx-train export --help");
  if (!adapter.empty()) {  // a base model and its adapters, merged
    CreatedFolders folders;
    check_output_file("-o", out, folders);
    export_merged_lora(args[0], adapter, out, external_data.value_or(ExternalDataMode::Auto));
    std::printf("wrote %s: %s with the LoRA adapters of %s merged in\n", out.c_str(), args[0].c_str(), adapter.c_str());
    return 0;
  }
  const std::string checkpoint = args[0];
  const auto meta = TrainingSession::read_checkpoint_metadata(checkpoint);
  const auto it = meta.find(kArgsKey);
  OT_CHECK(it != meta.end(),
           "{}: this checkpoint does not record the run that made it (it was written by the C++ API, not by "
           "`onnx-train MODEL DATA`); load it with TrainingSession::load_checkpoint and call export_model",
           checkpoint);
  TrainConfig config = parse_train_args(split_args(it->second));
  if (external_data) config.training.external_data = *external_data;
  // The model is named by an absolute path (older checkpoints: as the run spelled it); its
  // content must still be what was trained, or the weights would be written into another model.
  const std::string changed = model_changed_since(checkpoint, meta, config.model, file_content_hash(config.model),
                                                  "restore the original model file to export");
  if (!changed.empty()) throw Error(changed);
  CreatedFolders folders;
  check_output_file("-o", out, folders);
  Prepared run = prepare_session(config);
  // What the session changed in the model (an opset upgrade...), as the run that trained it said.
  for (const auto& note : run.session->notes()) std::printf("note: %s\n", cli_note(note).c_str());
  run.session->load_checkpoint(checkpoint);
  // The classes and preprocessing the run trained with, and how far it trained (model_metadata.h).
  std::map<std::string, std::string> metadata = data_entries(meta);
  metadata.merge(training_metadata(config, run, summary_of_checkpoint(meta, config, run.session->step())));
  run.session->export_model(out, metadata);
  std::printf("wrote %s: %s with the weights of %s (step %lld)\n", out.c_str(), config.model.c_str(),
              checkpoint.c_str(), static_cast<long long>(run.session->step()));
  return 0;
}

}  // namespace onnx_train::cli
