// What a model trained by onnx-train says about itself: the entries written to the exported
// model's metadata_props (ModelProto.metadata_props, key -> string), by the training run's
// export (and --export-training) and by `onnx-train export CHECKPOINT`, and read back by
// `eval`, `predict` and `inspect`. Every key, in one place:
//
//   The data (onnx_train/dataset.h data_metadata; also kept in checkpoints):
//     data.classes             class names by index, a JSON array of strings (image folders,
//                              string labels)
//     data.input               the model input the images feed
//     data.input_shape         its C,H,W
//     data.input_size          H,W the images are resized to
//     data.input_layout        how pixels become values, in words
//     data.mean, data.std      per-channel normalisation, comma-separated (as --mean takes it)
//   The training (this file):
//     training.loss            the loss kind as --loss takes it ("cross-entropy", "mse", "none")
//     training.label           the name of the labels in the data (--label), "" for --loss none
//     training.output          the model output the loss reads (--output); with --loss none,
//                              the model's own loss output
//     training.optimizer       --optimizer kind
//     training.lr              the base learning rate (--lr)
//     training.schedule        --schedule as given ("constant", "cosine", "step:gamma=0.5")
//     training.batch_size      samples per batch
//     training.samples         training samples (the training split, after --val-split)
//     training.steps           optimizer steps the weights have had
//     training.epochs          passes over the training data, e.g. "3" or "2.5" (a run cut
//                              by --max-steps or interrupted ends inside an epoch)
//     training.train_loss      the last epoch's mean training loss       } when known: the
//     training.val_loss        the last validation's mean loss           } training run's own
//     training.val_accuracy    the last validation's accuracy, 0 to 1    } export
//     training.date            when the model was written, UTC, ISO 8601 ("2026-12-07T09:30:00Z");
//                              the environment's SOURCE_DATE_EPOCH (seconds) instead when set
//     training.onnx_train_version  the onnx-train that wrote it
//     training.base_model      the file name of the model training started from
// The "onnx_train." prefix is not used: it belongs to the training information of an
// --export-training file (runtime/train/training_info.h), which the inference export drops.
// The model's own producer_name / producer_version and its other metadata are kept as they were.
#pragma once

#include <cmath>
#include <cstdint>
#include <map>
#include <string>
#include <vector>

#include "tools/onnx-train/train_common.h"
#include "tools/onnx-train/train_loop.h"
#include "tools/onnx-train/train_options.h"

namespace onnx_train::cli {

// How far the weights were trained, and how well, for the training.* entries.
struct TrainingSummary {
  int64_t steps = 0;
  double epochs = 0;
  int64_t samples = 0;                      // training samples
  double train_loss = NAN, val_loss = NAN;  // NaN: not known
  double val_accuracy = -1;                 // 0 to 1; < 0: not known (no validation, or not a classifier)
};

// The training.* entries (see above) of a model trained with `config` in the session `run`.
std::map<std::string, std::string> training_metadata(const TrainConfig& config, const Prepared& run,
                                                     const TrainingSummary& summary);

// The run's last results, kept in its checkpoints (cli.summary: "TRAIN_LOSS VAL_LOSS
// VAL_ACCURACY", "nan" / -1 when not known) so that `export CHECKPOINT` and a resumed run with
// nothing left to train write the same training.* entries as the run that wrote it: the last
// epoch's mean training loss and validation (an epoch's end comes before its checkpoint), or,
// at a --max-steps stop, the partial epoch's loss and the validation that follows the stop.
constexpr const char* kSummaryKey = "cli.summary";

class SummaryObserver : public TrainLoopObserver {
 public:
  void on_batch(const StepEvent& event) override { at_ = event.next; }
  void on_validation(const ValidationEvent& event) override;
  void on_epoch_end(const EpochEndEvent& event) override;
  void on_checkpoint(CheckpointEvent& event) override;
  void save_state(CheckpointEntries& entries) const override;
  void load_state(const CheckpointEntries& entries) override;

  // The run's summary so far, on `samples` training samples: at the loop's end, or in the
  // middle of it (--save-best's model, whose epochs are then those of its checkpoint).
  TrainingSummary summary(const TrainLoop& loop, int64_t samples) const;
  // The results alone (train and validation loss, accuracy).
  TrainingSummary results() const;

 private:
  double train_loss_ = NAN, val_loss_ = NAN, val_accuracy_ = -1;
  LoopPosition at_;  // the next batch to train
};

// The summary a checkpoint allows: its step, its position for the epochs (cli.epoch and
// cli.batch over the batches of an epoch of cli.train_samples), and cli.summary's results.
TrainingSummary summary_of_checkpoint(const std::map<std::string, std::string>& checkpoint_metadata,
                                      const TrainConfig& config, int64_t step);

// The options of a model's metadata that the user did not give: --loss, --label and --output
// from training.loss / .label / .output of an ONNX model's metadata `meta`, so that `eval trained.onnx
// data/` scores it as it was trained. Explicit flags win. `config` is parsed again with them
// (its args gain them); returns them as given ("--loss=mse"), empty when none applied (a model
// onnx-train did not train, or a checkpoint).
std::vector<std::string> apply_model_metadata(TrainConfig& config, const std::map<std::string, std::string>& meta);

// The current time as training.date writes it: UTC, ISO 8601, to the second (SOURCE_DATE_EPOCH
// when set: the reproducible-builds convention, so that the same training writes the same bytes).
std::string utc_now_iso8601();

// The version of onnx-train (CMake's project version).
const char* onnx_train_version();

}  // namespace onnx_train::cli
