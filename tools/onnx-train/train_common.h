// What the training, eval, graph and export commands share: building the session and the
// data fields from the options, the schedule, evaluation and accuracy.
#pragma once

#include <functional>
#include <map>
#include <memory>
#include <set>
#include <string>
#include <utility>
#include <vector>

#include "onnx_train/dataset.h"
#include "onnx_train/training_session.h"
#include "tools/onnx-train/train_options.h"

namespace onnx_train::cli {

// Loss and accuracy summed over batches, weighted by their sample counts.
struct EvalTotals {
  double loss_sum = 0;
  int64_t samples = 0;
  int64_t correct = 0, counted = 0;  // accuracy: predictions right / predictions scored
  void add(double loss, int64_t n, std::pair<int64_t, int64_t> correct_counted) {
    loss_sum += loss * static_cast<double>(n);
    samples += n;
    correct += correct_counted.first;
    counted += correct_counted.second;
  }
  double loss() const { return samples > 0 ? loss_sum / static_cast<double>(samples) : 0.0; }
  double accuracy() const { return counted > 0 ? static_cast<double>(correct) / static_cast<double>(counted) : -1.0; }
};

struct Prepared {
  std::unique_ptr<TrainingSession> session;
  std::vector<FieldSpec> fields;  // what the data must provide: the model inputs and the label
  size_t output = 0;              // the loss's output among session->outputs()
  int64_t fixed_batch = 0;        // > 0: the model was exported for batches of exactly this size
  enum class Scoring { None, Classes, Binary } scoring = Scoring::None;
  int64_t ignore_index = -100;
  int64_t class_axis = 1;  // Classes: the output's axis holding the classes (1 or its last)
  // (correct, scored) predictions of a batch: argmax over axis 1 for class losses, logit > 0
  // against label > 0.5 for BCE-with-logits; (0, 0) for regression or the model's own loss.
  std::pair<int64_t, int64_t> accuracy_of(const std::vector<Tensor>& outputs,
                                          const std::map<std::string, Tensor>& batch) const;
};

// The session for `config` (loss "none": the model's own loss output) and its data fields.
Prepared prepare_session(const TrainConfig& config);

// --schedule with the run's total steps, --warmup-steps and --lr filled in where the
// schedule takes them and the user did not give them; a step schedule without step_size
// decays once per epoch (steps_per_epoch).
ScheduleOptions make_schedule(const TrainConfig& config, int64_t total_steps, int64_t steps_per_epoch);

// A model exported with a fixed batch size takes only whole batches of that size: sets
// config.batch_size to it (an explicit --batch-size that differs is an Error) and returns
// whether a last, partial batch must be left out of `data` (saying so through `note`).
bool fit_fixed_batch(TrainConfig& config, const Prepared& run, const Dataset& data,
                     const std::function<void(const std::string&)>& note);

// The eval-form loss and accuracy over a whole dataset, in file order (without its last,
// partial batch when drop_last: a model with a fixed batch size). `bad_sample`, when given,
// makes the message of the Error thrown for a sample the BatchLoader cannot read or check
// (it gets that Error's message). `on_batch`, when given, sees each batch and its outputs
// (eval's confusion matrix). With `group` of several ranks, each evaluates its share of the
// data (BatchLoader::set_shard, no padding) and the totals are summed over the ranks.
using EvalBatchObserver = std::function<void(const EvalResult&, const std::map<std::string, Tensor>& batch)>;
EvalTotals evaluate(TrainingSession& session, const Prepared& run, std::shared_ptr<const Dataset> data,
                    int64_t batch_size, bool drop_last = false,
                    const std::function<std::string(const std::string&)>& bad_sample = nullptr,
                    const EvalBatchObserver& on_batch = nullptr, Communicator* group = nullptr);

// A note of TrainingSession::notes() as the command line says it: the session names its
// options as the API does ("freeze pattern '^layer' matches no parameter..."), the command
// line as the user typed them ("--freeze '^layer' matches no parameter...").
std::string cli_note(const std::string& note);

// The run's arguments as one string (for checkpoints), and back.
std::string join_args(const std::vector<std::string>& args);
std::vector<std::string> split_args(const std::string& joined);

// How a resumed run's arguments differ from those its checkpoint was made with.
// `safe`: options that may change on resume because the checkpoint's state means the same
// under them (learning rate, schedule, warm-up, clipping, epochs, max-steps, batch size,
// outputs, logging, checkpoint cadence, threads, data-reading workers, validation cadence,
// early stopping, best model, quiet): "--lr 0.5 -> 0.01". `meaning`: everything else (model,
// data, loss, optimizer kind, seed, freezing, accumulation...), which would make the continued
// run another training: "--seed: 1 in the checkpoint, 2 now".
// MODEL and DATA are compared as files (same_file), not as spellings.
struct ArgsDiff {
  std::vector<std::string> safe, meaning;
};
ArgsDiff compare_run_args(const std::vector<std::string>& checkpoint_args, const std::vector<std::string>& args);

// The options that may change on resume, as compare_run_args counts them (sorted).
const std::set<std::string>& resume_safe_options();

// Checkpoint metadata that training and `export CHECKPOINT` both read: the run's arguments and
// the content hash of its model file (file_content_hash in run_folder.h).
constexpr const char* kArgsKey = "cli.args";
constexpr const char* kModelHashKey = "cli.model_hash";

// "" when `model` (whose content hash is `model_hash`) is the file the checkpoint at
// `checkpoint` was trained from, or when the checkpoint records no hash (older ones); else the
// refusal, ending with `what_to_do`: the weights would otherwise go into another model.
std::string model_changed_since(const std::string& checkpoint, const std::map<std::string, std::string>& meta,
                                const std::string& model, const std::string& model_hash, const std::string& what_to_do);

// The model at `model` with the LoRA adapters of `adapter` merged in, for the commands that run a
// model from its file (run, predict): a private file removed when this goes; `path()` is `model`
// itself when `adapter` is "".
class MergedLoraModel {
 public:
  MergedLoraModel(const std::string& model, const std::string& adapter);
  ~MergedLoraModel();
  MergedLoraModel(const MergedLoraModel&) = delete;
  MergedLoraModel& operator=(const MergedLoraModel&) = delete;
  const std::string& path() const { return merged_.empty() ? model_ : merged_; }

 private:
  std::string model_, merged_;
};

}  // namespace onnx_train::cli
