// tools/onnx-train/tensorboard_observer.h: --tensorboard DIR, the run's scalars as a TensorBoard
// event file (tensorboard.h), attached to the TrainLoop: per optimizer step train/loss, train/lr
// and train/grad_norm (when clipping computed it), per validation (the one at a --max-steps stop
// too) val/loss and val/accuracy (when the loss scores predictions), each at its optimizer
// step: the values the --log file holds for the same steps, as float32.
//
// Every run writes a file of its own, DIR/events.out.tfevents.<unix seconds>.<hostname>: a
// resumed run adds one beside the first run's, its steps continuing where that one's stopped,
// and TensorBoard shows the two as one run (`tensorboard --logdir DIR`).
#pragma once

#include <string>

#include "tools/onnx-train/run_folder.h"
#include "tools/onnx-train/tensorboard.h"
#include "tools/onnx-train/train_loop.h"

namespace onnx_train::cli {

// The event file this run will write in `dir`, checked before the first step as every output
// is (check_output_file): `dir` made (through `folders`) and proved writable. A name already
// taken (a run resumed within the same second) gets a suffix: ".1", ".2"...
std::string plan_event_file(const std::string& dir, CreatedFolders& folders);

class TensorBoardObserver : public TrainLoopObserver {
 public:
  // Creates the event file `path` (from plan_event_file).
  explicit TensorBoardObserver(const std::string& path) : events_(path) {}

  void on_step(const StepEvent& event) override;
  void on_validation(const ValidationEvent& event) override;

 private:
  EventFileWriter events_;
};

}  // namespace onnx_train::cli
