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
// goes on (learning rate, schedule, clipping, epochs, batch size, outputs...) may change on
// resume; the changes are printed, logged and kept in later checkpoints (cli.changes). A new
// batch size goes on from the sample the checkpoint stopped at, in the epoch's same order.
//
// Under mpirun with several processes the run is data-parallel (distributed_run.h): every rank
// runs these steps, and rank 0 alone writes and prints.
#include <fmt/format.h>
#include <omp.h>
#include <unistd.h>

#include <algorithm>
#include <chrono>
#include <cmath>
#include <filesystem>
#include <optional>
#include <thread>

#include "onnx_train/dataset.h"
#include "onnx_train/profile.h"
#include "tools/onnx-train/best_model_observer.h"
#include "tools/onnx-train/checkpoint_observer.h"
#include "tools/onnx-train/commands.h"
#include "tools/onnx-train/distributed_run.h"
#include "tools/onnx-train/early_stopping_observer.h"
#include "tools/onnx-train/interrupt_observer.h"
#include "tools/onnx-train/log_observer.h"
#include "tools/onnx-train/metrics_log.h"
#include "tools/onnx-train/model_metadata.h"
#include "tools/onnx-train/plot_observer.h"
#include "tools/onnx-train/progress.h"
#include "tools/onnx-train/progress_observer.h"
#include "tools/onnx-train/run_folder.h"
#include "tools/onnx-train/tensorboard_observer.h"
#include "tools/onnx-train/train_common.h"
#include "tools/onnx-train/train_data.h"
#include "tools/onnx-train/train_loop.h"
#include "tools/onnx-train/train_options.h"
#include "tools/onnx-train/validation_metric.h"

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
  TrainRun(TrainConfig& config, ProgressDisplay& progress, bool profile, std::shared_ptr<Communicator> group)
      : config_(config), progress_(progress), profile_(profile), group_(std::move(group)) {}

  // Outputs checked and the checkpoint folder locked first (cheap, and what a second run
  // must hear at once), then the session.
  void open() {
    config_.args = with_absolute_paths(config_.args);
    exported_ =
        config_.export_path.empty() ? fs::path(config_.model).stem().string() + ".trained.onnx" : config_.export_path;
    if (leader()) check_outputs();
    if (config_.threads > 0) omp_set_num_threads(config_.threads);

    run_ = prepare_session(config_);
    if (group_)
      say(fmt::format("data-parallel on {} processes: --batch-size {} each, {} samples per step{}", group_->size(),
                      config_.batch_size, config_.batch_size * group_->size(),
                      config_.sync_batchnorm ? ", BatchNormalization statistics synchronised" : ""));
    open_session();
  }

  // Every output path checked (folders made, writability proved) and the checkpoint folder
  // locked: rank 0's business alone in a data-parallel run.
  void check_outputs() {
    check_output_file(config_.export_path.empty() ? "the exported model" : "--export", exported_, folders_);
    OT_CHECK(config_.export_training_path.empty() || !config_.training.lora.enabled(),
             "--export-training writes the model's own file with its training algorithm, which has no place for LoRA "
             "adapters; leave it out (-o writes the adapters merged, --lora-export separate beside the base)");
    check_output_file("--export-training", config_.export_training_path, folders_);
    check_output_file("--log", config_.log_path, folders_);
    check_output_file("--plot", config_.plot_path, folders_);
    if (!config_.save_best.empty()) {
      best_path_ = config_.save_best_path.empty() ? BestModelObserver::default_path(exported_) : config_.save_best_path;
      OT_CHECK(!same_file(best_path_, exported_),
               "--save-best-path {} is also the exported model: give the best model a file of its own", best_path_);
      check_output_file(config_.save_best_path.empty() ? "--save-best" : "--save-best-path", best_path_, folders_);
    }
    if (!config_.tensorboard_dir.empty()) event_file_ = plan_event_file(config_.tensorboard_dir, folders_);
    if (!config_.checkpoint_dir.empty()) lock_.emplace(config_.checkpoint_dir, folders_);
  }

  void open_session() {
    // What the session changed in the model or found wrong with it, and what it trains.
    for (const auto& note : session().notes()) say("note: " + cli_note(note));
    const ParameterCounts counts = session().parameter_counts();
    say(fmt::format("parameters: {} tensors ({} values) trained, {} tensors ({} values) frozen",
                    counts.trainable_tensors, counts.trainable_values, counts.frozen_tensors, counts.frozen_values));
    if (session().lora().enabled()) say(session().lora().describe(counts.trainable_values, counts.frozen_values));
    model_hash_ = file_content_hash(config_.model);
    check_metric_scored("--early-stopping-metric", config_.early_stopping > 0 ? config_.early_stopping_metric : "");
    check_metric_scored("--save-best", config_.save_best);
  }

  // The checkpoint --resume goes on from, loaded into the session; the loop's position and the
  // observers' state are restored from it once they exist (train()).
  void resume() {
    if (!config_.resume) return;
    // Passing over a damaged checkpoint is a warning: --quiet keeps it.
    auto warn = [&](const std::string& line) { progress_.warning(line); };
    if (leader()) resumed_ = find_resume_point(config_, session(), model_hash_, warn);
    if (group_) {
      // Rank 0 chooses the checkpoint; the others load that file (a folder every machine sees).
      const std::string path = broadcast_string(*group_, resumed_ ? resumed_->path : std::string(),
                                                "the choice of the checkpoint to resume from");
      if (!leader() && !path.empty()) {
        config_.resume = path;
        resumed_ = find_resume_point(config_, session(), model_hash_, warn);
      }
    }
    if (!resumed_) return;
    const LoopPosition at = position_of(resumed_->metadata);
    // With --max-steps the run's epochs are those the steps take, known once the data is.
    say(at.epoch < config_.epochs || config_.max_steps > 0
            ? fmt::format("resumed from {}: step {}, epoch {}, batch {}", resumed_->path, session().step(),
                          at.epoch + 1, at.batch)
            : fmt::format("resumed from {}: step {}, after epoch {}", resumed_->path, session().step(), at.epoch));
    if (const auto it = resumed_->metadata.find(kChangesKey); it != resumed_->metadata.end()) changes_ = it->second;
  }

  // What this resume changed, once the data says where a new batch size goes on from: said,
  // and kept in later checkpoints (cli.changes) and the log's "resumed" event.
  void note_changes() {
    if (!resumed_) return;
    std::vector<std::string> changed = resumed_->changed;
    // A checkpoint without cli.ranks is one process's.
    const auto ranks_it = resumed_->metadata.find(DistributedObserver::kRanksKey);
    const std::string ranks_before = ranks_it == resumed_->metadata.end() ? "1" : ranks_it->second;
    const std::string ranks_now = std::to_string(group_ ? group_->size() : 1);
    if (ranks_before != ranks_now) changed.push_back(fmt::format("processes {} -> {}", ranks_before, ranks_now));
    if (changed.empty()) return;
    changed_ = fmt::format("{}", fmt::join(changed, ", "));
    const bool new_batch_size =
        ranks_before != ranks_now || std::any_of(changed.begin(), changed.end(), [](const std::string& c) {
          return c.rfind("--batch-size ", 0) == 0;
        });
    const ResumedAt resumed = resumed_at(resumed_->metadata, *loader_);
    if (new_batch_size && resumed.at.epoch < plan_.epochs)
      changed_ += fmt::format("; continuing epoch {} at sample {} (batch {} of {})", resumed.at.epoch + 1,
                              std::max<int64_t>(resumed.sample, 0), resumed.at.batch, plan_.batches);
    say("changed on resume: " + changed_);
    changes_ += fmt::format("step {}: {}\n", session().step(), changed_);
  }

  // The data, after resume(): a resumed run keeps the classes it started with (a class folder
  // added or renamed since is an error), and every sample is checked before the first step.
  void open_data() {
    DataOptions data_options;
    data_options.mean = config_.mean;
    data_options.std = config_.std;
    data_options.sources = config_.inputs;
    data_options.columns = config_.columns;
    data_options.ignore_columns = config_.ignore_columns;
    data_options.image_height = config_.image_height;
    data_options.image_width = config_.image_width;
    data_options.augment = config_.augment;
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
    check_validation_split();
    train_samples_ = data_.train->size();
    check_same_samples();
    check_classes_fit_model(config_, run_, *data_.train);
    // The classes and preprocessing, for checkpoints and the exported model.
    data_meta_ = data_metadata(*data_.train, data_options);
    auto note = [&](const std::string& line) { say(line); };
    bad_samples_ = check_data(data_, config_.skip_bad_samples, run_.fixed_batch, note);
    auto warn = [&](const std::string& line) { progress_.warning(line); };
    const bool drop_last = fit_fixed_batch(config_, run_, *data_.train, warn);
    val_drop_last_ = data_.val && run_.fixed_batch > 0 && fit_fixed_batch(config_, run_, *data_.val, warn);
    loader_ = std::make_unique<BatchLoader>(data_.train, config_.batch_size, config_.shuffle, config_.training.seed,
                                            drop_last);
    loader_->set_augment(config_.augment.any());
    loader_->set_workers(config_.workers > 0 ? config_.workers : default_reader_threads(*data_.train));
    if (group_) loader_->set_shard(group_->rank(), group_->size());
    plan_loop();
    note_changes();
  }

  // Returns the exit code: 0, or 130 when interrupted.
  int train() {
    if (!config_.log_path.empty() && leader())
      log_ = std::make_unique<MetricsLog>(config_.log_path, /*append=*/resumed_.has_value());
    if (log_ && resumed_)
      log_->log_event("resumed", {{"from", resumed_->path}, {"step", session().step()}, {"changed", changed_}});
    folders_.keep();
    build_loop();
    run_start_ = std::chrono::steady_clock::now();
    if (loop_->nothing_left() && resumed_) say_nothing_left();
    return loop_->run() == LoopEnd::Interrupted ? 130 : 0;
  }

  // A run that fails once its --log is open ends the log with an "error" event: the error's
  // category (onnx_train/error.h: "data", "non-finite", "io", ...) and message, for scripts.
  // A run that fails before that (a bad model, bad data) writes no log at all.
  void log_failure(const std::exception_ptr& failure) noexcept {
    if (!log_) return;
    try {
      try {
        std::rethrow_exception(failure);
      } catch (const Error& e) {
        log_->log_event("error", {{"category", category_name(e.category())}, {"message", e.what()}});
      } catch (const std::exception& e) {
        log_->log_event("error", {{"category", category_name(ErrorCategory::Unspecified)}, {"message", e.what()}});
      }
    } catch (...) {
      // The log cannot be written (a full disk): the error itself still reaches stderr.
    }
  }

  void export_result() {
    if (!leader()) return;
    // No step follows: the step's recycled buffers go back before the export copies the weights.
    session().release_memory();
    try {
      // The data's entries and the training's (model_metadata.h lists them).
      const std::map<std::string, std::string> metadata = export_metadata();
      session().export_model(exported_, metadata);
      if (!config_.export_training_path.empty())
        session().export_training_model(config_.export_training_path, metadata);
    } catch (const Error& e) {
      throw Error(checkpoints_->export_failure(e.what(), exported_), e.category());
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
    if (group_) report_allreduce();
    if (bad_samples_ && bad_samples_->count() > 0) progress_.warning(bad_samples_report(*bad_samples_));
    if (const int64_t skipped = loop_->skipped_nonfinite(); skipped > 0)
      progress_.warning(fmt::format("skipped {} step{} with non-finite values (--skip-nonfinite)", skipped,
                                    skipped == 1 ? "" : "s"));
    progress_.summary(fmt::format("wrote {}", exported_));
    if (!config_.export_training_path.empty()) progress_.summary(fmt::format("wrote {}", config_.export_training_path));
    if (!config_.plot_path.empty()) progress_.summary(fmt::format("wrote {}", config_.plot_path));
  }

 private:
  TrainingSession& session() { return *run_.session; }
  // Rank 0 of a data-parallel run, or the only process: the one that prints and writes.
  bool leader() const { return !group_ || group_->rank() == 0; }

  // How much of the gradient allreduce the backward pass hid, from the bucket timings.
  void report_allreduce() {
    const AllreduceStats a = session().allreduce_stats();
    if (a.steps == 0) return;
    const double steps = static_cast<double>(a.steps);
    progress_.summary(fmt::format(
        "allreduce: {} bucket{} of {:.1f} MB in all per step, {:.2f} ms per step of which {:.0f}% hidden behind the "
        "backward pass ({:.2f} ms per step)",
        a.buckets, a.buckets == 1 ? "" : "s", static_cast<double>(a.bytes) / (1 << 20), a.total_ms / steps,
        100 * a.hidden_fraction(), a.backward_ms / steps));
    if (log_)
      log_->log_event("allreduce", {{"processes", group_->size()},
                                    {"buckets", a.buckets},
                                    {"bytes", a.bytes},
                                    {"steps", a.steps},
                                    {"total_ms", a.total_ms},
                                    {"exposed_ms", a.exposed_ms},
                                    {"backward_ms", a.backward_ms},
                                    {"hidden_fraction", a.hidden_fraction()}});
  }
  // What an exported model carries: the data's entries and the training's so far
  // (model_metadata.h lists them), for the final export and --save-best's.
  std::map<std::string, std::string> export_metadata() const {
    std::map<std::string, std::string> metadata = data_meta_;
    metadata.merge(training_metadata(config_, run_, summary_->summary(*loop_, train_samples_)));
    return metadata;
  }
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

  // What --early-stopping, --save-best and --eval-every watch is the validation split's score.
  void check_validation_split() const {
    if (data_.val) return;
    const std::pair<const char*, bool> watching[] = {{"--early-stopping", config_.early_stopping > 0},
                                                     {"--save-best", !config_.save_best.empty()},
                                                     {"--eval-every", config_.eval_every > 0}};
    for (const auto& [flag, given] : watching)
      OT_CHECK(!given,
               "{} needs a validation split, and {} has no val/ folder: hold out part of the training data with "
               "--val-split F (e.g. --val-split 0.1)",
               flag, config_.data);
  }

  // A metric of accuracy needs a loss that scores predictions (a class or binary loss).
  void check_metric_scored(const std::string& flag, const std::string& metric) const {
    if (metric.empty() || !ValidationMetric::parse(flag, metric).is_accuracy()) return;
    OT_CHECK(run_.scoring != Prepared::Scoring::None,
             "{} val_accuracy: the loss '{}' scores no accuracy (only class and binary losses do); watch val_loss "
             "instead",
             flag, config_.loss);
  }

  // The loop's shape, and the schedule over its steps. --max-steps sets the run's length, as
  // in Hugging Face's Trainer: the epochs are as many as its steps take (the last in part).
  void plan_loop() {
    plan_.epochs = config_.epochs;
    plan_.batches = loader_->batches_per_epoch();
    OT_CHECK(plan_.batches > 0, "{}: {} training samples make no batch of {} (with --drop-last)", config_.data,
             data_.train->size(), config_.batch_size);
    plan_.accumulate = std::max(config_.training.accumulation_steps, 1);
    plan_.max_steps = config_.max_steps;
    plan_.checkpoint_every = config_.checkpoint_every;
    plan_.eval_every = config_.eval_every;
    plan_.skip_nonfinite = config_.skip_nonfinite;
    // Before the epochs --max-steps needs: a resumed epoch in other batches moves their ends.
    if (resumed_) plan_.step_shift = step_shift_on_resume();
    if (plan_.max_steps > 0) {
      plan_.epochs = plan_.epochs_for_max_steps();
      if (std::find(config_.args.begin(), config_.args.end(), "--epochs") != config_.args.end())
        say(fmt::format("note: --max-steps {} sets the run's length: {} epoch{} of {} steps; --epochs {} is not used",
                        plan_.max_steps, plan_.epochs, plan_.epochs == 1 ? "" : "s", plan_.steps_per_epoch(),
                        config_.epochs));
    }
    // A resumed run's schedule is that of the run that wrote the checkpoint; this run's
    // options (a new --lr, warm-up, or total steps) take over from the same step.
    session().set_schedule(make_schedule(config_, plan_.total_steps(), plan_.steps_per_epoch()));
  }

  // A resumed run ends after the steps its remaining batches make: the rest of the resumed
  // epoch and whole epochs after it, counted from the checkpoint's step. Without a change of
  // batch size that is the usual end (shift 0); with one, the epochs before took another
  // number of steps.
  int64_t step_shift_on_resume() {
    const LoopPosition at = resumed_at(resumed_->metadata, *loader_).at;
    if (plan_.max_steps == 0 && at.epoch >= plan_.epochs) return 0;  // past the run's end: nothing moves
    const int64_t left_in_epoch = (plan_.batches - at.batch + plan_.accumulate - 1) / plan_.accumulate;
    const int64_t end = session().step() + left_in_epoch + plan_.steps_per_epoch() * (plan_.epochs - at.epoch - 1);
    return end - plan_.steps_per_epoch() * plan_.epochs;
  }

  // The loop and its observers, in the order their hooks run, restored to the resumed position.
  void build_loop() {
    TrainLoop::Validate validate;
    if (data_.val)
      validate = [this](const std::function<std::string(const std::string&)>& bad_sample) {
        return evaluate(session(), run_, data_.val, config_.batch_size, val_drop_last_, bad_sample, nullptr,
                        group_.get());
      };
    loop_ = std::make_unique<TrainLoop>(run_, *loader_, plan_, std::move(validate));
    if (group_) {
      // Progress, logs and epoch totals count every rank's samples and predictions.
      loop_->steps().count = [this](const Batch& batch, const StepResult& r) {
        const auto correct = run_.accuracy_of(r.outputs, batch);
        double sums[3] = {static_cast<double>(batch.begin()->second.dim(0)), static_cast<double>(correct.first),
                          static_cast<double>(correct.second)};
        group_->allreduce_sum(sums, 3, "the sample count of a batch");
        return BatchCount{static_cast<int64_t>(sums[0]), {static_cast<int64_t>(sums[1]), static_cast<int64_t>(sums[2])}};
      };
    }
    if (leader()) attach_writers();
    // On every rank: a stop must be the same everywhere (an interrupt is shared between steps,
    // early stopping rests on the same validation).
    if (group_)
      observers_.push_back(std::make_unique<DistributedObserver>(*group_));
    else
      observers_.push_back(std::make_unique<InterruptObserver>());
    // Early stopping before the best model: a best checkpoint then holds the watch's count.
    if (config_.early_stopping > 0)
      observers_.push_back(std::make_unique<EarlyStoppingObserver>(
          ValidationMetric::parse("--early-stopping-metric", config_.early_stopping_metric), config_.early_stopping,
          config_.early_stopping_min_delta, progress_, log_.get()));
    if (!config_.save_best.empty() && leader()) {
      const std::string checkpoint =
          config_.checkpoint_dir.empty() ? "" : (fs::path(config_.checkpoint_dir) / "best.ckpt").string();
      observers_.push_back(std::make_unique<BestModelObserver>(
          *loop_, ValidationMetric::parse("--save-best", config_.save_best), best_path_, checkpoint,
          [this](const std::string& path) { session().export_model(path, export_metadata()); }, progress_, log_.get()));
    }
    if (profile_ && leader()) observers_.push_back(std::make_unique<ProfileObserver>(session(), progress_));
    for (auto& observer : observers_) loop_->attach(*observer);
    if (resumed_) loop_->restore(resumed_->metadata);
  }

  // The observers that print and write: the log, TensorBoard, progress, plot, the summary kept
  // for the export, the checkpoints.
  void attach_writers() {
    observers_.push_back(std::make_unique<MetricsLogObserver>(log_.get()));
    if (!event_file_.empty()) observers_.push_back(std::make_unique<TensorBoardObserver>(event_file_));
    observers_.push_back(std::make_unique<ProgressObserver>(*loop_, progress_));
    PlotOptions plot;
    plot.title = fs::path(config_.model).filename().string();
    plot.log_loss = config_.plot_log_scale;
    observers_.push_back(std::make_unique<PlotObserver>(*loop_, config_.plot_path, plot));
    // Before the checkpoints: the results it keeps are those of the checkpoint being written.
    observers_.push_back(std::make_unique<SummaryObserver>());
    summary_ = static_cast<SummaryObserver*>(observers_.back().get());
    RunRecord record{config_.args, model_hash_, changes_, train_samples_, data_meta_};
    auto checkpoints = std::make_unique<CheckpointObserver>(*loop_, config_, std::move(record), data_.train,
                                                            run_.fixed_batch, log_.get());
    checkpoints_ = checkpoints.get();
    observers_.push_back(std::move(checkpoints));
  }

  void say_nothing_left() {
    const LoopPlan& plan = loop_->plan();
    if (loop_->stopped_early())
      return say(fmt::format(
          "nothing left to do: the run of {} ended by --early-stopping at step {} (a larger PATIENCE goes on); "
          "exporting its weights",
          resumed_->path, session().step()));
    say(fmt::format("nothing left to do: {} is at step {} and this run ends at step {} ({}); exporting its weights",
                    resumed_->path, session().step(), plan.total_steps(),
                    plan.max_steps > 0 ? fmt::format("--max-steps {}", plan.max_steps)
                                       : fmt::format("--epochs {} of {} steps", plan.epochs, plan.steps_per_epoch())));
  }

  TrainConfig& config_;
  ProgressDisplay& progress_;
  bool profile_ = false;
  std::shared_ptr<Communicator> group_;  // null: one process
  CreatedFolders folders_;  // before lock_: the lock file goes first, then empty folders
  std::optional<CheckpointFolderLock> lock_;
  std::string exported_, model_hash_;
  std::string best_path_;  // --save-best's model
  std::string event_file_;  // --tensorboard: the event file this run writes

  Prepared run_;
  std::optional<ResumePoint> resumed_;
  std::string changes_;  // cli.changes, with this resume's line
  std::string changed_;  // this resume's changes ("" when none)

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
  SummaryObserver* summary_ = nullptr;         // among observers_: the results for the export
  std::chrono::steady_clock::time_point run_start_;
};

}  // namespace

int train_command(const std::vector<std::string>& raw_args) {
  std::vector<std::string> args = raw_args;
  const bool profile = take_profile_flag(args);
  TrainConfig config = parse_train_args(args);
  const std::shared_ptr<Communicator> group = join_ranks(config);
  const bool leader = !group || group->rank() == 0;
  // Ranks other than 0 print nothing (their errors still reach stderr).
  std::unique_ptr<std::FILE, int (*)(std::FILE*)> silent(leader ? nullptr : std::fopen("/dev/null", "w"), &std::fclose);
  const bool terminal = leader && ::isatty(STDOUT_FILENO) != 0;
  ProgressDisplay progress(leader ? stdout : silent.get(), terminal, config.quiet || !leader);
  TrainRun run(config, progress, profile, group);
  try {
    run.open();
    run.resume();
    run.open_data();
    const int code = run.train();
    if (code == 0) run.export_result();
    // Every rank ends MPI together (rank 0 after its export); a rank that failed exits
    // without it, and mpirun stops the others.
    if (group) finalize_mpi();
    return code;
  } catch (const Error& e) {
    progress.finish();
    run.log_failure(std::current_exception());
    if (leader) throw;
    // An option or model error is every rank's: rank 0 says it once. Others are this rank's own.
    if (e.category() == ErrorCategory::Usage || e.category() == ErrorCategory::Model) std::_Exit(1);
    if (e.category() == ErrorCategory::Distributed) throw;  // it names its rank already
    throw Error(fmt::format("{}: {}", group->describe_rank(group->rank()), e.what()), e.category());
  } catch (...) {
    // The error goes to stderr, on the same terminal: end the bar's line first, so that the
    // message starts a line of its own.
    progress.finish();
    run.log_failure(std::current_exception());
    throw;
  }
}

}  // namespace onnx_train::cli
