// The vision lowerings (importers/lowerings/vision_*.cc) on what they refuse, each with one
// message naming the node and what to do, and on a window shape where ONNX Runtime departs
// from the specification (so the fixtures, made with ONNX Runtime, cannot hold it).
#include <gtest/gtest.h>
#include <onnx/onnx_pb.h>

#include <string>
#include <vector>

#include "onnx_train/session.h"
#include "tests/support/expect_text.h"
#include "tests/support/model_builder.h"

namespace onnx_train {
namespace {

using testing::load_error;
using testing::ModelBuilder;
using testing::TempDir;

constexpr int kFloat = onnx::TensorProto::FLOAT;

// The load error of the model `m` builds (saved to a fresh directory).
std::string error_loading(const ModelBuilder& m) {
  TempDir dir;
  const std::string path = dir.path() + "/model.onnx";
  m.save(path);
  return load_error(path);
}

TEST(LoweringVision, GridSampleRefusesVolumetricCubic) {
  ModelBuilder m(20, 9);
  m.input("x", kFloat, {1, 2, 3, 4, 5});
  m.input("grid", kFloat, {1, 2, 2, 2, 3});
  m.node("GridSample", {"x", "grid"}, {"y"});
  m.attr("mode", "cubic");
  m.output("y", kFloat, {1, 2, 2, 2, 2});
  const std::string message = error_loading(m);
  EXPECT_HAS(message, "GridSample");
  EXPECT_HAS(message, "volumetric GridSample (5-D X) is supported with mode linear or nearest");
}

TEST(LoweringVision, VolumetricGridSampleNeedsTheVolumeSize) {
  ModelBuilder m(20, 9);
  m.input("x", kFloat, {1, 2, -1, 4, 5});  // a symbolic depth
  m.input("grid", kFloat, {1, 2, 2, 2, 3});
  m.node("GridSample", {"x", "grid"}, {"y"});
  m.output("y", kFloat, {1, 2, 2, 2, 2});
  EXPECT_HAS(error_loading(m), "volumetric GridSample needs the static shape of 'x'");
}

TEST(LoweringVision, GridSampleRefusesAnUnknownMode) {
  ModelBuilder m(20, 9);
  m.input("x", kFloat, {1, 2, 3, 4});
  m.input("grid", kFloat, {1, 2, 2, 2});
  m.node("GridSample", {"x", "grid"}, {"y"});
  m.attr("mode", "bilinear");  // GridSample-16's name: -20 says linear
  m.output("y", kFloat, {1, 2, 2, 2});
  EXPECT_HAS(error_loading(m), "mode 'bilinear' is not one of linear, nearest, cubic");
}

TEST(LoweringVision, AffineGridNeedsAConstantSize) {
  ModelBuilder m(20, 9);
  m.input("theta", kFloat, {1, 2, 3});
  m.input("size", onnx::TensorProto::INT64, {4});
  m.node("AffineGrid", {"theta", "size"}, {"y"});
  m.output("y", kFloat, {});
  const std::string message = error_loading(m);
  EXPECT_HAS(message, "AffineGrid");
  EXPECT_HAS(message, "size");
}

TEST(LoweringVision, AffineGridChecksThetaAgainstTheSize) {
  ModelBuilder m(20, 9);
  m.input("theta", kFloat, {1, 2, 3});
  m.initializer("size", Tensor::from<int64_t>({5}, {1, 1, 2, 3, 4}));  // a volume: theta [N, 3, 4]
  m.node("AffineGrid", {"theta", "size"}, {"y"});
  m.output("y", kFloat, {1, 2, 3, 4, 3});
  EXPECT_HAS(error_loading(m), "theta has shape [1, 2, 3] where a size of 5 values takes [N, 3, 4]");
}

TEST(LoweringVision, DeformConvRefusesOneDimensionalInput) {
  ModelBuilder m(19, 9);
  m.input("x", kFloat, {1, 2, 5});
  m.initializer("w", Tensor(DType::Float32, {3, 2, 2}));
  m.input("offset", kFloat, {1, 4, 4});
  m.node("DeformConv", {"x", "w", "offset"}, {"y"});
  m.output("y", kFloat, {1, 3, 4});
  EXPECT_HAS(error_loading(m), "onnx-train lowers 2-D DeformConv only (4-D X and W)");
}

TEST(LoweringVision, DeformConvChecksTheOffsetShape) {
  ModelBuilder m(19, 9);
  m.input("x", kFloat, {1, 2, 4, 4});
  m.initializer("w", Tensor(DType::Float32, {3, 2, 2, 2}));
  m.input("offset", kFloat, {1, 4, 3, 3});  // 2 * 2 * 2 = 8 channels wanted
  m.node("DeformConv", {"x", "w", "offset"}, {"y"});
  m.output("y", kFloat, {1, 3, 3, 3});
  EXPECT_HAS(error_loading(m), "offset has shape [1, 4, 3, 3] where X, W and the attributes give [N, 8, 3, 3]");
}

TEST(LoweringVision, ResizeRefusesAntialiasedCropAndResize) {
  ModelBuilder m(18);
  m.input("x", kFloat, {1, 1, 4, 4});
  m.initializer("roi", Tensor::from<float>({8}, {0, 0, 0, 0, 1, 1, 1, 1}));
  m.initializer("scales", Tensor::from<float>({4}, {1, 1, 0.5f, 0.5f}));
  m.node("Resize", {"x", "roi", "scales"}, {"y"});
  m.attr("mode", "linear").attr("antialias", 1).attr("coordinate_transformation_mode", "tf_crop_and_resize");
  m.output("y", kFloat, {1, 1, 2, 2});
  EXPECT_HAS(error_loading(m), "antialias = 1 with tf_crop_and_resize is not supported");
}

TEST(LoweringVision, AntialiasedResizeNeedsTheResizedSizes) {
  ModelBuilder m(18);
  m.input("x", kFloat, {1, 1, 4, -1});
  m.initializer("scales", Tensor::from<float>({4}, {1, 1, 0.5f, 0.5f}));
  m.node("Resize", {"x", "", "scales"}, {"y"});
  m.attr("mode", "cubic").attr("antialias", 1);
  m.output("y", kFloat, {1, 1, 2, -1});
  EXPECT_HAS(error_loading(m), "antialias = 1 needs the static size of axis 3 of 'x'");
}

TEST(LoweringVision, ResizeWithAxesNeedsConstantScales) {
  ModelBuilder m(18);
  m.input("x", kFloat, {1, 1, 4, 4});
  m.input("scales", kFloat, {2});
  m.node("Resize", {"x", "", "scales"}, {"y"});
  m.attr("axes", {2, 3});
  m.output("y", kFloat, {});
  EXPECT_HAS(error_loading(m), "scales is not a constant");
}

TEST(LoweringVision, ResizeRefusesARoundedAspectRatioSizeWhereEdgeRowsWouldMoveTheSamples) {
  // not_larger on [3, 5] to [6, 6]: one scale 1.2, sizes round(3.6) = 4 and 6; Resize-13's
  // scales give floor(3.6) = 3, and the edge row that makes up for it would change what
  // align_corners samples (its transform reads the input's size).
  ModelBuilder m(18);
  m.input("x", kFloat, {1, 1, 3, 5});
  m.initializer("sizes", Tensor::from<int64_t>({2}, {6, 6}));
  m.node("Resize", {"x", "", "", "sizes"}, {"y"});
  m.attr("axes", {2, 3}).attr("keep_aspect_ratio_policy", "not_larger");
  m.attr("coordinate_transformation_mode", "align_corners").attr("mode", "linear");
  m.output("y", kFloat, {1, 1, 4, 6});
  const std::string message = error_loading(m);
  EXPECT_HAS(message, "keep_aspect_ratio_policy not_larger with an output size that is not floor(in * scale)");
  EXPECT_HAS(message, "not align_corners");
}

TEST(LoweringVision, ResizeAspectRatioNeedsTheResizedSizes) {
  ModelBuilder m(18);
  m.input("x", kFloat, {1, 1, -1, 5});
  m.initializer("sizes", Tensor::from<int64_t>({2}, {6, 6}));
  m.node("Resize", {"x", "", "", "sizes"}, {"y"});
  m.attr("axes", {2, 3}).attr("keep_aspect_ratio_policy", "not_smaller");
  m.output("y", kFloat, {1, 1, -1, -1});
  EXPECT_HAS(error_loading(m), "keep_aspect_ratio_policy not_smaller needs the static size of axis 2 of 'x'");
}

TEST(LoweringVision, DilatedAveragePoolNeedsTheStaticShape) {
  ModelBuilder m(19, 9);
  m.input("x", kFloat, {1, 2, -1, 6});  // a symbolic height
  m.node("AveragePool", {"x"}, {"y"});
  m.attr("kernel_shape", {2, 2}).attr("dilations", {2, 2});
  m.output("y", kFloat, {});
  const std::string message = error_loading(m);
  EXPECT_HAS(message, "AveragePool-19 with dilations needs the static shape of 'x'");
}

TEST(LoweringVision, GroupNormalization18TakesScaleAndBiasPerGroup) {
  ModelBuilder m(18);
  m.input("x", kFloat, {1, 4, 3});
  m.initializer("scale", Tensor::from<float>({4}, {1, 1, 1, 1}));
  m.initializer("bias", Tensor::from<float>({4}, {0, 0, 0, 0}));
  m.node("GroupNormalization", {"x", "scale", "bias"}, {"y"});
  m.attr("num_groups", 2);
  m.output("y", kFloat, {1, 4, 3});
  const std::string message = error_loading(m);
  EXPECT_HAS(message, "scale has shape [4] where GroupNormalization-18 takes [2] (one per group)");
}

TEST(LoweringVision, GroupNormalizationRefusesChannelsThatDoNotSplit) {
  ModelBuilder m(21, 10);
  m.input("x", kFloat, {1, 5, 3});
  m.initializer("scale", Tensor::from<float>({5}, {1, 1, 1, 1, 1}));
  m.initializer("bias", Tensor::from<float>({5}, {0, 0, 0, 0, 0}));
  m.node("GroupNormalization", {"x", "scale", "bias"}, {"y"});
  m.attr("num_groups", 2);
  m.output("y", kFloat, {1, 5, 3});
  EXPECT_HAS(error_loading(m), "the 5 channels of X do not split into num_groups = 2 groups");
}

// SAME_UPPER with dilations pads for the dilated extent (k - 1) * d + 1, so the output keeps
// ceil(in / stride) positions (ONNX Runtime 1.31 gives [1, 1, 3, 4] here). On ones without
// counted padding every average is 1; with counted padding the corner window of X [5, 6],
// kernel 3, dilation 2 (extent 5, pads 2 and 2 on both axes) holds 3 x 3 taps of which
// 2 x 2 lie in X: 4 / 9.
TEST(LoweringVision, DilatedAveragePoolSameUpperFollowsTheSpecification) {
  for (int include_pad : {0, 1}) {
    ModelBuilder m(19, 9);
    m.input("x", kFloat, {1, 1, 5, 6});
    m.node("AveragePool", {"x"}, {"y"});
    m.attr("kernel_shape", {3, 3}).attr("dilations", {2, 2}).attr("auto_pad", "SAME_UPPER");
    m.attr("count_include_pad", include_pad);
    m.output("y", kFloat, {1, 1, 5, 6});
    TempDir dir;
    m.save(dir.path() + "/model.onnx");
    Session session = Session::from_file(dir.path() + "/model.onnx");
    Tensor x(DType::Float32, {1, 1, 5, 6});
    for (int64_t i = 0; i < x.numel(); ++i) x.data<float>()[i] = 1.0f;
    const Tensor y = session.run({{"x", x}})[0];
    ASSERT_EQ(y.shape(), (Shape{1, 1, 5, 6}));
    EXPECT_NEAR(y.data<float>()[0], include_pad ? 4.0f / 9.0f : 1.0f, 1e-6f);
    EXPECT_NEAR(y.data<float>()[2 * 6 + 2], 1.0f, 1e-6f);  // the middle window lies inside X
  }
}

// keep_aspect_ratio_policy with the axes written negative resizes like the same axes written
// positive (ONNX Runtime 1.31 leaves X as it is there, so no fixture can hold this).
TEST(LoweringVision, ResizeAspectRatioTakesNegativeAxes) {
  Tensor x(DType::Float32, {2, 1, 4, 3});
  for (int64_t i = 0; i < x.numel(); ++i) x.data<float>()[i] = static_cast<float>(i % 7) - 3;
  std::vector<std::vector<float>> results;
  for (const std::vector<int64_t>& axes : {std::vector<int64_t>{2, 3}, std::vector<int64_t>{-2, -1}}) {
    ModelBuilder m(18);
    m.input("x", kFloat, {2, 1, 4, 3});
    m.initializer("sizes", Tensor::from<int64_t>({2}, {5, 5}));
    m.node("Resize", {"x", "", "", "sizes"}, {"y"});
    m.attr("axes", axes).attr("keep_aspect_ratio_policy", "not_larger").attr("mode", "linear");
    m.output("y", kFloat, {2, 1, 5, 4});
    TempDir dir;
    m.save(dir.path() + "/model.onnx");
    Session session = Session::from_file(dir.path() + "/model.onnx");
    const Tensor y = session.run({{"x", x}})[0];
    ASSERT_EQ(y.shape(), (Shape{2, 1, 5, 4}));  // scale min(5 / 4, 5 / 3) = 1.25: 5 and round(3.75)
    results.emplace_back(y.data<float>(), y.data<float>() + y.numel());
  }
  EXPECT_EQ(results[0], results[1]);
}

// antialias filters linear and cubic only: nearest resizes as without it (ONNX Runtime 1.31
// refuses the model instead, so no fixture can hold this).
TEST(LoweringVision, AntialiasLeavesNearestAsItIs) {
  Tensor x(DType::Float32, {1, 1, 4, 6});
  for (int64_t i = 0; i < x.numel(); ++i) x.data<float>()[i] = static_cast<float>((i * 5) % 11);
  std::vector<std::vector<float>> results;
  for (int antialias : {0, 1}) {
    ModelBuilder m(18);
    m.input("x", kFloat, {1, 1, 4, 6});
    m.initializer("scales", Tensor::from<float>({4}, {1, 1, 0.5f, 0.5f}));
    m.node("Resize", {"x", "", "scales"}, {"y"});
    m.attr("mode", "nearest").attr("antialias", antialias);
    m.output("y", kFloat, {1, 1, 2, 3});
    TempDir dir;
    m.save(dir.path() + "/model.onnx");
    Session session = Session::from_file(dir.path() + "/model.onnx");
    const Tensor y = session.run({{"x", x}})[0];
    results.emplace_back(y.data<float>(), y.data<float>() + y.numel());
  }
  EXPECT_EQ(results[0], results[1]);
}

}  // namespace
}  // namespace onnx_train
