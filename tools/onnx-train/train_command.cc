// onnx-train MODEL.onnx DATA_DIR: the training loop around a TrainingSession.
//
// Per epoch: batches from the BatchLoader (shuffled by seed and epoch), one train_step each
// (the session steps the optimizer every --accumulate batches), progress and the JSON log
// per step, checkpoints every --checkpoint-every steps; at the epoch's end a partial
// accumulation is stepped, the validation split is evaluated, the plot rewritten and a
// checkpoint written. At the end the trained model is exported.
//
// Resuming: a checkpoint holds, besides the session's state, the arguments of the run
// (cli.args), the position in the data (cli.epoch, cli.batch: the next batch to train on)
// and the history for the plot. Because the batch order is a pure function of (seed,
// epoch), a resumed run sees exactly the batches the uninterrupted run would have, and ends
// with the same weights. Checkpoints are only taken between optimizer steps; Ctrl-C waits
// for the current accumulation to finish.
#include <fmt/format.h>
#include <omp.h>
#include <unistd.h>

#include <atomic>
#include <chrono>
#include <cmath>
#include <csignal>
#include <filesystem>
#include <iostream>
#include <sstream>

#include "importers/data/dataset.h"
#include "tools/onnx-train/commands.h"
#include "tools/onnx-train/metrics_log.h"
#include "tools/onnx-train/plot.h"
#include "tools/onnx-train/progress.h"
#include "tools/onnx-train/train_common.h"
#include "tools/onnx-train/train_data.h"
#include "tools/onnx-train/train_options.h"

namespace onnx_train::cli {

namespace fs = std::filesystem;

namespace {

std::atomic<bool> g_interrupted{false};

extern "C" void on_interrupt(int) { g_interrupted = true; }

constexpr const char* kArgsKey = "cli.args";
constexpr const char* kEpochKey = "cli.epoch";
constexpr const char* kBatchKey = "cli.batch";
constexpr const char* kHistoryKey = "cli.history";

// Loss and accuracy points for the plot, kept in checkpoints as text lines
// "<series> <x> <y>".
struct History {
  std::vector<PlotSeries> series = {
      {"train loss", {}, false}, {"val loss", {}, false}, {"train accuracy", {}, true}, {"val accuracy", {}, true}};
  void add(size_t s, double x, double y) { series[s].points.emplace_back(x, y); }
  std::string save() const {
    std::ostringstream out;
    out.precision(17);
    for (size_t s = 0; s < series.size(); ++s) {
      for (const auto& [x, y] : series[s].points) out << s << ' ' << x << ' ' << y << '\n';
    }
    return out.str();
  }
  void load(const std::string& text) {
    std::istringstream in(text);
    size_t s;
    double x, y;
    while (in >> s >> x >> y) {
      if (s < series.size()) add(s, x, y);
    }
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

}  // namespace

int train_command(const std::vector<std::string>& raw_args) {
  TrainConfig config = parse_train_args(raw_args);
  if (config.threads > 0) omp_set_num_threads(config.threads);
  const bool terminal = ::isatty(STDOUT_FILENO) != 0;
  ProgressDisplay progress(stdout, terminal, config.quiet);

  // Resuming: the checkpoint's run arguments must describe the same training.
  std::string resume_path;
  std::map<std::string, std::string> resumed;
  if (config.resume) {
    resume_path = *config.resume;
    if (resume_path.empty()) {
      OT_CHECK(!config.checkpoint_dir.empty(), "--resume without a CHECKPOINT needs --checkpoint-dir to look in");
      const auto found = checkpoints_in(config.checkpoint_dir);
      OT_CHECK(!found.empty(), "--resume: {} holds no checkpoint (step-*.ckpt)", config.checkpoint_dir);
      resume_path = found.back().string();
    }
    const auto meta = TrainingSession::read_checkpoint_metadata(resume_path);
    auto it = meta.find(kArgsKey);
    OT_CHECK(it != meta.end(), "{}: not a checkpoint of `onnx-train MODEL DATA` (it has no run arguments)",
             resume_path);
    OT_CHECK(resume_key(split_args(it->second)) == resume_key(config.args),
             "{}: the checkpoint was made by a run with other options:\n  {}\nthis run:\n  {}\nresume with the same "
             "model, data and training options",
             resume_path, resume_key(split_args(it->second)), resume_key(config.args));
  }

  Prepared run = prepare_session(config);
  TrainingSession& session = *run.session;
  // What the session changed in the model or found wrong with it, and what it trains.
  for (const auto& note : session.notes()) progress.message("note: " + note);
  const ParameterCounts counts = session.parameter_counts();
  progress.message(fmt::format("parameters: {} tensors ({} values) trained, {} tensors ({} values) frozen",
                               counts.trainable_tensors, counts.trainable_values, counts.frozen_tensors,
                               counts.frozen_values));
  DataOptions data_options;
  data_options.mean = config.mean;
  data_options.std = config.std;
  // A resumed run keeps the classes it started with: a class folder added since is an error.
  if (!resume_path.empty()) {
    DataOptions stored = data_options_from_metadata(TrainingSession::read_checkpoint_metadata(resume_path),
                                                    "the checkpoint " + resume_path);
    data_options.classes = std::move(stored.classes);
    data_options.classes_from = std::move(stored.classes_from);
  }
  DataSplits data = open_data(config.data, run.fields, data_options);
  if (!data.val && config.val_split > 0) data = split_validation(data.train, config.val_split, config.training.seed);
  progress.message(fmt::format("train: {}", data.train->describe()));
  if (data.val) progress.message(fmt::format("val:   {}", data.val->describe()));
  // The classes and preprocessing, for checkpoints and the exported model.
  const std::map<std::string, std::string> data_meta = data_metadata(*data.train, data_options);

  auto note = [&](const std::string& line) { progress.message(line); };
  const std::shared_ptr<BadSampleLog> bad_samples = check_data(data, config.skip_bad_samples, run.fixed_batch, note);
  const bool drop_last = fit_fixed_batch(config, run, *data.train, note);
  const bool val_drop_last = data.val && run.fixed_batch > 0 && fit_fixed_batch(config, run, *data.val, note);
  BatchLoader loader(data.train, config.batch_size, config.shuffle, config.training.seed, drop_last);
  const int64_t batches = loader.batches_per_epoch();
  OT_CHECK(batches > 0, "{}: {} training samples make no batch of {} (with --drop-last)", config.data,
           data.train->size(), config.batch_size);
  const int64_t accumulate = std::max(config.training.accumulation_steps, 1);
  const int64_t steps_per_epoch = (batches + accumulate - 1) / accumulate;
  int64_t total_steps = steps_per_epoch * config.epochs;
  if (config.max_steps > 0) total_steps = std::min(total_steps, config.max_steps);
  session.set_schedule(make_schedule(config, total_steps, steps_per_epoch));

  int64_t start_epoch = 0, start_batch = 0;
  History history;
  if (config.resume) {
    resumed = session.load_checkpoint(resume_path);
    start_epoch = std::stoll(resumed.at(kEpochKey));
    start_batch = std::stoll(resumed.at(kBatchKey));
    history.load(resumed[kHistoryKey]);
    progress.message(fmt::format("resumed from {}: step {}, epoch {}, batch {}", resume_path, session.step(),
                                 start_epoch + 1, start_batch));
  }
  // Every output folder exists before training starts, so nothing is lost at the end.
  if (!config.checkpoint_dir.empty()) fs::create_directories(config.checkpoint_dir);
  for (const std::string* out :
       {&config.export_path, &config.export_training_path, &config.log_path, &config.plot_path}) {
    const fs::path parent = fs::path(*out).parent_path();
    std::error_code ec;
    if (!out->empty() && !parent.empty()) fs::create_directories(parent, ec);
    OT_CHECK(!ec, "cannot create the folder {} for {}: {}", parent.string(), *out, ec.message());
  }
  std::unique_ptr<MetricsLog> log;
  if (!config.log_path.empty())
    log = std::make_unique<MetricsLog>(config.log_path, /*append=*/config.resume.has_value());

  auto save_checkpoint = [&](int64_t epoch, int64_t next_batch, const std::string& path) {
    std::map<std::string, std::string> extra = data_meta;
    extra.insert({{kArgsKey, join_args(config.args)},
                  {kEpochKey, std::to_string(epoch)},
                  {kBatchKey, std::to_string(next_batch)},
                  {kHistoryKey, history.save()}});
    session.save_checkpoint(path, extra);
    if (log) log->log_event("checkpoint", {{"path", path}, {"step", std::to_string(session.step())}});
  };
  auto checkpoint = [&](int64_t epoch, int64_t next_batch) {
    if (config.checkpoint_dir.empty()) return;
    const std::string path = (fs::path(config.checkpoint_dir) / checkpoint_name(session.step())).string();
    save_checkpoint(epoch, next_batch, path);
    const auto all = checkpoints_in(config.checkpoint_dir);
    for (size_t i = 0; i + config.keep_checkpoints < all.size(); ++i) fs::remove(all[i]);
  };
  auto plot = [&]() {
    if (!config.plot_path.empty())
      write_svg_plot(config.plot_path, history.series, {fs::path(config.model).filename().string()});
  };

  g_interrupted = false;
  std::signal(SIGINT, on_interrupt);
  std::signal(SIGTERM, on_interrupt);
  const auto run_start = std::chrono::steady_clock::now();
  int64_t samples_seen = 0;
  bool stop = session.step() >= total_steps;
  EvalTotals last_val;
  double last_train_loss = NAN, last_train_accuracy = -1;
  for (int64_t epoch = start_epoch; epoch < config.epochs && !stop; ++epoch) {
    loader.start_epoch(epoch, epoch == start_epoch ? start_batch : 0);
    EvalTotals epoch_totals;
    double smoothed = NAN;
    int64_t batch_index = epoch == start_epoch ? start_batch : 0;
    std::map<std::string, Tensor> batch;
    const auto epoch_start = std::chrono::steady_clock::now();
    int64_t epoch_samples = 0;
    while (!stop && loader.next(batch)) {
      StepResult r;
      try {
        r = session.train_step(batch);
      } catch (const Error& e) {
        progress.finish();
        if (log) log->log_event("stopped", {{"reason", e.what()}});
        // The session refuses a NaN/Inf step before changing anything ("nothing was
        // updated"): point at the last good checkpoint. Other errors are about the batch.
        if (std::string(e.what()).find("nothing was updated") == std::string::npos) throw;
        std::string last_good = "no checkpoint was written (use --checkpoint-dir to keep them)";
        if (!config.checkpoint_dir.empty()) {
          const auto found = checkpoints_in(config.checkpoint_dir);
          if (!found.empty())
            last_good = fmt::format(
                "the last good checkpoint is {}; resume from it with a lower --lr (or "
                "--clip-grad-norm): --resume={}",
                found.back().string(), found.back().string());
        }
        throw Error(fmt::format("{}\n{}", e.what(), last_good));
      }
      ++batch_index;
      const int64_t n = batch.begin()->second.dim(0);
      epoch_samples += n;
      samples_seen += n;
      epoch_totals.add(r.loss, n, run.accuracy_of(r.outputs, batch));
      smoothed = std::isnan(smoothed) ? r.loss : 0.95 * smoothed + 0.05 * r.loss;
      if (r.stepped) {
        if (log) {
          std::vector<std::pair<std::string, double>> extra;
          if (r.grad_norm) extra.emplace_back("grad_norm", *r.grad_norm);
          log->log_step(r.step, epoch + 1, r.loss, r.learning_rate, extra);
        }
        history.add(0, static_cast<double>(r.step), smoothed);
        if (config.checkpoint_every > 0 && r.step % config.checkpoint_every == 0) checkpoint(epoch, batch_index);
        stop = r.step >= total_steps;
      }
      const double elapsed = std::chrono::duration<double>(std::chrono::steady_clock::now() - epoch_start).count();
      StepStatus status;
      status.epoch = epoch + 1;
      status.epochs = config.epochs;
      status.batch = batch_index;
      status.batches = batches;
      status.step = session.step();
      status.total_steps = total_steps;
      status.loss = smoothed;
      status.accuracy = epoch_totals.accuracy();
      status.lr = session.learning_rate();
      status.samples_per_second = elapsed > 0 ? epoch_samples / elapsed : 0;
      const double rate = elapsed > 0 ? (batch_index - (epoch == start_epoch ? start_batch : 0)) / elapsed : 0;
      // Batches left in this epoch, or fewer when --max-steps ends the run sooner.
      const int64_t left = std::min(batches - batch_index,
                                    (total_steps - session.step()) * accumulate - session.pending_micro_batches());
      status.eta_seconds = rate > 0 ? std::max<int64_t>(left, 0) / rate : -1;
      progress.update(status);
      // Ctrl-C takes effect at the next optimizer-step boundary, so that the checkpoint holds
      // exactly the state an uninterrupted run has there (BatchNormalization statistics of a
      // half-done accumulation cannot be taken back).
      if (g_interrupted && session.pending_micro_batches() == 0) {
        progress.finish();
        const std::string path = config.checkpoint_dir.empty()
                                     ? fs::path(config.model).stem().string() + ".interrupted.ckpt"
                                     : (fs::path(config.checkpoint_dir) / checkpoint_name(session.step())).string();
        save_checkpoint(epoch, batch_index, path);
        progress.message(fmt::format("interrupted: saved {} at step {}; continue with the same command and --resume={}",
                                     path, session.step(), path));
        return 130;
      }
    }
    if (session.pending_micro_batches() > 0) session.optimizer_step();  // the epoch's last, partial accumulation
    last_train_loss = epoch_totals.loss();
    last_train_accuracy = epoch_totals.accuracy();
    const double x = static_cast<double>(session.step());
    if (last_train_accuracy >= 0) history.add(2, x, last_train_accuracy);
    std::string line = fmt::format("epoch {}/{}: train loss {:.4f}", epoch + 1, config.epochs, last_train_loss);
    if (last_train_accuracy >= 0) line += fmt::format(", accuracy {:.2f}%", 100 * last_train_accuracy);
    if (data.val) {
      last_val = evaluate(session, run, data.val, config.batch_size, val_drop_last);
      history.add(1, x, last_val.loss());
      if (last_val.accuracy() >= 0) history.add(3, x, last_val.accuracy());
      line += fmt::format("; val loss {:.4f}", last_val.loss());
      if (last_val.accuracy() >= 0) line += fmt::format(", accuracy {:.2f}%", 100 * last_val.accuracy());
      if (log) {
        std::optional<double> acc;
        if (last_val.accuracy() >= 0) acc = last_val.accuracy();
        log->log_validation(session.step(), epoch + 1, last_val.loss(), acc);
      }
    }
    progress.finish();
    progress.message(line);
    plot();
    checkpoint(epoch + 1, 0);
  }
  progress.finish();
  std::signal(SIGINT, SIG_DFL);
  std::signal(SIGTERM, SIG_DFL);

  const std::string exported =
      config.export_path.empty() ? fs::path(config.model).stem().string() + ".trained.onnx" : config.export_path;
  session.export_model(exported, data_meta);
  if (!config.export_training_path.empty()) session.export_training_model(config.export_training_path);
  const double seconds = std::chrono::duration<double>(std::chrono::steady_clock::now() - run_start).count();
  std::string summary = fmt::format("done: {} steps in {}, {:.0f} samples/s", session.step(), format_duration(seconds),
                                    seconds > 0 ? samples_seen / seconds : 0.0);
  if (!std::isnan(last_train_loss)) summary += fmt::format("; train loss {:.4f}", last_train_loss);
  if (data.val) {
    summary += fmt::format("; val loss {:.4f}", last_val.loss());
    if (last_val.accuracy() >= 0) summary += fmt::format(", val accuracy {:.2f}%", 100 * last_val.accuracy());
  }
  progress.message(summary);
  if (bad_samples && bad_samples->count() > 0) progress.message(bad_samples_report(*bad_samples));
  progress.message(fmt::format("wrote {}", exported));
  if (!config.export_training_path.empty()) progress.message(fmt::format("wrote {}", config.export_training_path));
  if (!config.plot_path.empty()) progress.message(fmt::format("wrote {}", config.plot_path));
  return 0;
}

}  // namespace onnx_train::cli
