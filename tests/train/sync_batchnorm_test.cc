// Synchronised BatchNormalization (runtime/transforms/sync_batchnorm.h) and its collective op,
// AllReduceSum (runtime/kernels/reference/collectives.cc, gradients/rules/collectives.cc).
//
// The model is the train-mode parity fixture (tests/data/make_train_mode_parity.py): Conv,
// ReLU, BatchNorm2d over [4, 4, 5, 5], pool, Linear, BatchNorm1d over [4, 6], at opsets 9 and
// 15. In one process (group 0) the rewritten graph must compute what the fused training-form
// node does: the output, the batch statistics, the running-statistic updates and every
// parameter gradient, within 1e-5 of the largest element of each tensor (both sides float32).
//
// Two ranks are simulated in one process by a group whose allreduce doubles its data: what two
// ranks holding the same batch and weights would compute. Their global batch is the local batch
// twice, so the output, batch statistics and gradients are the fused node's, while the running
// variance's M / (M - 1) uses M over both ranks; a wrong gradient rule for AllReduceSum (the
// identity, say) would give other gradients.
#include "runtime/transforms/sync_batchnorm.h"

#include <gtest/gtest.h>

#include <algorithm>
#include <cmath>
#include <iostream>
#include <map>
#include <memory>
#include <optional>
#include <set>
#include <string>
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
  Graph graph;
  TrainingForm form;
  std::vector<std::string> batch_stats;   // bn1 mean, var, bn2 mean, var
  std::map<std::string, Tensor> out;      // every graph output by name
  std::map<std::string, Tensor> grads;    // by parameter
  std::map<std::string, float> momentum;  // ONNX momentum by running statistic
};

Step run_step(const std::string& fixture, std::optional<int64_t> group) {
  const std::string dir = kParityDir + "/" + fixture;
  Step s;
  s.graph = load_onnx_model(dir + "/model.onnx");
  for (const Node& n : s.graph.nodes)
    if (n.op_type == "BatchNormalization") s.momentum[n.inputs[4]] = n.attr_float("momentum", 0.9f);
  s.form = to_training_form(s.graph, 1);
  for (const Node& n : s.graph.nodes) {
    if (n.op_type != "BatchNormalization") continue;
    const size_t first = n.since_version >= 14 ? 1 : 3;
    for (size_t i = first; i < first + 2; ++i) {
      s.batch_stats.push_back(n.outputs[i]);
      s.graph.outputs.push_back(s.graph.value_info.at(n.outputs[i]));
      s.graph.value_info.erase(n.outputs[i]);
    }
  }
  if (group) sync_batchnorm(s.graph, s.form, *group);
  const AppendedLoss loss = append_loss(s.graph, {LossKind::MSE, "y"});
  const GradientGraph grads = build_gradient_graph(s.graph, loss.loss, kParameters);
  Plan plan(s.graph, KernelRegistry::global(), dir);
  const std::vector<Tensor> out = plan.run(feeds_for(
      s.graph, {{"x", read_tensor_proto_file(dir + "/x.pb")}, {"label", read_tensor_proto_file(dir + "/label.pb")}}));
  for (size_t i = 0; i < out.size(); ++i) s.out[s.graph.outputs[i].name] = out[i];
  for (const auto& p : kParameters) s.grads[p] = s.out.at(grads.gradients.at(p));
  return s;
}

// Gradients that are zero in exact arithmetic: bn1.bias and fc.bias each add a per-channel
// constant to bn2's input over the whole batch, which bn2 subtracts again. Both sides give
// float32 rounding noise there (the fused kernel's up to 4e-6, the composed ops' 1e-7), so
// their error is measured against the largest element of any parameter gradient instead.
const std::set<std::string> kZeroGradients{"bn1.bias", "fc.bias"};

// The relative error of parameter p's gradient in `synced`.
double gradient_error(const Step& fused, const Step& synced, const std::string& p) {
  double scale = 0;
  if (kZeroGradients.count(p))
    for (const auto& [name, g] : fused.grads)
      for (double v : g.to_doubles()) scale = std::max(scale, std::abs(v));
  return relative_error(fused.grads.at(p), synced.grads.at(p), scale);
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
    const double error = gradient_error(fused, synced, p);
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
    const double error = gradient_error(fused, synced, p);
    EXPECT_LE(error, kTolerance) << p;
    worst_grad = std::max(worst_grad, error);
  }
  for (size_t k = 0; k < 2; ++k) {
    const RunningStat& r = synced.form.running_stats[k];
    EXPECT_LE(relative_error(fused.out.at(r.updated_mean), synced.out.at(r.updated_mean)), kTolerance);
    // updated_var = var * m + batch_var * 2M / (2M - 1) * (1 - m), M the values per channel.
    const std::vector<double> var = synced.graph.initializers.at(r.var).to_doubles();
    const std::vector<double> batch_var = fused.out.at(fused.batch_stats[2 * k + 1]).to_doubles();
    const Node& bn = *std::find_if(fused.graph.nodes.begin(), fused.graph.nodes.end(),
                                   [&](const Node& n) { return n.name == r.node; });
    const Shape x_shape = *fused.graph.shape_of(bn.inputs[0]);
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

}  // namespace
}  // namespace onnx_train
