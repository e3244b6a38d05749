// onnx-train eval MODEL.onnx DATA_DIR: the model's loss and accuracy on a data folder.
#include <cstdio>

#include "onnx_train/session.h"
#include "onnx_train/training.h"
#include "tools/onnx-train/commands.h"
#include "tools/onnx-train/train_common.h"
#include "tools/onnx-train/train_data.h"
#include "tools/onnx-train/train_options.h"

namespace onnx_train::cli {

int eval_command(const std::vector<std::string>& args) {
  TrainConfig config = parse_train_args(args);
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

}  // namespace onnx_train::cli
