// tools/onnx-train/checkpoint_observer.h: the checkpoints of a training run, attached to the
// TrainLoop: written when the loop says one is due (into --checkpoint-dir, the oldest beyond
// --keep-checkpoints removed; an interrupt without a folder writes MODEL.interrupted.ckpt), and
// what a run that fails is told to go back to: after a NaN, the newest checkpoint whose weights
// had not diverged (or the data named, when its values are extreme); after a bad sample, the
// checkpoint a run with --skip-bad-samples resumes from; after a failed export, the checkpoint
// that holds the trained weights. Also where a --resume starts: the newest readable checkpoint
// made by the same training.
//
// A checkpoint holds, besides the session's state and the loop's position, the arguments of
// the run (cli.args, MODEL and DATA as absolute paths, and cli.model_hash), the options changed
// on resume (cli.changes), the loss of the run's first step (cli.first_loss) and the number of
// training samples it was started on (cli.train_samples), plus the data's classes and
// preprocessing (data.*).
#pragma once

#include <functional>
#include <map>
#include <memory>
#include <optional>
#include <string>
#include <vector>

#include "tools/onnx-train/metrics_log.h"
#include "tools/onnx-train/train_loop.h"
#include "tools/onnx-train/train_options.h"

namespace onnx_train::cli {

constexpr const char* kChangesKey = "cli.changes";
// The number of training samples the run was started on. The checkpoint's batch position and
// shuffle order refer to that data; resumed on a data folder that lost or gained samples, the
// run would go on silently with other batches and another step count.
constexpr const char* kTrainSamplesKey = "cli.train_samples";

// What every checkpoint of a run records about the run itself.
struct RunRecord {
  std::vector<std::string> args;  // MODEL and DATA absolute
  std::string model_hash;
  std::string changes;  // a line per resume that changed options: "step 40: --lr 0.1 -> 0.01"
  int64_t train_samples = 0;
  std::map<std::string, std::string> data_meta;  // data.* entries
};

class CheckpointObserver : public TrainLoopObserver {
 public:
  // `train`: the training split (to name extreme samples after a NaN); `fixed_batch` > 0: the
  // model takes batches of exactly that size (no resume with --skip-bad-samples); `log`: where
  // "checkpoint" events go (null: nowhere).
  CheckpointObserver(const TrainLoop& loop, const TrainConfig& config, RunRecord record,
                     std::shared_ptr<const Dataset> train, int64_t fixed_batch, MetricsLog* log);

  void on_batch(const StepEvent& event) override;
  void on_checkpoint(CheckpointEvent& event) override;
  void on_failure(const FailureEvent& event, std::string& message) override;
  void save_state(CheckpointEntries& entries) const override;
  void load_state(const CheckpointEntries& entries) override;

  // The message of a final export that failed (`what`, a full disk...): the training is not
  // lost, and it says how to get `exported` from the checkpoint that holds it (written now,
  // beside the model, when --checkpoint-dir has none of the final state).
  std::string export_failure(const std::string& what, const std::string& exported);

 private:
  void save(LoopPosition at, const EpochState& state, const std::string& path);
  std::string save_in_folder(LoopPosition at, const EpochState& state);
  void judge_checkpoint(double loss);
  bool diverged(int64_t step) const;
  std::string non_finite_advice(const FailureEvent& event) const;
  std::string last_good_checkpoint() const;
  std::string bad_sample_advice(const FailureEvent& event);

  const TrainLoop& loop_;
  const TrainConfig& config_;
  RunRecord record_;
  std::shared_ptr<const Dataset> train_;
  int64_t fixed_batch_;
  MetricsLog* log_;
  double first_loss_ = NAN;  // the loss of the run's first step, kept across resumes
  // The loss of the first step taken from each checkpoint's weights, in this process; the
  // newest checkpoint waits for its step (-1: none waits).
  std::map<int64_t, double> loss_after_checkpoint_;
  int64_t unjudged_checkpoint_ = -1;
};

// The checkpoint a --resume goes on from, its session state loaded into `session`.
struct ResumePoint {
  std::string path;
  CheckpointEntries metadata;
  std::vector<std::string> changed;  // options changed safely: "--lr 0.1 -> 0.01"
};

// --resume: the checkpoint it names, or the newest in --checkpoint-dir, passing over damaged
// ones (said through `say`); nullopt when the folder holds none yet (a new run starts). A
// checkpoint of another training (options that change what is trained, another model file:
// `model_hash` is the model's content hash) is refused with an Error.
std::optional<ResumePoint> find_resume_point(const TrainConfig& config, TrainingSession& session,
                                             const std::string& model_hash,
                                             const std::function<void(const std::string&)>& say);

}  // namespace onnx_train::cli
