// onnx-train eval / graph (and its older name training-graph) / export.
#include "tools/onnx-train/commands.h"

#include <fmt/format.h>

#include <cstdio>

#include "onnx_train/session.h"
#include "onnx_train/training.h"
#include "tools/onnx-train/model_metadata.h"
#include "tools/onnx-train/run_folder.h"
#include "tools/onnx-train/train_common.h"
#include "tools/onnx-train/train_data.h"
#include "tools/onnx-train/train_options.h"

namespace onnx_train::cli {

namespace {

// The -o PATH (or --export PATH) a command writes to, taken out of its arguments.
CommandFlag output_flag(std::string& out) {
  return {{"-o", "--export"}, "PATH", [&out](const std::string& v) { out = v; }};
}

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

int eval_command(const std::vector<std::string>& args) {
  TrainConfig config = parse_train_args(args);
  const std::vector<std::string> stored = apply_model_metadata(config, config.model);  // flags the user did not give
  if (!stored.empty()) std::printf("as the model was trained: %s\n", fmt::format("{}", fmt::join(stored, " ")).c_str());
  Prepared run = prepare_session(config);
  for (const auto& note : run.session->notes()) std::printf("note: %s\n", cli_note(note).c_str());
  // A model onnx-train trained knows its classes and normalisation: the folders map to those
  // classes by name, and --mean / --std given here win over the stored ones.
  DataOptions options = data_options_of_model(config.model);
  const bool stored_normalisation =
      (config.mean.empty() && !options.mean.empty()) || (config.std.empty() && !options.std.empty());
  if (!config.mean.empty()) options.mean = config.mean;
  if (!config.std.empty()) options.std = config.std;
  DataSplits data = open_data(config.data, run.fields, options);
  if (!options.classes.empty() && !data.train->class_names().empty())
    std::printf("classes: the %zu stored in %s\n", options.classes.size(), config.model.c_str());
  if (stored_normalisation)
    std::printf("normalising by the mean and std stored in the model %s\n", config.model.c_str());
  const bool on_val = data.val != nullptr;
  if (on_val) data.train = nullptr;  // only the split evaluated is read and checked
  const auto print = [](const std::string& line) { std::printf("%s\n", line.c_str()); };
  const std::shared_ptr<BadSampleLog> bad_samples = check_data(data, config.skip_bad_samples, run.fixed_batch, print);
  const auto& dataset = on_val ? data.val : data.train;
  const bool drop_last =
      fit_fixed_batch(config, run, *dataset, [](const std::string& line) { std::printf("%s\n", line.c_str()); });
  const EvalTotals totals =
      evaluate(*run.session, run, dataset, config.batch_size, drop_last,
               [&](const std::string& what) { return streamed_bad_sample(what, run.fixed_batch, ""); });
  std::printf("%s on %s (%s): loss %.4f", config.model.c_str(), config.data.c_str(),
              on_val ? "validation split" : "all data", totals.loss());
  if (totals.accuracy() >= 0)
    std::printf(", accuracy %.2f%% (%lld of %lld)", 100 * totals.accuracy(), static_cast<long long>(totals.correct),
                static_cast<long long>(totals.counted));
  std::printf(", %lld samples\n", static_cast<long long>(totals.samples));
  if (bad_samples && bad_samples->count() > 0) print(bad_samples_report(*bad_samples));
  return 0;
}

int graph_command(const std::vector<std::string>& raw) {
  std::string out;
  TrainingGraphOptions value_graph;  // with --minimise VALUE
  const std::vector<std::string> args = take_command_flags(
      raw,
      {output_flag(out),
       {{"--minimise"}, "VALUE", [&](const std::string& v) { value_graph.loss = v; }},
       {{"--input-grad"}, "NAME", [&](const std::string& v) { value_graph.input_gradients.push_back(v); }}},
      "graph");
  OT_CHECK(!out.empty(), "graph needs -o PATH; see onnx-train --help");
  const TrainConfig config = parse_train_args(args, /*need_data=*/false);
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
  // Its flags, each with a value: --loss VALUE (graph's --minimise), -o, --freeze, --input-grad.
  std::vector<std::string> as_graph;
  bool has_value = false, has_output = false;
  for (size_t i = 0; i < args.size(); ++i) {
    const std::string& arg = args[i];
    const bool flag = arg == "--loss" || arg == "-o" || arg == "--freeze" || arg == "--input-grad";
    if (!flag || i + 1 == args.size()) {
      as_graph.push_back(arg);
      continue;
    }
    has_value |= arg == "--loss";
    has_output |= arg == "-o";
    as_graph.push_back(arg == "--loss" ? "--minimise" : arg);
    as_graph.push_back(args[++i]);
  }
  OT_CHECK(has_value && has_output,
           "training-graph needs MODEL.onnx, --loss NAME and -o OUT.onnx; see onnx-train --help");
  return graph_command(as_graph);
}

int export_command(const std::vector<std::string>& raw) {
  std::string out;
  const std::vector<std::string> args = take_command_flags(raw, {output_flag(out)}, "export");
  OT_CHECK(!out.empty(), "export needs -o PATH; see onnx-train --help");
  OT_CHECK(args.size() == 1, "export takes one CHECKPOINT and -o PATH; see onnx-train --help");
  const std::string checkpoint = args[0];
  const auto meta = TrainingSession::read_checkpoint_metadata(checkpoint);
  const auto it = meta.find(kArgsKey);
  OT_CHECK(it != meta.end(),
           "{}: this checkpoint does not record the run that made it (it was written by the C++ API, not by "
           "`onnx-train MODEL DATA`); load it with TrainingSession::load_checkpoint and call export_model",
           checkpoint);
  const TrainConfig config = parse_train_args(split_args(it->second));
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
