// onnx_train/distributed.h: data-parallel training across processes (MPI).
//
// Every process (a "rank") builds the same TrainingSession with the same options and one
// communicator; each trains on its own shard of the data (BatchLoader::set_shard):
//
//   auto group = onnx_train::mpi_communicator();        // MPI_Init on first use
//   onnx_train::TrainingOptions options;
//   options.distributed.communicator = group;
//   auto trainer = onnx_train::TrainingSession::from_file("model.onnx", options);
//   // rank 0's parameters and running statistics are now every rank's
//   loader.set_shard(group->rank(), group->size());
//   while (loader.next(batch)) trainer.train_step(batch);  // gradients averaged across ranks
//
// What a step does with more than one rank: forward and backward on the rank's micro-batch;
// the gradients are grouped in buckets (about bucket_bytes each) in the order the backward
// pass produces them, and each bucket's allreduce starts (non-blocking) as soon as its last
// gradient is ready, so communication overlaps the rest of the backward pass. Before the
// optimizer step every rank holds the same averaged gradient: sum over ranks of weight_r *
// g_r, divided by the sum of the weights (the weight of a micro-batch is its batch size for a
// "mean" loss; see training_session.h), which is exactly the gradient one process computes on
// the union of the ranks' batches. So clipping (on that global gradient), every optimizer and
// gradient accumulation (the allreduce runs only on the micro-batch that steps, on the
// accumulated sum, as DistributedDataParallel's no_sync) work as in one process, and every rank
// holds the same weights after every step. StepResult::loss is the loss over all ranks' batches.
//
// BatchNormalization statistics are each rank's own (PyTorch's default) unless sync_batchnorm:
// then the training graph's BatchNormalization nodes compute the batch mean and variance over
// every rank's batch (an allreduce in the forward pass, and its gradient in the backward pass).
//
// A collective that does not finish within `timeout` (a rank died, hangs, or took another
// path) throws an Error of category Distributed naming the rank(s) that did not arrive.
#pragma once

#include <chrono>
#include <cstdint>
#include <memory>
#include <string>
#include <vector>

namespace onnx_train {

class Communicator {
 public:
  virtual ~Communicator() = default;
  virtual int rank() const = 0;
  virtual int size() const = 0;
  // "rank 1 (host a, pid 123)": for messages.
  virtual std::string describe_rank(int rank) const = 0;

  // A non-blocking collective in flight; wait() completes it (or throws on timeout).
  class Request {
   public:
    virtual ~Request() = default;
    // True once complete; also lets the transport make progress (call it often).
    virtual bool test() = 0;
    virtual void wait() = 0;
  };

  // Element-wise sums across ranks, in place. `what` names the operation in a timeout's
  // message ("the gradient allreduce of step 12").
  virtual void allreduce_sum(float* data, int64_t count, const std::string& what) = 0;
  virtual void allreduce_sum(double* data, int64_t count, const std::string& what) = 0;
  virtual std::unique_ptr<Request> start_allreduce_sum(float* data, int64_t count, const std::string& what) = 0;
  virtual std::unique_ptr<Request> start_allreduce_sum(double* data, int64_t count, const std::string& what) = 0;
  // Rank `root`'s bytes to every rank.
  virtual void broadcast(void* data, int64_t bytes, int root, const std::string& what) = 0;
  virtual void barrier(const std::string& what) = 0;
  // The largest value of each element across ranks (flags: "any rank failed").
  virtual void allreduce_max(int64_t* data, int64_t count, const std::string& what) = 0;

  std::chrono::milliseconds timeout{std::chrono::minutes(10)};
};

// Whether this process was started by mpirun / mpiexec (Open MPI's or PMIx's environment).
bool launched_by_mpi();
// Whether this build has MPI (CMake found it).
bool mpi_built();
// The communicator of all processes of this MPI launch (MPI_COMM_WORLD), initialising MPI on
// first use; the same object on every call. Throws Error (Unsupported) in a build without MPI.
std::shared_ptr<Communicator> mpi_communicator();
// Ends MPI (MPI_Finalize) when mpi_communicator() started it: every rank calls it at the end of a
// run that succeeded. A rank that fails exits without it (its collectives may be unfinished);
// mpirun then stops the others.
void finalize_mpi();
// A group of one process: every collective is a no-op.
std::shared_ptr<Communicator> local_communicator();

// Per-step figures of the gradient allreduce (TrainingSession::allreduce_stats), summed over
// the optimizer steps since the session was made (or reset_allreduce_stats()).
struct AllreduceStats {
  int64_t steps = 0;            // optimizer steps that averaged gradients
  int64_t buckets = 0;          // buckets per step
  int64_t bytes = 0;            // per step
  double total_ms = 0;          // sum over buckets of (completed - started)
  double exposed_ms = 0;        // sum over buckets of the part after the backward pass ended
  double backward_ms = 0;       // the training plan's run, summed
  // The fraction of communication time that overlapped the backward pass.
  double hidden_fraction() const { return total_ms > 0 ? 1.0 - exposed_ms / total_ms : 0.0; }
};

// Options of TrainingOptions::distributed.
struct DistributedOptions {
  std::shared_ptr<Communicator> communicator;  // null or size 1: one process, as without it
  int64_t bucket_bytes = 25 << 20;              // DistributedDataParallel's bucket_cap_mb = 25
  bool sync_batchnorm = false;
};

}  // namespace onnx_train
