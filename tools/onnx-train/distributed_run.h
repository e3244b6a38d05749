// tools/onnx-train/distributed_run.h: what the training command does differently when mpirun
// started it as one of several processes (ranks), data-parallel (onnx_train/distributed.h).
//
// Every rank builds the same session (rank 0's parameters are broadcast), reads its shard of
// every epoch (BatchLoader::set_shard) and steps on the gradients averaged over all ranks. Only
// rank 0 prints, writes the log, plot, TensorBoard events, checkpoints, the best model and the
// export; the others are silent unless an error is theirs alone. Validation is sharded too
// (without padding) and its totals summed. Decisions that end the loop are the same on every
// rank: the validation they rest on is the same, and an interrupt (Ctrl-C, SIGTERM) anywhere is
// shared between optimizer steps (DistributedObserver). Checkpoints record the global sample
// position, so a run resumes on any number of ranks.
#pragma once

#include <memory>
#include <string>

#include "onnx_train/distributed.h"
#include "tools/onnx-train/interrupt_observer.h"
#include "tools/onnx-train/train_loop.h"
#include "tools/onnx-train/train_options.h"

namespace onnx_train::cli {

// The ranks this run trains with: null for one process (no mpirun, or mpirun -np 1). Sets
// config.training.distributed from --bucket-mb, --sync-batchnorm and --dist-timeout. Errors:
// --distributed without mpirun, or mpirun with a build that has no MPI.
std::shared_ptr<Communicator> join_ranks(TrainConfig& config);

// Rank 0's string on every rank.
std::string broadcast_string(Communicator& group, const std::string& text, const std::string& what);

// The interrupt observer shared by all ranks, and the rank count a checkpoint records
// (cli.ranks), so that a resumed run can say the count changed.
class DistributedObserver : public TrainLoopObserver {
 public:
  explicit DistributedObserver(Communicator& group) : group_(group) {}
  void on_run_start() override { interrupt_.on_run_start(); }
  // True on every rank when any rank was interrupted (one allreduce per optimizer step).
  bool should_stop() override;
  void on_run_end() override { interrupt_.on_run_end(); }
  void save_state(CheckpointEntries& entries) const override;
  static constexpr const char* kRanksKey = "cli.ranks";

 private:
  Communicator& group_;
  InterruptObserver interrupt_;
};

}  // namespace onnx_train::cli
