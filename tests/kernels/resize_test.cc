// Unit tests for Resize and Upsample (runtime/kernels/reference/resize.cc): nearest, linear and
// cubic on tiny images, coordinate modes, version differences and errors.
#include <gtest/gtest.h>

#include <map>
#include <string>
#include <vector>

#include "runtime/kernels/kernel.h"

namespace onnx_train {
namespace {

Attribute string_attr(const std::string& s) {
  Attribute a;
  a.kind = Attribute::Kind::String;
  a.s = s;
  return a;
}

Attribute float_attr(float v) {
  Attribute a;
  a.kind = Attribute::Kind::Float;
  a.f = v;
  return a;
}

Attribute floats_attr(std::vector<float> v) {
  Attribute a;
  a.kind = Attribute::Kind::Floats;
  a.floats = std::move(v);
  return a;
}

// Builds the registered kernel and runs it once; an undefined Tensor is an omitted input.
Tensor run(const std::string& op, int since_version, const std::vector<Tensor>& inputs,
           std::map<std::string, Attribute> attrs = {}) {
  Node node;
  node.name = "n";
  node.op_type = op;
  node.since_version = since_version;
  node.opset = since_version;
  for (size_t i = 0; i < inputs.size(); ++i) node.inputs.push_back(inputs[i].defined() ? "in" + std::to_string(i) : "");
  node.outputs.push_back("out");
  node.attributes = std::move(attrs);
  const KernelFactory* factory = KernelRegistry::global().find("", op, since_version);
  if (factory == nullptr) throw Error(op + " is not registered at this version");
  auto kernel = (*factory)(KernelInfo{node, {}});
  std::vector<const Tensor*> input_ptrs;
  for (const Tensor& t : inputs) input_ptrs.push_back(t.defined() ? &t : nullptr);
  std::vector<Tensor> outputs(1);
  KernelContext ctx(node, input_ptrs, outputs, nullptr);
  kernel->run(ctx);
  return outputs[0];
}

std::vector<float> as_floats(const Tensor& t) { return {t.data<float>(), t.data<float>() + t.numel()}; }

const Tensor kImage = Tensor::from<float>({1, 1, 2, 2}, {1, 2, 3, 4});

TEST(Resize, NearestUpsampleBySizes) {
  const Tensor y = run("Resize", 13, {kImage, Tensor(), Tensor(), Tensor::from<int64_t>({4}, {1, 1, 4, 4})},
                       {{"mode", string_attr("nearest")}});
  ASSERT_EQ(y.shape(), (Shape{1, 1, 4, 4}));
  EXPECT_EQ(as_floats(y), (std::vector<float>{1, 1, 2, 2, 1, 1, 2, 2, 3, 3, 4, 4, 3, 3, 4, 4}));
}

TEST(Resize, LinearAlignCornersAndHalfPixel) {
  const Tensor scales = Tensor::from<float>({4}, {1, 1, 1.5f, 1.5f});
  const Tensor corners = run("Resize", 11, {kImage, Tensor::from<float>({0}, {}), scales},
                             {{"mode", string_attr("linear")}, {"coordinate_transformation_mode", string_attr("align_corners")}});
  ASSERT_EQ(corners.shape(), (Shape{1, 1, 3, 3}));
  EXPECT_EQ(as_floats(corners), (std::vector<float>{1, 1.5f, 2, 2, 2.5f, 3, 3, 3.5f, 4}));
  // half_pixel, 2x: x = (y + 0.5) / 2 - 0.5, edges clamp.
  const Tensor half = run("Resize", 13, {kImage, Tensor(), Tensor::from<float>({4}, {1, 1, 1, 2})},
                          {{"mode", string_attr("linear")}});
  EXPECT_EQ(as_floats(half), (std::vector<float>{1, 1.25f, 1.75f, 2, 3, 3.25f, 3.75f, 4}));
}

TEST(Resize, CubicKeepsValuesAtIdentityScale) {
  const Tensor y = run("Resize", 13, {kImage, Tensor(), Tensor::from<float>({4}, {1, 1, 1, 1})},
                       {{"mode", string_attr("cubic")}});
  EXPECT_EQ(as_floats(y), as_floats(kImage));
}

TEST(Resize, CropAndResizeExtrapolates) {
  // roi covers [0.5, 1.5] of the width: the right half maps outside the input.
  const Tensor roi = Tensor::from<float>({8}, {0, 0, 0, 0.5f, 1, 1, 1, 1.5f});
  const Tensor y = run("Resize", 13, {kImage, roi, Tensor(), Tensor::from<int64_t>({4}, {1, 1, 2, 3})},
                       {{"mode", string_attr("linear")},
                        {"coordinate_transformation_mode", string_attr("tf_crop_and_resize")},
                        {"extrapolation_value", float_attr(-1)}});
  EXPECT_EQ(as_floats(y), (std::vector<float>{1.5f, 2, -1, 3.5f, 4, -1}));
}

TEST(Resize, NearestIsExactForIntegers) {
  const Tensor x = Tensor::from<uint8_t>({1, 3}, {0, 200, 255});
  const Tensor y = run("Resize", 13, {x, Tensor(), Tensor::from<float>({2}, {1, 2})}, {});
  ASSERT_EQ(y.shape(), (Shape{1, 6}));
  const std::vector<uint8_t> got(y.data<uint8_t>(), y.data<uint8_t>() + 6);
  EXPECT_EQ(got, (std::vector<uint8_t>{0, 0, 200, 200, 255, 255}));
}

TEST(Upsample, LegacyVersions) {
  // Upsample-7: scales attribute; nearest repeats.
  const Tensor y7 = run("Upsample", 7, {kImage}, {{"scales", floats_attr({1, 1, 1, 3})}});
  EXPECT_EQ(as_floats(y7), (std::vector<float>{1, 1, 1, 2, 2, 2, 3, 3, 3, 4, 4, 4}));
  // Upsample-9: scales input; linear is asymmetric (x = y / scale).
  const Tensor y9 = run("Upsample", 9, {kImage, Tensor::from<float>({4}, {1, 1, 1, 2})}, {{"mode", string_attr("linear")}});
  EXPECT_EQ(as_floats(y9), (std::vector<float>{1, 1.5f, 2, 2, 3, 3.5f, 4, 4}));
  // Resize-10 may downsample.
  const Tensor y10 = run("Resize", 10, {kImage, Tensor::from<float>({4}, {1, 1, 0.5f, 0.5f})});
  EXPECT_EQ(y10.shape(), (Shape{1, 1, 1, 1}));
}

TEST(Resize, RejectsBadInputs) {
  // Both scales and sizes.
  EXPECT_THROW(run("Resize", 13, {kImage, Tensor(), Tensor::from<float>({4}, {1, 1, 2, 2}),
                                  Tensor::from<int64_t>({4}, {1, 1, 4, 4})}),
               Error);
  // Neither.
  EXPECT_THROW(run("Resize", 13, {kImage}), Error);
  // Wrong count of scales.
  EXPECT_THROW(run("Resize", 13, {kImage, Tensor(), Tensor::from<float>({2}, {2, 2})}), Error);
  // tf_half_pixel_for_nn exists only in Resize-11; cubic not before 11.
  EXPECT_THROW(run("Resize", 13, {kImage, Tensor(), Tensor::from<float>({4}, {1, 1, 2, 2})},
                   {{"coordinate_transformation_mode", string_attr("tf_half_pixel_for_nn")}}),
               Error);
  EXPECT_THROW(run("Resize", 10, {kImage, Tensor::from<float>({4}, {1, 1, 2, 2})}, {{"mode", string_attr("cubic")}}),
               Error);
  EXPECT_THROW(run("Upsample", 9, {kImage, Tensor::from<float>({4}, {1, 1, 0.5f, 1})}), Error);
}

}  // namespace
}  // namespace onnx_train
