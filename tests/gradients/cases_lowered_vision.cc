// Gradient checks of the vision op versions of opsets 18-21 that load lowered to opset 17
// (importers/lowerings/vision_*.cc): each row builds a model at the new opset, so gradcheck
// differentiates the lowered form (InstanceNormalization, depthwise Conv of ones, Pow,
// GridSample-16, MatMul, Resize-13, ...) numerically through the lowering.
#include "tests/gradients/gradcheck_cases.h"

namespace onnx_train::testing {

namespace {

Tensor float_values(const std::vector<float>& values) {
  return Tensor::from<float>({static_cast<int64_t>(values.size())}, values);
}

std::vector<GradCase> pool_rows() {
  return {
      // AveragePool-19: without dilations (AveragePool-11), dilated with padding counted or
      // not, dilated with ceil_mode.
      GradCase("AveragePool", 19)
          .input({1, 2, 5, 5})
          .output({1, 2, 3, 3})
          .attr("kernel_shape", {3, 3})
          .attr("strides", {2, 2})
          .attr("pads", {1, 1, 1, 1}),
      GradCase("AveragePool", 19)
          .input({1, 2, 6, 5})
          .output({1, 2, 5, 4})
          .attr("kernel_shape", {2, 2})
          .attr("dilations", {2, 1})
          .attr("pads", {1, 0, 0, 0}),
      GradCase("AveragePool", 19)
          .input({1, 2, 6, 5})
          .output({1, 2, 5, 4})
          .attr("kernel_shape", {2, 2})
          .attr("dilations", {2, 1})
          .attr("pads", {1, 0, 0, 0})
          .attr("count_include_pad", 1),
      GradCase("AveragePool", 19)
          .input({1, 1, 7, 6})
          .output({1, 1, 3, 3})
          .attr("kernel_shape", {2, 2})
          .attr("dilations", {2, 2})
          .attr("strides", {2, 2})
          .attr("ceil_mode", 1),
      // LpPool-18: ceil_mode alone (LpPool-11, longer end padding), dilated with p = 2 and 3.
      GradCase("LpPool", 18)
          .input({1, 2, 5, 6})
          .output({1, 2, 2, 3})
          .attr("kernel_shape", {3, 3})
          .attr("strides", {2, 2})
          .attr("ceil_mode", 1),
      GradCase("LpPool", 18)
          .input({1, 2, 5, 5})
          .output({1, 2, 3, 3})
          .attr("kernel_shape", {2, 2})
          .attr("dilations", {2, 2}),
      GradCase("LpPool", 18)
          .input({2, 1, 7})
          .output({2, 1, 2})
          .attr("kernel_shape", {2})
          .attr("dilations", {3})
          .attr("strides", {2})
          .attr("p", 3),
  };
}

std::vector<GradCase> grid_rows() {
  return {
      GradCase("GridSample", 20).inputs({1, 2, 3, 4}, {1, 2, 3, 2}).output({1, 2, 2, 3}),
      GradCase("GridSample", 20)
          .inputs({1, 2, 4, 3}, {1, 3, 2, 2})
          .output({1, 2, 3, 2})
          .attr("mode", "cubic")
          .attr("padding_mode", "border")
          .attr("align_corners", 1),
      GradCase("GridSample", 20).inputs({1, 1, 3, 3}, {1, 2, 2, 2}).output({1, 1, 2, 2}).attr("mode", "nearest"),
      // Volumetric: GridSample-16 per plane, weighted over depth.
      GradCase("GridSample", 20).inputs({1, 2, 3, 3, 4}, {1, 2, 2, 2, 3}).output({1, 2, 2, 2, 2}),
      GradCase("GridSample", 20)
          .inputs({1, 1, 4, 2, 3}, {1, 2, 1, 3, 3})
          .output({1, 1, 2, 1, 3})
          .attr("padding_mode", "border")
          .attr("align_corners", 1),
      // AffineGrid-20: d grid / d theta through the constant base grid, 2-D and 3-D.
      GradCase("AffineGrid", 20).input({2, 2, 3}).output({2, 3, 4, 2}).fixed(1, int64s({2, 1, 3, 4})),
      GradCase("AffineGrid", 20)
          .input({1, 3, 4})
          .output({1, 2, 2, 3, 3})
          .fixed(1, int64s({1, 1, 2, 2, 3}))
          .attr("align_corners", 1),
      // DeformConv-19: d / dX, dW, d offset, dB, d mask through GridSample and MatMul.
      GradCase("DeformConv", 19).inputs({1, 2, 4, 4}, {3, 2, 2, 2}, {1, 8, 3, 3}).output({1, 3, 3, 3}),
      GradCase("DeformConv", 19)
          .inputs({1, 4, 3, 4}, {2, 2, 2, 2}, {1, 16, 3, 2}, {2}, {1, 8, 3, 2})
          .output({1, 2, 3, 2})
          .attr("group", 2)
          .attr("offset_group", 2)
          .attr("strides", {1, 2})
          .attr("pads", {1, 0, 0, 1}),
  };
}

}  // namespace

ONNX_TRAIN_GRAD_CASES(lowered_vision) {
  std::vector<GradCase> rows = {
      // GroupNormalization-18: scale and bias per group; -21: per channel.
      GradCase("GroupNormalization", 18).inputs({2, 4, 3}, {2}, {2}).attr("num_groups", 2),
      GradCase("GroupNormalization", 18).inputs({1, 6, 2, 2}, {3}, {3}).attr("num_groups", 3).attr("epsilon", 0.01f),
      GradCase("GroupNormalization", 21).inputs({2, 4, 2, 2}, {4}, {4}).attr("num_groups", 2),
      GradCase("GroupNormalization", 21).inputs({1, 3, 4}, {3}, {3}).attr("num_groups", 1),
      // Resize-18 with axes (scales, sizes), keep_aspect_ratio_policy; Resize-19's
      // half_pixel_symmetric with fractional scaled widths (the kernel's shift) and with sizes.
      GradCase("Resize", 18)
          .input({1, 1, 3, 4})
          .output({1, 1, 6, 6})
          .fixed(1, float_values({}))
          .fixed(2, float_values({2, 1.5f}))
          .attr("axes", {2, 3})
          .attr("mode", "linear"),
      GradCase("Resize", 18)
          .input({1, 2, 3, 4})
          .output({1, 2, 5, 4})
          .fixed(1, float_values({}))
          .fixed(2, float_values({}))
          .fixed(3, int64s({5}))
          .attr("axes", {-2})
          .attr("mode", "cubic"),
      GradCase("Resize", 18)
          .input({1, 1, 4, 2})
          .output({1, 1, 8, 4})
          .fixed(1, float_values({}))
          .fixed(2, float_values({}))
          .fixed(3, int64s({8, 8}))
          .attr("axes", {2, 3})
          .attr("keep_aspect_ratio_policy", "not_larger")
          .attr("mode", "linear"),
      GradCase("Resize", 18)  // not_larger's sizes 4 and 6: Pad (edge), Resize-13, Slice
          .input({1, 1, 3, 5})
          .output({1, 1, 4, 6})
          .fixed(1, float_values({}))
          .fixed(2, float_values({}))
          .fixed(3, int64s({6, 6}))
          .attr("axes", {2, 3})
          .attr("keep_aspect_ratio_policy", "not_larger")
          .attr("mode", "linear"),
      GradCase("Resize", 18)  // antialias: a MatMul per axis with the stretched filter's matrix
          .input({1, 2, 6, 5})
          .output({1, 2, 3, 3})
          .fixed(1, float_values({}))
          .fixed(2, float_values({1, 1, 0.5f, 0.6f}))
          .attr("antialias", 1)
          .attr("mode", "cubic"),
      GradCase("Resize", 19)
          .input({1, 1, 5, 4})
          .output({1, 1, 3, 6})
          .fixed(1, float_values({}))
          .fixed(2, float_values({1, 1, 0.7f, 1.7f}))
          .attr("coordinate_transformation_mode", "half_pixel_symmetric")
          .attr("mode", "linear"),
      GradCase("Resize", 19)
          .input({1, 1, 3, 4})
          .output({1, 1, 5, 3})
          .fixed(1, float_values({}))
          .fixed(2, float_values({}))
          .fixed(3, int64s({1, 1, 5, 3}))
          .attr("coordinate_transformation_mode", "half_pixel_symmetric")
          .attr("mode", "linear"),
  };
  for (std::vector<GradCase> more : {pool_rows(), grid_rows()}) rows.insert(rows.end(), more.begin(), more.end());
  return rows;
}

}  // namespace onnx_train::testing
