#include "tools/onnx-train/distributed_run.h"

#include <fmt/format.h>

#include <algorithm>
#include <cstdint>
#include <cstdlib>
#include <thread>

#include "onnx_train/error.h"

namespace onnx_train::cli {

std::shared_ptr<Communicator> join_ranks(TrainConfig& config) {
  if (!launched_by_mpi()) {
    OT_CHECK(!config.distributed,
             "--distributed: this process was not started by mpirun; launch the ranks with it, e.g. mpirun -np 2 "
             "onnx-train MODEL DATA ... (README, \"Training on several processes\")");
    return nullptr;
  }
  // Several copies of a build without MPI would each train alone and write the same files.
  OT_CHECK(mpi_built(),
           "started by mpirun, but this onnx-train was built without MPI: install libopenmpi-dev (tools/setup.sh "
           "does) and build again, or run it without mpirun");
  std::shared_ptr<Communicator> group = mpi_communicator();
  if (group->size() == 1) return nullptr;
  // --threads is per rank; by default the machine's cores are shared among the ranks on it
  // (torchrun sets one thread each; sharing them wastes none when a rank has a machine alone).
  if (config.threads == 0) {
    const char* local = std::getenv("OMPI_COMM_WORLD_LOCAL_SIZE");
    const int local_ranks = local != nullptr ? std::max(1, std::atoi(local)) : 1;
    config.threads = std::max(1, static_cast<int>(std::thread::hardware_concurrency()) / local_ranks);
  }
  group->timeout = std::chrono::milliseconds(static_cast<int64_t>(config.dist_timeout * 1000));
  config.training.distributed.communicator = group;
  config.training.distributed.bucket_bytes = static_cast<int64_t>(config.bucket_mb * (1 << 20));
  config.training.distributed.sync_batchnorm = config.sync_batchnorm;
  return group;
}

std::string broadcast_string(Communicator& group, const std::string& text, const std::string& what) {
  int64_t size = static_cast<int64_t>(text.size());
  group.broadcast(&size, sizeof(size), 0, what);
  std::string out = group.rank() == 0 ? text : std::string(static_cast<size_t>(size), '\0');
  if (size > 0) group.broadcast(out.data(), size, 0, what);
  return out;
}

bool DistributedObserver::should_stop() {
  int64_t stop = interrupt_.should_stop() ? 1 : 0;
  group_.allreduce_max(&stop, 1, "the interrupt check between steps");
  return stop != 0;
}

void DistributedObserver::save_state(CheckpointEntries& entries) const {
  entries[kRanksKey] = std::to_string(group_.size());
}

}  // namespace onnx_train::cli
