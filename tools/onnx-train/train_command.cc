// onnx-train MODEL.onnx DATA_DIR: the training loop around a TrainingSession.
//
// Before the first step: every output path is checked (folders made, writability proved) and
// the checkpoint folder is locked, so nothing fails only at the end and no second run writes
// into the same folder. Per epoch: batches from the BatchLoader (shuffled by seed and epoch),
// one train_step each (the session steps the optimizer every --accumulate batches), progress
// and the JSON log per step, checkpoints every --checkpoint-every steps; at the epoch's end a
// partial accumulation is stepped, the validation split is evaluated, the plot rewritten and a
// checkpoint written. A run that --max-steps stops inside an epoch does none of that: its
// checkpoint records the batch it stopped before. At the end the trained model is exported.
//
// Resuming: a checkpoint holds, besides the session's state, the arguments of the run
// (cli.args, model and data as absolute paths, and cli.model_hash), the position in the data
// (cli.epoch, cli.batch: the next batch to train on), the epoch's running totals so far
// (cli.epoch_state) and a bounded history for the plot. Because the batch order is a pure
// function of (seed, epoch), a resumed run sees exactly the batches the uninterrupted run
// would have, and ends with the same weights. Checkpoints are only taken between optimizer
// steps; Ctrl-C waits for the current accumulation to finish. Options that only steer how the
// run goes on (learning rate, schedule, clipping, epochs, outputs...) may change on resume;
// the changes are printed, logged and kept in later checkpoints (cli.changes).
#include <fmt/format.h>
#include <omp.h>
#include <unistd.h>

#include <algorithm>
#include <atomic>
#include <chrono>
#include <cmath>
#include <csignal>
#include <cstring>
#include <filesystem>
#include <optional>
#include <sstream>

#include "importers/data/dataset.h"
#include "tools/onnx-train/commands.h"
#include "tools/onnx-train/metrics_log.h"
#include "tools/onnx-train/plot.h"
#include "tools/onnx-train/progress.h"
#include "tools/onnx-train/run_folder.h"
#include "tools/onnx-train/train_common.h"
#include "tools/onnx-train/train_data.h"
#include "tools/onnx-train/train_options.h"

namespace onnx_train::cli {

namespace fs = std::filesystem;

namespace {

std::atomic<bool> g_interrupted{false};

extern "C" void on_interrupt(int) { g_interrupted = true; }

constexpr const char* kEpochKey = "cli.epoch";
constexpr const char* kBatchKey = "cli.batch";
constexpr const char* kEpochStateKey = "cli.epoch_state";
constexpr const char* kHistoryKey = "cli.history";
constexpr const char* kHistoryStridesKey = "cli.history_strides";
constexpr const char* kChangesKey = "cli.changes";
// The loss of the run's first step, kept across resumes: a checkpoint whose weights give a
// loss past kDivergedFactor times it (or a non-finite one) is not offered as a good one to
// go back to after a NaN.
constexpr const char* kFirstLossKey = "cli.first_loss";
constexpr double kDivergedFactor = 10;
// The number of training samples the run was started on. The checkpoint's batch position and
// shuffle order refer to that data; resumed on a data folder that lost or gained samples, the
// run went on silently with other batches and another step count.
constexpr const char* kTrainSamplesKey = "cli.train_samples";

// Loss and accuracy points for the plot, kept in checkpoints as text lines "<series> <x> <y>".
// The per-step log is the --log file's job; a checkpoint keeps at most kMaxPoints points of a
// series, so its size does not grow with the run (the whole history in every checkpoint
// wrote O(steps^2) bytes over a run). Each series keeps its n-th offered point when n is a
// multiple of its stride, and doubles the stride (dropping every other point) when full: a
// pure function of the points offered, so a resumed run keeps the points the uninterrupted
// run keeps.
struct History {
  static constexpr size_t kMaxPoints = 512;
  std::vector<PlotSeries> series = {
      {"train loss", {}, false}, {"val loss", {}, false}, {"train accuracy", {}, true}, {"val accuracy", {}, true}};
  std::vector<int64_t> offered = std::vector<int64_t>(4, 0), stride = std::vector<int64_t>(4, 1);

  void add(size_t s, double x, double y) {
    if (offered[s]++ % stride[s] == 0) series[s].points.emplace_back(x, y);
    compact(s);
  }
  void compact(size_t s) {
    auto& points = series[s].points;
    while (points.size() > kMaxPoints) {
      // Points kept are offers 0, stride, 2 stride...: keeping the even ones doubles it.
      size_t kept = 0;
      for (size_t i = 0; i < points.size(); i += 2) points[kept++] = points[i];
      points.resize(kept);
      stride[s] *= 2;
    }
  }
  std::string save() const {
    std::ostringstream out;
    out.precision(17);
    for (size_t s = 0; s < series.size(); ++s) {
      for (const auto& [x, y] : series[s].points) out << s << ' ' << x << ' ' << y << '\n';
    }
    return out.str();
  }
  std::string save_strides() const {
    std::string out;
    for (size_t s = 0; s < series.size(); ++s) out += fmt::format("{}{} {}", s ? " " : "", offered[s], stride[s]);
    return out;
  }
  void load(const std::string& text, const std::string& strides) {
    std::istringstream in(text);
    size_t s;
    double x, y;
    while (in >> s >> x >> y) {
      if (s < series.size()) series[s].points.emplace_back(x, y);
    }
    std::istringstream st(strides);  // absent in older checkpoints: every point was kept
    for (size_t i = 0; i < series.size(); ++i) {
      offered[i] = static_cast<int64_t>(series[i].points.size());
      stride[i] = 1;
      int64_t o, k;
      if (st >> o >> k && k >= 1) offered[i] = o, stride[i] = k;
      compact(i);
    }
  }
};

// The running totals of the epoch in progress, so that a run resumed inside an epoch reports
// the epoch's loss and accuracy over all of its batches, as the uninterrupted run does.
struct EpochState {
  EvalTotals totals;
  double smoothed = NAN;  // the progress display's exponentially smoothed loss
  std::string save() const {
    return fmt::format("{:.17g} {} {} {} {:.17g}", totals.loss_sum, totals.samples, totals.correct, totals.counted,
                       smoothed);
  }
  static EpochState load(const std::string& text) {
    EpochState e;
    std::istringstream in(text);
    std::string loss_sum, smoothed;
    if (in >> loss_sum >> e.totals.samples >> e.totals.correct >> e.totals.counted >> smoothed) {
      e.totals.loss_sum = std::strtod(loss_sum.c_str(), nullptr);
      e.smoothed = std::strtod(smoothed.c_str(), nullptr);
    } else {
      e = EpochState{};
    }
    return e;
  }
};

std::string checkpoint_name(int64_t step) { return fmt::format("step-{:09d}.ckpt", step); }

// The checkpoints of a folder, oldest first (names sort by step).
std::vector<fs::path> checkpoints_in(const std::string& dir) {
  std::vector<fs::path> out;
  std::error_code ec;
  for (const auto& e : fs::directory_iterator(dir, ec)) {
    const std::string name = e.path().filename().string();
    if (e.is_regular_file() && name.rfind("step-", 0) == 0 && e.path().extension() == ".ckpt") out.push_back(e.path());
  }
  std::sort(out.begin(), out.end());
  return out;
}

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

// Input values this large have no place in training data: a product with a weight and a sum
// over a layer's inputs overflow float32 (max 3.4e38) on the way, and the loss becomes Inf or
// NaN whatever the learning rate.
constexpr double kExtremeInput = 1e15;

// The samples of `batch` whose float fields hold values past kExtremeInput, by file and index
// ("x: data/x.npy, sample 29 (3e+38)"); empty when there are none. The batch does not carry
// its sample indices, so each bad row is looked up in the dataset by its bytes (only on this
// error path, and within a time budget).
std::vector<std::string> extreme_samples(const std::map<std::string, Tensor>& batch, const Dataset& data) {
  std::vector<std::string> found;
  const auto deadline = std::chrono::steady_clock::now() + std::chrono::seconds(5);
  for (size_t f = 0; f < data.fields().size(); ++f) {
    const auto it = batch.find(data.fields()[f].name);
    if (it == batch.end() || it->second.dtype() != DType::Float32 || it->second.rank() == 0) continue;
    const Tensor& t = it->second;
    const int64_t rows = t.dim(0), row_numel = rows > 0 ? t.numel() / rows : 0;
    const float* values = t.data<float>();
    for (int64_t r = 0; r < rows && found.size() < 8; ++r) {
      double worst = 0;
      for (int64_t j = 0; j < row_numel; ++j) {
        const double v = std::fabs(values[r * row_numel + j]);
        if (!(v <= worst)) worst = v;  // NaN counts as the worst
      }
      if (worst <= kExtremeInput) continue;
      std::string where = fmt::format("row {} of the batch", r);
      std::vector<float> sample(static_cast<size_t>(row_numel));
      for (int64_t i = 0; i < data.size() && std::chrono::steady_clock::now() < deadline; ++i) {
        data.read(f, i, sample.data());
        if (std::memcmp(sample.data(), values + r * row_numel, sample.size() * sizeof(float)) == 0) {
          where = data.source_of(f, i);
          break;
        }
      }
      found.push_back(fmt::format("'{}': {} (a value of {:.3g})", it->first, where, worst));
    }
  }
  return found;
}

// The run: options, session, data, outputs, and the loop's position. The steps of
// train_command, in order: open(), resume(), open_data(), train(), export_result().
class TrainRun {
 public:
  TrainRun(TrainConfig& config, ProgressDisplay& progress) : config_(config), progress_(progress) {}

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
    for (const auto& note : session().notes()) progress_.message("note: " + cli_note(note));
    const ParameterCounts counts = session().parameter_counts();
    progress_.message(fmt::format("parameters: {} tensors ({} values) trained, {} tensors ({} values) frozen",
                                  counts.trainable_tensors, counts.trainable_values, counts.frozen_tensors,
                                  counts.frozen_values));
    model_hash_ = file_content_hash(config_.model);
  }

  // The data, after resume(): a resumed run keeps the classes it started with (a class folder
  // added or renamed since is an error), and every sample is checked before the first step.
  void open_data() {
    DataOptions data_options;
    data_options.mean = config_.mean;
    data_options.std = config_.std;
    if (!resume_path_.empty()) {
      DataOptions stored = data_options_from_metadata(resumed_, "the checkpoint " + resume_path_);
      data_options.classes = std::move(stored.classes);
      data_options.classes_from = std::move(stored.classes_from);
    }
    data_ = onnx_train::open_data(config_.data, run_.fields, data_options);
    if (!data_.val && config_.val_split > 0)
      data_ = split_validation(data_.train, config_.val_split, config_.training.seed);
    progress_.message(fmt::format("train: {}", data_.train->describe()));
    if (data_.val) progress_.message(fmt::format("val:   {}", data_.val->describe()));
    train_samples_ = data_.train->size();
    if (const auto it = resumed_.find(kTrainSamplesKey); !resume_path_.empty() && it != resumed_.end())
      OT_CHECK(it->second == std::to_string(train_samples_),
               "{}: the training data holds {} samples, but the checkpoint {} was trained on {}; its batch position "
               "and shuffle order refer to that data. Resume with the data it was trained on, or start a new run "
               "(another --checkpoint-dir, without --resume)",
               config_.data, train_samples_, resume_path_, it->second);
    // The classes and preprocessing, for checkpoints and the exported model.
    data_meta_ = data_metadata(*data_.train, data_options);
    auto note = [&](const std::string& line) { progress_.message(line); };
    bad_samples_ = check_data(data_, config_.skip_bad_samples, run_.fixed_batch, note);
    const bool drop_last = fit_fixed_batch(config_, run_, *data_.train, note);
    val_drop_last_ = data_.val && run_.fixed_batch > 0 && fit_fixed_batch(config_, run_, *data_.val, note);
    loader_ = std::make_unique<BatchLoader>(data_.train, config_.batch_size, config_.shuffle, config_.training.seed,
                                            drop_last);
    batches_ = loader_->batches_per_epoch();
    OT_CHECK(batches_ > 0, "{}: {} training samples make no batch of {} (with --drop-last)", config_.data,
             data_.train->size(), config_.batch_size);
    accumulate_ = std::max(config_.training.accumulation_steps, 1);
    steps_per_epoch_ = (batches_ + accumulate_ - 1) / accumulate_;
    total_steps_ = steps_per_epoch_ * config_.epochs;
    if (config_.max_steps > 0) total_steps_ = std::min(total_steps_, config_.max_steps);
    // A resumed run's schedule is that of the run that wrote the checkpoint; this run's
    // options (a new --lr, warm-up, or total steps) take over from the same step.
    session().set_schedule(make_schedule(config_, total_steps_, steps_per_epoch_));
  }

  void resume() {
    if (!config_.resume) return;
    std::vector<std::string> candidates;  // newest first
    const bool explicit_path = !config_.resume->empty();
    if (explicit_path) {
      candidates.push_back(*config_.resume);
    } else {
      OT_CHECK(!config_.checkpoint_dir.empty(), "--resume without a CHECKPOINT needs --checkpoint-dir to look in");
      for (const auto& p : checkpoints_in(config_.checkpoint_dir)) candidates.insert(candidates.begin(), p.string());
      if (candidates.empty()) {
        // So that scripts can always pass --resume: the first run of a folder starts afresh.
        progress_.message(
            fmt::format("--resume: {} holds no checkpoint yet; starting a new run", config_.checkpoint_dir));
        return;
      }
    }
    for (size_t i = 0; i < candidates.size(); ++i) {
      const std::string& path = candidates[i];
      std::map<std::string, std::string> meta;
      try {
        meta = TrainingSession::read_checkpoint_metadata(path);
        check_same_training(path, meta);
        resumed_ = session().load_checkpoint(path);
      } catch (const Error& e) {
        // Only a damaged checkpoint is passed over, and only when the folder was searched:
        // a refusal (other options, another model) is the answer, not a reason to go back
        // further, and a checkpoint named on the command line is the one wanted.
        if (explicit_path || !refusal_.empty() || i + 1 == candidates.size()) throw;
        progress_.message(fmt::format("{} cannot be read ({}); resuming from the previous checkpoint, {}", path,
                                      first_line(e.what()), candidates[i + 1]));
        continue;
      }
      resume_path_ = path;
      break;
    }
    start_epoch_ = std::stoll(resumed_.at(kEpochKey));
    start_batch_ = std::stoll(resumed_.at(kBatchKey));
    history_.load(resumed_[kHistoryKey], resumed_[kHistoryStridesKey]);
    if (resumed_.count(kEpochStateKey)) resumed_epoch_ = EpochState::load(resumed_.at(kEpochStateKey));
    changes_ = resumed_[kChangesKey];
    if (resumed_.count(kFirstLossKey)) first_loss_ = std::strtod(resumed_.at(kFirstLossKey).c_str(), nullptr);
    unjudged_checkpoint_ = session().step();
    progress_.message(
        start_epoch_ < config_.epochs
            ? fmt::format("resumed from {}: step {}, epoch {}, batch {}", resume_path_, session().step(),
                          start_epoch_ + 1, start_batch_)
            : fmt::format("resumed from {}: step {}, after epoch {}", resume_path_, session().step(), start_epoch_));
    if (!changed_.empty()) {
      const std::string line = fmt::format("{}", fmt::join(changed_, ", "));
      progress_.message("changed on resume: " + line);
      changes_ += fmt::format("step {}: {}\n", session().step(), line);
    }
  }

  // Returns the exit code: 0, or 130 when interrupted.
  int train() {
    if (!config_.log_path.empty())
      log_ = std::make_unique<MetricsLog>(config_.log_path, /*append=*/!resume_path_.empty());
    if (log_ && !resume_path_.empty())
      log_->log_event("resumed", {{"from", resume_path_},
                                  {"step", std::to_string(session().step())},
                                  {"changed", fmt::format("{}", fmt::join(changed_, ", "))}});
    folders_.keep();
    g_interrupted = false;
    std::signal(SIGINT, on_interrupt);
    std::signal(SIGTERM, on_interrupt);
    run_start_ = std::chrono::steady_clock::now();
    end_epoch_ = config_.epochs;
    // A checkpoint taken after an epoch's last batch but before its end (a bad validation
    // sample, a checkpoint at the last batch, then a kill) still has the epoch's end to do.
    const bool epoch_end_pending = start_epoch_ < config_.epochs && start_batch_ == batches_;
    bool stop = (session().step() >= total_steps_ && !epoch_end_pending) || start_epoch_ >= config_.epochs;
    if (stop && !resume_path_.empty())
      progress_.message(
          fmt::format("nothing left to do: {} is at step {} and this run ends at step {} ({}); exporting its weights",
                      resume_path_, session().step(), total_steps_,
                      config_.max_steps > 0 && config_.max_steps < steps_per_epoch_ * config_.epochs
                          ? fmt::format("--max-steps {}", config_.max_steps)
                          : fmt::format("--epochs {} of {} steps", config_.epochs, steps_per_epoch_)));
    for (int64_t epoch = start_epoch_; epoch < config_.epochs && !stop; ++epoch) {
      const int code = train_epoch(epoch, stop);
      if (code != 0) return code;
    }
    progress_.finish();
    std::signal(SIGINT, SIG_DFL);
    std::signal(SIGTERM, SIG_DFL);
    return 0;
  }

  void export_result() {
    try {
      session().export_model(exported_, data_meta_);
      if (!config_.export_training_path.empty())
        session().export_training_model(config_.export_training_path, data_meta_);
    } catch (const Error& e) {
      throw Error(export_failure(e.what()));
    }
    const double seconds = std::chrono::duration<double>(std::chrono::steady_clock::now() - run_start_).count();
    std::string summary = samples_seen_ == 0
                              ? fmt::format("done: {} steps (none of them in this run)", session().step())
                              : fmt::format("done: {} steps in {}, {:.0f} samples/s", session().step(),
                                            format_duration(seconds), seconds > 0 ? samples_seen_ / seconds : 0.0);
    if (!std::isnan(last_train_loss_)) summary += fmt::format("; train loss {:.4f}", last_train_loss_);
    if (data_.val && last_val_.samples > 0) {
      summary += fmt::format("; val loss {:.4f}", last_val_.loss());
      if (last_val_.accuracy() >= 0) summary += fmt::format(", val accuracy {:.2f}%", 100 * last_val_.accuracy());
    }
    progress_.message(summary);
    if (bad_samples_ && bad_samples_->count() > 0) progress_.message(bad_samples_report(*bad_samples_));
    progress_.message(fmt::format("wrote {}", exported_));
    if (!config_.export_training_path.empty()) progress_.message(fmt::format("wrote {}", config_.export_training_path));
    if (!config_.plot_path.empty()) progress_.message(fmt::format("wrote {}", config_.plot_path));
  }

 private:
  TrainingSession& session() { return *run_.session; }

  static std::string first_line(const std::string& text) { return text.substr(0, text.find('\n')); }

  // Refuses a checkpoint of another training (options that change its meaning, or another
  // model file); collects the options that changed safely into changed_.
  void check_same_training(const std::string& path, const std::map<std::string, std::string>& meta) {
    const auto it = meta.find(kArgsKey);
    OT_CHECK(it != meta.end(), "{}: not a checkpoint of `onnx-train MODEL DATA` (it has no run arguments)", path);
    const ArgsDiff diff = compare_run_args(split_args(it->second), config_.args);
    if (!diff.meaning.empty()) {
      refusal_ = fmt::format(
          "{}: the checkpoint was made by a run with other options:\n  {}\nthese change what is trained; resume "
          "with the checkpoint's values (options that may change on resume: {})",
          path, fmt::join(diff.meaning, "\n  "), fmt::join(resume_safe_options(), ", "));
      throw Error(refusal_);
    }
    refusal_ = model_changed_since(path, meta, config_.model, model_hash_, "resume with the original model file");
    if (!refusal_.empty()) throw Error(refusal_);
    changed_ = diff.safe;
  }

  void save_checkpoint(int64_t epoch, int64_t next_batch, const EpochState& state, const std::string& path) {
    std::map<std::string, std::string> entries = data_meta_;
    entries.insert({{kArgsKey, join_args(config_.args)},
                    {kModelHashKey, model_hash_},
                    {kEpochKey, std::to_string(epoch)},
                    {kBatchKey, std::to_string(next_batch)},
                    {kEpochStateKey, state.save()},
                    {kHistoryKey, history_.save()},
                    {kHistoryStridesKey, history_.save_strides()},
                    {kChangesKey, changes_},
                    {kFirstLossKey, fmt::format("{:.17g}", first_loss_)},
                    {kTrainSamplesKey, std::to_string(train_samples_)}});
    session().save_checkpoint(path, entries);
    unjudged_checkpoint_ = session().step();
    if (log_) log_->log_event("checkpoint", {{"path", path}, {"step", std::to_string(session().step())}});
  }

  // A checkpoint in --checkpoint-dir (none without one), then the oldest beyond
  // --keep-checkpoints removed.
  void checkpoint(int64_t epoch, int64_t next_batch, const EpochState& state) {
    if (config_.checkpoint_dir.empty()) return;
    const std::string path = (fs::path(config_.checkpoint_dir) / checkpoint_name(session().step())).string();
    save_checkpoint(epoch, next_batch, state, path);
    const auto all = checkpoints_in(config_.checkpoint_dir);
    for (size_t i = 0; i + config_.keep_checkpoints < all.size(); ++i) fs::remove(all[i]);
  }

  void plot() {
    if (!config_.plot_path.empty())
      write_svg_plot(config_.plot_path, history_.series, {fs::path(config_.model).filename().string()});
  }

  // One epoch from the loop's position; sets `stop` when the run's steps are done. Returns
  // 130 when interrupted (a checkpoint saved), else 0.
  int train_epoch(int64_t epoch, bool& stop) {
    const bool resumed_here = epoch == start_epoch_;
    const int64_t first_batch = resumed_here ? start_batch_ : 0;
    loader_->start_epoch(epoch, first_batch);
    EpochState state = resumed_here ? resumed_epoch_ : EpochState{};
    int64_t batch_index = first_batch;
    std::map<std::string, Tensor> batch;
    const auto epoch_start = std::chrono::steady_clock::now();
    int64_t epoch_samples = 0;
    for (;;) {
      if (stop) break;
      try {
        if (!loader_->next(batch)) break;
      } catch (const Error& e) {
        throw Error(bad_sample_met(e.what(), epoch, batch_index, state));
      }
      StepResult r;
      try {
        r = session().train_step(batch);
      } catch (const Error& e) {
        judge_checkpoint(NAN);
        throw Error(stopped(e.what(), batch, epoch, batch_index + 1));
      }
      if (std::isnan(first_loss_)) first_loss_ = r.loss;
      judge_checkpoint(r.loss);
      ++batch_index;
      const int64_t n = batch.begin()->second.dim(0);
      epoch_samples += n;
      samples_seen_ += n;
      state.totals.add(r.loss, n, run_.accuracy_of(r.outputs, batch));
      state.smoothed = std::isnan(state.smoothed) ? r.loss : 0.95 * state.smoothed + 0.05 * r.loss;
      if (r.stepped) {
        if (log_) {
          std::vector<std::pair<std::string, double>> extra;
          if (r.grad_norm) extra.emplace_back("grad_norm", *r.grad_norm);
          log_->log_step(r.step, epoch + 1, r.loss, r.learning_rate, extra);
        }
        history_.add(0, static_cast<double>(r.step), state.smoothed);
        if (config_.checkpoint_every > 0 && r.step % config_.checkpoint_every == 0)
          checkpoint(epoch, batch_index, state);
        stop = r.step >= total_steps_;
      }
      show_progress(epoch, batch_index, first_batch, epoch_start, epoch_samples, state);
      // Ctrl-C takes effect at the next optimizer-step boundary, so that the checkpoint holds
      // exactly the state an uninterrupted run has there (BatchNormalization statistics of a
      // half-done accumulation cannot be taken back).
      if (g_interrupted && session().pending_micro_batches() == 0) {
        progress_.finish();
        const std::string path = config_.checkpoint_dir.empty()
                                     ? fs::path(config_.model).stem().string() + ".interrupted.ckpt"
                                     : (fs::path(config_.checkpoint_dir) / checkpoint_name(session().step())).string();
        save_checkpoint(epoch, batch_index, state, path);
        progress_.message(
            fmt::format("interrupted: saved {} at step {}; continue with the same command and --resume={}", path,
                        session().step(), path));
        return 130;
      }
    }
    if (batch_index < batches_) {
      // --max-steps ended the run inside the epoch: the epoch is not over, so no validation,
      // no epoch line, no epoch checkpoint; the checkpoint records the next batch to train.
      progress_.finish();
      checkpoint(epoch, batch_index, state);
      std::string line =
          fmt::format("stopped at step {} (--max-steps {}) after batch {} of {} in epoch {}/{}", session().step(),
                      config_.max_steps, batch_index, batches_, epoch + 1, config_.epochs);
      if (!config_.checkpoint_dir.empty())
        line += fmt::format("; --resume continues from {}",
                            (fs::path(config_.checkpoint_dir) / checkpoint_name(session().step())).string());
      progress_.message(line);
      last_train_loss_ = state.totals.loss();
      end_epoch_ = epoch;
      end_batch_ = batch_index;
      end_state_ = state;
      validate_at_stop(epoch, batch_index, state);
      return 0;
    }
    end_epoch(epoch, state);
    stop = stop || session().step() >= total_steps_;
    return 0;
  }

  // The run ends inside an epoch (--max-steps): the validation split is evaluated once more so
  // that the run ends with a held-out score, said as taken inside the epoch. It is not an
  // epoch's validation: the log has it as a "validation_at_stop" event, not a per-epoch
  // val_loss record; the plot and checkpoints leave it out; and evaluating changes no state,
  // so a resumed run is unaffected.
  void validate_at_stop(int64_t epoch, int64_t batch_index, const EpochState& state) {
    if (!data_.val) return;
    last_val_ = evaluate(session(), run_, data_.val, config_.batch_size, val_drop_last_,
                         [&](const std::string& what) { return bad_sample_met(what, epoch, batch_index, state); });
    std::string line = fmt::format("validation at step {} (inside epoch {}/{}): val loss {:.4f}", session().step(),
                                   epoch + 1, config_.epochs, last_val_.loss());
    std::optional<double> acc;
    if (last_val_.accuracy() >= 0) {
      acc = last_val_.accuracy();
      line += fmt::format(", accuracy {:.2f}%", 100 * *acc);
    }
    progress_.message(line);
    if (log_) {
      std::vector<std::pair<std::string, std::string>> fields = {{"step", std::to_string(session().step())},
                                                                 {"loss", fmt::format("{:.9g}", last_val_.loss())}};
      if (acc) fields.emplace_back("accuracy", fmt::format("{:.9g}", *acc));
      log_->log_event("validation_at_stop", fields);
    }
  }

  // The epoch's last, partial accumulation, its line, validation, plot and checkpoint.
  void end_epoch(int64_t epoch, const EpochState& state) {
    if (session().pending_micro_batches() > 0) session().optimizer_step();
    last_train_loss_ = state.totals.loss();
    const double train_accuracy = state.totals.accuracy();
    const double x = static_cast<double>(session().step());
    std::string line = fmt::format("epoch {}/{}: train loss {:.4f}", epoch + 1, config_.epochs, last_train_loss_);
    if (train_accuracy >= 0) line += fmt::format(", accuracy {:.2f}%", 100 * train_accuracy);
    if (data_.val) {
      // A bad validation sample stops the run with the epoch's training done and nothing of
      // its end recorded yet: the checkpoint then resumes into this epoch's end.
      last_val_ = evaluate(session(), run_, data_.val, config_.batch_size, val_drop_last_,
                           [&](const std::string& what) { return bad_sample_met(what, epoch, batches_, state); });
      history_.add(1, x, last_val_.loss());
      if (last_val_.accuracy() >= 0) history_.add(3, x, last_val_.accuracy());
      line += fmt::format("; val loss {:.4f}", last_val_.loss());
      if (last_val_.accuracy() >= 0) line += fmt::format(", accuracy {:.2f}%", 100 * last_val_.accuracy());
      if (log_) {
        std::optional<double> acc;
        if (last_val_.accuracy() >= 0) acc = last_val_.accuracy();
        log_->log_validation(session().step(), epoch + 1, last_val_.loss(), acc);
      }
    }
    if (train_accuracy >= 0) history_.add(2, x, train_accuracy);
    progress_.finish();
    progress_.message(line);
    plot();
    checkpoint(epoch + 1, 0, EpochState{});
  }

  void show_progress(int64_t epoch, int64_t batch_index, int64_t first_batch,
                     std::chrono::steady_clock::time_point epoch_start, int64_t epoch_samples,
                     const EpochState& state) {
    const double elapsed = std::chrono::duration<double>(std::chrono::steady_clock::now() - epoch_start).count();
    StepStatus status;
    status.epoch = epoch + 1;
    status.epochs = config_.epochs;
    status.batch = batch_index;
    status.batches = batches_;
    status.step = session().step();
    status.total_steps = total_steps_;
    status.loss = state.smoothed;
    status.accuracy = state.totals.accuracy();
    status.lr = session().learning_rate();
    status.samples_per_second = elapsed > 0 ? epoch_samples / elapsed : 0;
    const double rate = elapsed > 0 ? (batch_index - first_batch) / elapsed : 0;
    // Batches left in this epoch, or fewer when --max-steps ends the run sooner.
    const int64_t left = std::min(batches_ - batch_index,
                                  (total_steps_ - session().step()) * accumulate_ - session().pending_micro_batches());
    status.eta_seconds = rate > 0 ? std::max<int64_t>(left, 0) / rate : -1;
    progress_.update(status);
  }

  // The message of a step that failed. The session refuses a NaN/Inf step before changing
  // anything ("nothing was updated"); when the batch holds extreme input values the data is
  // the cause and is named, else the advice is to resume from the last good checkpoint with
  // a lower learning rate or clipping (options a resume may change). Other errors pass as
  // they are.
  std::string stopped(const std::string& what, const std::map<std::string, Tensor>& batch, int64_t epoch,
                      int64_t batch_number) {
    progress_.finish();
    if (log_) log_->log_event("stopped", {{"reason", what}});
    if (what.find("nothing was updated") == std::string::npos) return what;
    const std::vector<std::string> extreme = extreme_samples(batch, *data_.train);
    if (!extreme.empty())
      return fmt::format(
          "{}: training stopped at step {}: the loss or its gradients became Inf or NaN on batch {} of epoch {}, "
          "whose inputs hold values far beyond any sensible range (|v| > {:.0e}, which overflow float32 in the "
          "model's sums):\n  {}\nthe data is the cause, not the learning rate: fix or remove these samples",
          config_.model, session().step() + 1, batch_number, epoch + 1, kExtremeInput, fmt::join(extreme, "\n  "));
    std::string last_good = "no checkpoint was written (use --checkpoint-dir to keep them)";
    if (!config_.checkpoint_dir.empty()) {
      const auto found = checkpoints_in(config_.checkpoint_dir);
      // Newest first, the checkpoints whose weights are known to have diverged are passed over:
      // resuming from one only meets the NaN again, whatever the learning rate.
      size_t good = found.size();
      for (size_t i = found.size(); i-- > 0;) {
        if (!diverged(step_of(found[i]))) {
          good = i;
          break;
        }
      }
      if (found.empty()) {
        last_good = fmt::format(
            "no checkpoint was written to {} before this step: start again with a lower --lr (or --clip-grad-norm)",
            config_.checkpoint_dir);
      } else if (good == found.size()) {
        last_good = fmt::format(
            "every checkpoint in {} holds weights that had already diverged (their loss was non-finite or past {} "
            "times the first step's, {:.4g}): start again with a lower --lr (or --clip-grad-norm), with a new "
            "--checkpoint-dir (or this one emptied)",
            config_.checkpoint_dir, kDivergedFactor, first_loss_);
      } else {
        last_good = fmt::format(
            "the last good checkpoint is {}; resume from it with a lower --lr (or --clip-grad-norm): --resume={}",
            found[good].string(), found[good].string());
        if (good + 1 < found.size())
          last_good += fmt::format(
              "\n(the newer checkpoints, from {} on, hold weights whose loss was already non-finite or past {} times "
              "the first step's, {:.4g})",
              found[good + 1].filename().string(), kDivergedFactor, first_loss_);
      }
    }
    return fmt::format("{}\n{}", what, last_good);
  }

  // The loss of the first step taken from the newest checkpoint's weights tells whether they
  // are good: the loss a checkpoint records was computed before its own update.
  void judge_checkpoint(double loss) {
    if (unjudged_checkpoint_ < 0) return;
    loss_after_checkpoint_[unjudged_checkpoint_] = loss;
    unjudged_checkpoint_ = -1;
  }

  // Whether the weights of the checkpoint at `step` are known to have diverged. Checkpoints
  // this process did not train from (an earlier run's, before the one resumed) count as good.
  bool diverged(int64_t step) const {
    const auto it = loss_after_checkpoint_.find(step);
    if (it == loss_after_checkpoint_.end()) return false;
    const double loss = it->second;
    if (!std::isfinite(loss)) return true;
    return std::isfinite(first_loss_) && first_loss_ > 0 && loss > kDivergedFactor * first_loss_;
  }

  static int64_t step_of(const fs::path& checkpoint) {
    // step-000000012.ckpt
    return std::strtoll(checkpoint.stem().string().substr(5).c_str(), nullptr, 10);
  }

  // The message of a bad sample the BatchLoader met in batch `next_batch` (counted from 0) of
  // `epoch`, the data being too large to read before the first step. Between optimizer steps,
  // a checkpoint (with --checkpoint-dir) records that batch as the next to train, so that the
  // run resumed with --skip-bad-samples goes on from it and trains what an uninterrupted run
  // with --skip-bad-samples does; in the middle of an accumulation, the last checkpoint is named.
  std::string bad_sample_met(const std::string& what, int64_t epoch, int64_t next_batch, const EpochState& state) {
    progress_.finish();
    if (log_) log_->log_event("stopped", {{"reason", what}});
    std::string resume_from;
    if (!config_.checkpoint_dir.empty() && run_.fixed_batch == 0) {
      if (session().pending_micro_batches() == 0) {
        try {
          checkpoint(epoch, next_batch, state);
          resume_from = (fs::path(config_.checkpoint_dir) / checkpoint_name(session().step())).string();
        } catch (const Error&) {
          // The bad sample is the message; a checkpoint that cannot be written leaves the last one.
        }
      }
      if (resume_from.empty()) {
        if (const auto found = checkpoints_in(config_.checkpoint_dir); !found.empty())
          resume_from = found.back().string();
      }
    }
    return streamed_bad_sample(what, run_.fixed_batch, resume_from);
  }

  // The final export failed (a full disk...): the training is not lost, and the message says
  // how to get the model from the checkpoint that holds it.
  std::string export_failure(const std::string& what) {
    std::string checkpoint;
    if (!config_.checkpoint_dir.empty()) {
      const auto found = checkpoints_in(config_.checkpoint_dir);
      if (!found.empty() && found.back().filename() == checkpoint_name(session().step()))
        checkpoint = found.back().string();
    }
    if (checkpoint.empty()) {
      // No checkpoint of the final state yet: try to write one beside the model's default.
      const std::string path = fs::path(config_.model).stem().string() + ".final.ckpt";
      try {
        save_checkpoint(end_epoch_, end_batch_, end_state_, path);
        checkpoint = path;
      } catch (const Error& e) {
        return fmt::format("{}\nthe trained weights could not be saved either ({}): the run's work is lost", what,
                           first_line(e.what()));
      }
    }
    return fmt::format(
        "{}\nthe training is not lost: {} holds its final state (step {}). Once there is room, write the model "
        "with:\n  onnx-train export {} -o {}",
        what, checkpoint, session().step(), checkpoint, exported_);
  }

  TrainConfig& config_;
  ProgressDisplay& progress_;
  CreatedFolders folders_;  // before lock_: the lock file goes first, then empty folders
  std::optional<CheckpointFolderLock> lock_;
  std::string exported_, model_hash_;

  Prepared run_;
  DataSplits data_;
  std::map<std::string, std::string> data_meta_;  // classes and preprocessing (data.* entries)
  int64_t train_samples_ = 0;                     // before any --skip-bad-samples leaves some out
  std::shared_ptr<BadSampleLog> bad_samples_;
  bool val_drop_last_ = false;
  std::unique_ptr<BatchLoader> loader_;
  int64_t batches_ = 0, accumulate_ = 1, steps_per_epoch_ = 0, total_steps_ = 0;

  std::string resume_path_, refusal_, changes_;
  std::map<std::string, std::string> resumed_;
  std::vector<std::string> changed_;
  int64_t start_epoch_ = 0, start_batch_ = 0;
  EpochState resumed_epoch_;

  std::unique_ptr<MetricsLog> log_;
  History history_;
  std::chrono::steady_clock::time_point run_start_;
  int64_t samples_seen_ = 0;
  EvalTotals last_val_;
  double last_train_loss_ = NAN;
  double first_loss_ = NAN;  // the loss of the run's first step (kFirstLossKey)
  // The loss of the first step taken from each checkpoint's weights, in this process; the
  // newest checkpoint waits for its step (-1: none waits).
  std::map<int64_t, double> loss_after_checkpoint_;
  int64_t unjudged_checkpoint_ = -1;
  // Where the run ended, for a checkpoint written after the loop: the end of the last epoch,
  // or the batch --max-steps stopped before.
  int64_t end_epoch_ = 0, end_batch_ = 0;
  EpochState end_state_;
};

}  // namespace

int train_command(const std::vector<std::string>& raw_args) {
  TrainConfig config = parse_train_args(raw_args);
  const bool terminal = ::isatty(STDOUT_FILENO) != 0;
  ProgressDisplay progress(stdout, terminal, config.quiet);
  try {
    TrainRun run(config, progress);
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
