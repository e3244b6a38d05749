// tools/onnx-train/train_loop.h: the training loop of `onnx-train MODEL DATA` and the hooks that
// everything around it attaches to. It prints nothing and writes no file.
//
// The loop owns where the run is and what comes next: epochs, batches (from a BatchLoader,
// shuffled by seed and epoch), one TrainingSession::train_step per micro-batch (the session
// steps the optimizer every --accumulate of them), the partial accumulation an epoch ends
// with, --max-steps, the validation at each epoch's end (and every --eval-every optimizer
// steps, and once more when --max-steps stops the run inside an epoch), early stopping (an
// observer asks for it after a validation), when a checkpoint is due, and the position a
// resumed run starts from. What is shown, logged, plotted or saved is done by observers
// attached to it:
//
//   TrainLoop loop(run, loader, plan, validate);
//   MetricsLogObserver log(...);  ProgressObserver progress(...);  PlotObserver plot(...);
//   CheckpointObserver checkpoints(...);  InterruptObserver interrupt;
//   for (auto* o : {&log, &progress, ...}) loop.attach(*o);   // hooks run in this order
//   loop.restore(checkpoint_metadata);                        // a resumed run
//   if (loop.run() == LoopEnd::Interrupted) return 130;
//
// A micro-batch calls on_batch, then on_step when the optimizer stepped after it. Every
// optimizer step is exactly one on_step, the one that finishes an epoch's partial
// accumulation included (its event carries the epoch's last micro-batch; see StepEvent). A due
// checkpoint calls on_checkpoint after them (so a checkpoint holds the step's log line and
// plot point). should_stop is asked only between optimizer steps, so that a checkpoint always
// holds the state an uninterrupted run has there (BatchNormalization statistics of a half-done
// accumulation cannot be taken back). A failure (a bad sample, a step that failed or went NaN)
// calls on_failure, whose observers may rewrite the message the run stops with.
//
// What a checkpoint holds besides the session's state comes from the loop (its position:
// cli.epoch, cli.batch, cli.epoch_sample, cli.epoch_state) and from each observer (save_state /
// load_state): a resumed run sees exactly the batches the uninterrupted run would have (the
// sample order is a pure function of seed and epoch) and ends with the same weights; resumed
// with another batch size, it sees the same samples from where the checkpoint stopped.
//
// Data-parallel training (distributed_run.h) attaches here: the session averages gradients
// across processes inside train_step, LoopSteps::count counts every rank's samples, rank 0
// alone attaches the observers that print, log and save, and a DistributedObserver on every
// rank makes an interrupt everyone's between optimizer steps.
#pragma once

#include <cmath>
#include <cstdint>
#include <functional>
#include <map>
#include <optional>
#include <string>
#include <vector>

#include "onnx_train/training_session.h"
#include "tools/onnx-train/train_common.h"

namespace onnx_train::cli {

using Batch = std::map<std::string, Tensor>;
using CheckpointEntries = std::map<std::string, std::string>;

// The next batch to train: batch `batch` (from 0) of epoch `epoch` (from 0). {epoch + 1, 0} is
// the end of `epoch`; {epochs, 0} the end of the run.
struct LoopPosition {
  int64_t epoch = 0;
  int64_t batch = 0;
};

// The running totals of the epoch in progress, so that a run resumed inside an epoch reports
// the epoch's loss and accuracy over all of its batches, as the uninterrupted run does.
struct EpochState {
  EvalTotals totals;
  double smoothed = NAN;  // the exponentially smoothed loss the progress display shows
  int64_t skipped_nonfinite = 0;  // micro-batches --skip-nonfinite left out in this epoch
  void add(double loss, int64_t samples, std::pair<int64_t, int64_t> correct_counted);
  std::string save() const;
  static EpochState load(const std::string& text);
};

// The shape of the run.
struct LoopPlan {
  int64_t epochs = 1;
  int64_t batches = 0;           // per epoch
  int64_t accumulate = 1;        // micro-batches per optimizer step
  int64_t max_steps = 0;         // optimizer steps; 0: no limit
  int64_t checkpoint_every = 0;  // optimizer steps; 0: checkpoints at epoch ends only
  int64_t eval_every = 0;        // optimizer steps; 0: validation at epoch ends only
  // A run resumed with another batch size: the steps by which its epochs' ends move, as the
  // epochs before took another number of steps than these batches make (0 otherwise).
  int64_t step_shift = 0;
  // --skip-nonfinite: a micro-batch whose step is refused as non-finite is left out (nothing was
  // updated) and counted; kMaxNonFiniteInARow of them in a row (or a whole epoch) stop the run.
  bool skip_nonfinite = false;
  int64_t steps_per_epoch() const { return (batches + accumulate - 1) / accumulate; }
  // The run's optimizer steps: the epochs', or fewer by --max-steps.
  int64_t total_steps() const;
  // The epochs --max-steps takes (the last one perhaps in part), as Hugging Face's Trainer
  // counts them: ceil(max_steps / steps_per_epoch). `epochs` is set to this when max_steps
  // decides the run's length.
  int64_t epochs_for_max_steps() const;
};

// The samples of a trained micro-batch and its (correct, scored) predictions, as the epoch's
// totals and the progress count them.
struct BatchCount {
  int64_t samples = 0;
  std::pair<int64_t, int64_t> correct_counted;
};

// How a micro-batch is trained, how an epoch's partial accumulation is stepped, and how a
// trained micro-batch is counted: the session's train_step and optimizer_step and the batch's
// own size and accuracy unless replaced (data-parallel training counts every rank's batch).
struct LoopSteps {
  std::function<StepResult(const Batch&)> train;
  std::function<double()> finish_accumulation;  // returns the learning rate it used
  std::function<BatchCount(const Batch&, const StepResult&)> count;
};

// A micro-batch trained (on_batch), or an optimizer step (on_step). The step that finishes an
// epoch's partial accumulation (after the epoch's last micro-batch, which did not step)
// carries that last micro-batch, its `samples`, and a result whose loss is that micro-batch's
// too: as for every step under --accumulate, a step's loss is its last micro-batch's.
// Its grad_norm is not known (none), its outputs are the last micro-batch's.
struct StepEvent {
  LoopPosition next;  // the position after it
  const Batch& batch;
  const StepResult& result;
  int64_t samples;          // in this micro-batch (on every rank of a data-parallel run)
  const EpochState& epoch;  // the epoch's running totals, this micro-batch included
};

// The validation split evaluated (on_validation): at an epoch's end, every --eval-every
// optimizer steps inside an epoch (at_steps), or once more when --max-steps stopped the run
// inside an epoch on a step no validation was due at (at_stop). Neither at_steps nor at_stop
// is an epoch's validation. A step validation falls on no epoch's last step (the epoch's end
// validates there). at_stop is an extra score of the stop, taken after its checkpoint: what
// it makes an observer keep would not be in the checkpoint, so a resumed run would differ;
// observers with state (early stopping, the best model) leave it out.
struct ValidationEvent {
  int64_t epoch;  // from 0
  int64_t step;
  const EvalTotals& totals;
  bool at_stop;
  bool at_steps = false;
  // Where a run resumed from a checkpoint of this moment goes on, and the epoch's totals
  // there (an epoch's validation: {epoch, batches}, the epoch's end still to do).
  LoopPosition at{};
  const EpochState* state = nullptr;
};

// An epoch done (on_epoch_end), after its partial accumulation was stepped and its
// validation (if any) ran.
struct EpochEndEvent {
  int64_t epoch;  // from 0
  int64_t step;
  const EpochState& state;
  const EvalTotals* validation;  // null without a validation split
};

// A checkpoint due (on_checkpoint): every checkpoint_every optimizer steps, at an epoch's end,
// at a --max-steps stop, an interrupt, an early stop inside an epoch, or a bad sample met
// between optimizer steps.
enum class CheckpointReason { Periodic, EpochEnd, MaxSteps, Interrupted, BadSample, EarlyStopping };
struct CheckpointEvent {
  CheckpointReason reason;
  LoopPosition at;  // where a resumed run goes on
  const EpochState& state;
  std::string written;  // set by the observer that wrote it: its path ("" when none did)
};

// The loop stopped before its epochs were done (on_stop), after the checkpoint of the stop.
// EarlyStopping: an observer's should_stop_early said so after a validation; the run ends as
// a finished one (exported, exit 0). At an epoch's end its checkpoint is the epoch's.
enum class StopReason { MaxSteps, Interrupted, EarlyStopping };
struct StopEvent {
  StopReason reason;
  LoopPosition at;
  const std::string& checkpoint;  // the checkpoint written for the stop, "" when none
};

// A micro-batch left out by --skip-nonfinite (on_skip): its step was refused as non-finite,
// nothing was updated. `what` is the NonFiniteStep's message (with the trace of the node).
struct SkipEvent {
  LoopPosition at;  // the skipped micro-batch's position
  const std::string& what;
  int64_t skipped;          // in the run so far, this one included
  const EpochState& epoch;  // the epoch's totals (skipped_nonfinite counts this one)
};

// The run stops with an Error (on_failure). `what` is the error's message; a bad sample at
// `at` is the next batch to train (or the epoch's end, for a bad validation sample).
enum class FailureKind {
  BadSample,      // the BatchLoader could not read or check a sample
  NonFiniteStep,  // the step's loss, gradients or statistics were NaN or Inf; nothing was updated
  StepFailed,     // any other error of a step
};
struct FailureEvent {
  FailureKind kind;
  const std::string& what;
  LoopPosition at;
  const EpochState& state;
  const Batch* batch;  // the micro-batch of a failed step, else null
};

// The position a checkpoint's metadata records (cli.epoch, cli.batch).
LoopPosition position_of(const CheckpointEntries& metadata);

// Where in its epoch's sample order a checkpoint stopped: the data position, whatever the batch
// size. Checkpoints without it stopped at cli.batch times the batch size of their run.
constexpr const char* kEpochSampleKey = "cli.epoch_sample";

// The position a checkpoint resumes at in `loader`'s batches, and the sample it goes on from
// (cli.epoch_sample): the epoch's remaining samples make its last batches, so with another
// batch size the epoch still ends after its last sample (the batch numbers before the resumed
// one are those the new size would have made). Without cli.epoch_sample: position_of(), and
// sample -1 (the batch size did not change).
struct ResumedAt {
  LoopPosition at;
  int64_t sample = -1;
};
ResumedAt resumed_at(const CheckpointEntries& metadata, const BatchLoader& loader);

// What the loop calls. Every hook does nothing unless overridden.
class TrainLoopObserver {
 public:
  virtual ~TrainLoopObserver() = default;
  // Before the first batch (also when nothing is left to train).
  virtual void on_run_start() {}
  // Before an epoch's first batch in this process (`first_batch` > 0: resumed inside it).
  virtual void on_epoch_start(int64_t epoch, int64_t first_batch) {}
  // Each micro-batch, then each optimizer step.
  virtual void on_batch(const StepEvent&) {}
  virtual void on_step(const StepEvent&) {}
  virtual void on_skip(const SkipEvent&) {}
  virtual void on_validation(const ValidationEvent&) {}
  virtual void on_epoch_end(const EpochEndEvent&) {}
  virtual void on_checkpoint(CheckpointEvent&) {}
  // Asked between optimizer steps: true ends the run there (an interrupt).
  virtual bool should_stop() { return false; }
  // Asked after each validation (and before a resumed run's first batch): true ends the run
  // there as finished (early stopping).
  virtual bool should_stop_early() const { return false; }
  virtual void on_stop(const StopEvent&) {}
  // `message` is what the run stops with; an observer may rewrite it (advice, a resume point).
  virtual void on_failure(const FailureEvent&, std::string& message) {}
  virtual void on_run_end() {}
  // The observer's part of a checkpoint's metadata, and of a resumed one.
  virtual void save_state(CheckpointEntries&) const {}
  virtual void load_state(const CheckpointEntries&) {}
};

enum class LoopEnd { Done, Interrupted };

class TrainLoop {
 public:
  // The eval-form totals over the validation split; `bad_sample` makes the message of the Error
  // for a sample it cannot read (as evaluate() in train_common.h takes it).
  using Validate = std::function<EvalTotals(const std::function<std::string(const std::string&)>& bad_sample)>;

  // `run` gives the session and the accuracy of a batch; `validate` null: no validation split.
  TrainLoop(const Prepared& run, BatchLoader& loader, LoopPlan plan, Validate validate);

  // Hooks run in the order observers were attached.
  void attach(TrainLoopObserver& observer) { observers_.push_back(&observer); }
  void set_steps(LoopSteps steps) { steps_ = std::move(steps); }
  LoopSteps& steps() { return steps_; }

  // The position and every observer's state from a checkpoint's metadata (a resumed run).
  void restore(const CheckpointEntries& metadata);
  // The loop's and every observer's entries for a checkpoint at `at`.
  CheckpointEntries checkpoint_entries(LoopPosition at, const EpochState& state) const;

  // Trains from the position to the end of the plan (or an interrupt). Errors: a bad sample or
  // a failed step, with the message the on_failure hooks made.
  LoopEnd run();

  // Whether restore() left nothing to train: the checkpoint is at the plan's last step or
  // epoch, or its run had stopped early (and the patience given now is spent too).
  bool nothing_left() const;
  bool stopped_early() const;

  TrainingSession& session() const { return *run_.session; }
  const LoopPlan& plan() const { return plan_; }
  LoopPosition start() const { return start_; }
  // Where the run ended: the end of the run, or where --max-steps stopped it, and the epoch's
  // totals there (for a checkpoint written after the loop).
  LoopPosition end() const { return end_; }
  const EpochState& end_state() const { return end_state_; }
  int64_t samples_seen() const { return samples_seen_; }
  double last_train_loss() const { return last_train_loss_; }
  // Micro-batches --skip-nonfinite left out in the run, earlier processes of a resumed one included.
  int64_t skipped_nonfinite() const { return skipped_nonfinite_; }
  static constexpr int64_t kMaxNonFiniteInARow = 100;
  // The last validation (none: samples == 0).
  const EvalTotals& last_validation() const { return last_validation_; }

 private:
  // One epoch from the loop's position; false when the run ends with it.
  bool train_epoch(int64_t epoch, LoopEnd& end);
  // After an optimizer step: on_step, a periodic checkpoint, a validation every --eval-every
  // steps; true when early stopping ended the run there.
  bool after_step(const StepEvent& event, const EpochState& state);
  // The optimizer step of an epoch's partial accumulation.
  StepResult finish_accumulation(const Batch& batch, const StepResult& last, LoopPosition at, const EpochState& state);
  // The next micro-batch into `batch`; false at the epoch's end.
  bool next_batch(Batch& batch, LoopPosition at, const EpochState& state);
  // The micro-batch's step into `r`; false when --skip-nonfinite left it out.
  bool train_step(const Batch& batch, LoopPosition at, EpochState& state, StepResult& r);
  // False when early stopping ended the run at the epoch's end.
  bool end_epoch(int64_t epoch, const EpochState& state);
  void stop(StopReason reason, LoopPosition at, const EpochState& state);
  bool any_should_stop();
  std::optional<EvalTotals> validate(LoopPosition at, const EpochState& state);
  std::string checkpoint(CheckpointReason reason, LoopPosition at, const EpochState& state);
  // The message the run stops with, after every on_failure hook.
  std::string failure(FailureKind kind, const std::string& what, LoopPosition at, const EpochState& state,
                      const Batch* batch);
  template <typename Hook>
  void each(Hook hook) {
    for (TrainLoopObserver* o : observers_) hook(*o);
  }

  const Prepared& run_;
  BatchLoader& loader_;
  LoopPlan plan_;
  Validate validate_;
  LoopSteps steps_;
  std::vector<TrainLoopObserver*> observers_;

  LoopPosition start_;
  int64_t start_sample_ = -1;  // where start_ is in its epoch's sample order (-1: at start_.batch)
  EpochState start_state_;
  LoopPosition end_;
  EpochState end_state_;
  int64_t samples_seen_ = 0;
  double last_train_loss_ = NAN;
  EvalTotals last_validation_;
  int64_t validated_step_ = -1;  // the step of the last validation in this process
  int64_t skipped_nonfinite_ = 0, nonfinite_in_a_row_ = 0;
};

}  // namespace onnx_train::cli
