// Gradients of the opset-18 scatter reductions max and min where gradcheck cannot look: at a
// tie, where y is not differentiable and the rule (gradients/rules/indexing.cc) splits the
// gradient evenly among the elements that hold the extreme, as torch.scatter_reduce does.
#include <gtest/gtest.h>

#include "gradients/autodiff.h"
#include "importers/onnx_model.h"
#include "runtime/exec/plan.h"
#include "tests/support/model_builder.h"

namespace onnx_train {
namespace {

using testing::ModelBuilder;
using testing::TempDir;

// loss = sum(Scatter<op>(data, indices, updates; reduction)); returns (dData, dUpdates).
std::pair<std::vector<double>, std::vector<double>> scatter_grads(const std::string& op, const std::string& reduction,
                                                                  const Tensor& indices, const Tensor& data,
                                                                  const Tensor& updates) {
  TempDir dir;
  ModelBuilder m(18);
  m.input("data", onnx::TensorProto::DOUBLE, data.shape());
  m.input("updates", onnx::TensorProto::DOUBLE, updates.shape());
  m.initializer("indices", indices);
  m.node(op, {"data", "indices", "updates"}, {"y"});
  m.attr("reduction", reduction);
  m.node("ReduceSum", {"y"}, {"loss"});
  m.attr("keepdims", 0);
  m.output("loss", onnx::TensorProto::DOUBLE, {});
  m.save(dir.path() + "/model.onnx");
  Graph g = load_onnx_model(dir.path() + "/model.onnx");
  build_gradient_graph(g, "loss", {"data", "updates"});
  Plan plan(g, KernelRegistry::global(), "scatter grads");
  const std::vector<Tensor> out = plan.run({data, updates});
  return {out[1].to_doubles(), out[2].to_doubles()};
}

TEST(ScatterExtremeGrad, TiesShareTheGradient) {
  // y[0] = max(data[0] = 1, updates 1 and 0.5) = 1, held by data[0] and updates[0]: 1/2 each;
  // y[1] = data[1] (nothing written there).
  const auto [d_data, d_updates] =
      scatter_grads("ScatterElements", "max", Tensor::from<int64_t>({2}, {0, 0}), Tensor::from<double>({2}, {1, 5}),
                    Tensor::from<double>({2}, {1, 0.5}));
  EXPECT_EQ(d_data, (std::vector<double>{0.5, 1}));
  EXPECT_EQ(d_updates, (std::vector<double>{0.5, 0}));
}

TEST(ScatterExtremeGrad, MinOfSlicesGoesToTheWinners) {
  // Rows 0 and 1 both write row 0 of data [2, 2]: min per element, three-way tie in column 1.
  const auto [d_data, d_updates] = scatter_grads(
      "ScatterND", "min", Tensor::from<int64_t>({2, 1}, {0, 0}), Tensor::from<double>({2, 2}, {3, 2, 7, 7}),
      Tensor::from<double>({2, 2}, {1, 2, 4, 2}));
  EXPECT_EQ(d_data, (std::vector<double>{0, 1.0 / 3, 1, 1}));
  EXPECT_EQ(d_updates, (std::vector<double>{1, 1.0 / 3, 0, 1.0 / 3}));
}

}  // namespace
}  // namespace onnx_train
