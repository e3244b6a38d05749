// Gradient check rows of the rules in gradients/rules/conv_pool.cc: Conv, ConvTranspose, the
// pooling ops, MaxUnpool and the region poolings (RoiAlign, MaxRoiPool) over their
// attributes (strides, pads, dilations, group, auto_pad, ceil_mode, count_include_pad,
// output_padding / output_shape), 1 to 3 spatial axes, and old-opset rows where the op's
// version differs. Random inputs make ties in max pooling practically impossible.
#include "tests/gradients/gradcheck_cases.h"

namespace onnx_train::testing {

ONNX_TRAIN_GRAD_CASES(conv_pool) {
  const Tensor roi_boxes = Tensor::from<double>({2, 4}, {0.4, 0.7, 4.3, 3.9, 1.2, 0.3, 5.6, 5.2});
  const Tensor unpool_indices = Tensor::from<int64_t>({1, 2, 2, 2}, {0, 3, 9, 14, 17, 22, 24, 31});
  return {
      // Conv (11 from opset 11, 1 before): bias or none, strides, pads (asymmetric too),
      // dilations, groups (depthwise), auto_pad, 1-D and 3-D, strides that skip the edge.
      GradCase("Conv", 13).inputs({2, 3, 5, 5}, {4, 3, 3, 3}, {4}).output({2, 4, 3, 3}),
      GradCase("Conv", 13)
          .inputs({2, 2, 5, 5}, {3, 2, 3, 3}, {3})
          .output({2, 3, 3, 3})
          .attr("strides", {2, 2})
          .attr("pads", {1, 1, 1, 1}),
      GradCase("Conv", 11).inputs({1, 2, 6, 6}, {2, 2, 2, 2}).output({1, 2, 4, 4}).attr("dilations", {2, 2}),
      GradCase("Conv", 13).inputs({2, 4, 5, 5}, {4, 2, 3, 3}, {4}).output({2, 4, 3, 3}).attr("group", 2),
      GradCase("Conv", 13).inputs({2, 3, 5, 5}, {3, 1, 3, 3}, {3}).attr("group", 3).attr("pads", {1, 1, 1, 1}),
      GradCase("Conv", 13).inputs({2, 2, 7}, {3, 2, 3}, {3}).output({2, 3, 3}).attr("strides", {2}),
      GradCase("Conv", 13).inputs({1, 2, 4, 4, 3}, {2, 2, 2, 2, 2}, {2}).output({1, 2, 3, 3, 2}),
      GradCase("Conv", 13)
          .inputs({2, 2, 5, 5}, {2, 2, 2, 2})
          .output({2, 2, 3, 3})
          .attr("strides", {2, 2})
          .attr("auto_pad", "SAME_UPPER"),
      GradCase("Conv", 13)
          .inputs({2, 2, 5, 5}, {2, 2, 2, 2}, {2})
          .output({2, 2, 3, 3})
          .attr("strides", {2, 2})
          .attr("auto_pad", "SAME_LOWER"),
      GradCase("Conv", 13)
          .inputs({2, 2, 5, 5}, {2, 2, 3, 3})
          .output({2, 2, 2, 2})
          .attr("strides", {2, 2})
          .attr("auto_pad", "VALID"),
      GradCase("Conv", 13).inputs({2, 2, 5, 5}, {2, 2, 3, 3}, {2}).output({2, 2, 4, 4}).attr("pads", {0, 1, 1, 0}),
      GradCase("Conv", 13).inputs({1, 2, 6, 6}, {2, 2, 3, 3}).output({1, 2, 2, 2}).attr("strides", {2, 2}),
      GradCase("Conv", 7)
          .inputs({2, 2, 5, 5}, {2, 1, 3, 3}, {2})
          .output({2, 2, 3, 2})
          .attr("group", 2)
          .attr("kernel_shape", {3, 3})
          .attr("strides", {1, 2}),
      GradCase("Conv", 9)
          .inputs({2, 2, 6}, {2, 2, 2})
          .output({2, 2, 3})
          .attr("strides", {2})
          .attr("auto_pad", "SAME_UPPER"),

      // ConvTranspose (11 from opset 11, 1 before): output_padding, output_shape (the SAME
      // split differs between the versions), groups, dilations, auto_pad, 1-D and 3-D.
      GradCase("ConvTranspose", 13).inputs({2, 3, 3, 3}, {3, 2, 3, 3}, {2}).output({2, 2, 5, 5}),
      GradCase("ConvTranspose", 13)
          .inputs({1, 2, 3, 3}, {2, 3, 3, 3}, {3})
          .output({1, 3, 6, 6})
          .attr("strides", {2, 2})
          .attr("pads", {1, 1, 1, 1})
          .attr("output_padding", {1, 1}),
      GradCase("ConvTranspose", 13)
          .inputs({1, 4, 3, 3}, {4, 1, 2, 2}, {2})
          .output({1, 2, 5, 5})
          .attr("group", 2)
          .attr("dilations", {2, 2}),
      GradCase("ConvTranspose", 13)
          .inputs({1, 2, 3, 3}, {2, 2, 3, 3})
          .output({1, 2, 6, 6})
          .attr("strides", {2, 2})
          .attr("output_shape", {6, 6}),
      GradCase("ConvTranspose", 7)
          .inputs({1, 2, 3, 3}, {2, 2, 3, 3})
          .output({1, 2, 6, 6})
          .attr("strides", {2, 2})
          .attr("output_shape", {6, 6}),
      GradCase("ConvTranspose", 13)
          .inputs({1, 2, 3, 3}, {2, 2, 3, 3}, {2})
          .output({1, 2, 6, 6})
          .attr("strides", {2, 2})
          .attr("auto_pad", "SAME_UPPER"),
      GradCase("ConvTranspose", 9)
          .inputs({1, 2, 3, 3}, {2, 2, 3, 3}, {2})
          .output({1, 2, 6, 6})
          .attr("strides", {2, 2})
          .attr("auto_pad", "SAME_UPPER"),
      GradCase("ConvTranspose", 13)
          .inputs({1, 2, 3, 3}, {2, 2, 3, 3})
          .output({1, 2, 6, 6})
          .attr("strides", {2, 2})
          .attr("auto_pad", "SAME_LOWER"),
      GradCase("ConvTranspose", 13).inputs({2, 2, 4}, {2, 3, 3}, {3}).output({2, 3, 9}).attr("strides", {2}),
      GradCase("ConvTranspose", 13).inputs({1, 2, 2, 2, 2}, {2, 2, 2, 2, 2}, {2}).output({1, 2, 3, 3, 3}),
      GradCase("ConvTranspose", 13)
          .inputs({1, 2, 3, 3}, {2, 2, 3, 3})
          .output({1, 2, 8, 7})
          .attr("strides", {2, 2})
          .attr("output_padding", {1, 0})
          .attr("auto_pad", "VALID"),

      // MaxPool (12 from opset 12, 11, 10, 8, and 1 at opset 7): strides, pads, ceil_mode,
      // dilations, auto_pad, storage_order, 1-D and 3-D.
      GradCase("MaxPool", 13).input({2, 2, 5, 5}).output({2, 2, 4, 4}).attr("kernel_shape", {2, 2}),
      GradCase("MaxPool", 13)
          .input({2, 2, 5, 5})
          .output({2, 2, 3, 3})
          .attr("kernel_shape", {3, 3})
          .attr("strides", {2, 2})
          .attr("pads", {1, 1, 1, 1}),
      GradCase("MaxPool", 12)
          .input({2, 2, 5, 5})
          .output({2, 2, 3, 3})
          .attr("ceil_mode", 1)
          .attr("kernel_shape", {2, 2})
          .attr("strides", {2, 2}),
      GradCase("MaxPool", 11)
          .input({1, 2, 5, 5})
          .output({1, 2, 3, 3})
          .attr("kernel_shape", {2, 2})
          .attr("dilations", {2, 2}),
      GradCase("MaxPool", 13)
          .input({2, 2, 5, 5})
          .output({2, 2, 3, 3})
          .attr("kernel_shape", {2, 2})
          .attr("strides", {2, 2})
          .attr("auto_pad", "SAME_UPPER"),
      GradCase("MaxPool", 13)
          .input({2, 3, 7})
          .output({2, 3, 4})
          .attr("kernel_shape", {3})
          .attr("strides", {2})
          .attr("auto_pad", "SAME_LOWER"),
      GradCase("MaxPool", 13)
          .input({1, 2, 4, 4, 4})
          .output({1, 2, 2, 2, 2})
          .attr("kernel_shape", {2, 2, 2})
          .attr("strides", {2, 2, 2}),
      GradCase("MaxPool", 10)
          .input({1, 2, 6, 6})
          .output({1, 2, 3, 3})
          .attr("ceil_mode", 1)
          .attr("kernel_shape", {2, 2})
          .attr("strides", {2, 2})
          .attr("dilations", {2, 2})
          .attr("pads", {0, 0, 1, 1}),
      GradCase("MaxPool", 8)
          .input({2, 2, 5, 5})
          .attr("storage_order", 1)
          .attr("kernel_shape", {3, 3})
          .attr("pads", {1, 1, 1, 1}),
      GradCase("MaxPool", 7)
          .input({2, 2, 5, 5})
          .output({2, 2, 2, 2})
          .attr("kernel_shape", {3, 3})
          .attr("strides", {2, 2}),

      // AveragePool (11, 10, and 7 at opsets 7 to 9): count_include_pad with and without
      // padding, ceil_mode windows past the end padding, auto_pad, 1-D and 3-D.
      GradCase("AveragePool", 13)
          .input({2, 2, 5, 5})
          .output({2, 2, 2, 2})
          .attr("kernel_shape", {3, 3})
          .attr("strides", {2, 2}),
      GradCase("AveragePool", 13)
          .input({2, 2, 5, 5})
          .output({2, 2, 3, 3})
          .attr("count_include_pad", 1)
          .attr("kernel_shape", {3, 3})
          .attr("strides", {2, 2})
          .attr("pads", {1, 1, 1, 1}),
      GradCase("AveragePool", 13)
          .input({2, 2, 5, 5})
          .output({2, 2, 3, 3})
          .attr("kernel_shape", {3, 3})
          .attr("strides", {2, 2})
          .attr("pads", {1, 1, 1, 1}),
      GradCase("AveragePool", 11)
          .input({1, 2, 5, 5})
          .output({1, 2, 3, 3})
          .attr("ceil_mode", 1)
          .attr("count_include_pad", 1)
          .attr("kernel_shape", {2, 2})
          .attr("strides", {2, 2}),
      GradCase("AveragePool", 10)
          .input({1, 2, 6, 5})
          .output({1, 2, 3, 3})
          .attr("ceil_mode", 1)
          .attr("kernel_shape", {3, 2})
          .attr("strides", {2, 2})
          .attr("pads", {1, 0, 0, 0}),
      GradCase("AveragePool", 13)
          .input({2, 2, 5, 5})
          .output({2, 2, 3, 3})
          .attr("kernel_shape", {2, 2})
          .attr("strides", {2, 2})
          .attr("auto_pad", "SAME_UPPER"),
      GradCase("AveragePool", 13)
          .input({2, 3, 7})
          .output({2, 3, 4})
          .attr("count_include_pad", 1)
          .attr("kernel_shape", {3})
          .attr("strides", {2})
          .attr("auto_pad", "SAME_LOWER"),
      GradCase("AveragePool", 13)
          .input({1, 2, 4, 4, 3})
          .output({1, 2, 2, 2, 2})
          .attr("kernel_shape", {2, 2, 2})
          .attr("strides", {2, 2, 1}),
      GradCase("AveragePool", 7)
          .input({2, 2, 5, 5})
          .output({2, 2, 3, 3})
          .attr("count_include_pad", 1)
          .attr("kernel_shape", {3, 3})
          .attr("strides", {2, 2})
          .attr("pads", {1, 1, 1, 1}),
      GradCase("AveragePool", 7)
          .input({2, 2, 5, 5})
          .output({2, 2, 2, 2})
          .attr("kernel_shape", {2, 2})
          .attr("strides", {2, 2}),

      // The global pools, 1-D to 3-D.
      GradCase("GlobalAveragePool", 13).input({2, 3, 4, 4}).output({2, 3, 1, 1}),
      GradCase("GlobalAveragePool", 7).input({2, 2, 5}).output({2, 2, 1}),
      GradCase("GlobalAveragePool", 13).input({1, 2, 3, 2, 3}).output({1, 2, 1, 1, 1}),
      GradCase("GlobalMaxPool", 13).input({2, 3, 3, 4}).output({2, 3, 1, 1}),
      GradCase("GlobalMaxPool", 7).input({2, 2, 6}).output({2, 2, 1}),
      GradCase("GlobalMaxPool", 13).input({1, 2, 2, 3, 2}).output({1, 2, 1, 1, 1}),

      // LpPool (11, and 2 at opsets 7 to 10) and GlobalLpPool (2): p = 1, 2, 3.
      GradCase("LpPool", 13).input({2, 2, 5, 5}).output({2, 2, 4, 4}).attr("kernel_shape", {2, 2}),
      GradCase("LpPool", 13)
          .input({2, 2, 5, 5})
          .output({2, 2, 3, 3})
          .attr("p", 3)
          .attr("kernel_shape", {3, 3})
          .attr("strides", {2, 2})
          .attr("pads", {1, 1, 1, 1}),
      GradCase("LpPool", 11)
          .input({2, 3, 7})
          .output({2, 3, 4})
          .attr("p", 1)
          .attr("kernel_shape", {3})
          .attr("strides", {2})
          .attr("auto_pad", "SAME_UPPER"),
      GradCase("LpPool", 7)
          .input({1, 2, 4, 4, 4})
          .output({1, 2, 2, 2, 2})
          .attr("kernel_shape", {2, 2, 2})
          .attr("strides", {2, 2, 2}),
      GradCase("LpPool", 9)
          .input({2, 2, 5, 5})
          .output({2, 2, 2, 2})
          .attr("p", 3)
          .attr("kernel_shape", {3, 3})
          .attr("strides", {2, 2}),
      GradCase("GlobalLpPool", 13).input({2, 3, 3, 3}).output({2, 3, 1, 1}),
      GradCase("GlobalLpPool", 13).input({2, 2, 5}).output({2, 2, 1}).attr("p", 3),
      GradCase("GlobalLpPool", 7).input({1, 2, 2, 3, 2}).output({1, 2, 1, 1, 1}).attr("p", 1),

      // MaxUnpool (11, and 9 at opsets 9 and 10): distinct indices (as MaxPool gives),
      // spread over the planes, with and without output_shape.
      GradCase("MaxUnpool", 13)
          .input({1, 2, 2, 2})
          .output({1, 2, 4, 4})
          .attr("kernel_shape", {2, 2})
          .attr("strides", {2, 2})
          .fixed(1, unpool_indices),
      GradCase("MaxUnpool", 11)
          .input({1, 2, 2, 2})
          .output({1, 2, 5, 6})
          .attr("kernel_shape", {2, 2})
          .attr("strides", {2, 2})
          .fixed(1, unpool_indices)
          .fixed(2, int64s({1, 2, 5, 6})),
      GradCase("MaxUnpool", 9)
          .input({1, 2, 2, 2})
          .output({1, 2, 3, 3})
          .attr("kernel_shape", {2, 2})
          .attr("strides", {2, 2})
          .attr("pads", {1, 1, 0, 0})
          .fixed(1, Tensor::from<int64_t>({1, 2, 2, 2}, {0, 2, 6, 8, 9, 10, 16, 17})),

      // RoiAlign (16 from opset 16, 10 before): avg and max, fixed or adaptive sampling,
      // half_pixel or not; MaxRoiPool (1). rois and batch indices are fixed inputs.
      GradCase("RoiAlign", 16)
          .input({2, 2, 6, 6})
          .output({2, 2, 3, 3})
          .attr("output_height", 3)
          .attr("output_width", 3)
          .attr("sampling_ratio", 2)
          .fixed(1, roi_boxes)
          .fixed(2, int64s({0, 1})),
      GradCase("RoiAlign", 16)
          .input({2, 2, 6, 6})
          .output({2, 2, 2, 3})
          .attr("output_height", 2)
          .attr("output_width", 3)
          .attr("sampling_ratio", 2)
          .fixed(1, roi_boxes)
          .fixed(2, int64s({1, 0}))
          .attr("mode", "max"),
      GradCase("RoiAlign", 10)
          .input({1, 2, 6, 6})
          .output({2, 2, 2, 2})
          .attr("output_height", 2)
          .attr("output_width", 2)
          .fixed(1, roi_boxes)
          .fixed(2, int64s({0, 0}))
          .attr("spatial_scale", 0.5f),
      GradCase("RoiAlign", 16)
          .input({1, 2, 6, 6})
          .output({2, 2, 2, 2})
          .attr("output_height", 2)
          .attr("output_width", 2)
          .fixed(1, roi_boxes)
          .fixed(2, int64s({0, 0}))
          .attr("coordinate_transformation_mode", "output_half_pixel"),
      GradCase("MaxRoiPool", 13)
          .input({2, 2, 6, 6})
          .output({2, 2, 2, 2})
          .attr("pooled_shape", {2, 2})
          .fixed(1, Tensor::from<double>({2, 5}, {0, 0.6, 1.2, 4.4, 5.0, 1, 1.0, 0.0, 5.0, 3.0})),
      GradCase("MaxRoiPool", 7)
          .input({1, 2, 6, 6})
          .output({2, 2, 3, 2})
          .attr("pooled_shape", {3, 2})
          .fixed(1, Tensor::from<double>({2, 5}, {0, 1.0, 2.0, 9.0, 11.0, 0, 0.0, 0.0, 6.0, 4.0}))
          .attr("spatial_scale", 0.5f),
  };
}

}  // namespace onnx_train::testing
