// The group of one process: what a session without a communicator (or with MPI's of size 1)
// behaves as. Every collective leaves the data as it is.
#include <cstdlib>

#include "onnx_train/distributed.h"

namespace onnx_train {

namespace {

class LocalCommunicator : public Communicator {
 public:
  class Done : public Request {
   public:
    bool test() override { return true; }
    void wait() override {}
  };
  int rank() const override { return 0; }
  int size() const override { return 1; }
  std::string describe_rank(int rank) const override { return "rank 0 (this process)"; }
  void allreduce_sum(float*, int64_t, const std::string&) override {}
  void allreduce_sum(double*, int64_t, const std::string&) override {}
  std::unique_ptr<Request> start_allreduce_sum(float*, int64_t, const std::string&) override {
    return std::make_unique<Done>();
  }
  std::unique_ptr<Request> start_allreduce_sum(double*, int64_t, const std::string&) override {
    return std::make_unique<Done>();
  }
  void broadcast(void*, int64_t, int, const std::string&) override {}
  void barrier(const std::string&) override {}
  void allreduce_max(int64_t*, int64_t, const std::string&) override {}
};

}  // namespace

// Built with or without MPI: a build without it still tells an mpirun launch (and refuses it).
bool launched_by_mpi() {
  return std::getenv("OMPI_COMM_WORLD_SIZE") != nullptr || std::getenv("PMIX_RANK") != nullptr ||
         std::getenv("PMI_RANK") != nullptr;
}

std::shared_ptr<Communicator> local_communicator() {
  static const std::shared_ptr<Communicator> local = std::make_shared<LocalCommunicator>();
  return local;
}

}  // namespace onnx_train
