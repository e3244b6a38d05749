// Gradient check rows of the data-movement rules (gradients/rules/shape_ops.cc).
#include "tests/gradients/gradcheck_cases.h"

namespace onnx_train::testing {

namespace {

Tensor int64s_shaped(const Shape& shape, const std::vector<int64_t>& values) {
  return Tensor::from<int64_t>(shape, values);
}

}  // namespace

std::vector<GradCase> shape_grad_cases() {
  return {
      // Reshape (shape input), Flatten, Squeeze / Unsqueeze (axes attribute before 13, input after).
      {"Reshape", 13, {{2, 3, 4}}, {6, 4}, false, {}, {}, {{1, int64s({6, -1})}}},
      {"Reshape", 7, {{2, 6}}, {3, 4}, false, {}, {}, {{1, int64s({3, 4})}}},
      {"Reshape", 14, {{2, 3, 2}}, {2, 6}, false, {{"allowzero", 0}}, {}, {{1, int64s({0, -1})}}},
      {"Flatten", 13, {{2, 3, 4}}, {6, 4}, false, {{"axis", 2}}},
      {"Flatten", 7, {{2, 3, 2}}, {2, 6}},
      {"Flatten", 11, {{2, 3, 4}}, {6, 4}, false, {{"axis", -1}}},
      {"Squeeze", 13, {{2, 1, 3}}, {2, 3}, false, {}, {}, {{1, int64s({1})}}},
      {"Squeeze", 7, {{1, 3, 1}}, {3}, false, {}, {{"axes", {0, 2}}}},
      {"Squeeze", 11, {{2, 1}}, {2}, false, {}, {{"axes", {-1}}}},
      {"Unsqueeze", 13, {{2, 3}}, {2, 1, 3}, false, {}, {}, {{1, int64s({1})}}},
      {"Unsqueeze", 7, {{3}}, {1, 3, 1}, false, {}, {{"axes", {0, 2}}}},
      {"Unsqueeze", 11, {{2, 3}}, {2, 3, 1}, false, {}, {{"axes", {-1}}}},
      // Transpose: explicit and default (reversing) perm.
      {"Transpose", 13, {{2, 3, 4}}, {3, 4, 2}, false, {}, {{"perm", {1, 2, 0}}}},
      {"Transpose", 7, {{2, 3, 4}}, {4, 3, 2}},
      // Concat: runtime offsets with Slice (10+), Gather of an index range at 9.
      {"Concat", 13, {{2, 1}, {2, 3}, {2, 2}}, {2, 6}, false, {{"axis", 1}}},
      {"Concat", 11, {{2, 2}, {2, 3}}, {2, 5}, false, {{"axis", -1}}},
      {"Concat", 10, {{2}, {3}}, {5}, false, {{"axis", 0}}},
      {"Concat", 9, {{1, 2}, {3, 2}, {2, 2}}, {6, 2}, false, {{"axis", 0}}},
      // Split (one output here: the harness reads output 0 only).
      {"Split", 13, {{4, 3}}, {4, 3}, false, {{"axis", 0}}, {}, {{1, int64s({4})}}},
      {"Split", 11, {{2, 3}}, {2, 3}, false, {{"axis", 1}}, {{"split", {3}}}},
      {"Split", 7, {{3, 2}}, {3, 2}},
      // Slice: inputs from 10, steps (also negative) and clamped ends, attributes at 9.
      {"Slice", 13, {{4, 5}}, {2, 5}, false, {}, {}, {{1, int64s({1, 0})}, {2, int64s({3, 5})}, {3, int64s({0, 1})}}},
      {"Slice",
       13,
       {{6, 5}},
       {3, 3},
       false,
       {},
       {},
       {{1, int64s({-1, 0})}, {2, int64s({-10, 5})}, {3, int64s({0, 1})}, {4, int64s({-2, 2})}}},
      {"Slice",
       16,
       {{2, 7}},
       {2, 3},
       false,
       {},
       {},
       {{1, int64s({0})}, {2, int64s({7})}, {3, int64s({1})}, {4, int64s({3})}}},
      {"Slice",
       11,
       {{2, 7}},
       {2, 3},
       false,
       {},
       {},
       {{1, int64s({0})}, {2, int64s({7})}, {3, int64s({1})}, {4, int64s({3})}}},
      {"Slice", 10, {{5}}, {4}, false, {}, {}, {{1, int64s({1})}, {2, int64s({100})}}},
      {"Slice",
       10,
       {{3, 5}},
       {3, 2},
       false,
       {},
       {},
       {{1, int64s({4})}, {2, int64s({0})}, {3, int64s({1})}, {4, int64s({-2})}}},
      {"Slice", 9, {{3, 4}}, {3, 2}, false, {}, {{"starts", {1}}, {"ends", {3}}, {"axes", {1}}}},
      // Pad: constant (also negative pads, attribute form before 11), reflect and edge.
      {"Pad", 13, {{2, 3}}, {3, 5}, false, {}, {}, {{1, int64s({1, 0, 0, 2})}}},
      {"Pad", 11, {{3, 4}}, {4, 4}, false, {}, {}, {{1, int64s({0, -1, 1, 1})}}},
      {"Pad", 13, {{3, 4}}, {5, 6}, false, {}, {}, {{1, int64s({1, 2, 1, 0})}}, {}, {{"mode", "reflect"}}},
      {"Pad", 11, {{2, 3}}, {3, 6}, false, {}, {}, {{1, int64s({0, 2, 1, 1})}}, {}, {{"mode", "edge"}}},
      {"Pad", 16, {{2, 3}}, {3, 6}, false, {}, {}, {{1, int64s({0, 2, 1, 1})}}, {}, {{"mode", "edge"}}},
      {"Pad", 7, {{2, 3}}, {3, 4}, false, {}, {{"pads", {1, 1, 0, 0}}}},
      {"Pad", 9, {{2, 3}}, {2, 6}, false, {}, {{"pads", {0, 1, 0, 2}}}, {}, {}, {{"mode", "edge"}}},
      // Expand: broadcasting, summed back.
      {"Expand", 13, {{3, 1}}, {2, 3, 4}, false, {}, {}, {{1, int64s({2, 3, 4})}}},
      {"Expand", 8, {{4}}, {3, 4}, false, {}, {}, {{1, int64s({3, 1})}}},
      // Tile.
      {"Tile", 13, {{2, 3}}, {4, 9}, false, {}, {}, {{1, int64s({2, 3})}}},
      {"Tile", 13, {{2, 1, 2}}, {2, 3, 4}, false, {}, {}, {{1, int64s({1, 3, 2})}}},
      {"Tile", 7, {{3}}, {6}, false, {}, {}, {{1, int64s({2})}}},
      // Gather: repeated and negative indices accumulate (one-hot MatMul before 16,
      // ScatterElements with add from 16), 2-D indices, old opsets.
      {"Gather", 13, {{4, 3}}, {4, 3}, false, {}, {}, {{1, int64s({2, 0, 2, -1})}}},
      {"Gather", 16, {{2, 3}}, {2, 2, 2}, false, {{"axis", 1}}, {}, {{1, int64s_shaped({2, 2}, {1, 1, 0, -1})}}},
      {"Gather", 11, {{3, 2}}, {2, 2}, false, {{"axis", 0}}, {}, {{1, int64s({1, 1})}}},
      {"Gather", 9, {{3, 2}}, {3, 3}, false, {{"axis", 1}}, {}, {{1, int64s({1, 0, 1})}}},
      {"Gather", 7, {{4, 2}}, {3, 2}, false, {}, {}, {{1, int64s({3, 0, 3})}}},
      {"Gather",
       13,
       {{2, 4, 3}},
       {2, 2, 3, 3},
       false,
       {{"axis", -2}},
       {},
       {{1, int64s_shaped({2, 3}, {0, -1, 3, 2, 2, -4})}}},
      {"Gather", 13, {{3, 4}}, {4}, false, {{"axis", 0}}, {}, {{1, Tensor::scalar<int64_t>(-2)}}},  // scalar index
      // GatherElements: repeats accumulate.
      {"GatherElements", 13, {{2, 3}}, {2, 2}, false, {{"axis", 1}}, {}, {{1, int64s_shaped({2, 2}, {0, 0, 2, 1})}}},
      {"GatherElements",
       16,
       {{3, 2}},
       {4, 2},
       false,
       {{"axis", 0}},
       {},
       {{1, int64s_shaped({4, 2}, {1, 1, 1, 0, 2, 1, 1, 1})}}},
      {"GatherElements", 11, {{3, 2}}, {3, 1}, false, {{"axis", 1}}, {}, {{1, int64s_shaped({3, 1}, {1, 1, 0})}}},
      {"GatherElements",
       13,
       {{2, 3, 2}},
       {2, 2, 1},
       false,
       {{"axis", -2}},
       {},
       {{1, int64s_shaped({2, 2, 1}, {-1, 0, 2, -3})}}},
      // Dropout in inference.
      {"Dropout", 13, {{2, 3}}, {2, 3}},
      {"Dropout",
       12,
       {{2, 3}},
       {2, 3},
       false,
       {},
       {},
       {{1, Tensor::scalar<double>(0.3)}, {2, Tensor::scalar<bool>(false)}}},
      {"Dropout", 7, {{3}}, {3}, false, {}, {}, {}, {{"ratio", 0.2f}}},
      {"Dropout", 10, {{2, 2}}, {2, 2}},
      // Training with ratio 0 (nothing dropped; the mask output is added, all true). Rows
      // with a real ratio cannot be checked numerically: the forward kernel draws a new mask
      // on every run (its generator state carries over), so see DropoutTrainingUsesTheMask.
      {"Dropout",
       13,
       {{2, 3}},
       {2, 3},
       false,
       {},
       {},
       {{1, Tensor::scalar<double>(0.0)}, {2, Tensor::scalar<bool>(true)}}},
      {"Dropout",
       12,
       {{3}},
       {3},
       false,
       {{"seed", 7}},
       {},
       {{1, Tensor::scalar<double>(0.0)}, {2, Tensor::scalar<bool>(true)}}},
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
    auto& split = m.node("Split", split_inputs, {"y0", "y1"});
    auto* axis = split.add_attribute();
    axis->set_name("axis");
    axis->set_type(onnx::AttributeProto::INT);
    axis->set_i(0);
    if (opset < 13) {
      auto* s = split.add_attribute();
      s->set_name("split");
      s->set_type(onnx::AttributeProto::INTS);
      s->add_ints(2);
      s->add_ints(3);
    }
    m.node("Mul", {"y1", "r"}, {"t"});
    auto& sum = m.node("ReduceSum", {"t"}, {"loss"});
    auto* keep = sum.add_attribute();
    keep->set_name("keepdims");
    keep->set_type(onnx::AttributeProto::INT);
    keep->set_i(0);
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
    auto& dropout = m.node("Dropout", {"x", "ratio", "training"}, {"y"});
    auto* seed = dropout.add_attribute();
    seed->set_name("seed");
    seed->set_type(onnx::AttributeProto::INT);
    seed->set_i(7);
    m.node("Mul", {"y", "r"}, {"t"});
    auto& sum = m.node("ReduceSum", {"t"}, {"loss"});
    auto* keep = sum.add_attribute();
    keep->set_name("keepdims");
    keep->set_type(onnx::AttributeProto::INT);
    keep->set_i(0);
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
