// onnx-train MODEL.onnx DATA_DIR: a training run, from its options to the exported model.
//
// Before the first step: every output path is checked (folders made, writability proved) and
// the checkpoint folder is locked, so nothing fails only at the end and no second run writes
// into the same folder; a --resume finds its checkpoint; the data is opened and every sample
// checked. Then the TrainLoop (train_loop.h) trains, with the JSON log, the progress display,
// the plot, the checkpoints and Ctrl-C attached to it as observers, in that order. At the end
// the trained model is exported.
//
// Resuming: a checkpoint holds, besides the session's state, the arguments of the run and the
// loop's position (checkpoint_observer.h, train_loop.h). Options that only steer how the run
// goes on (learning rate, schedule, clipping, epochs, outputs...) may change on resume; the
// changes are printed, logged and kept in later checkpoints (cli.changes).
#include <fmt/format.h>
#include <omp.h>
#include <unistd.h>

#include <algorithm>
#include <chrono>
#include <cmath>
#include <filesystem>
#include <optional>

#include "onnx_train/dataset.h"
#include "onnx_train/profile.h"
#include "tools/onnx-train/checkpoint_observer.h"
#include "tools/onnx-train/commands.h"
#include "tools/onnx-train/interrupt_observer.h"
#include "tools/onnx-train/log_observer.h"
#include "tools/onnx-train/metrics_log.h"
#include "tools/onnx-train/plot_observer.h"
#include "tools/onnx-train/progress.h"
#include "tools/onnx-train/progress_observer.h"
#include "tools/onnx-train/run_folder.h"
#include "tools/onnx-train/train_common.h"
#include "tools/onnx-train/train_data.h"
#include "tools/onnx-train/train_loop.h"
#include "tools/onnx-train/train_options.h"

namespace onnx_train::cli {

namespace fs = std::filesystem;

namespace {

// The run's arguments with MODEL and DATA made absolute: a checkpoint then names the same
// files from whatever folder `export` or --resume is run in.
std::vector<std::string> with_absolute_paths(std::vector<std::string> args) {
  int positional = 0;
  for (size_t i = 0; i < args.size() && positional < 2; ++i) {
    if (args[i].rfind("-", 0) == 0 && args[i] != "-") {
      if (train_flag_takes_value(args[i])) ++i;
      continue;
    }
    args[i] = absolute_path(args[i]);
    ++positional;
  }
  return args;
}

// --profile: times every node and the optimizer pass from the end of the first optimizer step
// (which builds the kernels' primitives) to the end of the run, then prints the report of
// onnx_train/profile.h.
class ProfileObserver : public TrainLoopObserver {
 public:
  ProfileObserver(TrainingSession& session, ProgressDisplay& progress) : session_(session), progress_(progress) {}

  void on_step(const StepEvent&) override {
    if (!on_) session_.set_profiling(true);
    on_ = true;
  }

  void on_run_end() override {
    if (!on_) return progress_.summary("profile: no optimizer step after the first one to time");
    const std::string report = format_profile(session_.profile());
    for (size_t start = 0, end; start < report.size(); start = end + 1) {
      end = report.find('\n', start);
      if (end == std::string::npos) end = report.size();
      progress_.summary(report.substr(start, end - start));
    }
  }

 private:
  TrainingSession& session_;
  ProgressDisplay& progress_;
  bool on_ = false;
};

// `--profile` anywhere among the arguments: removed, and reported. It changes nothing in the
// run, so it is not kept with the run's arguments in checkpoints either.
bool take_profile_flag(std::vector<std::string>& args) {
  const auto end = std::remove(args.begin(), args.end(), std::string("--profile"));
  const bool found = end != args.end();
  args.erase(end, args.end());
  return found;
}

// The run: options, session, data, outputs, the loop and its observers. The steps of
// train_command, in order: open(), resume(), open_data(), train(), export_result().
class TrainRun {
 public:
  TrainRun(TrainConfig& config, ProgressDisplay& progress, bool profile)
      : config_(config), progress_(progress), profile_(profile) {}

  // Outputs checked and the checkpoint folder locked first (cheap, and what a second run
  // must hear at once), then the session.
  void open() {
    config_.args = with_absolute_paths(config_.args);
    exported_ =
        config_.export_path.empty() ? fs::path(config_.model).stem().string() + ".trained.onnx" : config_.export_path;
    check_output_file(config_.export_path.empty() ? "the exported model" : "--export", exported_, folders_);
    check_output_file("--export-training", config_.export_training_path, folders_);
    check_output_file("--log", config_.log_path, folders_);
    check_output_file("--plot", config_.plot_path, folders_);
    if (!config_.checkpoint_dir.empty()) lock_.emplace(config_.checkpoint_dir, folders_);
    if (config_.threads > 0) omp_set_num_threads(config_.threads);

    run_ = prepare_session(config_);
    // What the session changed in the model or found wrong with it, and what it trains.
    for (const auto& note : session().notes()) say("note: " + cli_note(note));
    const ParameterCounts counts = session().parameter_counts();
    say(fmt::format("parameters: {} tensors ({} values) trained, {} tensors ({} values) frozen",
                    counts.trainable_tensors, counts.trainable_values, counts.frozen_tensors, counts.frozen_values));
    model_hash_ = file_content_hash(config_.model);
  }

  // The checkpoint --resume goes on from, loaded into the session; the loop's position and the
  // observers' state are restored from it once they exist (train()).
  void resume() {
    if (!config_.resume) return;
    resumed_ = find_resume_point(config_, session(), model_hash_, [&](const std::string& line) { say(line); });
    if (!resumed_) return;
    const LoopPosition at = position_of(resumed_->metadata);
    say(at.epoch < config_.epochs
            ? fmt::format("resumed from {}: step {}, epoch {}, batch {}", resumed_->path, session().step(),
                          at.epoch + 1, at.batch)
            : fmt::format("resumed from {}: step {}, after epoch {}", resumed_->path, session().step(), at.epoch));
    if (const auto it = resumed_->metadata.find(kChangesKey); it != resumed_->metadata.end()) changes_ = it->second;
    if (!resumed_->changed.empty()) {
      const std::string line = fmt::format("{}", fmt::join(resumed_->changed, ", "));
      say("changed on resume: " + line);
      changes_ += fmt::format("step {}: {}\n", session().step(), line);
    }
  }

  // The data, after resume(): a resumed run keeps the classes it started with (a class folder
  // added or renamed since is an error), and every sample is checked before the first step.
  void open_data() {
    DataOptions data_options;
    data_options.mean = config_.mean;
    data_options.std = config_.std;
    if (resumed_) {
      DataOptions stored = data_options_from_metadata(resumed_->metadata, "the checkpoint " + resumed_->path);
      data_options.classes = std::move(stored.classes);
      data_options.classes_from = std::move(stored.classes_from);
    }
    data_ = onnx_train::open_data(config_.data, run_.fields, data_options);
    if (!data_.val && config_.val_split > 0)
      data_ = split_validation(data_.train, config_.val_split, config_.training.seed);
    say(fmt::format("train: {}", data_.train->describe()));
    if (data_.val) say(fmt::format("val:   {}", data_.val->describe()));
    train_samples_ = data_.train->size();
    check_same_samples();
    // The classes and preprocessing, for checkpoints and the exported model.
    data_meta_ = data_metadata(*data_.train, data_options);
    auto note = [&](const std::string& line) { say(line); };
    bad_samples_ = check_data(data_, config_.skip_bad_samples, run_.fixed_batch, note);
    auto warn = [&](const std::string& line) { progress_.warning(line); };
    const bool drop_last = fit_fixed_batch(config_, run_, *data_.train, warn);
    val_drop_last_ = data_.val && run_.fixed_batch > 0 && fit_fixed_batch(config_, run_, *data_.val, warn);
    loader_ = std::make_unique<BatchLoader>(data_.train, config_.batch_size, config_.shuffle, config_.training.seed,
                                            drop_last);
    plan_loop();
  }

  // Returns the exit code: 0, or 130 when interrupted.
  int train() {
    if (!config_.log_path.empty())
      log_ = std::make_unique<MetricsLog>(config_.log_path, /*append=*/resumed_.has_value());
    if (log_ && resumed_)
      log_->log_event("resumed", {{"from", resumed_->path},
                                  {"step", session().step()},
                                  {"changed", fmt::format("{}", fmt::join(resumed_->changed, ", "))}});
    folders_.keep();
    build_loop();
    run_start_ = std::chrono::steady_clock::now();
    if (loop_->nothing_left() && resumed_) say_nothing_left();
    return loop_->run() == LoopEnd::Interrupted ? 130 : 0;
  }

  void export_result() {
    try {
      session().export_model(exported_, data_meta_);
      if (!config_.export_training_path.empty())
        session().export_training_model(config_.export_training_path, data_meta_);
    } catch (const Error& e) {
      throw Error(checkpoints_->export_failure(e.what(), exported_));
    }
    const double seconds = std::chrono::duration<double>(std::chrono::steady_clock::now() - run_start_).count();
    const int64_t samples = loop_->samples_seen();
    std::string summary = samples == 0 ? fmt::format("done: {} steps (none of them in this run)", session().step())
                                       : fmt::format("done: {} steps in {}, {:.0f} samples/s", session().step(),
                                                     format_duration(seconds), seconds > 0 ? samples / seconds : 0.0);
    if (!std::isnan(loop_->last_train_loss())) summary += fmt::format("; train loss {:.4f}", loop_->last_train_loss());
    if (const EvalTotals& val = loop_->last_validation(); data_.val && val.samples > 0) {
      summary += fmt::format("; val loss {:.4f}", val.loss());
      if (val.accuracy() >= 0) summary += fmt::format(", val accuracy {:.2f}%", 100 * val.accuracy());
    }
    progress_.summary(summary);
    if (bad_samples_ && bad_samples_->count() > 0) progress_.warning(bad_samples_report(*bad_samples_));
    progress_.summary(fmt::format("wrote {}", exported_));
    if (!config_.export_training_path.empty()) progress_.summary(fmt::format("wrote {}", config_.export_training_path));
    if (!config_.plot_path.empty()) progress_.summary(fmt::format("wrote {}", config_.plot_path));
  }

 private:
  TrainingSession& session() { return *run_.session; }
  void say(const std::string& line) { progress_.message(line); }

  // A resumed run's batch position and shuffle order refer to the data it was trained on.
  void check_same_samples() const {
    if (!resumed_) return;
    const auto it = resumed_->metadata.find(kTrainSamplesKey);
    if (it == resumed_->metadata.end()) return;
    OT_CHECK(it->second == std::to_string(train_samples_),
             "{}: the training data holds {} samples, but the checkpoint {} was trained on {}; its batch position "
             "and shuffle order refer to that data. Resume with the data it was trained on, or start a new run "
             "(another --checkpoint-dir, without --resume)",
             config_.data, train_samples_, resumed_->path, it->second);
  }

  // The loop's shape, and the schedule over its steps.
  void plan_loop() {
    plan_.epochs = config_.epochs;
    plan_.batches = loader_->batches_per_epoch();
    OT_CHECK(plan_.batches > 0, "{}: {} training samples make no batch of {} (with --drop-last)", config_.data,
             data_.train->size(), config_.batch_size);
    plan_.accumulate = std::max(config_.training.accumulation_steps, 1);
    plan_.max_steps = config_.max_steps;
    plan_.checkpoint_every = config_.checkpoint_every;
    // A resumed run's schedule is that of the run that wrote the checkpoint; this run's
    // options (a new --lr, warm-up, or total steps) take over from the same step.
    session().set_schedule(make_schedule(config_, plan_.total_steps(), plan_.steps_per_epoch()));
  }

  // The loop and its observers, in the order their hooks run, restored to the resumed position.
  void build_loop() {
    TrainLoop::Validate validate;
    if (data_.val)
      validate = [this](const std::function<std::string(const std::string&)>& bad_sample) {
        return evaluate(session(), run_, data_.val, config_.batch_size, val_drop_last_, bad_sample);
      };
    loop_ = std::make_unique<TrainLoop>(run_, *loader_, plan_, std::move(validate));
    observers_.push_back(std::make_unique<MetricsLogObserver>(log_.get()));
    observers_.push_back(std::make_unique<ProgressObserver>(*loop_, progress_));
    PlotOptions plot;
    plot.title = fs::path(config_.model).filename().string();
    plot.log_loss = config_.plot_log_scale;
    observers_.push_back(std::make_unique<PlotObserver>(*loop_, config_.plot_path, plot));
    RunRecord record{config_.args, model_hash_, changes_, train_samples_, data_meta_};
    auto checkpoints = std::make_unique<CheckpointObserver>(*loop_, config_, std::move(record), data_.train,
                                                            run_.fixed_batch, log_.get());
    checkpoints_ = checkpoints.get();
    observers_.push_back(std::move(checkpoints));
    observers_.push_back(std::make_unique<InterruptObserver>());
    if (profile_) observers_.push_back(std::make_unique<ProfileObserver>(session(), progress_));
    for (auto& observer : observers_) loop_->attach(*observer);
    if (resumed_) loop_->restore(resumed_->metadata);
  }

  void say_nothing_left() {
    const LoopPlan& plan = loop_->plan();
    say(fmt::format("nothing left to do: {} is at step {} and this run ends at step {} ({}); exporting its weights",
                    resumed_->path, session().step(), plan.total_steps(),
                    plan.max_steps > 0 && plan.max_steps < plan.steps_per_epoch() * plan.epochs
                        ? fmt::format("--max-steps {}", plan.max_steps)
                        : fmt::format("--epochs {} of {} steps", plan.epochs, plan.steps_per_epoch())));
  }

  TrainConfig& config_;
  ProgressDisplay& progress_;
  bool profile_ = false;
  CreatedFolders folders_;  // before lock_: the lock file goes first, then empty folders
  std::optional<CheckpointFolderLock> lock_;
  std::string exported_, model_hash_;

  Prepared run_;
  std::optional<ResumePoint> resumed_;
  std::string changes_;  // cli.changes, with this resume's line

  DataSplits data_;
  std::map<std::string, std::string> data_meta_;  // classes and preprocessing (data.* entries)
  int64_t train_samples_ = 0;                     // before any --skip-bad-samples leaves some out
  std::shared_ptr<BadSampleLog> bad_samples_;
  bool val_drop_last_ = false;
  std::unique_ptr<BatchLoader> loader_;
  LoopPlan plan_;

  std::unique_ptr<MetricsLog> log_;
  std::unique_ptr<TrainLoop> loop_;
  std::vector<std::unique_ptr<TrainLoopObserver>> observers_;
  CheckpointObserver* checkpoints_ = nullptr;  // among observers_
  std::chrono::steady_clock::time_point run_start_;
};

}  // namespace

int train_command(const std::vector<std::string>& raw_args) {
  std::vector<std::string> args = raw_args;
  const bool profile = take_profile_flag(args);
  TrainConfig config = parse_train_args(args);
  const bool terminal = ::isatty(STDOUT_FILENO) != 0;
  ProgressDisplay progress(stdout, terminal, config.quiet);
  try {
    TrainRun run(config, progress, profile);
    run.open();
    run.resume();
    run.open_data();
    const int code = run.train();
    if (code != 0) return code;
    run.export_result();
    return 0;
  } catch (...) {
    // The error goes to stderr, on the same terminal: end the bar's line first, so that the
    // message starts a line of its own.
    progress.finish();
    throw;
  }
}

}  // namespace onnx_train::cli
