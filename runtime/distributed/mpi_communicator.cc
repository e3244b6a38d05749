// The communicator of an MPI launch (MPI_COMM_WORLD), on Open MPI.
//
// Every collective is started non-blocking and completed by polling, so that it can give up:
// a collective not complete after `timeout` throws an Error naming the ranks at fault. To know
// them, each rank announces every collective it enters (its sequence number, in order) on a
// second communicator, and repeats it every kHeartbeat while it waits: ranks other than 0 to
// rank 0, rank 0 to all. Rank 0 thus knows who never reached the collective and who reached it
// but fell silent (stopped, hung, or died inside it); another rank knows the same of rank 0.
// The messages are received (drained) whenever a rank waits, so they never pile up.
#include <mpi.h>
#include <unistd.h>

#include <algorithm>
#include <climits>
#include <cstdlib>
#include <deque>
#include <mutex>
#include <thread>

#include <fmt/format.h>

#include "onnx_train/distributed.h"
#include "onnx_train/error.h"

namespace onnx_train {

namespace {

using Clock = std::chrono::steady_clock;

constexpr int kArrivalTag = 7001;
constexpr std::chrono::milliseconds kHeartbeat{500};
// A rank not heard of for this long while it should be waiting is taken as gone.
constexpr std::chrono::milliseconds kSilent{2500};

bool started_mpi = false;  // MPI_Init was ours (MPI_Finalize is too)

void check_mpi(int code, const char* call) {
  if (code == MPI_SUCCESS) return;
  char text[MPI_MAX_ERROR_STRING];
  int length = 0;
  MPI_Error_string(code, text, &length);
  OT_FAIL_AS(ErrorCategory::Distributed, "{} failed: {}", call, std::string(text, static_cast<size_t>(length)));
}

template <typename T>
MPI_Datatype mpi_type();
template <>
MPI_Datatype mpi_type<float>() { return MPI_FLOAT; }
template <>
MPI_Datatype mpi_type<double>() { return MPI_DOUBLE; }
template <>
MPI_Datatype mpi_type<int64_t>() { return MPI_INT64_T; }

class MpiCommunicator : public Communicator {
 public:
  MpiCommunicator() {
    int initialized = 0;
    MPI_Initialized(&initialized);
    if (!initialized) {
      // Non-blocking allreduce (Open MPI's libnbc) by the ring algorithm unless the user chose:
      // measured here on 0.9 MB between two ranks, 0.8 ms against 1.2-2.3 ms for libnbc's others
      // (a blocking MPI_Allreduce took 0.5 ms).
      setenv("OMPI_MCA_coll_libnbc_iallreduce_algorithm", "1", /*overwrite=*/0);
      int provided = 0;
      // Only the thread that trains calls MPI; kernels' OpenMP threads never do.
      check_mpi(MPI_Init_thread(nullptr, nullptr, MPI_THREAD_FUNNELED, &provided), "MPI_Init_thread");
      started_mpi = true;
    }
    // Errors come back as codes (check_mpi), not as an abort inside MPI.
    MPI_Comm_set_errhandler(MPI_COMM_WORLD, MPI_ERRORS_RETURN);
    check_mpi(MPI_Comm_dup(MPI_COMM_WORLD, &comm_), "MPI_Comm_dup");
    check_mpi(MPI_Comm_dup(MPI_COMM_WORLD, &arrivals_), "MPI_Comm_dup");
    MPI_Comm_rank(comm_, &rank_);
    MPI_Comm_size(comm_, &size_);
    arrived_.assign(static_cast<size_t>(size_), 0);
    heard_.assign(static_cast<size_t>(size_), Clock::now());
    // Every rank's host and process id, for messages.
    char host[64] = {};
    gethostname(host, sizeof(host) - 1);
    std::vector<char> hosts(static_cast<size_t>(size_) * sizeof(host));
    check_mpi(MPI_Allgather(host, sizeof(host), MPI_CHAR, hosts.data(), sizeof(host), MPI_CHAR, comm_),
              "MPI_Allgather");
    int64_t pid = getpid();
    pids_.resize(static_cast<size_t>(size_));
    check_mpi(MPI_Allgather(&pid, 1, MPI_INT64_T, pids_.data(), 1, MPI_INT64_T, comm_), "MPI_Allgather");
    for (int r = 0; r < size_; ++r) hosts_.emplace_back(&hosts[static_cast<size_t>(r) * sizeof(host)]);
  }

  int rank() const override { return rank_; }
  int size() const override { return size_; }
  std::string describe_rank(int r) const override {
    return fmt::format("rank {} (host {}, pid {})", r, hosts_.at(static_cast<size_t>(r)), pids_.at(static_cast<size_t>(r)));
  }

  class MpiRequest : public Request {
   public:
    MpiRequest(MpiCommunicator& owner, std::vector<MPI_Request> requests, int64_t sequence, std::string what)
        : owner_(owner), requests_(std::move(requests)), sequence_(sequence), what_(std::move(what)) {}
    // A collective abandoned by an exception (a timeout) is left as it is: MPI forbids freeing
    // one, and the process ends without MPI_Finalize after such an error anyway.
    ~MpiRequest() override = default;
    bool test() override {
      if (done_) return true;
      int flag = 0;
      check_mpi(MPI_Testall(static_cast<int>(requests_.size()), requests_.data(), &flag, MPI_STATUSES_IGNORE),
                "MPI_Testall");
      done_ = flag != 0;
      return done_;
    }
    void wait() override { owner_.wait_for(*this); }
    int64_t sequence() const { return sequence_; }
    const std::string& what() const { return what_; }

   private:
    MpiCommunicator& owner_;
    std::vector<MPI_Request> requests_;
    int64_t sequence_;
    std::string what_;
    bool done_ = false;
  };

  void allreduce_sum(float* data, int64_t count, const std::string& what) override {
    start_allreduce_sum(data, count, what)->wait();
  }
  void allreduce_sum(double* data, int64_t count, const std::string& what) override {
    start_allreduce_sum(data, count, what)->wait();
  }
  std::unique_ptr<Request> start_allreduce_sum(float* data, int64_t count, const std::string& what) override {
    return start_allreduce(data, count, MPI_SUM, what);
  }
  std::unique_ptr<Request> start_allreduce_sum(double* data, int64_t count, const std::string& what) override {
    return start_allreduce(data, count, MPI_SUM, what);
  }
  void allreduce_max(int64_t* data, int64_t count, const std::string& what) override {
    start_allreduce(data, count, MPI_MAX, what)->wait();
  }

  void broadcast(void* data, int64_t bytes, int root, const std::string& what) override {
    const int64_t sequence = announce();
    std::vector<MPI_Request> requests;
    auto* p = static_cast<uint8_t*>(data);
    for (int64_t done = 0; done < bytes;) {
      const int n = static_cast<int>(std::min<int64_t>(bytes - done, INT_MAX));
      requests.emplace_back();
      check_mpi(MPI_Ibcast(p + done, n, MPI_UINT8_T, root, comm_, &requests.back()), "MPI_Ibcast");
      done += n;
    }
    MpiRequest(*this, std::move(requests), sequence, what).wait();
  }

  void barrier(const std::string& what) override {
    const int64_t sequence = announce();
    std::vector<MPI_Request> requests(1);
    check_mpi(MPI_Ibarrier(comm_, &requests[0]), "MPI_Ibarrier");
    MpiRequest(*this, std::move(requests), sequence, what).wait();
  }

  // Polls `request` until it completes; past the timeout, throws naming who is missing.
  void wait_for(MpiRequest& request) {
    const auto start = Clock::now();
    auto beat = start;
    int64_t polls = 0;
    while (!request.test()) {
      ++polls;
      const auto now = Clock::now();
      const auto waited = now - start;
      if (polls % 64 == 0) drain();
      if (now - beat > kHeartbeat) {
        send_sequence(request.sequence());
        beat = now;
      }
      if (waited > timeout) timed_out(request);
      // Spin briefly (a collective among ranks on one machine takes microseconds), then yield
      // the core, then sleep: a rank waiting for a slow one should not take its CPU.
      if (waited > std::chrono::milliseconds(50))
        std::this_thread::sleep_for(std::chrono::microseconds(200));
      else if (polls > 1000)
        std::this_thread::yield();
    }
  }

 private:
  template <typename T>
  std::unique_ptr<Request> start_allreduce(T* data, int64_t count, MPI_Op op, const std::string& what) {
    const int64_t sequence = announce();
    std::vector<MPI_Request> requests;
    for (int64_t done = 0; done < count;) {
      const int n = static_cast<int>(std::min<int64_t>(count - done, INT_MAX));
      requests.emplace_back();
      check_mpi(MPI_Iallreduce(MPI_IN_PLACE, data + done, n, mpi_type<T>(), op, comm_, &requests.back()),
                "MPI_Iallreduce");
      done += n;
    }
    return std::make_unique<MpiRequest>(*this, std::move(requests), sequence, what);
  }

  // This rank enters its next collective: tell rank 0 (or, on rank 0, every rank).
  int64_t announce() {
    const int64_t sequence = ++sequence_;
    arrived_[static_cast<size_t>(rank_)] = sequence;
    send_sequence(sequence);
    drain();
    return sequence;
  }

  // "This rank is in collective `sequence`" to rank 0 (from rank 0: to every rank).
  void send_sequence(int64_t sequence) {
    // Completed announcements are forgotten; the rest keep their buffer alive.
    while (!sends_.empty()) {
      int flag = 0;
      MPI_Test(&sends_.front().request, &flag, MPI_STATUS_IGNORE);
      if (!flag) break;
      sends_.pop_front();
    }
    for (int r = 0; r < size_; ++r) {
      if (r == rank_ || (rank_ != 0 && r != 0)) continue;
      sends_.push_back({sequence, MPI_REQUEST_NULL});
      Send& s = sends_.back();
      check_mpi(MPI_Isend(&s.sequence, 1, MPI_INT64_T, r, kArrivalTag, arrivals_, &s.request), "MPI_Isend");
    }
  }

  // Receives every announcement that has come in.
  void drain() {
    for (;;) {
      int flag = 0;
      MPI_Status status;
      MPI_Iprobe(MPI_ANY_SOURCE, kArrivalTag, arrivals_, &flag, &status);
      if (!flag) return;
      int64_t sequence = 0;
      MPI_Recv(&sequence, 1, MPI_INT64_T, status.MPI_SOURCE, kArrivalTag, arrivals_, MPI_STATUS_IGNORE);
      int64_t& known = arrived_[static_cast<size_t>(status.MPI_SOURCE)];
      known = std::max(known, sequence);
      heard_[static_cast<size_t>(status.MPI_SOURCE)] = Clock::now();
    }
  }

  [[noreturn]] void timed_out(const MpiRequest& request) {
    drain();
    const auto now = Clock::now();
    const auto seconds = std::chrono::duration<double>(timeout).count();
    // Rank 0 hears from every rank; the others hear from rank 0 alone.
    std::vector<std::string> absent, silent;
    for (int r = 0; r < size_; ++r) {
      if (r == rank_ || (rank_ != 0 && r != 0)) continue;
      if (arrived_[static_cast<size_t>(r)] < request.sequence())
        absent.push_back(describe_rank(r));
      else if (now - heard_[static_cast<size_t>(r)] > kSilent)
        silent.push_back(describe_rank(r));
    }
    std::string who;
    if (!absent.empty())
      who = fmt::format("{} never reached it (it hangs, died, or stopped at another point of the run)",
                        fmt::join(absent, ", "));
    if (!silent.empty())
      who += fmt::format("{}{} reached it, then stopped answering (stopped, hung or died inside it)",
                         who.empty() ? "" : "; ", fmt::join(silent, ", "));
    if (who.empty())
      who = rank_ == 0 ? "every rank reached it and still answers, yet it did not complete (was this process stopped?)"
                       : "rank 0 reached it and still answers; another rank is at fault (rank 0's message names it)";
    OT_FAIL_AS(ErrorCategory::Distributed, "{} did not finish within {:g} s on {}: {}; --dist-timeout sets the wait",
               request.what(), seconds, describe_rank(rank_), who);
  }

  struct Send {
    int64_t sequence;
    MPI_Request request;
  };

  MPI_Comm comm_ = MPI_COMM_NULL, arrivals_ = MPI_COMM_NULL;
  int rank_ = 0, size_ = 1;
  std::vector<std::string> hosts_;
  std::vector<int64_t> pids_;
  int64_t sequence_ = 0;
  std::vector<int64_t> arrived_;  // per rank: the last collective it is known to have entered
  std::vector<Clock::time_point> heard_;  // per rank: when a message of it last came
  std::deque<Send> sends_;        // announcements in flight (a deque keeps their addresses)
};

}  // namespace

bool mpi_built() { return true; }

std::shared_ptr<Communicator> mpi_communicator() {
  static std::mutex mutex;
  static std::shared_ptr<Communicator> world;
  std::lock_guard<std::mutex> lock(mutex);
  if (!world) world = std::make_shared<MpiCommunicator>();
  return world;
}

void finalize_mpi() {
  int finalized = 0;
  MPI_Finalized(&finalized);
  if (started_mpi && !finalized) MPI_Finalize();
}

}  // namespace onnx_train
