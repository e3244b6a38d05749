#include "tools/onnx-train/model_metadata.h"

#include <fmt/format.h>

#include <algorithm>
#include <cstdlib>
#include <ctime>
#include <filesystem>
#include <sstream>

#include "onnx_train/inspect.h"
#include "tools/onnx-train/train_loop.h"

#ifndef ONNX_TRAIN_VERSION
#error "ONNX_TRAIN_VERSION (CMake's project version) is set by CMakeLists.txt"
#endif

namespace onnx_train::cli {

namespace {

// A number as short as it reads exactly enough: 0.001, 2.5, 1e-05.
std::string number(double v) { return fmt::format("{:.6g}", v); }

bool gave(const TrainConfig& config, const std::string& flag) {
  return std::find(config.args.begin(), config.args.end(), flag) != config.args.end();
}

}  // namespace

std::string utc_now_iso8601() {
  std::time_t now = std::time(nullptr);
  // The reproducible-builds convention: a fixed time makes the same training give the same
  // bytes (tests compare a resumed run's export with an uninterrupted one's).
  if (const char* fixed = std::getenv("SOURCE_DATE_EPOCH"); fixed != nullptr && *fixed != '\0') {
    char* end = nullptr;
    const long long seconds = std::strtoll(fixed, &end, 10);
    OT_CHECK(*end == '\0' && seconds >= 0, "SOURCE_DATE_EPOCH is '{}': seconds since 1970 were expected", fixed);
    now = static_cast<std::time_t>(seconds);
  }
  std::tm utc{};
  gmtime_r(&now, &utc);
  char text[32];
  std::strftime(text, sizeof text, "%Y-%m-%dT%H:%M:%SZ", &utc);
  return text;
}

const char* onnx_train_version() { return ONNX_TRAIN_VERSION; }

std::map<std::string, std::string> training_metadata(const TrainConfig& config, const Prepared& run,
                                                     const TrainingSummary& summary) {
  const TrainingSession& session = *run.session;
  std::map<std::string, std::string> out;
  out["training.loss"] = config.loss;
  out["training.label"] = session.label_name();
  out["training.output"] = session.label_name().empty() ? session.loss_name() : session.outputs().at(run.output).name;
  out["training.optimizer"] = config.training.optimizer.kind;
  out["training.lr"] = number(config.training.learning_rate);
  out["training.schedule"] = config.schedule;
  out["training.batch_size"] = std::to_string(config.batch_size);
  out["training.samples"] = std::to_string(summary.samples);
  out["training.steps"] = std::to_string(summary.steps);
  out["training.epochs"] = fmt::format("{:.4g}", summary.epochs);
  if (!std::isnan(summary.train_loss)) out["training.train_loss"] = number(summary.train_loss);
  if (!std::isnan(summary.val_loss)) out["training.val_loss"] = number(summary.val_loss);
  if (summary.val_accuracy >= 0) out["training.val_accuracy"] = number(summary.val_accuracy);
  out["training.date"] = utc_now_iso8601();
  out["training.onnx_train_version"] = onnx_train_version();
  out["training.base_model"] = std::filesystem::path(config.model).filename().string();
  return out;
}

void SummaryObserver::on_validation(const ValidationEvent& event) {
  val_loss_ = event.totals.loss();
  val_accuracy_ = event.totals.accuracy();
}

void SummaryObserver::on_epoch_end(const EpochEndEvent& event) {
  train_loss_ = event.state.totals.loss();
  at_ = {event.epoch + 1, 0};
}

void SummaryObserver::on_checkpoint(CheckpointEvent& event) {
  if (event.reason == CheckpointReason::MaxSteps) train_loss_ = event.state.totals.loss();
}

void SummaryObserver::save_state(CheckpointEntries& entries) const {
  entries[kSummaryKey] = fmt::format("{} {} {}", train_loss_, val_loss_, val_accuracy_);
}

void SummaryObserver::load_state(const CheckpointEntries& entries) {
  at_ = position_of(entries);
  const auto it = entries.find(kSummaryKey);
  if (it == entries.end()) return;  // a checkpoint written before the summary was kept
  std::istringstream in(it->second);
  std::string train, val, accuracy;
  in >> train >> val >> accuracy;
  train_loss_ = std::strtod(train.c_str(), nullptr);
  val_loss_ = std::strtod(val.c_str(), nullptr);
  val_accuracy_ = std::strtod(accuracy.c_str(), nullptr);
}

TrainingSummary SummaryObserver::results() const {
  TrainingSummary summary;
  summary.train_loss = train_loss_;
  summary.val_loss = val_loss_;
  summary.val_accuracy = val_accuracy_;
  return summary;
}

TrainingSummary SummaryObserver::summary(const TrainLoop& loop, int64_t samples) const {
  TrainingSummary summary = results();
  summary.steps = loop.session().step();
  summary.samples = samples;
  const LoopPosition end = at_;
  const int64_t batches = loop.plan().batches;
  summary.epochs = static_cast<double>(end.epoch) +
                   (batches > 0 ? static_cast<double>(end.batch) / static_cast<double>(batches) : 0.0);
  return summary;
}

TrainingSummary summary_of_checkpoint(const std::map<std::string, std::string>& checkpoint_metadata,
                                      const TrainConfig& config, int64_t step) {
  TrainingSummary summary;
  summary.steps = step;
  if (const auto it = checkpoint_metadata.find("cli.train_samples"); it != checkpoint_metadata.end())
    summary.samples = std::stoll(it->second);
  const LoopPosition at = position_of(checkpoint_metadata);
  // The micro-batches of an epoch, as the BatchLoader cuts the training split.
  const int64_t batches = config.drop_last ? summary.samples / config.batch_size
                                           : (summary.samples + config.batch_size - 1) / config.batch_size;
  summary.epochs = static_cast<double>(at.epoch) +
                   (batches > 0 ? static_cast<double>(at.batch) / static_cast<double>(batches) : 0.0);
  SummaryObserver results;
  results.load_state(checkpoint_metadata);
  const TrainingSummary stored = results.results();
  summary.train_loss = stored.train_loss;
  summary.val_loss = stored.val_loss;
  summary.val_accuracy = stored.val_accuracy;
  return summary;
}

std::vector<std::string> apply_model_metadata(TrainConfig& config, const std::map<std::string, std::string>& meta) {
  std::vector<std::string> args = config.args, taken;
  for (const auto& [flag, key] : {std::pair{"--loss", "training.loss"}, std::pair{"--label", "training.label"},
                                  std::pair{"--output", "training.output"}}) {
    const auto it = meta.find(key);
    if (it == meta.end() || it->second.empty() || gave(config, flag)) continue;
    args.insert(args.end(), {flag, it->second});
    taken.push_back(fmt::format("{}={}", flag, it->second));
  }
  if (!taken.empty()) config = parse_train_args(args, /*need_data=*/!config.data.empty());
  return taken;
}

}  // namespace onnx_train::cli
