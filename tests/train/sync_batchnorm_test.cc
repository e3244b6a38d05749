// Synchronised BatchNormalization (runtime/transforms/sync_batchnorm.h) and its collective op,
// AllReduceSum (runtime/kernels/reference/collectives.cc, gradients/rules/collectives.cc).
//
// The model is the train-mode parity fixture (tests/data/make_train_mode_parity.py): Conv,
// ReLU, BatchNorm2d over [4, 4, 5, 5], pool, Linear, BatchNorm1d over [4, 6], at opsets 9 and
// 15. In one process (group 0) the rewritten graph must compute what the fused training-form
// node does: the output, the batch statistics, the running-statistic updates and every
// parameter gradient, within 1e-5 of the largest element of each tensor (both sides float32).
//
// Two ranks in one process, two ways: a group whose allreduce doubles its data (two ranks
// holding the same batch: the global batch is the local one twice, so the output, statistics
// and gradients are the fused node's while the running variance's M / (M - 1) uses M over both
// ranks); and two threads, each a rank with half of the batch, whose outputs, statistics and
// mean gradient must be the fused node's on the whole batch. A wrong gradient rule for
// AllReduceSum (the identity, say) fails both by errors near 1.
#include "runtime/transforms/sync_batchnorm.h"

#include <gtest/gtest.h>

#include <algorithm>
#include <chrono>
#include <cmath>
#include <condition_variable>
#include <iostream>
#include <map>
#include <memory>
#include <mutex>
#include <optional>
#include <random>
#include <set>
#include <string>
#include <thread>
#include <vector>

#include "gradients/autodiff.h"
#include "gradients/losses.h"
#include "importers/onnx_model.h"
#include "runtime/distributed/process_groups.h"
#include "runtime/exec/plan.h"
#include "tests/support/kernel_harness.h"
#include "tests/support/model_builder.h"
#include "tests/support/onnx_test_case.h"

namespace onnx_train {
namespace {

using testing::feeds_for;
using testing::output_index;

const std::string kParityDir = std::string(ONNX_TRAIN_SOURCE_DIR) + "/tests/data/train_mode_parity";
const std::vector<std::string> kParameters{"conv.weight", "conv.bias", "bn1.weight", "bn1.bias",
                                           "fc.weight",   "fc.bias",   "bn2.weight", "bn2.bias"};
const double kTolerance = 1e-5;

// Two ranks that hold the same data, seen from rank 0: every sum over ranks is twice the value.
class DuplicatedRanks : public Communicator {
 public:
  int rank() const override { return 0; }
  int size() const override { return 2; }
  std::string describe_rank(int rank) const override { return "rank " + std::to_string(rank); }
  void allreduce_sum(float* data, int64_t count, const std::string& what) override { twice(data, count, what); }
  void allreduce_sum(double* data, int64_t count, const std::string& what) override { twice(data, count, what); }
  std::unique_ptr<Request> start_allreduce_sum(float* data, int64_t count, const std::string& what) override {
    twice(data, count, what);
    return std::make_unique<Done>();
  }
  std::unique_ptr<Request> start_allreduce_sum(double* data, int64_t count, const std::string& what) override {
    twice(data, count, what);
    return std::make_unique<Done>();
  }
  void broadcast(void*, int64_t, int, const std::string&) override {}
  void barrier(const std::string&) override {}
  void allreduce_max(int64_t*, int64_t, const std::string&) override {}

  std::vector<std::string> whats;  // the `what` of every allreduce, in order

 private:
  struct Done : Request {
    bool test() override { return true; }
    void wait() override {}
  };
  template <typename T>
  void twice(T* data, int64_t count, const std::string& what) {
    for (int64_t i = 0; i < count; ++i) data[i] *= 2;
    whats.push_back(what);
  }
};

// The process group of DuplicatedRanks (registered once per process).
std::pair<int64_t, DuplicatedRanks*> duplicated_group() {
  static const auto ranks = std::make_shared<DuplicatedRanks>();
  static const int64_t id = register_process_group(ranks);
  return {id, ranks.get()};
}

// Two ranks as two threads of this process: each allreduce waits until both ranks have given
// their part, then hands both the sum (rank 0's part + rank 1's, in double).
class ThreadRanks : public std::enable_shared_from_this<ThreadRanks> {
 public:
  // Rank r's communicator (r = 0 or 1).
  std::shared_ptr<Communicator> rank(int r) { return std::make_shared<Rank>(shared_from_this(), r); }

 private:
  class Rank : public Communicator {
   public:
    Rank(std::shared_ptr<ThreadRanks> ranks, int rank) : ranks_(std::move(ranks)), rank_(rank) {}
    int rank() const override { return rank_; }
    int size() const override { return 2; }
    std::string describe_rank(int rank) const override { return "thread rank " + std::to_string(rank); }
    void allreduce_sum(float* data, int64_t count, const std::string&) override { ranks_->sum(rank_, data, count); }
    void allreduce_sum(double* data, int64_t count, const std::string&) override { ranks_->sum(rank_, data, count); }
    std::unique_ptr<Request> start_allreduce_sum(float*, int64_t, const std::string&) override {
      OT_FAIL("not used by the graph's collectives");
    }
    std::unique_ptr<Request> start_allreduce_sum(double*, int64_t, const std::string&) override {
      OT_FAIL("not used by the graph's collectives");
    }
    void broadcast(void*, int64_t, int, const std::string&) override {}
    void barrier(const std::string&) override {}
    void allreduce_max(int64_t*, int64_t, const std::string&) override {}

   private:
    std::shared_ptr<ThreadRanks> ranks_;
    int rank_;
  };

  // The sum is overwritten only when both ranks have arrived at the next allreduce, so the rank
  // that wakes last still reads its own round's.
  template <typename T>
  void sum(int rank, T* data, int64_t count) {
    std::unique_lock<std::mutex> lock(mutex_);
    parts_[rank].assign(data, data + count);
    const int64_t round = round_;
    if (++arrived_ == 2) {
      OT_CHECK(parts_[0].size() == parts_[1].size(), "the ranks' allreduce sizes differ: {} and {}", parts_[0].size(),
               parts_[1].size());
      sum_.resize(parts_[0].size());
      for (size_t i = 0; i < sum_.size(); ++i) sum_[i] = parts_[0][i] + parts_[1][i];
      arrived_ = 0;
      ++round_;
      woken_.notify_all();
    } else {
      OT_CHECK(woken_.wait_for(lock, std::chrono::seconds(60), [&] { return round_ != round; }),
               "rank {}: the other rank did not reach allreduce {}", rank, round);
    }
    for (int64_t i = 0; i < count; ++i) data[i] = static_cast<T>(sum_[static_cast<size_t>(i)]);
  }

  std::mutex mutex_;
  std::condition_variable woken_;
  std::vector<double> parts_[2], sum_;
  int arrived_ = 0;
  int64_t round_ = 0;
};

// Rows [begin, end) of a float32 tensor (samples of a batch).
Tensor rows(const Tensor& t, int64_t begin, int64_t end) {
  EXPECT_EQ(t.dtype(), DType::Float32);
  const int64_t row = t.numel() / t.shape()[0];
  const std::vector<double> all = t.to_doubles();
  Shape shape = t.shape();
  shape[0] = end - begin;
  return Tensor::from<float>(shape, std::vector<float>(all.begin() + begin * row, all.begin() + end * row));
}

// max |actual - expected| / max(|expected|, floor): the error relative to the tensor's scale.
double relative_error(const Tensor& expected, const Tensor& actual, double floor = 0) {
  EXPECT_EQ(expected.shape(), actual.shape());
  const std::vector<double> e = expected.to_doubles(), a = actual.to_doubles();
  if (e.size() != a.size()) return INFINITY;
  double diff = 0, scale = floor;
  for (size_t i = 0; i < e.size(); ++i) {
    diff = std::max(diff, std::abs(a[i] - e[i]));
    scale = std::max(scale, std::abs(e[i]));
  }
  return scale > 0 ? diff / scale : diff;
}

// One training step of the fixture model: training form, optionally synchronised over
// `group`, an MSE loss on y, the gradients of every parameter. The batch statistics outputs of
// the BatchNormalization nodes are made graph outputs before the rewrite.
struct Step {
  std::unique_ptr<Graph> graph;  // the plan refers to it
  TrainingForm form;
  std::vector<std::string> batch_stats;        // bn1 mean, var, bn2 mean, var
  std::map<std::string, std::string> grad_of;  // parameter -> its gradient output
  std::map<std::string, float> momentum;       // ONNX momentum by running statistic
  std::unique_ptr<Plan> plan;
  // After run():
  std::map<std::string, Tensor> out;    // every graph output by name
  std::map<std::string, Tensor> grads;  // by parameter

  void run(const Tensor& x, const Tensor& label) {
    const std::vector<Tensor> got = plan->run(feeds_for(*graph, {{"x", x}, {"label", label}}));
    for (size_t i = 0; i < got.size(); ++i) out[graph->outputs[i].name] = got[i];
    for (const auto& [p, grad] : grad_of) grads[p] = out.at(grad);
  }
};

Step make_step(const std::string& model, const std::vector<std::string>& parameters, std::optional<int64_t> group) {
  Step s;
  s.graph = std::make_unique<Graph>(load_onnx_model(model));
  Graph& graph = *s.graph;
  for (const Node& n : graph.nodes)
    if (n.op_type == "BatchNormalization") s.momentum[n.inputs[4]] = n.attr_float("momentum", 0.9f);
  s.form = to_training_form(graph, 1);
  for (const Node& n : graph.nodes) {
    if (n.op_type != "BatchNormalization") continue;
    const size_t first = n.since_version >= 14 ? 1 : 3;
    for (size_t i = first; i < first + 2; ++i) {
      s.batch_stats.push_back(n.outputs[i]);
      graph.outputs.push_back(graph.value_info.at(n.outputs[i]));
      graph.value_info.erase(n.outputs[i]);
    }
  }
  if (group) sync_batchnorm(graph, s.form, *group);
  const AppendedLoss loss = append_loss(graph, {LossKind::MSE, "y"});
  s.grad_of = build_gradient_graph(graph, loss.loss, parameters).gradients;
  s.plan = std::make_unique<Plan>(graph, KernelRegistry::global(), model);
  return s;
}

// make_step of the fixture model and its parameters.
Step make_step(const std::string& fixture, std::optional<int64_t> group) {
  return make_step(kParityDir + "/" + fixture + "/model.onnx", kParameters, group);
}

// The fixture's batch (x [4, 3, 5, 5], label [4, 6]).
Tensor fixture_tensor(const std::string& fixture, const std::string& name) {
  return read_tensor_proto_file(kParityDir + "/" + fixture + "/" + name + ".pb");
}

// make_step, run on the fixture's batch.
Step run_step(const std::string& fixture, std::optional<int64_t> group) {
  Step s = make_step(fixture, group);
  s.run(fixture_tensor(fixture, "x"), fixture_tensor(fixture, "label"));
  return s;
}

// Gradients that are zero in exact arithmetic: bn1.bias and fc.bias each add a per-channel
// constant to bn2's input over the whole batch, which bn2 subtracts again. Both sides give
// float32 rounding noise there (the fused kernel's up to 4e-6, the composed ops' 1e-7), so
// their error is measured against the largest element of any parameter gradient instead.
const std::set<std::string> kZeroGradients{"bn1.bias", "fc.bias"};

// The relative error of `got`, a gradient of parameter p, against the fused step's.
double gradient_error(const Step& fused, const Tensor& got, const std::string& p) {
  double scale = 0;
  if (kZeroGradients.count(p))
    for (const auto& [name, g] : fused.grads)
      for (double v : g.to_doubles()) scale = std::max(scale, std::abs(v));
  return relative_error(fused.grads.at(p), got, scale);
}

class SyncBatchNorm : public ::testing::TestWithParam<std::string> {};

// In one process the rewritten graph is the fused training-form node, output, statistics,
// updates and gradients alike.
TEST_P(SyncBatchNorm, OneProcessMatchesTheFusedTrainingForm) {
  const Step fused = run_step(GetParam(), std::nullopt);
  const Step synced = run_step(GetParam(), 0);
  ASSERT_EQ(synced.batch_stats, fused.batch_stats);
  double worst_y = 0, worst_stat = 0, worst_update = 0, worst_grad = 0;
  auto check = [&](const Tensor& expected, const Tensor& actual, const std::string& what, double& worst) {
    const double error = relative_error(expected, actual);
    EXPECT_LE(error, kTolerance) << what;
    worst = std::max(worst, error);
  };
  check(fused.out.at("y"), synced.out.at("y"), "y", worst_y);
  for (const auto& name : fused.batch_stats) check(fused.out.at(name), synced.out.at(name), name, worst_stat);
  ASSERT_EQ(synced.form.running_stats.size(), 2u);
  for (const RunningStat& r : fused.form.running_stats)
    for (const auto& name : {r.updated_mean, r.updated_var})
      check(fused.out.at(name), synced.out.at(name), name, worst_update);
  for (const auto& p : kParameters) {
    const double error = gradient_error(fused, synced.grads.at(p), p);
    EXPECT_LE(error, kTolerance) << p << " gradient";
    worst_grad = std::max(worst_grad, error);
  }
  std::cout << fmt::format(
      "[sync batchnorm] {}: relative error y {:.3g}, batch statistics {:.3g}, running statistics {:.3g}, "
      "gradients {:.3g}\n",
      GetParam(), worst_y, worst_stat, worst_update, worst_grad);
}

// The rewrite keeps every name the rest of the graph reads, names its own nodes
// "sync_batchnorm/...", types every new value, keeps the nodes sorted, and leaves no
// BatchNormalization; its AllReduceSum nodes carry the group.
TEST_P(SyncBatchNorm, RewriteKeepsNamesTypesAndOrder) {
  Graph graph = load_onnx_model(kParityDir + "/" + GetParam() + "/model.onnx");
  const TrainingForm form = to_training_form(graph, 1);
  const Graph before = graph;
  const int64_t group = duplicated_group().first;
  sync_batchnorm(graph, form, group);

  std::set<std::string> old_nodes;
  for (const Node& n : before.nodes) old_nodes.insert(n.name);
  std::set<std::string> available;
  for (const auto& v : graph.inputs) available.insert(v.name);
  for (const auto& [name, t] : graph.initializers) available.insert(name);
  int all_reduce = 0;
  for (const Node& n : graph.nodes) {
    EXPECT_NE(n.op_type, "BatchNormalization");
    if (!old_nodes.count(n.name)) EXPECT_EQ(n.name.rfind("sync_batchnorm/", 0), 0u) << n.name;
    for (const auto& in : n.inputs) EXPECT_TRUE(in.empty() || available.count(in)) << n.name << " reads " << in;
    for (const auto& out : n.outputs) {
      available.insert(out);
      const ValueInfo* info = graph.find_value_info(out);
      EXPECT_TRUE(info != nullptr && info->dtype != DType::Undefined && info->shape) << out;
    }
    if (n.op_type == "AllReduceSum") {
      ++all_reduce;
      EXPECT_EQ(n.domain, kProjectDomain);
      EXPECT_EQ(n.since_version, 1);
      EXPECT_EQ(n.attr_int("group"), group);
    }
  }
  EXPECT_EQ(all_reduce, 6);  // M, the sum and the squared deviations' sum, per node
  // Every value the old graph's remaining nodes and outputs read is still produced.
  for (const Node& n : before.nodes)
    for (const auto& in : n.inputs)
      if (!in.empty() && n.op_type != "BatchNormalization") EXPECT_TRUE(available.count(in)) << in;
  for (const auto& v : before.outputs) EXPECT_TRUE(available.count(v.name)) << v.name;
  EXPECT_EQ(graph.outputs.size(), before.outputs.size());
  EXPECT_EQ(graph.opsets.at(kProjectDomain), 1);
}

// Two ranks with the same batch: the global batch is the local one twice, so y, the batch
// statistics and the gradients are the fused node's; the running variance's unbiasing factor
// uses M over both ranks, 2M / (2M - 1).
TEST_P(SyncBatchNorm, TwoRanksWithTheSameBatchMatchTheFusedNodeWithTwiceM) {
  const Step fused = run_step(GetParam(), std::nullopt);
  auto [group, ranks] = duplicated_group();
  ranks->whats.clear();
  const Step synced = run_step(GetParam(), group);
  // Forward: 3 per node; backward: the sum's and the squared deviations' gradients, 2 per node.
  EXPECT_EQ(ranks->whats.size(), 10u);
  for (const auto& what : ranks->whats)
    EXPECT_EQ(what.rfind("the synchronised BatchNormalization statistics of node '", 0), 0u) << what;

  EXPECT_LE(relative_error(fused.out.at("y"), synced.out.at("y")), kTolerance);
  for (const auto& name : fused.batch_stats)
    EXPECT_LE(relative_error(fused.out.at(name), synced.out.at(name)), kTolerance) << name;
  double worst_grad = 0;
  for (const auto& p : kParameters) {
    const double error = gradient_error(fused, synced.grads.at(p), p);
    EXPECT_LE(error, kTolerance) << p;
    worst_grad = std::max(worst_grad, error);
  }
  for (size_t k = 0; k < 2; ++k) {
    const RunningStat& r = synced.form.running_stats[k];
    EXPECT_LE(relative_error(fused.out.at(r.updated_mean), synced.out.at(r.updated_mean)), kTolerance);
    // updated_var = var * m + batch_var * 2M / (2M - 1) * (1 - m), M the values per channel.
    const std::vector<double> var = synced.graph->initializers.at(r.var).to_doubles();
    const std::vector<double> batch_var = fused.out.at(fused.batch_stats[2 * k + 1]).to_doubles();
    const Node& bn = *std::find_if(fused.graph->nodes.begin(), fused.graph->nodes.end(),
                                   [&](const Node& n) { return n.name == r.node; });
    const Shape x_shape = *fused.graph->shape_of(bn.inputs[0]);
    const double m = shape_numel(x_shape) / x_shape[1], momentum = synced.momentum.at(r.var);
    std::vector<double> expected(var.size());
    for (size_t c = 0; c < var.size(); ++c)
      expected[c] = var[c] * momentum + batch_var[c] * (2 * m) / (2 * m - 1) * (1 - momentum);
    EXPECT_LE(relative_error(Tensor::from<double>({static_cast<int64_t>(var.size())}, expected),
                             synced.out.at(r.updated_var)),
              kTolerance)
        << r.updated_var;
  }
  std::cout << fmt::format("[sync batchnorm] {}: two ranks with one batch, gradient relative error {:.3g}\n",
                           GetParam(), worst_grad);
}

// Two ranks in two threads, each with half of the batch (samples 0-1 and 2-3): together they
// are the fused node on the whole batch, as torch.nn.SyncBatchNorm is BatchNorm over the global
// batch. Each rank's y is its half of the fused y; each rank's batch and running statistics are
// the fused ones; the mean of the ranks' gradients (each rank's MSE is the mean over its half,
// and the data-parallel step averages them) is the fused gradient.
TEST_P(SyncBatchNorm, TwoRanksWithHalfTheBatchEachAreTheFusedNodeOnTheWholeBatch) {
  const Step fused = run_step(GetParam(), std::nullopt);
  const auto ranks = std::make_shared<ThreadRanks>();
  std::vector<Step> steps;
  for (int r = 0; r < 2; ++r) steps.push_back(make_step(GetParam(), register_process_group(ranks->rank(r))));
  const Tensor x = fixture_tensor(GetParam(), "x"), label = fixture_tensor(GetParam(), "label");
  std::string errors[2];
  auto run_rank = [&](int r) {
    try {
      steps[r].run(rows(x, 2 * r, 2 * r + 2), rows(label, 2 * r, 2 * r + 2));
    } catch (const std::exception& e) {
      errors[r] = e.what();
    }
  };
  std::thread other(run_rank, 1);
  run_rank(0);
  other.join();
  ASSERT_EQ(errors[0], "");
  ASSERT_EQ(errors[1], "");

  std::vector<double> y = steps[0].out.at("y").to_doubles();
  for (double v : steps[1].out.at("y").to_doubles()) y.push_back(v);
  const double y_error = relative_error(fused.out.at("y"), Tensor::from<double>(fused.out.at("y").shape(), y));
  EXPECT_LE(y_error, kTolerance);
  double worst_stat = 0, worst_grad = 0;
  for (const Step& s : steps) {
    for (const auto& name : fused.batch_stats)
      worst_stat = std::max(worst_stat, relative_error(fused.out.at(name), s.out.at(name)));
    for (const RunningStat& r : fused.form.running_stats)
      for (const auto& name : {r.updated_mean, r.updated_var})
        worst_stat = std::max(worst_stat, relative_error(fused.out.at(name), s.out.at(name)));
  }
  EXPECT_LE(worst_stat, kTolerance);
  for (const auto& p : kParameters) {
    const std::vector<double> g0 = steps[0].grads.at(p).to_doubles(), g1 = steps[1].grads.at(p).to_doubles();
    std::vector<double> mean(g0.size());
    for (size_t i = 0; i < g0.size(); ++i) mean[i] = (g0[i] + g1[i]) / 2;
    const double error = gradient_error(fused, Tensor::from<double>(fused.grads.at(p).shape(), mean), p);
    EXPECT_LE(error, kTolerance) << p;
    worst_grad = std::max(worst_grad, error);
  }
  std::cout << fmt::format(
      "[sync batchnorm] {}: two ranks with half the batch each, relative error y {:.3g}, statistics {:.3g}, "
      "mean gradient {:.3g}\n",
      GetParam(), y_error, worst_stat, worst_grad);
}

INSTANTIATE_TEST_SUITE_P(Fixtures, SyncBatchNorm, ::testing::Values("opset9", "opset15"),
                         [](const auto& info) { return info.param; });

TEST(SyncBatchNorm, AllReduceSumOfOneProcessIsItsInput) {
  const Node node = testing::make_gradient_node("AllReduceSum", 1, 1, {{"group", Attribute::of_int(0)}});
  const Tensor f = testing::random_float32({3, 4}, 7);
  EXPECT_EQ(testing::run_node(node, {f})[0].to_doubles(), f.to_doubles());
  const Tensor d = Tensor::from<double>({2}, {1.5, -2.25});
  const Tensor y = testing::run_node(node, {d})[0];
  EXPECT_EQ(y.dtype(), DType::Float64);
  EXPECT_EQ(y.to_doubles(), d.to_doubles());
}

TEST(SyncBatchNorm, AllReduceSumSumsOverTheGroupIntoANewTensor) {
  auto [group, ranks] = duplicated_group();
  ranks->whats.clear();
  Node node = testing::make_gradient_node("AllReduceSum", 1, 1, {{"group", Attribute::of_int(group)}});
  node.name = "bn1";
  const Tensor x = Tensor::from<float>({2, 2}, {1, 2, 3, -4});
  EXPECT_EQ(testing::run_node(node, {x})[0].to_doubles(), (std::vector<double>{2, 4, 6, -8}));
  EXPECT_EQ(x.to_doubles(), (std::vector<double>{1, 2, 3, -4}));  // the input is not summed in place
  ASSERT_EQ(ranks->whats.size(), 1u);
  EXPECT_EQ(ranks->whats[0], "the synchronised BatchNormalization statistics of node 'bn1'");
  EXPECT_NE(
      testing::error_of([&] { testing::run_node(node, {Tensor::from<int64_t>({1}, {3})}); }).find("float32 or float64"),
      std::string::npos);
  const Node unknown = testing::make_gradient_node("AllReduceSum", 1, 1, {{"group", Attribute::of_int(987654)}});
  EXPECT_NE(testing::error_of([&] { testing::make_kernel(unknown); }).find("process group 987654"), std::string::npos);
}

// dX = AllReduceSum(dY) in the same group: for y = x0 + x1 read by both ranks' losses
// L_r = sum(r * y), dL/dx0 = 2r.
TEST(SyncBatchNorm, AllReduceSumGradientSumsTheRanksGradients) {
  const int64_t group = duplicated_group().first;
  testing::TempDir dir;
  testing::ModelBuilder m(13);
  m.opset_import(kProjectDomain, 1);
  m.input("x", onnx::TensorProto::FLOAT, {2, 3});
  m.input("r", onnx::TensorProto::FLOAT, {2, 3});
  m.node("AllReduceSum", {"x"}, {"y"}, kProjectDomain);
  m.attr("group", group);
  m.node("Mul", {"y", "r"}, {"t"});
  m.node("ReduceSum", {"t"}, {"loss"});
  m.attr("keepdims", 0);
  m.output("loss", onnx::TensorProto::FLOAT, {});
  m.save(dir.path() + "/model.onnx");
  Graph graph = load_onnx_model(dir.path() + "/model.onnx");
  const GradientGraph grads = build_gradient_graph(graph, "loss", {"x"});
  int all_reduce = 0;
  for (const Node& n : graph.nodes)
    if (n.op_type == "AllReduceSum") {
      ++all_reduce;
      EXPECT_EQ(n.attr_int("group"), group);
    }
  EXPECT_EQ(all_reduce, 2);
  const Tensor x = testing::random_float32({2, 3}, 3), r = testing::random_float32({2, 3}, 4);
  const auto out = Plan(graph, KernelRegistry::global(), "allreduce").run({x, r});
  const std::vector<double> dx = out[output_index(graph, grads.gradients.at("x"))].to_doubles();
  const std::vector<double> rs = r.to_doubles();
  for (size_t i = 0; i < rs.size(); ++i) EXPECT_EQ(dx[i], 2 * rs[i]) << i;
}

TEST(SyncBatchNorm, LeavesAGraphWithoutBatchNormalizationUnchanged) {
  testing::TempDir dir;
  testing::ModelBuilder m(13);
  m.input("x", onnx::TensorProto::FLOAT, {2, 3});
  m.initializer("w", Tensor::from<float>({3, 2}, {1, 2, 3, 4, 5, 6}));
  m.node("MatMul", {"x", "w"}, {"h"});
  m.node("Relu", {"h"}, {"y"});
  m.output("y", onnx::TensorProto::FLOAT, {2, 2});
  m.save(dir.path() + "/model.onnx");
  Graph graph = load_onnx_model(dir.path() + "/model.onnx");
  const TrainingForm form = to_training_form(graph, 1);
  const Graph before = graph;
  sync_batchnorm(graph, form, 0);
  ASSERT_EQ(graph.nodes.size(), before.nodes.size());
  for (size_t i = 0; i < graph.nodes.size(); ++i) {
    EXPECT_EQ(graph.nodes[i].name, before.nodes[i].name);
    EXPECT_EQ(graph.nodes[i].inputs, before.nodes[i].inputs);
    EXPECT_EQ(graph.nodes[i].outputs, before.nodes[i].outputs);
  }
  EXPECT_EQ(graph.value_info.size(), before.value_info.size());
  EXPECT_EQ(graph.outputs.size(), before.outputs.size());
  EXPECT_EQ(graph.opsets, before.opsets);
}

// Refusals leave the graph as it was: an input of unknown rank (no axes for the statistics),
// and a node in inference form.
TEST(SyncBatchNorm, RefusesAnUnknownRankOrAnInferenceFormNode) {
  Graph graph = load_onnx_model(kParityDir + "/opset15/model.onnx");
  const Graph exported = graph;
  const TrainingForm form = to_training_form(graph, 1);
  Graph unknown_rank = graph;
  unknown_rank.value_info.at("/Relu_output_0").shape.reset();  // the input of bn1
  const size_t nodes = unknown_rank.nodes.size();
  const std::string error = testing::error_of([&] { sync_batchnorm(unknown_rank, form, 0); });
  EXPECT_NE(error.find("the rank of its input '/Relu_output_0' is unknown"), std::string::npos) << error;
  EXPECT_EQ(unknown_rank.nodes.size(), nodes);

  Graph inference = exported;
  EXPECT_NE(testing::error_of([&] { sync_batchnorm(inference, form, 0); }).find("inference form"), std::string::npos);
  EXPECT_EQ(inference.nodes.size(), exported.nodes.size());
}

// y = BatchNormalization(x * (x + w)), w [x's shape without N] trainable like scale and B, in
// one process: the rewrite against the fused node at other ranks, types, opsets and forms.
// (Not x * w: BatchNormalization undoes a per-channel scale, so with per-channel statistics
// w's gradient would be zero but for epsilon, and only rounding noise would be compared.)
struct BnCase {
  const char* name;
  int opset;
  int elem_type;                    // onnx::TensorProto::FLOAT or DOUBLE
  Shape x;                          // x's declared shape; -1: a batch the model leaves open
  bool spatial;                     // false: BatchNormalization-7's per-activation statistics (spatial=0)
  bool float64_statistics = false;  // running mean and variance float64 whatever x's type (version 15)
};

class SyncBatchNormForms : public ::testing::TestWithParam<BnCase> {};

TEST_P(SyncBatchNormForms, OneProcessMatchesTheFusedTrainingForm) {
  const BnCase& c = GetParam();
  const DType dtype = c.elem_type == onnx::TensorProto::FLOAT ? DType::Float32 : DType::Float64;
  Shape x_shape = c.x;
  x_shape[0] = 5;
  const Shape per_sample(x_shape.begin() + 1, x_shape.end());
  const Shape param = c.spatial ? Shape{x_shape[1]} : per_sample;
  std::mt19937 rng(11);
  auto random = [&](const Shape& shape, float lo, float hi) {
    const Tensor t = testing::random_float32(shape, rng, lo, hi);
    return dtype == DType::Float32 ? t : testing::to_double(t);
  };
  testing::TempDir dir;
  testing::ModelBuilder m(c.opset);
  m.input("x", c.elem_type, c.x);
  m.initializer("w", random(per_sample, 0.5f, 1.5f));
  m.initializer("scale", random(param, 0.5f, 1.5f));
  m.initializer("B", random(param, -0.5f, 0.5f));
  const Tensor mean = random(param, -0.2f, 0.2f), var = random(param, 0.5f, 1.5f);
  m.initializer("mean", c.float64_statistics ? testing::to_double(mean) : mean);
  m.initializer("var", c.float64_statistics ? testing::to_double(var) : var);
  m.node("Add", {"x", "w"}, {"x_plus_w"});
  m.node("Mul", {"x", "x_plus_w"}, {"h"});
  m.node("BatchNormalization", {"h", "scale", "B", "mean", "var"}, {"y"}).set_name("bn");
  m.attr("momentum", 0.8f);
  if (!c.spatial) m.attr("spatial", 0);
  m.output("y", c.elem_type, c.x);
  m.save(dir.path() + "/model.onnx");

  const std::vector<std::string> parameters{"w", "scale", "B"};
  Step fused = make_step(dir.path() + "/model.onnx", parameters, std::nullopt);
  Step synced = make_step(dir.path() + "/model.onnx", parameters, 0);
  const Tensor x = random(x_shape, -2.f, 2.f), label = random(x_shape, -1.f, 1.f);
  fused.run(x, label);
  synced.run(x, label);
  double worst = 0;
  for (const auto& [name, expected] : fused.out) {
    EXPECT_EQ(synced.out.at(name).dtype(), expected.dtype()) << name;
    const double error = relative_error(expected, synced.out.at(name));
    EXPECT_LE(error, dtype == DType::Float32 ? kTolerance : 1e-12) << name;
    worst = std::max(worst, error);
  }
  EXPECT_EQ(fused.out.size(), 9u);  // y, 2 batch statistics, 2 updates, the loss, 3 gradients
  std::cout << fmt::format("[sync batchnorm] {}: worst relative error over every output {:.3g}\n", c.name, worst);
}

INSTANTIATE_TEST_SUITE_P(
    Cases, SyncBatchNormForms,
    ::testing::Values(BnCase{"opset7_per_activation", 7, onnx::TensorProto::FLOAT, {4, 3, 2}, false},
                      BnCase{"opset9_bn1d_open_batch", 9, onnx::TensorProto::FLOAT, {-1, 6}, true},
                      BnCase{"opset14_rank5", 14, onnx::TensorProto::FLOAT, {2, 2, 3, 2, 2}, true},
                      BnCase{"opset15_float64_statistics", 15, onnx::TensorProto::FLOAT, {4, 3, 2, 2}, true, true},
                      BnCase{"opset15_float64_sequence", 15, onnx::TensorProto::DOUBLE, {-1, 3, 4}, true}),
    [](const auto& info) { return std::string(info.param.name); });

}  // namespace
}  // namespace onnx_train
