// Data-parallel TrainingSession steps (runtime/train/data_parallel.cc) without MPI: the ranks
// are threads of this process, joined by ThreadGroup, a Communicator whose collectives meet
// in memory. Ranks at batch B must step exactly as one session at batch W * B on the same
// samples: the averaging, accumulation, clipping, buckets and refusals are the library's, only
// the transport differs from mpirun's (tests/cli/distributed_cli_test.cc runs that one).
#include <gtest/gtest.h>

#include <cmath>
#include <condition_variable>
#include <cstring>
#include <filesystem>
#include <functional>
#include <mutex>
#include <thread>

#include <unistd.h>

#include "onnx_train/distributed.h"
#include "onnx_train/error.h"
#include "onnx_train/training_session.h"
#include "tests/support/mlp_model.h"

namespace onnx_train {
namespace {

using testing::make_mlp;
using testing::mlp_batch;
using testing::MlpOptions;

// Collectives among threads: each member hands in its buffer; the last to arrive does the work
// on all of them (sums in rank order, so every rank gets the same bits) and releases the rest.
class ThreadGroup {
 public:
  explicit ThreadGroup(int size) : size_(size), buffers_(static_cast<size_t>(size)) {}

  std::shared_ptr<Communicator> member(int rank);

  void collective(int rank, void* data, const std::function<void(std::vector<void*>&)>& work) {
    std::unique_lock<std::mutex> lock(mutex_);
    buffers_[static_cast<size_t>(rank)] = data;
    const int64_t generation = generation_;
    if (++arrived_ == size_) {
      work(buffers_);
      arrived_ = 0;
      ++generation_;
      changed_.notify_all();
    } else {
      changed_.wait(lock, [&] { return generation_ != generation; });
    }
  }

  int size() const { return size_; }

 private:
  int size_;
  std::mutex mutex_;
  std::condition_variable changed_;
  std::vector<void*> buffers_;
  int arrived_ = 0;
  int64_t generation_ = 0;
};

class ThreadMember : public Communicator {
 public:
  ThreadMember(ThreadGroup& group, int rank) : group_(group), rank_(rank) {}
  int rank() const override { return rank_; }
  int size() const override { return group_.size(); }
  std::string describe_rank(int rank) const override { return "rank " + std::to_string(rank); }

  class Done : public Request {
   public:
    bool test() override { return true; }
    void wait() override {}
  };

  void allreduce_sum(float* data, int64_t count, const std::string&) override { sum(data, count); }
  void allreduce_sum(double* data, int64_t count, const std::string&) override { sum(data, count); }
  // Blocking at the start: every rank starts its buckets in the same order, so none waits forever.
  std::unique_ptr<Request> start_allreduce_sum(float* data, int64_t count, const std::string&) override {
    sum(data, count);
    ++started;
    return std::make_unique<Done>();
  }
  std::unique_ptr<Request> start_allreduce_sum(double* data, int64_t count, const std::string&) override {
    sum(data, count);
    ++started;
    return std::make_unique<Done>();
  }
  void broadcast(void* data, int64_t bytes, int root, const std::string&) override {
    group_.collective(rank_, data, [&](std::vector<void*>& all) {
      for (size_t r = 0; r < all.size(); ++r)
        if (static_cast<int>(r) != root) std::memcpy(all[r], all[static_cast<size_t>(root)], static_cast<size_t>(bytes));
    });
  }
  void barrier(const std::string&) override {
    group_.collective(rank_, nullptr, [](std::vector<void*>&) {});
  }
  void allreduce_max(int64_t* data, int64_t count, const std::string&) override {
    group_.collective(rank_, data, [&](std::vector<void*>& all) {
      for (int64_t i = 0; i < count; ++i) {
        int64_t m = static_cast<int64_t*>(all[0])[i];
        for (void* p : all) m = std::max(m, static_cast<int64_t*>(p)[i]);
        for (void* p : all) static_cast<int64_t*>(p)[i] = m;
      }
    });
  }

  int64_t started = 0;  // non-blocking allreduces started (gradient buckets)

 private:
  template <typename T>
  void sum(T* data, int64_t count) {
    group_.collective(rank_, data, [&](std::vector<void*>& all) {
      for (int64_t i = 0; i < count; ++i) {
        T total = 0;
        for (void* p : all) total += static_cast<T*>(p)[i];
        for (void* p : all) static_cast<T*>(p)[i] = total;
      }
    });
  }

  ThreadGroup& group_;
  int rank_;
};

std::shared_ptr<Communicator> ThreadGroup::member(int rank) { return std::make_shared<ThreadMember>(*this, rank); }

// Rows [begin, end) of every tensor of a batch.
std::map<std::string, Tensor> rows(const std::map<std::string, Tensor>& batch, int64_t begin, int64_t end) {
  std::map<std::string, Tensor> out;
  for (const auto& [name, t] : batch) {
    Shape shape = t.shape();
    const size_t row = t.nbytes() / static_cast<size_t>(shape[0]);
    shape[0] = end - begin;
    Tensor part(t.dtype(), shape);
    std::memcpy(part.raw_data(), static_cast<const uint8_t*>(t.raw_data()) + row * static_cast<size_t>(begin),
                part.nbytes());
    out[name] = part;
  }
  return out;
}

struct Run {
  std::vector<double> losses;
  std::map<std::string, std::vector<double>> parameters;  // and running statistics
  AllreduceStats stats;
};

Run finish(TrainingSession& s, std::vector<double> losses) {
  Run run{std::move(losses), {}, s.allreduce_stats()};
  for (const auto& name : s.parameter_names()) run.parameters[name] = s.parameter(name).to_doubles();
  for (const auto& name : s.buffer_names()) run.parameters[name] = s.parameter(name).to_doubles();
  return run;
}

// `steps` batches of `ranks` * `per_rank` samples, trained by one session, and by `ranks`
// sessions on threads each taking its contiguous rows of every batch.
struct Comparison {
  Run one;
  std::vector<Run> ranks;
};

Comparison compare(const std::string& model, TrainingOptions options, int ranks, int per_rank, int steps,
                   const std::function<void(int rank, TrainingOptions&)>& per_rank_options = nullptr) {
  std::vector<std::map<std::string, Tensor>> batches;
  for (int k = 0; k < steps; ++k) batches.push_back(mlp_batch(ranks * per_rank, 100 + static_cast<unsigned>(k)));
  Comparison c;
  {
    TrainingSession one = TrainingSession::from_file(model, options);
    std::vector<double> losses;
    for (const auto& b : batches) losses.push_back(one.train_step(b).loss);
    if (one.pending_micro_batches() > 0) one.optimizer_step();
    c.one = finish(one, losses);
  }
  ThreadGroup group(ranks);
  c.ranks.resize(static_cast<size_t>(ranks));
  std::vector<std::string> errors(static_cast<size_t>(ranks));
  std::vector<std::thread> threads;
  for (int r = 0; r < ranks; ++r) {
    threads.emplace_back([&, r] {
      try {
        TrainingOptions mine = options;
        mine.distributed.communicator = group.member(r);
        if (per_rank_options) per_rank_options(r, mine);
        TrainingSession s = TrainingSession::from_file(model, mine);
        std::vector<double> losses;
        for (const auto& b : batches) losses.push_back(s.train_step(rows(b, r * per_rank, (r + 1) * per_rank)).loss);
        if (s.pending_micro_batches() > 0) s.optimizer_step();
        c.ranks[static_cast<size_t>(r)] = finish(s, losses);
      } catch (const std::exception& e) {
        errors[static_cast<size_t>(r)] = e.what();
      }
    });
  }
  for (auto& t : threads) t.join();
  for (const auto& e : errors) EXPECT_EQ(e, "");
  return c;
}

void expect_close(const std::vector<double>& a, const std::vector<double>& b, double rtol, const std::string& what) {
  ASSERT_EQ(a.size(), b.size()) << what;
  double scale = 0;
  for (double v : a) scale = std::max(scale, std::abs(v));
  for (size_t i = 0; i < a.size(); ++i)
    ASSERT_NEAR(a[i], b[i], rtol * std::max(std::abs(a[i]), 1e-3 * scale)) << what << " [" << i << "]";
}

void expect_same_training(const Comparison& c, double rtol = 1e-5) {
  for (size_t r = 0; r < c.ranks.size(); ++r) {
    const Run& rank = c.ranks[r];
    expect_close(c.one.losses, rank.losses, rtol, "loss, rank " + std::to_string(r));
    for (const auto& [name, value] : c.one.parameters)
      expect_close(value, rank.parameters.at(name), rtol, name + ", rank " + std::to_string(r));
    // Every rank holds the very same weights.
    EXPECT_EQ(rank.parameters, c.ranks[0].parameters) << "rank " << r;
  }
}

class DataParallelSession : public ::testing::Test {
 protected:
  void SetUp() override {
    dir_ = std::filesystem::temp_directory_path() /
           ("onnx_train_dp_" + std::to_string(::getpid()) + "_" +
            ::testing::UnitTest::GetInstance()->current_test_info()->name());
    std::filesystem::create_directories(dir_);
  }
  void TearDown() override { std::filesystem::remove_all(dir_); }
  std::string mlp(const MlpOptions& options = {}) { return make_mlp((dir_ / "mlp.onnx").string(), options); }
  std::filesystem::path dir_;
};

TEST_F(DataParallelSession, TwoRanksStepAsOneSessionOnBothBatches) {
  TrainingOptions options;
  options.learning_rate = 0.05;
  options.optimizer.kind = "sgd";
  options.optimizer.momentum = 0.9;
  const Comparison c = compare(mlp(), options, 2, 4, 6);
  expect_same_training(c);
  EXPECT_EQ(c.ranks[0].stats.steps, 6);
  EXPECT_EQ(c.ranks[0].stats.buckets, 1);  // a tiny model fits one 25 MB bucket
}

TEST_F(DataParallelSession, ThreeRanksWithAdamWAndClippingOnTheGlobalGradient) {
  TrainingOptions options;
  options.learning_rate = 0.01;
  options.clip_grad_norm = 0.5;  // the averaged gradient's norm, as one session sees it
  expect_same_training(compare(mlp(), options, 3, 4, 5));
}

TEST_F(DataParallelSession, AccumulationCommunicatesOnlyOnTheStepThatSteps) {
  TrainingOptions options;
  options.learning_rate = 0.05;
  options.optimizer.kind = "sgd";
  options.accumulation_steps = 2;
  // 5 micro-batches: two steps, then the partial accumulation finished by optimizer_step.
  const Comparison c = compare(mlp(), options, 2, 4, 5);
  expect_same_training(c);
  EXPECT_EQ(c.ranks[0].stats.steps, 3);
}

TEST_F(DataParallelSession, SmallBucketsInBackwardOrderGiveTheSameStep) {
  TrainingOptions options;
  options.learning_rate = 0.05;
  options.optimizer.kind = "sgd";
  options.distributed.bucket_bytes = 64;  // about one parameter each
  const Comparison c = compare(mlp(), options, 2, 4, 4);
  expect_same_training(c);
  EXPECT_GE(c.ranks[0].stats.buckets, 3);  // of fc1.weight, fc1.bias, fc2.weight, fc2.bias
  EXPECT_EQ(c.ranks[0].stats.bytes, (8 * 4 + 8 + 3 * 8 + 3) * 4);
}

TEST_F(DataParallelSession, ASumLossSumsOverRanksAsOverOneBatch) {
  TrainingOptions options;
  options.learning_rate = 0.01;
  options.optimizer.kind = "sgd";
  options.loss.reduction = "sum";
  expect_same_training(compare(mlp(), options, 2, 4, 4));
}

TEST_F(DataParallelSession, EveryRankStartsFromRankZerosWeights) {
  // Rank 1 would draw another new classifier head from another seed; rank 0's is broadcast.
  TrainingOptions options;
  options.num_classes = 3;
  options.learning_rate = 0.05;
  options.optimizer.kind = "sgd";
  const Comparison c =
      compare(mlp(), options, 2, 4, 2, [](int rank, TrainingOptions& o) { o.seed = rank == 0 ? 0 : 99; });
  expect_same_training(c);
}

TEST_F(DataParallelSession, RunningStatisticsAreRankZerosAfterEveryStep) {
  MlpOptions model;
  model.batch_norm = true;
  TrainingOptions options;
  options.learning_rate = 0.05;
  options.optimizer.kind = "sgd";
  const std::string path = mlp(model);
  const Comparison c = compare(path, options, 2, 4, 3);
  for (const auto& [name, value] : c.ranks[0].parameters)
    EXPECT_EQ(value, c.ranks[1].parameters.at(name)) << name;
}

// A NaN gradient is refused on every rank by the optimizer's check of the averaged gradient; a
// NaN loss is caught before, on its own rank, and must stop the others too.
TEST_F(DataParallelSession, ANonFiniteLossOnOneRankRefusesTheStepOnAll) {
  const std::string path = mlp();
  TrainingOptions options;
  options.optimizer.kind = "sgd";
  ThreadGroup group(2);
  std::string messages[2];
  std::vector<double> before[2], after[2];
  std::vector<std::thread> threads;
  for (int r = 0; r < 2; ++r) {
    threads.emplace_back([&, r] {
      TrainingOptions mine = options;
      mine.distributed.communicator = group.member(r);
      TrainingSession s = TrainingSession::from_file(path, mine);
      auto batch = mlp_batch(4, 7);
      if (r == 1)  // overflows to Inf in the first layer, NaN in the logits and the loss
        for (int j = 0; j < 4; ++j) batch.at("x").data<float>()[j] = 3e38f;
      before[r] = s.parameter("fc1.weight").to_doubles();
      try {
        s.train_step(batch);
      } catch (const NonFiniteStep& e) {
        messages[r] = e.what();
      }
      after[r] = s.parameter("fc1.weight").to_doubles();
      EXPECT_EQ(s.step(), 0);
    });
  }
  for (auto& t : threads) t.join();
  EXPECT_NE(messages[0].find("on 1 other rank; nothing was updated on any rank"), std::string::npos) << messages[0];
  EXPECT_NE(messages[1].find("the loss is nan at step 1 on rank 1"), std::string::npos) << messages[1];
  EXPECT_EQ(before[0], after[0]);
  EXPECT_EQ(before[1], after[1]);
}

}  // namespace
}  // namespace onnx_train
