// Gradient check rows of the data-movement rules (gradients/rules/shape_ops.cc).
#include "tests/gradients/gradcheck_cases.h"

namespace onnx_train::testing {

namespace {

Tensor int64s_shaped(const Shape& shape, const std::vector<int64_t>& values) {
  return Tensor::from<int64_t>(shape, values);
}

}  // namespace

ONNX_TRAIN_GRAD_CASES(shape_ops) {
  return {
      // Reshape (shape input), Flatten, Squeeze / Unsqueeze (axes attribute before 13, input after).
      GradCase("Reshape", 13).input({2, 3, 4}).output({6, 4}).fixed(1, int64s({6, -1})),
      GradCase("Reshape", 7).input({2, 6}).output({3, 4}).fixed(1, int64s({3, 4})),
      GradCase("Reshape", 14).input({2, 3, 2}).output({2, 6}).attr("allowzero", 0).fixed(1, int64s({0, -1})),
      GradCase("Flatten", 13).input({2, 3, 4}).output({6, 4}).attr("axis", 2),
      GradCase("Flatten", 7).input({2, 3, 2}).output({2, 6}),
      GradCase("Flatten", 11).input({2, 3, 4}).output({6, 4}).attr("axis", -1),
      GradCase("Squeeze", 13).input({2, 1, 3}).output({2, 3}).fixed(1, int64s({1})),
      GradCase("Squeeze", 7).input({1, 3, 1}).output({3}).attr("axes", {0, 2}),
      GradCase("Squeeze", 11).input({2, 1}).output({2}).attr("axes", {-1}),
      GradCase("Unsqueeze", 13).input({2, 3}).output({2, 1, 3}).fixed(1, int64s({1})),
      GradCase("Unsqueeze", 7).input({3}).output({1, 3, 1}).attr("axes", {0, 2}),
      GradCase("Unsqueeze", 11).input({2, 3}).output({2, 3, 1}).attr("axes", {-1}),
      // Transpose: explicit and default (reversing) perm.
      GradCase("Transpose", 13).input({2, 3, 4}).output({3, 4, 2}).attr("perm", {1, 2, 0}),
      GradCase("Transpose", 7).input({2, 3, 4}).output({4, 3, 2}),
      // Concat: runtime offsets with Slice (10+), Gather of an index range at 9.
      GradCase("Concat", 13).inputs({2, 1}, {2, 3}, {2, 2}).output({2, 6}).attr("axis", 1),
      GradCase("Concat", 11).inputs({2, 2}, {2, 3}).output({2, 5}).attr("axis", -1),
      GradCase("Concat", 10).inputs({2}, {3}).output({5}).attr("axis", 0),
      GradCase("Concat", 9).inputs({1, 2}, {3, 2}, {2, 2}).output({6, 2}).attr("axis", 0),
      // Split (one output here: the harness reads output 0 only).
      GradCase("Split", 13).input({4, 3}).attr("axis", 0).fixed(1, int64s({4})),
      GradCase("Split", 11).input({2, 3}).attr("axis", 1).attr("split", {3}),
      GradCase("Split", 7).input({3, 2}),
      // Slice: inputs from 10, steps (also negative) and clamped ends, attributes at 9.
      GradCase("Slice", 13)
          .input({4, 5})
          .output({2, 5})
          .fixed(1, int64s({1, 0}))
          .fixed(2, int64s({3, 5}))
          .fixed(3, int64s({0, 1})),
      GradCase("Slice", 13)
          .input({6, 5})
          .output({3, 3})
          .fixed(1, int64s({-1, 0}))
          .fixed(2, int64s({-10, 5}))
          .fixed(3, int64s({0, 1}))
          .fixed(4, int64s({-2, 2})),
      GradCase("Slice", 16)
          .input({2, 7})
          .output({2, 3})
          .fixed(1, int64s({0}))
          .fixed(2, int64s({7}))
          .fixed(3, int64s({1}))
          .fixed(4, int64s({3})),
      GradCase("Slice", 11)
          .input({2, 7})
          .output({2, 3})
          .fixed(1, int64s({0}))
          .fixed(2, int64s({7}))
          .fixed(3, int64s({1}))
          .fixed(4, int64s({3})),
      GradCase("Slice", 10).input({5}).output({4}).fixed(1, int64s({1})).fixed(2, int64s({100})),
      GradCase("Slice", 10)
          .input({3, 5})
          .output({3, 2})
          .fixed(1, int64s({4}))
          .fixed(2, int64s({0}))
          .fixed(3, int64s({1}))
          .fixed(4, int64s({-2})),
      GradCase("Slice", 9).input({3, 4}).output({3, 2}).attr("starts", {1}).attr("ends", {3}).attr("axes", {1}),
      // Pad: constant (also negative pads, attribute form before 11), reflect and edge.
      GradCase("Pad", 13).input({2, 3}).output({3, 5}).fixed(1, int64s({1, 0, 0, 2})),
      GradCase("Pad", 11).input({3, 4}).output({4, 4}).fixed(1, int64s({0, -1, 1, 1})),
      GradCase("Pad", 13).input({3, 4}).output({5, 6}).fixed(1, int64s({1, 2, 1, 0})).attr("mode", "reflect"),
      GradCase("Pad", 11).input({2, 3}).output({3, 6}).fixed(1, int64s({0, 2, 1, 1})).attr("mode", "edge"),
      GradCase("Pad", 16).input({2, 3}).output({3, 6}).fixed(1, int64s({0, 2, 1, 1})).attr("mode", "edge"),
      GradCase("Pad", 7).input({2, 3}).output({3, 4}).attr("pads", {1, 1, 0, 0}),
      GradCase("Pad", 9).input({2, 3}).output({2, 6}).attr("pads", {0, 1, 0, 2}).attr("mode", "edge"),
      // Expand: broadcasting, summed back.
      GradCase("Expand", 13).input({3, 1}).output({2, 3, 4}).fixed(1, int64s({2, 3, 4})),
      GradCase("Expand", 8).input({4}).output({3, 4}).fixed(1, int64s({3, 1})),
      // Tile.
      GradCase("Tile", 13).input({2, 3}).output({4, 9}).fixed(1, int64s({2, 3})),
      GradCase("Tile", 13).input({2, 1, 2}).output({2, 3, 4}).fixed(1, int64s({1, 3, 2})),
      GradCase("Tile", 7).input({3}).output({6}).fixed(1, int64s({2})),
      // Gather: repeated and negative indices accumulate (one-hot MatMul before 16,
      // ScatterElements with add from 16), 2-D indices, old opsets.
      GradCase("Gather", 13).input({4, 3}).fixed(1, int64s({2, 0, 2, -1})),
      GradCase("Gather", 16)
          .input({2, 3})
          .output({2, 2, 2})
          .attr("axis", 1)
          .fixed(1, int64s_shaped({2, 2}, {1, 1, 0, -1})),
      GradCase("Gather", 11).input({3, 2}).output({2, 2}).attr("axis", 0).fixed(1, int64s({1, 1})),
      GradCase("Gather", 9).input({3, 2}).output({3, 3}).attr("axis", 1).fixed(1, int64s({1, 0, 1})),
      GradCase("Gather", 7).input({4, 2}).output({3, 2}).fixed(1, int64s({3, 0, 3})),
      GradCase("Gather", 13)
          .input({2, 4, 3})
          .output({2, 2, 3, 3})
          .attr("axis", -2)
          .fixed(1, int64s_shaped({2, 3}, {0, -1, 3, 2, 2, -4})),
      GradCase("Gather", 13).input({3, 4}).output({4}).attr("axis", 0).fixed(1, Tensor::scalar<int64_t>(-2)),  // scalar
                                                                                                               // index
      // GatherElements: repeats accumulate.
      GradCase("GatherElements", 13)
          .input({2, 3})
          .output({2, 2})
          .attr("axis", 1)
          .fixed(1, int64s_shaped({2, 2}, {0, 0, 2, 1})),
      GradCase("GatherElements", 16)
          .input({3, 2})
          .output({4, 2})
          .attr("axis", 0)
          .fixed(1, int64s_shaped({4, 2}, {1, 1, 1, 0, 2, 1, 1, 1})),
      GradCase("GatherElements", 11)
          .input({3, 2})
          .output({3, 1})
          .attr("axis", 1)
          .fixed(1, int64s_shaped({3, 1}, {1, 1, 0})),
      GradCase("GatherElements", 13)
          .input({2, 3, 2})
          .output({2, 2, 1})
          .attr("axis", -2)
          .fixed(1, int64s_shaped({2, 2, 1}, {-1, 0, 2, -3})),
      // Dropout in inference.
      GradCase("Dropout", 13).input({2, 3}),
      GradCase("Dropout", 12).input({2, 3}).fixed(1, Tensor::scalar<double>(0.3)).fixed(2, Tensor::scalar<bool>(false)),
      GradCase("Dropout", 7).input({3}).attr("ratio", 0.2f),
      GradCase("Dropout", 10).input({2, 2}),
      // Training with ratio 0 (nothing dropped; the mask output is added, all true). Rows
      // with a real ratio cannot be checked numerically: the forward kernel draws a new mask
      // on every run (its generator state carries over), so see DropoutTrainingUsesTheMask.
      GradCase("Dropout", 13).input({2, 3}).fixed(1, Tensor::scalar<double>(0.0)).fixed(2, Tensor::scalar<bool>(true)),
      GradCase("Dropout", 12)
          .input({3})
          .attr("seed", 7)
          .fixed(1, Tensor::scalar<double>(0.0))
          .fixed(2, Tensor::scalar<bool>(true)),
  };
}

}  // namespace onnx_train::testing

// Split with several outputs, one of which gets no gradient (the rows above have one output
// because the table harness reads output 0 only): dx = [0 for y0's rows; r for y1's rows].
#include <gtest/gtest.h>

#include "gradients/autodiff.h"
#include "importers/onnx_model.h"
#include "runtime/exec/plan.h"
#include "tests/support/model_builder.h"

namespace onnx_train {
namespace {

TEST(GradCheckShapeOps, SplitWithAnOutputWithoutGradient) {
  for (int opset : {9, 11, 13}) {
    testing::TempDir dir;
    testing::ModelBuilder m(opset);
    m.input("x", onnx::TensorProto::DOUBLE, {5, 2});
    m.input("r", onnx::TensorProto::DOUBLE, {3, 2});
    std::vector<std::string> split_inputs{"x"};
    if (opset >= 13) {
      m.initializer("split", testing::int64s({2, 3}));
      split_inputs.push_back("split");
    }
    m.node("Split", split_inputs, {"y0", "y1"});
    m.attr("axis", 0);
    if (opset < 13) m.attr("split", {2, 3});
    m.node("Mul", {"y1", "r"}, {"t"});
    m.node("ReduceSum", {"t"}, {"loss"});
    m.attr("keepdims", 0);
    m.output("loss", onnx::TensorProto::DOUBLE, {});
    m.save(dir.path() + "/model.onnx");
    Graph training = load_onnx_model(dir.path() + "/model.onnx");
    build_gradient_graph(training, "loss", {"x"});
    Plan plan(training, KernelRegistry::global(), "split training");
    std::vector<double> xs(10), rs(6);
    for (size_t i = 0; i < xs.size(); ++i) xs[i] = 0.5 + static_cast<double>(i);
    for (size_t i = 0; i < rs.size(); ++i) rs[i] = -1.0 - static_cast<double>(i);
    const std::vector<Tensor> out = plan.run({Tensor::from<double>({5, 2}, xs), Tensor::from<double>({3, 2}, rs)});
    const std::vector<double> grad = out[1].to_doubles();
    ASSERT_EQ(grad.size(), 10u) << "opset " << opset;
    for (size_t i = 0; i < 10; ++i)
      EXPECT_EQ(grad[i], i < 4 ? 0.0 : rs[i - 4]) << "opset " << opset << " element " << i;
  }
}

// Dropout in training with a real ratio and a fixed seed: one run of the training graph
// gives y and dx from the same forward pass, and the mask output the rule added to the
// forward node must be the one y was made with: dx = r / (1 - ratio) where y != 0, else 0.
TEST(GradCheckShapeOps, DropoutTrainingUsesTheMask) {
  for (int opset : {12, 13}) {
    testing::TempDir dir;
    testing::ModelBuilder m(opset);
    m.input("x", onnx::TensorProto::DOUBLE, {4, 50});
    m.input("r", onnx::TensorProto::DOUBLE, {4, 50});
    m.initializer("ratio", Tensor::scalar<double>(0.4));
    m.initializer("training", Tensor::scalar<bool>(true));
    m.node("Dropout", {"x", "ratio", "training"}, {"y"});
    m.attr("seed", 7);
    m.node("Mul", {"y", "r"}, {"t"});
    m.node("ReduceSum", {"t"}, {"loss"});
    m.attr("keepdims", 0);
    m.output("loss", onnx::TensorProto::DOUBLE, {});
    m.output("y", onnx::TensorProto::DOUBLE, {4, 50});
    m.save(dir.path() + "/model.onnx");
    Graph training = load_onnx_model(dir.path() + "/model.onnx");
    build_gradient_graph(training, "loss", {"x"});
    Plan plan(training, KernelRegistry::global(), "dropout training");
    std::vector<double> xs(200), rs(200);
    for (size_t i = 0; i < xs.size(); ++i) {
      xs[i] = 0.5 + 0.01 * static_cast<double>(i);
      rs[i] = 1.0 + 0.1 * static_cast<double>(i % 7);
    }
    for (int step = 0; step < 2; ++step) {  // the mask differs between steps; each step is self-consistent
      const std::vector<Tensor> out = plan.run({Tensor::from<double>({4, 50}, xs), Tensor::from<double>({4, 50}, rs)});
      ASSERT_EQ(out.size(), 3u);
      const std::vector<double> y = out[1].to_doubles(), grad = out[2].to_doubles();
      int dropped = 0;
      for (size_t i = 0; i < y.size(); ++i) {
        dropped += y[i] == 0;
        EXPECT_NEAR(grad[i], y[i] == 0 ? 0.0 : rs[i] / 0.6, 1e-12) << "opset " << opset << " element " << i;
      }
      EXPECT_GT(dropped, 40) << "opset " << opset;
      EXPECT_LT(dropped, 120) << "opset " << opset;
    }
  }
}

}  // namespace
}  // namespace onnx_train
