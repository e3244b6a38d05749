// FusedConv (ai.onnx_train, runtime/kernels/dnnl/conv.cc) and the pass that makes it
// (runtime/transforms/fuse_conv.h): each workload-like pattern (MobileNetV2's Conv-ReLU6 and
// linear residual, ResNet's Conv-BN-ReLU and Conv-BN-Add-ReLU, EfficientNet's Conv-SiLU) run
// fused equals the unfused graph; the kernel's oneDNN post-ops equal its float64 reference,
// also with a broadcast residual; weights changed in place between runs are seen unless the
// node promises constant weights.
#include <gtest/gtest.h>

#include <cmath>

#include "importers/onnx_model.h"
#include "runtime/exec/plan.h"
#include "runtime/transforms/fuse_conv.h"
#include "tests/support/kernel_harness.h"
#include "tests/support/model_builder.h"
#include "tests/support/onnx_test_case.h"

namespace onnx_train {
namespace {

using testing::ModelBuilder;
using testing::random_float32;
using testing::TempDir;

constexpr int kFloat = onnx::TensorProto::FLOAT;
const testing::Tolerance kFusedTolerance{1e-5, 1e-6};

// Adds Conv(x, <name>.w, <name>.b) -> y with random weights w [maps, channels / group, k, k].
void add_conv(ModelBuilder& m, const std::string& name, const std::string& x, const std::string& y, int64_t channels,
              int64_t maps, int64_t k, int64_t group, unsigned seed) {
  m.initializer(name + ".w", random_float32({maps, channels / group, k, k}, seed));
  m.initializer(name + ".b", random_float32({maps}, seed + 1));
  m.node("Conv", {x, name + ".w", name + ".b"}, {y});
  m.attr("kernel_shape", {k, k}).attr("pads", {k / 2, k / 2, k / 2, k / 2}).attr("group", group);
}

// Adds a Constant node of a float32 scalar.
void add_constant(ModelBuilder& m, const std::string& name, float value) {
  onnx::AttributeProto* a = m.node("Constant", {}, {name}).add_attribute();
  a->set_name("value");
  a->set_type(onnx::AttributeProto::TENSOR);
  tensor_to_proto(Tensor::scalar<float>(value), *a->mutable_t());
}

// Adds BatchNormalization (inference form) with random statistics (variance in [0.5, 1.5]).
void add_batch_norm(ModelBuilder& m, const std::string& name, const std::string& x, const std::string& y,
                    int64_t channels, unsigned seed) {
  m.initializer(name + ".scale", random_float32({channels}, seed));
  m.initializer(name + ".shift", random_float32({channels}, seed + 1));
  m.initializer(name + ".mean", random_float32({channels}, seed + 2));
  m.initializer(name + ".var", testing::random_tensor<float>({channels}, seed + 3, 0.5, 1.5));
  m.node("BatchNormalization", {x, name + ".scale", name + ".shift", name + ".mean", name + ".var"}, {y});
}

// Runs the graph of `model` as loaded and fused (`constant` initializers or not) on the same
// input x [2, 8, 6, 6]; expects equal outputs and returns the fused graph.
Graph expect_fused_matches_unfused(const ModelBuilder& m, bool constant, const FusedConvs& expected) {
  TempDir dir;
  m.save(dir.path() + "/model.onnx");
  const Graph plain = load_onnx_model(dir.path() + "/model.onnx");
  Graph fused = plain;
  const FusedConvs got = fuse_conv(fused, FuseConvOptions{constant});
  EXPECT_EQ(got.fused, expected.fused);
  EXPECT_EQ(got.batch_norms_folded, expected.batch_norms_folded);
  EXPECT_EQ(got.nodes_removed, expected.nodes_removed);
  const std::map<std::string, Tensor> x{{"x", random_float32({2, 8, 6, 6}, 99)}};
  Plan plain_plan(plain, KernelRegistry::global(), "unfused");
  Plan fused_plan(fused, KernelRegistry::global(), "fused");
  const Tensor want = plain_plan.run(testing::feeds_for(plain, x))[0];
  for (int run = 0; run < 2; ++run)  // the second run reuses the kept weights
    EXPECT_EQ(testing::compare_tensors(want, fused_plan.run(testing::feeds_for(fused, x))[0], kFusedTolerance), "");
  return fused;
}

size_t count_ops(const Graph& g, const std::string& op) {
  size_t n = 0;
  for (const Node& node : g.nodes) n += node.op_type == op ? 1 : 0;
  return n;
}

// MobileNetV2's inverted residual: 1x1 expand + ReLU6, depthwise 3x3 + ReLU6 (Clip-13 with
// Constant bounds), 1x1 project, Add of the block input.
TEST(FusedConv, MobileNetBlockMatchesUnfused) {
  ModelBuilder m(13);
  m.input("x", kFloat, {-1, 8, 6, 6});
  add_constant(m, "zero", 0.f);
  add_constant(m, "six", 6.f);
  add_conv(m, "expand", "x", "e", 8, 24, 1, 1, 1);
  m.node("Clip", {"e", "zero", "six"}, {"e6"});
  add_conv(m, "dw", "e6", "d", 24, 24, 3, 24, 3);
  m.node("Clip", {"d", "zero", "six"}, {"d6"});
  add_conv(m, "project", "d6", "p", 24, 8, 1, 1, 5);
  m.node("Add", {"p", "x"}, {"y"});
  m.output("y", kFloat, {-1, 8, 6, 6});
  for (bool constant : {false, true}) {
    const Graph fused = expect_fused_matches_unfused(m, constant, {3, 0, 3});
    EXPECT_EQ(count_ops(fused, "FusedConv"), 3u);
    EXPECT_EQ(count_ops(fused, "Clip") + count_ops(fused, "Add"), 0u);
    // The fused graph written out is a valid ONNX model that loads and runs the same.
    TempDir dir;
    save_onnx_model(fused, dir.path() + "/fused.onnx");
    const Graph reloaded = load_onnx_model(dir.path() + "/fused.onnx");
    EXPECT_EQ(count_ops(reloaded, "FusedConv"), 3u);
    const std::map<std::string, Tensor> x{{"x", random_float32({2, 8, 6, 6}, 7)}};
    Plan a(fused, KernelRegistry::global(), "fused"), b(reloaded, KernelRegistry::global(), "reloaded");
    EXPECT_EQ(testing::compare_tensors(a.run(testing::feeds_for(fused, x))[0],
                                       b.run(testing::feeds_for(reloaded, x))[0], {0, 0}),
              "");
  }
}

// ResNet's basic block: Conv-BN-ReLU, Conv-BN, Add of the input, ReLU; BatchNormalization
// folds only with constant initializers.
TEST(FusedConv, ResNetBlockMatchesUnfused) {
  ModelBuilder m(15);
  m.input("x", kFloat, {-1, 8, 6, 6});
  add_conv(m, "c1", "x", "a", 8, 8, 3, 1, 11);
  add_batch_norm(m, "bn1", "a", "an", 8, 13);
  m.node("Relu", {"an"}, {"ar"});
  add_conv(m, "c2", "ar", "b", 8, 8, 3, 1, 17);
  add_batch_norm(m, "bn2", "b", "bn", 8, 19);
  m.node("Add", {"x", "bn"}, {"s"});
  m.node("Relu", {"s"}, {"y"});
  m.output("y", kFloat, {-1, 8, 6, 6});
  expect_fused_matches_unfused(m, true, {2, 2, 5});
  // The training session's eval graph: its statistics change, so Conv stops at BatchNormalization.
  expect_fused_matches_unfused(m, false, {0, 0, 0});
}

// EfficientNet's SiLU, Conv, Sigmoid, Mul(y, sigmoid(y)), and squeeze-excitation: y scaled
// by Sigmoid(Conv(GlobalAveragePool(y))).
TEST(FusedConv, SiluAndSqueezeExcitationMatchUnfused) {
  ModelBuilder m(13);
  m.input("x", kFloat, {-1, 8, 6, 6});
  add_conv(m, "c", "x", "a", 8, 16, 3, 1, 23);
  m.node("Sigmoid", {"a"}, {"s"});
  m.node("Mul", {"s", "a"}, {"silu"});
  m.node("GlobalAveragePool", {"silu"}, {"pooled"});
  add_conv(m, "se", "pooled", "e", 16, 16, 1, 1, 27);
  m.node("Sigmoid", {"e"}, {"gate"});
  m.node("Mul", {"silu", "gate"}, {"y"});
  m.output("y", kFloat, {-1, 16, 6, 6});
  const Graph fused = expect_fused_matches_unfused(m, false, {2, 0, 3});
  EXPECT_EQ(fused.nodes.at(0).attr_string("activation"), "Swish");
}

// A value read by a second node (or a graph output) stays: nothing is fused past it.
TEST(FusedConv, SharedIntermediateIsNotAbsorbed) {
  ModelBuilder m(13);
  m.input("x", kFloat, {-1, 8, 6, 6});
  add_conv(m, "c", "x", "a", 8, 8, 3, 1, 29);
  m.node("Relu", {"a"}, {"r"});
  m.node("Add", {"a", "r"}, {"y"});
  m.output("y", kFloat, {-1, 8, 6, 6});
  expect_fused_matches_unfused(m, false, {0, 0, 0});
  // With constant weights the Conv still becomes a FusedConv, to keep its reordered weights.
  expect_fused_matches_unfused(m, true, {1, 0, 0});
}

// A FusedConv node run by itself: x [2, 6, 7, 7], w [8, 6, 3, 3], pads 1.
Node fused_node(const std::string& activation, std::vector<float> params, bool sum, bool constant_weights) {
  std::map<std::string, Attribute> attrs{{"pads", Attribute::of_ints({1, 1, 1, 1})}};
  if (!activation.empty()) attrs["activation"] = Attribute::of_string(activation);
  if (!params.empty()) attrs["activation_params"] = Attribute::of_floats(std::move(params));
  if (constant_weights) attrs["constant_weights"] = Attribute::of_int(1);
  Node n = testing::make_gradient_node("FusedConv", sum ? 4 : 3, 1, std::move(attrs));
  return n;
}

// oneDNN's post-ops (float32) against the reference epilogue (float64), with z of y's shape
// (the sum post-op) and z broadcast from [1, 8, 1, 1] (loops after the convolution).
TEST(FusedConv, PostOpsMatchReference) {
  const Tensor x = random_float32({2, 6, 7, 7}, 31), w = random_float32({8, 6, 3, 3}, 32);
  const Tensor b = random_float32({8}, 33);
  for (const Shape& z_shape : {Shape{2, 8, 7, 7}, Shape{1, 8, 1, 1}}) {
    const Tensor z = random_float32(z_shape, 34);
    for (const auto& [act, params] : std::vector<std::pair<std::string, std::vector<float>>>{
             {"", {}}, {"Relu", {}}, {"Clip", {-0.5f, 0.7f}}, {"Sigmoid", {}}, {"Swish", {}}}) {
      const Node node = fused_node(act, params, true, false);
      const Tensor y = testing::run_node(node, {x, w, b, z})[0];
      const Tensor y64 = testing::run_node(node, {testing::to_double(x), testing::to_double(w),
                                                  testing::to_double(b), testing::to_double(z)})[0];
      EXPECT_EQ(testing::compare_tensors(y64, testing::to_double(y), {1e-5, 1e-5}), "")
          << act << " z " << shape_str(z_shape);
    }
  }
}

// Weights written in place between runs (the optimizer's update) are seen by a FusedConv
// without constant_weights (a training session's eval plan); with it (a Session's), runs
// with unchanged weights agree.
TEST(FusedConv, WeightsChangedInPlaceAreSeen) {
  const Tensor x = random_float32({2, 6, 7, 7}, 41), b = random_float32({8}, 43);
  for (bool constant : {false, true}) {
    Tensor w = random_float32({8, 6, 3, 3}, 42);
    const Node node = fused_node("Relu", {}, false, constant);
    const std::unique_ptr<Kernel> kernel = testing::make_kernel(node);
    const Tensor first = testing::run_kernel(*kernel, node, {x, w, b})[0];
    EXPECT_EQ(testing::compare_tensors(first, testing::run_kernel(*kernel, node, {x, w, b})[0], {0, 0}), "");
    if (constant) continue;
    for (int64_t i = 0; i < w.numel(); ++i) w.data<float>()[i] *= -2.f;
    const Tensor second = testing::run_kernel(*kernel, node, {x, w, b})[0];
    const Tensor fresh = testing::run_node(node, {x, w, b})[0];
    EXPECT_EQ(testing::compare_tensors(fresh, second, {0, 0}), "");
  }
}

}  // namespace
}  // namespace onnx_train
