// Gradient parity with PyTorch: the backward graph the gradient builder appends to an
// exported model gives PyTorch's loss and parameter gradients for one batch.
//
// Fixtures are made by tests/data/make_grad_parity.py (regenerate with
// /usr/bin/python3 tests/data/make_grad_parity.py); each is a model wrapped with its loss,
// so the graph's one output is the loss, with the batch (inputs/), PyTorch's loss
// (loss.pb) and PyTorch's gradient of every parameter (gradients/, each TensorProto named
// like its initializer). The trainable set the runtime chooses must be exactly PyTorch's
// parameters (batch normalisation's running statistics reach the loss as initializers but
// are buffers in PyTorch, and must not be in it).
//
// Tolerance: rtol 1e-4, atol 1e-5: both sides compute in float32 and differ only in
// accumulation order.
#include <gtest/gtest.h>

#include <algorithm>
#include <cmath>
#include <cstdlib>
#include <filesystem>
#include <iostream>
#include <map>
#include <set>

#include "gradients/autodiff.h"
#include "importers/onnx_model.h"
#include "runtime/exec/plan.h"
#include "tests/support/onnx_test_case.h"

namespace onnx_train {
namespace {

using testing::feeds_for;
using testing::output_index;

namespace fs = std::filesystem;

// ONNX_TRAIN_GRAD_PARITY_DIR points the test at another folder of fixtures in the same layout.
const std::string kGradParityDir = std::getenv("ONNX_TRAIN_GRAD_PARITY_DIR") != nullptr
                                       ? std::getenv("ONNX_TRAIN_GRAD_PARITY_DIR")
                                       : std::string(ONNX_TRAIN_SOURCE_DIR) + "/tests/data/grad_parity";
const testing::Tolerance kTolerance{1e-4, 1e-5};

std::vector<std::string> grad_parity_fixtures() {
  std::vector<std::string> names;
  if (!fs::is_directory(kGradParityDir)) return names;  // gtest then reports GradParity as uninstantiated
  for (const auto& e : fs::directory_iterator(kGradParityDir))
    if (fs::exists(e.path() / "model.onnx")) names.push_back(e.path().filename().string());
  std::sort(names.begin(), names.end());
  return names;
}

// The tensors of the .pb files in `dir`, by the names stored in them.
std::map<std::string, Tensor> read_named_tensors(const std::string& dir) {
  std::map<std::string, Tensor> tensors;
  for (const auto& f : fs::directory_iterator(dir)) {
    if (f.path().extension() != ".pb") continue;
    std::string name;
    Tensor t = read_tensor_proto_file(f.path().string(), &name);
    OT_CHECK(!name.empty(), "{}: the TensorProto has no name", f.path().string());
    tensors[name] = std::move(t);
  }
  return tensors;
}

// The running mean and variance inputs of the graph's BatchNormalization nodes.
std::set<std::string> batch_norm_running_statistics(const Graph& graph) {
  std::set<std::string> stats;
  for (const Node& n : graph.nodes)
    if (n.op_type == "BatchNormalization" && n.inputs.size() == 5) stats.insert({n.inputs[3], n.inputs[4]});
  return stats;
}

// "[i, j, k]": the index in `shape` of the element at row-major position `flat`.
std::string index_str(const Shape& shape, int64_t flat) {
  std::vector<int64_t> index(shape.size());
  for (size_t d = shape.size(); d-- > 0;) {
    index[d] = flat % shape[d];
    flat /= shape[d];
  }
  return shape_str(index);
}

// The largest errors over every compared element, and which element each was.
struct ErrorSummary {
  double max_abs = 0;
  std::string max_abs_at;
  double max_rel = 0;  // |expected - actual| / |expected|, over elements with |expected| > atol
  std::string max_rel_at;
};

// Compares one tensor element by element: "" when every element is within tolerance, else
// how many are not and the worst of them (the one furthest beyond its allowed error, or the
// first NaN).
std::string compare(const std::string& what, const Tensor& expected, const Tensor& actual,
                    const testing::Tolerance& tol, ErrorSummary& summary) {
  if (expected.dtype() != actual.dtype() || expected.shape() != actual.shape())
    return fmt::format("{}: expected {}, got {}", what, expected.describe(), actual.describe());
  const std::vector<double> e = expected.to_doubles(), a = actual.to_doubles();
  size_t failing = 0, worst = 0;
  double worst_ratio = 0;
  auto at = [&](size_t i) { return what + index_str(expected.shape(), static_cast<int64_t>(i)); };
  for (size_t i = 0; i < e.size(); ++i) {
    const double diff = std::abs(e[i] - a[i]);
    if (!std::isnan(summary.max_abs) && !(diff <= summary.max_abs)) {  // a NaN, once found, stays
      summary.max_abs = diff;
      summary.max_abs_at = at(i);
    }
    if (std::abs(e[i]) > tol.atol && diff / std::abs(e[i]) > summary.max_rel) {
      summary.max_rel = diff / std::abs(e[i]);
      summary.max_rel_at = at(i);
    }
    const double ratio = diff / (tol.atol + tol.rtol * std::abs(e[i]));
    if (!(ratio <= 1)) ++failing;
    if (!std::isnan(worst_ratio) && !(ratio <= worst_ratio)) {
      worst_ratio = ratio;
      worst = i;
    }
  }
  if (failing == 0) return "";
  return fmt::format("{}: {} of {} elements out of tolerance; worst at {}: expected {:.8g}, got {:.8g} (|diff| {:.3g})",
                     what, failing, e.size(), index_str(expected.shape(), static_cast<int64_t>(worst)), e[worst],
                     a[worst], std::abs(e[worst] - a[worst]));
}

class GradParity : public ::testing::TestWithParam<std::string> {};

TEST_P(GradParity, MatchesPyTorch) {
  const std::string dir = kGradParityDir + "/" + GetParam();
  const std::map<std::string, Tensor> inputs = read_named_tensors(dir + "/inputs");
  const std::map<std::string, Tensor> expected_gradients = read_named_tensors(dir + "/gradients");
  const Tensor expected_loss = read_tensor_proto_file(dir + "/loss.pb");

  Graph graph = load_onnx_model(dir + "/model.onnx");
  ASSERT_EQ(graph.outputs.size(), 1u) << "a fixture's graph has one output, the loss";
  const std::string loss = graph.outputs[0].name;

  // The trainable set must be exactly PyTorch's parameters: BatchNormalization's running
  // statistics are initializers that reach the loss, but buffers in PyTorch.
  const std::set<std::string> running_stats = batch_norm_running_statistics(graph);
  const std::vector<std::string> trainable = trainable_initializers(graph, loss);
  const std::set<std::string> trainable_set(trainable.begin(), trainable.end());
  for (const auto& [name, grad] : expected_gradients)
    if (!trainable_set.count(name))
      ADD_FAILURE() << "PyTorch trains '" << name << "' but it is not in the trainable set";
  for (const auto& name : trainable)
    if (!expected_gradients.count(name))
      ADD_FAILURE() << "'" << name << "' is in the trainable set but PyTorch does not train it"
                    << (running_stats.count(name) ? " (a BatchNormalization running statistic)" : "");

  // The forward pass alone first, so the loss is checked even when gradient rules are missing.
  {
    Plan forward(graph, KernelRegistry::global(), dir);
    ErrorSummary loss_summary;
    EXPECT_EQ(compare("loss", expected_loss, forward.run(feeds_for(graph, inputs))[0], kTolerance, loss_summary), "");
    std::cout << fmt::format("[grad parity] {}: loss error {:.3g}\n", GetParam(), loss_summary.max_abs);
  }

  GradientGraph grads;
  try {
    grads = build_gradient_graph(graph, loss, trainable);
  } catch (const Error& e) {
    FAIL() << "cannot build the gradient graph of " << GetParam() << ": " << e.what();
  }
  Plan plan(graph, KernelRegistry::global(), dir);
  const std::vector<Tensor> outputs = plan.run(feeds_for(graph, inputs));
  ErrorSummary loss_summary, summary;
  EXPECT_EQ(compare("loss", expected_loss, outputs[output_index(graph, loss)], kTolerance, loss_summary), "");
  for (const auto& name : trainable) {
    const Tensor& got = outputs[output_index(graph, grads.gradients.at(name))];
    if (const auto it = expected_gradients.find(name); it != expected_gradients.end())
      EXPECT_EQ(compare("gradient of " + name, it->second, got, kTolerance, summary), "");
  }
  std::cout << fmt::format(
      "[grad parity] {}: {} parameter gradients: max abs error {:.3g} ({}), max rel error {:.3g} ({})\n", GetParam(),
      expected_gradients.size(), summary.max_abs, summary.max_abs_at, summary.max_rel, summary.max_rel_at);
}

INSTANTIATE_TEST_SUITE_P(Models, GradParity, ::testing::ValuesIn(grad_parity_fixtures()),
                         [](const auto& info) { return info.param; });

}  // namespace
}  // namespace onnx_train
