// tools/onnx-train/train_loop.cc: the training loop's order of events (train_loop.h). What is
// printed, logged, plotted or saved is in the observers, not here.
#include "tools/onnx-train/train_loop.h"

#include <fmt/format.h>

#include <algorithm>
#include <cstdlib>
#include <sstream>

namespace onnx_train::cli {

namespace {

constexpr const char* kEpochKey = "cli.epoch";
constexpr const char* kBatchKey = "cli.batch";
constexpr const char* kEpochStateKey = "cli.epoch_state";
constexpr const char* kSkippedNonFiniteKey = "cli.skipped_nonfinite";

}  // namespace

void EpochState::add(double loss, int64_t samples, std::pair<int64_t, int64_t> correct_counted) {
  totals.add(loss, samples, correct_counted);
  smoothed = std::isnan(smoothed) ? loss : 0.95 * smoothed + 0.05 * loss;
}

std::string EpochState::save() const {
  return fmt::format("{:.17g} {} {} {} {:.17g} {}", totals.loss_sum, totals.samples, totals.correct, totals.counted,
                     smoothed, skipped_nonfinite);
}

EpochState EpochState::load(const std::string& text) {
  EpochState e;
  std::istringstream in(text);
  std::string loss_sum, smoothed;
  if (in >> loss_sum >> e.totals.samples >> e.totals.correct >> e.totals.counted >> smoothed) {
    e.totals.loss_sum = std::strtod(loss_sum.c_str(), nullptr);
    e.smoothed = std::strtod(smoothed.c_str(), nullptr);
    if (!(in >> e.skipped_nonfinite)) e.skipped_nonfinite = 0;  // a checkpoint from before --skip-nonfinite
  } else {
    e = EpochState{};
  }
  return e;
}

int64_t LoopPlan::total_steps() const {
  const int64_t all = steps_per_epoch() * epochs + step_shift;
  return max_steps > 0 ? std::min(all, max_steps) : all;
}

int64_t LoopPlan::epochs_for_max_steps() const {
  const int64_t per_epoch = std::max<int64_t>(steps_per_epoch(), 1);
  // step_shift: a resumed run's epochs end that many steps later than per_epoch says.
  return std::max<int64_t>((max_steps - step_shift + per_epoch - 1) / per_epoch, 1);
}

LoopPosition position_of(const CheckpointEntries& metadata) {
  return {std::stoll(metadata.at(kEpochKey)), std::stoll(metadata.at(kBatchKey))};
}

ResumedAt resumed_at(const CheckpointEntries& metadata, const BatchLoader& loader) {
  ResumedAt r{position_of(metadata), -1};
  const auto it = metadata.find(kEpochSampleKey);
  if (it == metadata.end()) return r;
  r.sample = std::stoll(it->second);
  r.at.batch = loader.batches_per_epoch() - loader.batches_from_sample(r.sample);
  return r;
}

TrainLoop::TrainLoop(const Prepared& run, BatchLoader& loader, LoopPlan plan, Validate validate)
    : run_(run), loader_(loader), plan_(plan), validate_(std::move(validate)) {
  steps_.train = [this](const Batch& batch) { return session().train_step(batch); };
  steps_.finish_accumulation = [this] { return session().optimizer_step(); };
  steps_.count = [this](const Batch& batch, const StepResult& r) {
    return BatchCount{batch.begin()->second.dim(0), run_.accuracy_of(r.outputs, batch)};
  };
}

void TrainLoop::restore(const CheckpointEntries& metadata) {
  const ResumedAt resumed = resumed_at(metadata, loader_);
  start_ = resumed.at;
  start_sample_ = resumed.sample;
  if (const auto it = metadata.find(kEpochStateKey); it != metadata.end()) start_state_ = EpochState::load(it->second);
  if (const auto it = metadata.find(kSkippedNonFiniteKey); it != metadata.end())
    skipped_nonfinite_ = std::strtoll(it->second.c_str(), nullptr, 10);
  for (TrainLoopObserver* o : observers_) o->load_state(metadata);
}

CheckpointEntries TrainLoop::checkpoint_entries(LoopPosition at, const EpochState& state) const {
  CheckpointEntries entries;
  for (const TrainLoopObserver* o : observers_) o->save_state(entries);
  entries.insert(
      {{kEpochKey, std::to_string(at.epoch)}, {kBatchKey, std::to_string(at.batch)}, {kEpochStateKey, state.save()}});
  if (skipped_nonfinite_ > 0) entries[kSkippedNonFiniteKey] = std::to_string(skipped_nonfinite_);
  // The loader stands at `at` when it is in the epoch being read; else `at` is an epoch's start.
  entries[kEpochSampleKey] = std::to_string(at.epoch == loader_.epoch() ? loader_.next_sample() : 0);
  return entries;
}

bool TrainLoop::nothing_left() const {
  // A checkpoint taken after an epoch's last batch but before its end (a bad validation
  // sample, a checkpoint at the last batch, then a kill) still has the epoch's end to do.
  const bool epoch_end_pending = start_.epoch < plan_.epochs && start_.batch == plan_.batches;
  return (session().step() >= plan_.total_steps() && !epoch_end_pending) || start_.epoch >= plan_.epochs ||
         stopped_early();
}

bool TrainLoop::stopped_early() const {
  return std::any_of(observers_.begin(), observers_.end(),
                     [](const TrainLoopObserver* o) { return o->should_stop_early(); });
}

LoopEnd TrainLoop::run() {
  end_ = {plan_.epochs, 0};
  each([](TrainLoopObserver& o) { o.on_run_start(); });
  LoopEnd end = LoopEnd::Done;
  bool go_on = !nothing_left();
  for (int64_t epoch = start_.epoch; epoch < plan_.epochs && go_on; ++epoch) go_on = train_epoch(epoch, end);
  each([](TrainLoopObserver& o) { o.on_run_end(); });
  return end;
}

bool TrainLoop::train_epoch(int64_t epoch, LoopEnd& end) {
  const bool resumed_here = epoch == start_.epoch;
  LoopPosition at{epoch, resumed_here ? start_.batch : 0};
  EpochState state = resumed_here ? start_state_ : EpochState{};
  if (resumed_here && start_sample_ >= 0)
    loader_.start_epoch_at_sample(epoch, start_sample_);
  else
    loader_.start_epoch(epoch, at.batch);
  each([&](TrainLoopObserver& o) { o.on_epoch_start(epoch, at.batch); });
  const int64_t total_steps = plan_.total_steps();
  bool steps_done = false;
  Batch batch;
  StepResult r;
  int64_t n = 0;
  while (!steps_done && next_batch(batch, at, state)) {
    const bool trained = train_step(batch, at, state, r);
    ++at.batch;
    if (trained) {
      const BatchCount count = steps_.count(batch, r);
      n = count.samples;
      samples_seen_ += n;
      state.add(r.loss, n, count.correct_counted);
      const StepEvent event{at, batch, r, n, state};
      each([&](TrainLoopObserver& o) { o.on_batch(event); });
      if (r.stepped) {
        if (after_step(event, state)) return false;
        steps_done = r.step >= total_steps;
      }
    }
    if (session().pending_micro_batches() == 0 && any_should_stop()) {
      stop(StopReason::Interrupted, at, state);
      end = LoopEnd::Interrupted;
      return false;
    }
  }
  if (at.batch < plan_.batches) {
    // --max-steps ended the run inside the epoch: the epoch is not over, so no epoch end and
    // no epoch checkpoint; the checkpoint records the next batch to train.
    stop(StopReason::MaxSteps, at, state);
    return false;
  }
  if (session().pending_micro_batches() > 0) {
    // The epoch's last, partial accumulation is an optimizer step like any other: its event,
    // its periodic checkpoint and validation. A run resumed at this epoch's end finds no
    // micro-batch pending (checkpoints are only taken between optimizer steps).
    const StepResult finished = finish_accumulation(batch, r, at, state);
    if (after_step({at, batch, finished, n, state}, state)) return false;
    steps_done = finished.step >= total_steps;
  }
  if (!end_epoch(epoch, state)) return false;
  return !steps_done && session().step() < total_steps;
}

bool TrainLoop::after_step(const StepEvent& event, const EpochState& state) {
  const int64_t step = event.result.step;
  const LoopPosition at = event.next;
  each([&](TrainLoopObserver& o) { o.on_step(event); });
  if (plan_.checkpoint_every > 0 && step % plan_.checkpoint_every == 0)
    checkpoint(CheckpointReason::Periodic, at, state);
  // An epoch's last step is validated by the epoch's end. A --max-steps stop on a step due
  // for validation has it as this one (before the stop's checkpoint, as in a run that goes on),
  // not as the stop's extra one.
  if (plan_.eval_every <= 0 || step % plan_.eval_every != 0 || at.batch >= plan_.batches) return false;
  const std::optional<EvalTotals> validation = validate(at, state);
  if (!validation) return false;
  validated_step_ = step;
  ValidationEvent v{at.epoch, step, *validation, false, true, at, &state};
  each([&](TrainLoopObserver& o) { o.on_validation(v); });
  if (!stopped_early()) return false;
  stop(StopReason::EarlyStopping, at, state);
  return true;
}

StepResult TrainLoop::finish_accumulation(const Batch& batch, const StepResult& last, LoopPosition at,
                                          const EpochState& state) {
  StepResult r;
  try {
    r.learning_rate = steps_.finish_accumulation();
  } catch (const NonFiniteStep& e) {
    throw NonFiniteStep(failure(FailureKind::NonFiniteStep, e.what(), at, state, &batch));
  } catch (const Error& e) {
    throw Error(failure(FailureKind::StepFailed, e.what(), at, state, &batch), e.category());
  }
  r.loss = last.loss;
  r.outputs = last.outputs;
  r.stepped = true;
  r.step = session().step();
  return r;
}

bool TrainLoop::next_batch(Batch& batch, LoopPosition at, const EpochState& state) {
  try {
    return loader_.next(batch);
  } catch (const Error& e) {
    throw Error(failure(FailureKind::BadSample, e.what(), at, state, nullptr), e.category());
  }
}

bool TrainLoop::train_step(const Batch& batch, LoopPosition at, EpochState& state, StepResult& r) {
  try {
    r = steps_.train(batch);
    nonfinite_in_a_row_ = 0;
    return true;
  } catch (const NonFiniteStep& e) {
    if (!plan_.skip_nonfinite) throw NonFiniteStep(failure(FailureKind::NonFiniteStep, e.what(), at, state, &batch));
    // The session changed nothing: the batch is left out as if it were not in the data.
    const int64_t limit = std::min<int64_t>(kMaxNonFiniteInARow, std::max<int64_t>(plan_.batches, 1));
    if (++nonfinite_in_a_row_ >= limit)
      throw NonFiniteStep(failure(FailureKind::NonFiniteStep,
                                  fmt::format("{} micro-batches in a row came out non-finite (--skip-nonfinite stops "
                                              "after {}); the last one: {}",
                                              nonfinite_in_a_row_, limit, e.what()),
                                  at, state, &batch));
    ++skipped_nonfinite_;
    ++state.skipped_nonfinite;
    const std::string what = e.what();
    const SkipEvent event{at, what, skipped_nonfinite_, state};
    each([&](TrainLoopObserver& o) { o.on_skip(event); });
    return false;
  } catch (const Error& e) {
    throw Error(failure(FailureKind::StepFailed, e.what(), at, state, &batch), e.category());
  }
}

// The epoch's validation, its end and its checkpoint (its partial accumulation was stepped),
// then early stopping, when asked for, with that checkpoint as the stop's.
bool TrainLoop::end_epoch(int64_t epoch, const EpochState& state) {
  last_train_loss_ = state.totals.loss();
  // A bad validation sample stops the run with the epoch's training done and nothing of its
  // end recorded yet: a checkpoint then resumes into this epoch's end.
  const LoopPosition at{epoch, plan_.batches};
  const std::optional<EvalTotals> validation = validate(at, state);
  const int64_t step = session().step();
  validated_step_ = step;
  if (validation) {
    const ValidationEvent v{epoch, step, *validation, false, false, at, &state};
    each([&](TrainLoopObserver& o) { o.on_validation(v); });
  }
  const EpochEndEvent event{epoch, step, state, validation ? &*validation : nullptr};
  each([&](TrainLoopObserver& o) { o.on_epoch_end(event); });
  const LoopPosition next{epoch + 1, 0};
  const std::string written = checkpoint(CheckpointReason::EpochEnd, next, EpochState{});
  if (!validation || !stopped_early()) return true;
  end_ = next;
  end_state_ = EpochState{};
  each([&](TrainLoopObserver& o) { o.on_stop({StopReason::EarlyStopping, next, written}); });
  return false;
}

// A stop inside an epoch: its checkpoint, then on_stop. A --max-steps stop ends with a held-out
// score: the validation split is evaluated once more (on_validation with at_stop), which
// changes no state, so a resumed run is unaffected.
// An early stop inside an epoch follows the validation that asked for it, and a --max-steps
// stop on a step --eval-every validated has that one: no validation again.
void TrainLoop::stop(StopReason reason, LoopPosition at, const EpochState& state) {
  const bool interrupted = reason == StopReason::Interrupted;
  const CheckpointReason why = interrupted                           ? CheckpointReason::Interrupted
                               : reason == StopReason::EarlyStopping ? CheckpointReason::EarlyStopping
                                                                     : CheckpointReason::MaxSteps;
  const std::string written = checkpoint(why, at, state);
  each([&](TrainLoopObserver& o) { o.on_stop({reason, at, written}); });
  if (interrupted) return;
  last_train_loss_ = state.totals.loss();
  end_ = at;
  end_state_ = state;
  if (reason == StopReason::EarlyStopping || validated_step_ == session().step()) return;
  if (const std::optional<EvalTotals> validation = validate(at, state)) {
    const ValidationEvent v{at.epoch, session().step(), *validation, true, false, at, &state};
    each([&](TrainLoopObserver& o) { o.on_validation(v); });
  }
}

bool TrainLoop::any_should_stop() {
  return std::any_of(observers_.begin(), observers_.end(), [](TrainLoopObserver* o) { return o->should_stop(); });
}

std::optional<EvalTotals> TrainLoop::validate(LoopPosition at, const EpochState& state) {
  if (!validate_) return std::nullopt;
  last_validation_ =
      validate_([&](const std::string& what) { return failure(FailureKind::BadSample, what, at, state, nullptr); });
  return last_validation_;
}

std::string TrainLoop::checkpoint(CheckpointReason reason, LoopPosition at, const EpochState& state) {
  CheckpointEvent event{reason, at, state, ""};
  each([&](TrainLoopObserver& o) { o.on_checkpoint(event); });
  return event.written;
}

std::string TrainLoop::failure(FailureKind kind, const std::string& what, LoopPosition at, const EpochState& state,
                               const Batch* batch) {
  std::string message = what;
  const FailureEvent event{kind, what, at, state, batch};
  each([&](TrainLoopObserver& o) { o.on_failure(event, message); });
  return message;
}

}  // namespace onnx_train::cli
