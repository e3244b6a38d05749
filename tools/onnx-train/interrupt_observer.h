// tools/onnx-train/interrupt_observer.h: Ctrl-C (SIGINT) and SIGTERM during a training run,
// attached to the TrainLoop: while the loop runs, a signal only sets a flag, and should_stop
// answers it between optimizer steps, where the loop saves a checkpoint to resume from and
// ends (exit code 130). Outside the loop the signals act as they do by default.
#pragma once

#include "tools/onnx-train/train_loop.h"

namespace onnx_train::cli {

class InterruptObserver : public TrainLoopObserver {
 public:
  void on_run_start() override;  // the flag cleared, the handlers installed
  bool should_stop() override;
  void on_run_end() override;  // the default handlers back
};

}  // namespace onnx_train::cli
