// tools/onnx-train/checkpoint_observer.cc: checkpoints written, chosen after a failure, and
// found for --resume (checkpoint_observer.h).
#include "tools/onnx-train/checkpoint_observer.h"

#include <fmt/format.h>

#include <algorithm>
#include <cmath>
#include <cstdlib>
#include <filesystem>

#include "tools/onnx-train/train_common.h"
#include "tools/onnx-train/train_data.h"

namespace onnx_train::cli {

namespace fs = std::filesystem;

namespace {

// A checkpoint whose weights give a loss past kDivergedFactor times the run's first step's (or
// a non-finite one) is not offered as a good one to go back to after a NaN.
constexpr const char* kFirstLossKey = "cli.first_loss";
constexpr double kDivergedFactor = 10;

std::string checkpoint_name(int64_t step) { return fmt::format("step-{:09d}.ckpt", step); }

std::string checkpoint_in(const std::string& dir, int64_t step) {
  return (fs::path(dir) / checkpoint_name(step)).string();
}

// step-000000012.ckpt -> 12
int64_t step_of(const fs::path& checkpoint) {
  return std::strtoll(checkpoint.stem().string().substr(5).c_str(), nullptr, 10);
}

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

std::string first_line(const std::string& text) { return text.substr(0, text.find('\n')); }

}  // namespace

CheckpointObserver::CheckpointObserver(const TrainLoop& loop, const TrainConfig& config, RunRecord record,
                                       std::shared_ptr<const Dataset> train, int64_t fixed_batch, MetricsLog* log)
    : loop_(loop),
      config_(config),
      record_(std::move(record)),
      train_(std::move(train)),
      fixed_batch_(fixed_batch),
      log_(log) {}

void CheckpointObserver::on_batch(const StepEvent& event) {
  if (std::isnan(first_loss_)) first_loss_ = event.result.loss;
  judge_checkpoint(event.result.loss);
}

void CheckpointObserver::on_checkpoint(CheckpointEvent& event) {
  if (event.reason == CheckpointReason::Interrupted) {
    // Without a folder an interrupted run still leaves a checkpoint to resume from; it is not
    // one of the folder's rotation.
    event.written = config_.checkpoint_dir.empty() ? fs::path(config_.model).stem().string() + ".interrupted.ckpt"
                                                   : checkpoint_in(config_.checkpoint_dir, loop_.session().step());
    save(event.at, event.state, event.written);
    return;
  }
  event.written = save_in_folder(event.at, event.state);
}

void CheckpointObserver::on_failure(const FailureEvent& event, std::string& message) {
  if (event.kind == FailureKind::BadSample) {
    message = bad_sample_advice(event);
    return;
  }
  judge_checkpoint(NAN);
  if (event.kind == FailureKind::NonFiniteStep) message = non_finite_advice(event);
}

void CheckpointObserver::save_state(CheckpointEntries& entries) const {
  entries.insert(record_.data_meta.begin(), record_.data_meta.end());
  entries.insert({{kArgsKey, join_args(record_.args)},
                  {kModelHashKey, record_.model_hash},
                  {kChangesKey, record_.changes},
                  {kFirstLossKey, fmt::format("{:.17g}", first_loss_)},
                  {kTrainSamplesKey, std::to_string(record_.train_samples)}});
}

void CheckpointObserver::load_state(const CheckpointEntries& entries) {
  if (const auto it = entries.find(kFirstLossKey); it != entries.end())
    first_loss_ = std::strtod(it->second.c_str(), nullptr);
  // The first step from here tells whether the resumed weights are good.
  unjudged_checkpoint_ = loop_.session().step();
}

void CheckpointObserver::save(LoopPosition at, const EpochState& state, const std::string& path) {
  loop_.session().save_checkpoint(path, loop_.checkpoint_entries(at, state));
  const int64_t step = loop_.session().step();
  unjudged_checkpoint_ = step;
  if (log_) log_->log_event("checkpoint", {{"path", path}, {"step", step}});
}

// A checkpoint in --checkpoint-dir (none without one: ""), then the oldest beyond
// --keep-checkpoints removed.
std::string CheckpointObserver::save_in_folder(LoopPosition at, const EpochState& state) {
  if (config_.checkpoint_dir.empty()) return "";
  const std::string path = checkpoint_in(config_.checkpoint_dir, loop_.session().step());
  save(at, state, path);
  const auto all = checkpoints_in(config_.checkpoint_dir);
  for (size_t i = 0; i + config_.keep_checkpoints < all.size(); ++i) {
    fs::remove(all[i]);
    // Its external data "<checkpoint>.data", if it was written with some (a large model's;
    // importers/checkpoint_file.h).
    std::error_code none;
    fs::remove(all[i].string() + ".data", none);
  }
  return path;
}

// The loss of the first step taken from the newest checkpoint's weights tells whether they
// are good: the loss a checkpoint records was computed before its own update.
void CheckpointObserver::judge_checkpoint(double loss) {
  if (unjudged_checkpoint_ < 0) return;
  loss_after_checkpoint_[unjudged_checkpoint_] = loss;
  unjudged_checkpoint_ = -1;
}

// Whether the weights of the checkpoint at `step` are known to have diverged. Checkpoints
// this process did not train from (an earlier run's, before the one resumed) count as good.
bool CheckpointObserver::diverged(int64_t step) const {
  const auto it = loss_after_checkpoint_.find(step);
  if (it == loss_after_checkpoint_.end()) return false;
  const double loss = it->second;
  if (!std::isfinite(loss)) return true;
  return std::isfinite(first_loss_) && first_loss_ > 0 && loss > kDivergedFactor * first_loss_;
}

// The session refused a NaN/Inf step before changing anything. When the batch holds extreme
// input values the data is the cause and is named; else the advice is to resume from the last
// good checkpoint with a lower learning rate or clipping (options a resume may change).
std::string CheckpointObserver::non_finite_advice(const FailureEvent& event) const {
  const std::vector<std::string> extreme = extreme_samples(*event.batch, *train_);
  if (!extreme.empty()) {
    // The session's trace of the node where the values first went non-finite, kept.
    const size_t trace = event.what.find("\nfirst non-finite value:");
    return fmt::format(
        "{}: training stopped at step {}: the loss or its gradients became Inf or NaN on batch {} of epoch {}, "
        "whose inputs hold values far beyond any sensible range (|v| > {:.0e}, which overflow float32 in the "
        "model's sums):\n  {}\nthe data is the cause, not the learning rate: fix or remove these samples{}",
        config_.model, loop_.session().step() + 1, event.at.batch + 1, event.at.epoch + 1, kExtremeInput,
        fmt::join(extreme, "\n  "), trace == std::string::npos ? "" : event.what.substr(trace));
  }
  return fmt::format("{}\n{}", event.what, last_good_checkpoint());
}

// Which checkpoint to go back to after a NaN: newest first, those whose weights are known to
// have diverged are passed over (resuming from one only meets the NaN again, whatever the
// learning rate).
std::string CheckpointObserver::last_good_checkpoint() const {
  if (config_.checkpoint_dir.empty()) return "no checkpoint was written (use --checkpoint-dir to keep them)";
  const auto found = checkpoints_in(config_.checkpoint_dir);
  if (found.empty())
    return fmt::format(
        "no checkpoint was written to {} before this step: start again with a lower --lr (or --clip-grad-norm)",
        config_.checkpoint_dir);
  size_t good = found.size();
  for (size_t i = found.size(); i-- > 0;) {
    if (!diverged(step_of(found[i]))) {
      good = i;
      break;
    }
  }
  if (good == found.size())
    return fmt::format(
        "every checkpoint in {} holds weights that had already diverged (their loss was non-finite or past {} "
        "times the first step's, {:.4g}): start again with a lower --lr (or --clip-grad-norm), with a new "
        "--checkpoint-dir (or this one emptied)",
        config_.checkpoint_dir, kDivergedFactor, first_loss_);
  std::string advice =
      fmt::format("the last good checkpoint is {}; resume from it with a lower --lr (or --clip-grad-norm): --resume={}",
                  found[good].string(), found[good].string());
  if (good + 1 < found.size())
    advice += fmt::format(
        "\n(the newer checkpoints, from {} on, hold weights whose loss was already non-finite or past {} times "
        "the first step's, {:.4g})",
        found[good + 1].filename().string(), kDivergedFactor, first_loss_);
  return advice;
}

// A bad sample met while the data streams (too large to read before the first step). Between
// optimizer steps, a checkpoint (with --checkpoint-dir) records its batch as the next to train,
// so that the run resumed with --skip-bad-samples goes on from it and trains what an
// uninterrupted run with --skip-bad-samples does; in the middle of an accumulation, the last
// checkpoint is named.
std::string CheckpointObserver::bad_sample_advice(const FailureEvent& event) {
  std::string resume_from;
  if (!config_.checkpoint_dir.empty() && fixed_batch_ == 0) {
    if (loop_.session().pending_micro_batches() == 0) {
      try {
        resume_from = save_in_folder(event.at, event.state);
      } catch (const Error&) {
        // The bad sample is the message; a checkpoint that cannot be written leaves the last one.
      }
    }
    if (resume_from.empty()) {
      if (const auto found = checkpoints_in(config_.checkpoint_dir); !found.empty())
        resume_from = found.back().string();
    }
  }
  return streamed_bad_sample(event.what, fixed_batch_, resume_from);
}

std::string CheckpointObserver::export_failure(const std::string& what, const std::string& exported) {
  const int64_t step = loop_.session().step();
  std::string checkpoint;
  if (!config_.checkpoint_dir.empty()) {
    const auto found = checkpoints_in(config_.checkpoint_dir);
    if (!found.empty() && found.back().filename() == checkpoint_name(step)) checkpoint = found.back().string();
  }
  if (checkpoint.empty()) {
    // No checkpoint of the final state yet: try to write one beside the model's default.
    const std::string path = fs::path(config_.model).stem().string() + ".final.ckpt";
    try {
      save(loop_.end(), loop_.end_state(), path);
      checkpoint = path;
    } catch (const Error& e) {
      return fmt::format("{}\nthe trained weights could not be saved either ({}): the run's work is lost", what,
                         first_line(e.what()));
    }
  }
  return fmt::format(
      "{}\nthe training is not lost: {} holds its final state (step {}). Once there is room, write the model "
      "with:\n  onnx-train export {} -o {}",
      what, checkpoint, step, checkpoint, exported);
}

namespace {

// "" when the checkpoint at `path` (its metadata `meta`) was made by this training; else why
// not: options that change what is trained, or another model file. `changed`: the options
// that changed safely.
std::string refusal(const std::string& path, const CheckpointEntries& meta, const TrainConfig& config,
                    const std::string& model_hash, std::vector<std::string>& changed) {
  const auto it = meta.find(kArgsKey);
  OT_CHECK(it != meta.end(), "{}: not a checkpoint of `onnx-train MODEL DATA` (it has no run arguments)", path);
  const ArgsDiff diff = compare_run_args(split_args(it->second), config.args);
  if (!diff.meaning.empty())
    return fmt::format(
        "{}: the checkpoint was made by a run with other options:\n  {}\nthese change what is trained; resume "
        "with the checkpoint's values (options that may change on resume: {})",
        path, fmt::join(diff.meaning, "\n  "), fmt::join(resume_safe_options(), ", "));
  changed = diff.safe;
  return model_changed_since(path, meta, config.model, model_hash, "resume with the original model file");
}

// A checkpoint made before positions were kept in samples stopped after cli.batch batches of
// its run's batch size: that position in samples, for a run resumed with another batch size
// (with the same one, cli.batch says it already).
void add_epoch_sample(CheckpointEntries& meta, const TrainConfig& config) {
  if (meta.count(kEpochSampleKey)) return;
  const std::vector<std::string> args = split_args(meta.at(kArgsKey));
  int64_t batch_size = TrainConfig{}.batch_size;
  for (size_t i = 0; i + 1 < args.size(); ++i)
    if (args[i] == "--batch-size") batch_size = std::stoll(args[i + 1]);
  if (batch_size != config.batch_size) meta[kEpochSampleKey] = std::to_string(position_of(meta).batch * batch_size);
}

// The checkpoints --resume may go on from, newest first (empty: none yet).
std::vector<std::string> resume_candidates(const TrainConfig& config) {
  if (!config.resume->empty()) return {*config.resume};
  OT_CHECK(!config.checkpoint_dir.empty(), "--resume without a CHECKPOINT needs --checkpoint-dir to look in");
  std::vector<std::string> candidates;
  for (const auto& p : checkpoints_in(config.checkpoint_dir)) candidates.insert(candidates.begin(), p.string());
  return candidates;
}

}  // namespace

std::optional<ResumePoint> find_resume_point(const TrainConfig& config, TrainingSession& session,
                                             const std::string& model_hash,
                                             const std::function<void(const std::string&)>& say) {
  const std::vector<std::string> candidates = resume_candidates(config);
  if (candidates.empty()) {
    // So that scripts can always pass --resume: the first run of a folder starts afresh.
    say(fmt::format("--resume: {} holds no checkpoint yet; starting a new run", config.checkpoint_dir));
    return std::nullopt;
  }
  const bool explicit_path = !config.resume->empty();
  for (size_t i = 0; i < candidates.size(); ++i) {
    ResumePoint point{candidates[i], {}, {}};
    std::string refused;
    try {
      const CheckpointEntries meta = TrainingSession::read_checkpoint_metadata(point.path);
      refused = refusal(point.path, meta, config, model_hash, point.changed);
      if (refused.empty()) {
        point.metadata = session.load_checkpoint(point.path);
        add_epoch_sample(point.metadata, config);
      }
    } catch (const Error& e) {
      // Only a damaged checkpoint is passed over, and only when the folder was searched: a
      // refusal (other options, another model) is the answer, not a reason to go back further,
      // and a checkpoint named on the command line is the one wanted.
      if (explicit_path || i + 1 == candidates.size()) throw;
      say(fmt::format("{} cannot be read ({}); resuming from the previous checkpoint, {}", point.path,
                      first_line(e.what()), candidates[i + 1]));
      continue;
    }
    if (!refused.empty()) throw Error(refused);
    return point;
  }
  return std::nullopt;  // not reached: the last candidate resumes or throws
}

}  // namespace onnx_train::cli
