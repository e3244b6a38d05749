// onnx-train eval MODEL.onnx DATA_DIR: the model's loss and accuracy on a data folder, and for a
// classifier the confusion matrix and per-class precision, recall and F1 (classification_report.h).
//
// What is scored, said on a line of its own and in the summary:
//   DATA_DIR/val/ (or valid/, validation/, test/) when there is one, even without a train/;
//   with --val-split F and no val/: the same held-out fraction training with that --val-split
//   and --seed validated on (split_validation), not the samples it trained on;
//   otherwise every sample.
// --plot FILE.svg writes a classifier's confusion matrix as a heat map, --json FILE the summary
// and the per-class numbers as one JSON object (both written whole or not at all).
// MODEL may be a checkpoint (`eval run/step-000000100.ckpt data/`): its weights on the model and
// options of the run that wrote it (its cli.args, as `export CHECKPOINT` reads them), options
// given here winning over the run's.
#include <fmt/format.h>

#include <cstdio>
#include <filesystem>
#include <optional>
#include <set>

#include "onnx_train/inspect.h"
#include "onnx_train/session.h"
#include "onnx_train/training.h"
#include "tools/onnx-train/classification_report.h"
#include "tools/onnx-train/commands.h"
#include "tools/onnx-train/model_metadata.h"
#include "tools/onnx-train/run_folder.h"
#include "tools/onnx-train/subcommands.h"
#include "tools/onnx-train/train_common.h"
#include "tools/onnx-train/train_data.h"
#include "tools/onnx-train/train_options.h"

namespace onnx_train::cli {

namespace {

namespace fs = std::filesystem;

void print(const std::string& line) { std::printf("%s\n", line.c_str()); }

// A checkpoint where the model goes: `eval run/step-000000100.ckpt data/`.
// The metadata of the file given as MODEL, read once for all eval takes from it (is it a
// checkpoint, the stored classes and preprocessing, the loss it was trained with); empty when
// it is no ONNX file at all: the model loader's message explains that.
std::map<std::string, std::string> stored_metadata(const std::string& path) {
  std::error_code ec;
  if (!fs::is_regular_file(path, ec)) return {};  // the model loader says what is wrong with it
  try {
    return read_model_metadata(path);
  } catch (const Error&) {
    return {};
  }
}

// The options of a command line, without its positional arguments (MODEL, DATA).
std::vector<std::string> options_only(const std::vector<std::string>& args) {
  std::vector<std::string> out;
  for (size_t i = 0; i < args.size(); ++i) {
    if (args[i].rfind("-", 0) != 0 || args[i] == "-") continue;
    out.push_back(args[i]);
    if (train_flag_takes_value(args[i]) && i + 1 < args.size()) out.push_back(args[++i]);
  }
  return out;
}

// What eval scores and where its classes and normalisation come from.
struct EvalSource {
  TrainConfig config;
  DataOptions data_options;          // stored with the model or the checkpoint
  std::string stored_file;           // the model or checkpoint they are stored in
  std::string stored_in;             // "the model m.onnx" / "the checkpoint c.ckpt"
  std::optional<std::string> checkpoint;
  std::map<std::string, std::string> model_metadata;  // of the model given (none for a checkpoint)
};

// The files a training run writes, left out of its arguments when eval rebuilds its session.
const std::set<std::string> kRunOutputs = {"--plot", "--log", "--export", "--export-training", "--checkpoint-dir"};

// `eval CHECKPOINT DATA [options]`: the run's arguments with DATA and the options given here.
EvalSource from_checkpoint(const TrainConfig& given, const std::vector<std::string>& args) {
  const std::string& path = given.model;
  const auto meta = TrainingSession::read_checkpoint_metadata(path);
  const auto recorded = meta.find(kArgsKey);
  OT_CHECK(recorded != meta.end(),
           "{}: this checkpoint does not record the run that made it (it was written by the C++ API, not by "
           "`onnx-train MODEL DATA`), so there is no model to evaluate its weights on; load it with "
           "TrainingSession::load_checkpoint",
           path);
  std::vector<std::string> run_args;
  int positional = 0;
  const std::vector<std::string> recorded_args = split_args(recorded->second);
  for (size_t i = 0; i < recorded_args.size(); ++i) {
    const std::string& a = recorded_args[i];
    if (a.rfind("-", 0) == 0 && a != "-") {
      // The run's output files are not eval's: its --plot would be overwritten by the matrix.
      const bool output = kRunOutputs.count(a) > 0;
      if (!output) run_args.push_back(a);
      if (train_flag_takes_value(a) && i + 1 < recorded_args.size()) {
        ++i;
        if (!output) run_args.push_back(recorded_args[i]);
      }
    } else {
      run_args.push_back(positional++ == 1 ? given.data : a);  // the run's DATA becomes the one given
    }
  }
  for (const std::string& option : options_only(args)) run_args.push_back(option);  // the last value wins
  EvalSource source;
  source.config = parse_train_args(run_args);
  const std::string changed =
      model_changed_since(path, meta, source.config.model, file_content_hash(source.config.model),
                          "restore the original model file to evaluate the checkpoint");
  if (!changed.empty()) throw Error(changed);
  source.stored_file = path;
  source.stored_in = "the checkpoint " + path;
  source.data_options = data_options_from_metadata(data_entries(meta), source.stored_in);
  source.checkpoint = path;
  return source;
}

// The model (or checkpoint) the arguments name, with the options to rebuild its session.
EvalSource eval_source(const std::vector<std::string>& args) {
  const TrainConfig given = parse_train_args(args, /*need_data=*/true, "eval");
  std::map<std::string, std::string> meta = stored_metadata(given.model);
  if (is_checkpoint(meta)) return from_checkpoint(given, args);
  EvalSource source;
  source.config = given;
  source.stored_file = given.model;
  source.stored_in = "the model " + given.model;
  // A model onnx-train trained knows its classes and normalisation.
  source.data_options = data_options_from_metadata(meta, source.stored_in);
  source.model_metadata = std::move(meta);
  return source;
}

// DATA_DIR's only sub-folder is a validation folder (dataset.h's names for one): the folder to
// score. Training refuses such a folder (there is nothing to train on); eval has what it needs.
std::string validation_only_folder(const std::string& dir) {
  std::error_code ec;
  std::vector<std::string> folders;
  for (fs::directory_iterator it(dir, ec), end; !ec && it != end; it.increment(ec)) {
    const std::string name = it->path().filename().string();
    if (name.rfind('.', 0) != 0 && it->is_directory(ec)) folders.push_back(name);
  }
  if (folders.size() != 1) return "";
  for (const char* name : {"val", "valid", "validation", "test"})
    if (folders[0] == name) return (fs::path(dir) / name).string();
  return "";
}

// The split eval scores, and how the summary names it.
struct ScoredSplit {
  DataSplits data;  // the scored split alone: as `train` when it is all the data, else as `val`
  std::string what;
};

ScoredSplit choose_split(const TrainConfig& config, const std::vector<FieldSpec>& fields,
                         const DataOptions& options) {
  const std::string val_only = validation_only_folder(config.data);
  if (!val_only.empty()) {
    print(fmt::format("{} holds only a validation folder ({}/, no train/): scoring it", config.data,
                      fs::path(val_only).filename().string()));
    DataSplits data = open_data(val_only, fields, options);
    if (options.classes.empty() && !data.train->class_names().empty())
      print(fmt::format("classes: the folders of {} in sorted order (the model stores none), so a class missing "
                        "there would shift the indices",
                        val_only));
    return {{nullptr, data.train}, "validation split"};
  }
  DataSplits data = open_data(config.data, fields, options);
  if (data.val) {
    if (config.val_split > 0)
      print(fmt::format("--val-split {:g} does not apply: {} has a validation split of its own, which training used "
                        "too",
                        config.val_split, config.data));
    return {{nullptr, data.val}, "validation split"};
  }
  if (config.val_split > 0) {
    // The permutation split_validation draws depends on the sample count, the fraction and
    // the seed alone: the same samples training held out.
    const DataSplits split = split_validation(data.train, config.val_split, config.training.seed);
    return {{nullptr, split.val},
            fmt::format("validation split: the {:g}% training with --val-split {:g} --seed {} held out",
                        100 * config.val_split, config.val_split, config.training.seed)};
  }
  return {{data.train, nullptr}, "all data"};
}

// Whether the model's scored output makes one class prediction per position: class scores
// [N, C, ...] for cross-entropy / NLL, or one logit per sample for BCE with logits.
// A confusion matrix and per-class scores are reported up to this many classes; a language
// model's vocabulary (50,257 for GPT-2) would make a 20 GB matrix and a report nobody reads.
constexpr int64_t kMaxReportedClasses = 1000;

bool makes_class_predictions(const Prepared& run) {
  if (run.scoring == Prepared::Scoring::Classes) return true;
  if (run.scoring != Prepared::Scoring::Binary) return false;
  const TensorSpec& out = run.session->outputs().at(run.output);
  if (!out.rank_known) return false;
  for (size_t d = 1; d < out.shape.size(); ++d)
    if (out.shape[d] != 1) return false;
  return true;
}

// "m.onnx on data (validation split): loss 0.1234, accuracy 96.00% (48 of 50), 50 samples".
void print_totals(const TrainConfig& config, const std::string& split, const EvalTotals& totals) {
  std::printf("%s on %s (%s): loss %.4f", config.model.c_str(), config.data.c_str(), split.c_str(), totals.loss());
  if (totals.accuracy() >= 0)
    std::printf(", accuracy %.2f%% (%lld of %lld)", 100 * totals.accuracy(), static_cast<long long>(totals.correct),
                static_cast<long long>(totals.counted));
  std::printf(", %lld samples\n", static_cast<long long>(totals.samples));
}

// `eval --json FILE`: {"model", "data", "split", "samples", "loss", "accuracy" (null for none),
// "checkpoint" (when one was scored), and the classifier report's members}, one line.
std::string eval_json(const TrainConfig& config, const std::string& split, const EvalTotals& totals,
                      const std::optional<std::string>& checkpoint, const ConfusionMatrix* classified,
                      const std::vector<std::string>& names) {
  nlohmann::ordered_json json = {{"model", config.model},
                                 {"data", config.data},
                                 {"split", split},
                                 {"samples", totals.samples},
                                 {"loss", totals.loss()},
                                 {"accuracy", nullptr}};
  if (totals.accuracy() >= 0) json["accuracy"] = totals.accuracy();
  if (checkpoint) json["checkpoint"] = *checkpoint;
  if (classified) add_classification_report(json, *classified, names);
  // Paths and class names are the user's bytes: any that are not UTF-8 become U+FFFD.
  return json.dump(-1, ' ', false, nlohmann::json::error_handler_t::replace) + "\n";
}

}  // namespace

int eval_command(const std::vector<std::string>& raw) {
  std::string json_path;  // --json FILE: the summary and the classifier report as one JSON object
  const std::vector<std::string> args =
      take_own_flags("eval", raw, {{"--json", [&](const std::string& v) { json_path = v; }}});
  EvalSource source = eval_source(args);
  TrainConfig& config = source.config;
  // A model onnx-train exported knows its loss, label and output: the flags not given take them
  // (a checkpoint's run already gave its own).
  if (!source.checkpoint) {
    std::vector<std::string> stored;
    try {
      stored = apply_model_metadata(config, source.model_metadata);
    } catch (const Error& e) {
      // The value came from the file, not from the command line: say so, and how to override it.
      throw Error(fmt::format("{} (taken from the training.* metadata of {}, which was changed after onnx-train "
                              "wrote it; give --loss, --label or --output to override it)",
                              e.what(), config.model),
                  e.category());
    }
    if (!stored.empty()) print(fmt::format("as the model was trained: {}", fmt::join(stored, " ")));
  }
  Prepared run = prepare_session(config);
  for (const auto& note : run.session->notes()) std::printf("note: %s\n", cli_note(note).c_str());
  if (source.checkpoint) {
    run.session->load_checkpoint(*source.checkpoint);
    print(fmt::format("evaluating the weights of {} (step {}) on {}", *source.checkpoint, run.session->step(),
                      config.model));
  }
  const bool report_classes = makes_class_predictions(run);
  CreatedFolders folders;  // made for --plot, and removed again if the command fails
  if (!config.plot_path.empty()) {
    OT_CHECK(report_classes,
             "eval --plot {}: the plot is the confusion matrix of a classifier, and {} is scored as a regression "
             "(--loss {}); leave out --plot",
             config.plot_path, config.model, config.loss);
    check_output_file("--plot", config.plot_path, folders);
  }
  check_output_file("--json", json_path, folders);

  // The folders map to the stored classes by name, and --mean / --std given here win over the
  // stored ones.
  DataOptions options = source.data_options;
  const bool stored_normalisation =
      (config.mean.empty() && !options.mean.empty()) || (config.std.empty() && !options.std.empty());
  options = data_options_over(config, std::move(options));
  ScoredSplit scored = choose_split(config, run.fields, options);
  DataSplits& data = scored.data;
  const std::shared_ptr<const Dataset>& dataset = data.val ? data.val : data.train;
  if (!options.classes.empty() && !dataset->class_names().empty())
    print(fmt::format("classes: the {} stored in {}", options.classes.size(), source.stored_file));
  if (stored_normalisation) print(fmt::format("normalising by the mean and std stored in {}", source.stored_in));
  print(fmt::format("scoring {}: {}", scored.what == "all data" ? scored.what : "the " + scored.what,
                    dataset->describe()));

  const std::shared_ptr<BadSampleLog> bad_samples = check_data(data, config.skip_bad_samples, run.fixed_batch, print);
  const std::shared_ptr<const Dataset>& checked = data.val ? data.val : data.train;
  const bool drop_last = fit_fixed_batch(config, run, *checked, print);

  std::optional<ConfusionMatrix> matrix;
  const std::string label = run.session->label_name();
  const auto observe = [&](const EvalResult& r, const std::map<std::string, Tensor>& batch) {
    const Tensor& scores = r.outputs.at(run.output);
    if (scores.dtype() != DType::Float32) return;
    if (run.scoring == Prepared::Scoring::Classes) {
      const int64_t classes = scores.dim(static_cast<int>(run.class_axis));
      if (classes > kMaxReportedClasses) return;  // a vocabulary: the totals' accuracy says enough
      if (!matrix) matrix.emplace(classes);
      matrix->add_scores(scores, batch.at(label), run.ignore_index, run.class_axis);
    } else {
      if (!matrix) matrix.emplace(2);
      matrix->add_binary(scores, batch.at(label));
    }
  };
  const EvalTotals totals =
      evaluate(*run.session, run, checked, config.batch_size, drop_last,
               [&](const std::string& what) { return streamed_bad_sample(what, run.fixed_batch, ""); },
               report_classes ? EvalBatchObserver(observe) : nullptr);
  print_totals(config, scored.what, totals);
  // Class names: the data's folders (mapped to the stored classes when there are some), else
  // the stored classes of a model scored on data without names; indices otherwise.
  std::vector<std::string> names = checked->class_names();
  if (names.empty()) names = options.classes;
  const ConfusionMatrix* classified = matrix && matrix->total() > 0 ? &*matrix : nullptr;
  if (classified) {
    std::printf("%s", classification_report_text(*classified, names).c_str());
    if (!config.plot_path.empty()) {
      const std::string title =
          fmt::format("{} on {} ({})", fs::path(config.model).filename().string(), config.data, scored.what);
      write_file_atomically("--plot", config.plot_path, confusion_matrix_svg(*classified, names, title));
      print(fmt::format("wrote {}: the confusion matrix", config.plot_path));
    }
  }
  if (!json_path.empty()) {
    write_file_atomically("--json", json_path, eval_json(config, scored.what, totals, source.checkpoint, classified, names));
    print(fmt::format("wrote {}", json_path));
  }
  folders.keep();
  if (bad_samples && bad_samples->count() > 0) print(bad_samples_report(*bad_samples));
  return 0;
}

}  // namespace onnx_train::cli
