"""Vision op versions of opsets 18-21: GroupNormalization-18 (scale and bias per group) and -21 (per
channel), AveragePool-19 (dilations), LpPool-18 (dilations, ceil_mode), GridSample-20 (modes linear /
nearest / cubic), AffineGrid-20, Resize-18/19 (axes, keep_aspect_ratio_policy, half_pixel_symmetric) and
DeformConv-19.
Each is lowered at load to opset-17 ops (importers/lowerings/vision_*.cc)."""
import numpy as np
from onnx import helper

rng = np.random.default_rng(1920)


def normal(*shape):
    return rng.normal(size=shape).astype(np.float32)


def uniform(low, high, *shape):
    return rng.uniform(low, high, size=shape).astype(np.float32)


def node(op, inputs, **attrs):
    return helper.make_node(op, inputs, ["y"], **attrs)


GROUP_NORM = [
    dict(name="groupnorm_18_per_group", opset=18,
         nodes=[node("GroupNormalization", ["x", "scale", "bias"], num_groups=3)],
         inputs={"x": normal(2, 6, 3, 4)}, initializers={"scale": normal(3), "bias": normal(3)}, outputs=["y"],
         doc="scale and bias [G]: one value per group of C / G channels (the specification; ONNX Runtime agrees)"),
    dict(name="groupnorm_18_rank3_epsilon", opset=18,
         nodes=[node("GroupNormalization", ["x", "scale", "bias"], num_groups=2, epsilon=1e-2)],
         inputs={"x": normal(2, 4, 5)}, initializers={"scale": normal(2), "bias": normal(2)}, outputs=["y"],
         doc="X [N, C, L] and a large epsilon"),
    dict(name="groupnorm_21_per_channel", opset=21,
         nodes=[node("GroupNormalization", ["x", "scale", "bias"], num_groups=2)],
         inputs={"x": normal(2, 6, 3, 4)}, initializers={"scale": normal(6), "bias": normal(6)}, outputs=["y"],
         doc="scale and bias [C] (the -21 change)"),
    dict(name="groupnorm_21_symbolic_batch_opset23", opset=23,
         nodes=[node("GroupNormalization", ["x", "scale", "bias"], num_groups=4, epsilon=1e-4, stash_type=1)],
         inputs={"x": normal(3, 4, 3, 3)}, shapes={"x": ["N", 4, 3, 3]},
         initializers={"scale": normal(4), "bias": normal(4)}, outputs=["y"],
         doc="one channel per group (instance normalization), a symbolic batch, GroupNormalization-21 at opset 23"),
    dict(name="groupnorm_21_one_group_5d", opset=21,
         nodes=[node("GroupNormalization", ["x", "scale", "bias"], num_groups=1)],
         inputs={"x": normal(2, 4, 2, 3, 2)}, initializers={"scale": normal(4), "bias": normal(4)}, outputs=["y"],
         doc="a single group (statistics over every channel) on 3 spatial axes"),
]

AVERAGE_POOL = [
    dict(name="averagepool_19_no_dilations", opset=19,
         nodes=[node("AveragePool", ["x"], kernel_shape=[3, 3], strides=[2, 2], pads=[1, 1, 1, 1],
                     count_include_pad=1)],
         inputs={"x": normal(1, 2, 7, 7)}, outputs=["y"], doc="no dilations: AveragePool-11"),
    dict(name="averagepool_19_dilations", opset=19,
         nodes=[node("AveragePool", ["x"], kernel_shape=[2, 2], dilations=[2, 2])],
         inputs={"x": normal(2, 3, 6, 6)}, outputs=["y"]),
    dict(name="averagepool_19_dilations_pads_exclude_pad", opset=19,
         nodes=[node("AveragePool", ["x"], kernel_shape=[3, 2], dilations=[2, 1], pads=[1, 1, 2, 1])],
         inputs={"x": normal(1, 2, 7, 6)}, outputs=["y"], doc="count_include_pad = 0: padding not counted"),
    dict(name="averagepool_19_dilations_pads_include_pad", opset=19,
         nodes=[node("AveragePool", ["x"], kernel_shape=[3, 2], dilations=[2, 1], pads=[1, 1, 2, 1],
                     count_include_pad=1)],
         inputs={"x": normal(1, 2, 7, 6)}, outputs=["y"], doc="count_include_pad = 1: padding counted"),
    dict(name="averagepool_19_dilations_ceil_mode", opset=19,
         nodes=[node("AveragePool", ["x"], kernel_shape=[2, 2], dilations=[2, 2], strides=[2, 2], ceil_mode=1)],
         inputs={"x": normal(1, 2, 8, 7)}, outputs=["y"],
         doc="ceil_mode: the last window reaches beyond the input and averages what it covers"),
    # No SAME_UPPER / SAME_LOWER case with dilations: ONNX Runtime 1.31 pads those as if the kernel were
    # not dilated (output [1, 3, 3, 4] for X [1, 3, 5, 6], where the specification's SAME gives
    # ceil(in / stride) = [5, 6]); the lowering follows the specification (tests/importers/lowering_vision_test.cc).
    dict(name="averagepool_19_dilations_1d", opset=19,
         nodes=[node("AveragePool", ["x"], kernel_shape=[3], dilations=[2], strides=[2])],
         inputs={"x": normal(2, 3, 11)}, outputs=["y"]),
    dict(name="averagepool_19_dilations_symbolic_batch_opset22", opset=22,
         nodes=[node("AveragePool", ["x"], kernel_shape=[2, 3], dilations=[3, 2], pads=[0, 1, 0, 1],
                     count_include_pad=1)],
         inputs={"x": normal(3, 2, 7, 6)}, shapes={"x": ["N", 2, 7, 6]}, outputs=["y"],
         doc="a batch size known only at run time; AveragePool-22 only added types"),
]

LP_POOL = [
    dict(name="lppool_18_plain", opset=18,
         nodes=[node("LpPool", ["x"], kernel_shape=[2, 2], strides=[2, 2], p=2)],
         inputs={"x": normal(1, 2, 6, 6)}, outputs=["y"], doc="no new attribute: LpPool-11"),
    dict(name="lppool_18_ceil_mode", opset=18,
         nodes=[node("LpPool", ["x"], kernel_shape=[3, 3], strides=[2, 2], ceil_mode=1)],
         inputs={"x": normal(1, 2, 6, 7)}, outputs=["y"], doc="ceil_mode: LpPool-11 with longer end padding"),
    dict(name="lppool_18_dilations", opset=18,
         nodes=[node("LpPool", ["x"], kernel_shape=[2, 2], dilations=[2, 2], p=2)],
         inputs={"x": normal(2, 3, 6, 5)}, outputs=["y"]),
    dict(name="lppool_18_dilations_p3_pads", opset=18,
         nodes=[node("LpPool", ["x"], kernel_shape=[2, 3], dilations=[1, 2], pads=[1, 0, 1, 2], p=3)],
         inputs={"x": normal(1, 2, 5, 6)}, outputs=["y"]),
    dict(name="lppool_18_dilations_p1_ceil_mode_1d", opset=18,
         nodes=[node("LpPool", ["x"], kernel_shape=[2], dilations=[3], strides=[2], ceil_mode=1, p=1)],
         inputs={"x": normal(2, 2, 10)}, outputs=["y"]),
]

GRID_SAMPLE = [
    dict(name="gridsample_20_linear_default", opset=20,
         nodes=[node("GridSample", ["x", "grid"])],
         inputs={"x": normal(2, 3, 4, 5), "grid": uniform(-1.2, 1.2, 2, 3, 6, 2)}, outputs=["y"],
         doc="the defaults: linear, zeros, align_corners 0"),
    dict(name="gridsample_20_cubic_border", opset=20,
         nodes=[node("GridSample", ["x", "grid"], mode="cubic", padding_mode="border")],
         inputs={"x": normal(1, 2, 5, 5), "grid": uniform(-1.1, 1.1, 1, 4, 4, 2)}, outputs=["y"]),
    dict(name="gridsample_20_nearest_reflection_align_corners", opset=20,
         nodes=[node("GridSample", ["x", "grid"], mode="nearest", padding_mode="reflection", align_corners=1)],
         inputs={"x": normal(1, 2, 4, 6), "grid": uniform(-1.3, 1.3, 1, 5, 3, 2)}, outputs=["y"]),
    dict(name="gridsample_20_linear_align_corners_opset22", opset=22,
         nodes=[node("GridSample", ["x", "grid"], mode="linear", align_corners=1)],
         inputs={"x": normal(1, 1, 3, 4), "grid": uniform(-1, 1, 1, 2, 5, 2)}, outputs=["y"],
         doc="GridSample-20 (-22 only added types) at opset 22"),
    dict(name="gridsample_20_volumetric_linear", opset=20,
         nodes=[node("GridSample", ["x", "grid"])],
         inputs={"x": normal(2, 2, 3, 4, 5), "grid": uniform(-1.2, 1.2, 2, 2, 3, 4, 3)}, outputs=["y"],
         doc="X [N, C, D, H, W], grid (x, y, z): trilinear, zeros outside"),
    dict(name="gridsample_20_volumetric_linear_border_align_corners", opset=20,
         nodes=[node("GridSample", ["x", "grid"], padding_mode="border", align_corners=1)],
         inputs={"x": normal(1, 3, 4, 3, 2), "grid": uniform(-1.3, 1.3, 1, 3, 2, 2, 3)}, outputs=["y"]),
    dict(name="gridsample_20_volumetric_nearest", opset=20,
         nodes=[node("GridSample", ["x", "grid"], mode="nearest")],
         inputs={"x": normal(1, 2, 3, 3, 4), "grid": uniform(-1.2, 1.2, 1, 2, 2, 3, 3)}, outputs=["y"]),
]

AFFINE_GRID = [
    dict(name="affinegrid_20_2d", opset=20,
         nodes=[node("AffineGrid", ["theta", "size"])],
         inputs={"theta": normal(2, 2, 3)}, initializers={"size": np.array([2, 3, 4, 5], np.int64)}, outputs=["y"]),
    dict(name="affinegrid_20_2d_align_corners", opset=20,
         nodes=[node("AffineGrid", ["theta", "size"], align_corners=1)],
         inputs={"theta": normal(1, 2, 3)}, initializers={"size": np.array([1, 1, 3, 2], np.int64)}, outputs=["y"]),
    dict(name="affinegrid_20_3d", opset=20,
         nodes=[node("AffineGrid", ["theta", "size"])],
         inputs={"theta": normal(2, 3, 4)}, initializers={"size": np.array([2, 1, 2, 3, 4], np.int64)},
         outputs=["y"]),
    dict(name="affinegrid_20_3d_align_corners", opset=20,
         nodes=[node("AffineGrid", ["theta", "size"], align_corners=1)],
         inputs={"theta": normal(1, 3, 4)}, initializers={"size": np.array([1, 2, 3, 2, 4], np.int64)},
         outputs=["y"]),
    dict(name="affinegrid_20_into_gridsample", opset=20,
         nodes=[helper.make_node("AffineGrid", ["theta", "size"], ["grid"]),
                node("GridSample", ["x", "grid"], mode="linear")],
         inputs={"x": normal(2, 2, 5, 6), "theta": (np.tile(np.eye(2, 3), (2, 1, 1)) + 0.2 * normal(2, 2, 3))
                 .astype(np.float32)},
         initializers={"size": np.array([2, 2, 4, 4], np.int64)}, outputs=["y"],
         doc="a spatial transformer: the grid of AffineGrid samples X"),
]

RESIZE = [
    dict(name="resize_18_axes_scales", opset=18,
         nodes=[node("Resize", ["x", "", "scales"], mode="linear", axes=[2, 3])],
         inputs={"x": normal(1, 2, 4, 5)}, initializers={"scales": np.array([2.0, 1.5], np.float32)},
         outputs=["y"]),
    dict(name="resize_18_axes_sizes_symbolic_batch", opset=18,
         nodes=[node("Resize", ["x", "", "", "sizes"], mode="nearest", axes=[-1, -2])],
         inputs={"x": normal(2, 2, 4, 5)}, shapes={"x": ["N", 2, 4, 5]},
         initializers={"sizes": np.array([7, 6], np.int64)}, outputs=["y"],
         doc="negative axes in another order; the batch size is only known at run time"),
    dict(name="resize_18_not_larger", opset=18,
         nodes=[node("Resize", ["x", "", "", "sizes"], mode="linear", axes=[2, 3], keep_aspect_ratio_policy="not_larger")],
         inputs={"x": normal(1, 2, 4, 2)}, initializers={"sizes": np.array([8, 8], np.int64)}, outputs=["y"],
         doc="one scale min(8 / 4, 8 / 2) = 2 on both axes: [1, 2, 8, 4]"),
    dict(name="resize_18_not_smaller", opset=18,
         nodes=[node("Resize", ["x", "", "", "sizes"], mode="cubic", axes=[2, 3],
                     keep_aspect_ratio_policy="not_smaller")],
         inputs={"x": normal(1, 1, 4, 2)}, initializers={"sizes": np.array([5, 5], np.int64)}, outputs=["y"],
         doc="one scale max(5 / 4, 5 / 2) = 2.5 on both axes: [1, 1, 10, 5]"),
    dict(name="resize_18_not_larger_rounded", opset=18,
         nodes=[node("Resize", ["x", "", "", "sizes"], mode="linear", axes=[2, 3], keep_aspect_ratio_policy="not_larger")],
         inputs={"x": normal(1, 2, 3, 5)}, initializers={"sizes": np.array([6, 6], np.int64)}, outputs=["y"],
         doc="scale min(6 / 3, 6 / 5) = 1.2: sizes round(3.6) = 4 and 6, where Resize-13's scales give floor(3.6) = 3"),
    dict(name="resize_18_not_larger_rounded_nearest_asymmetric", opset=18,
         nodes=[node("Resize", ["x", "", "", "sizes"], mode="nearest", axes=[2, 3], keep_aspect_ratio_policy="not_larger",
                     coordinate_transformation_mode="asymmetric", nearest_mode="floor")],
         inputs={"x": normal(2, 1, 4, 3)}, initializers={"sizes": np.array([5, 5], np.int64)}, outputs=["y"],
         doc="scale 1.25: sizes 5 and round(3.75) = 4. (ONNX Runtime 1.31 leaves X unresized when these axes "
             "are written negative, [-2, -1]; the specification resizes them the same, and so does the lowering)"),
    dict(name="resize_18_antialias_linear_axes", opset=18,
         nodes=[node("Resize", ["x", "", "scales"], mode="linear", antialias=1, axes=[2, 3])],
         inputs={"x": normal(1, 2, 9, 10)}, initializers={"scales": np.array([0.5, 0.6], np.float32)}, outputs=["y"],
         doc="antialias: the triangle filter stretched by 1 / scale when downscaling"),
    dict(name="resize_18_antialias_cubic_sizes", opset=18,
         nodes=[node("Resize", ["x", "", "", "sizes"], mode="cubic", antialias=1)],
         inputs={"x": normal(1, 1, 8, 7)}, initializers={"sizes": np.array([1, 1, 3, 5], np.int64)}, outputs=["y"]),
    dict(name="resize_18_antialias_linear_align_corners_up_and_down", opset=18,
         nodes=[node("Resize", ["x", "", "scales"], mode="linear", antialias=1,
                     coordinate_transformation_mode="align_corners")],
         inputs={"x": normal(2, 1, 4, 9)}, initializers={"scales": np.array([1, 1, 1.5, 0.4], np.float32)},
         outputs=["y"], doc="upscaling one axis (no stretch) and downscaling the other"),
    dict(name="resize_18_antialias_cubic_exclude_outside", opset=18,
         nodes=[node("Resize", ["x", "", "scales"], mode="cubic", antialias=1, exclude_outside=1, cubic_coeff_a=-0.5,
                     coordinate_transformation_mode="asymmetric")],
         inputs={"x": normal(1, 2, 7, 8)}, initializers={"scales": np.array([1, 1, 0.6, 0.7], np.float32)},
         outputs=["y"]),
    dict(name="resize_18_antialias_not_smaller", opset=18,
         nodes=[node("Resize", ["x", "", "", "sizes"], mode="linear", antialias=1, axes=[2, 3],
                     keep_aspect_ratio_policy="not_smaller")],
         inputs={"x": normal(1, 1, 9, 12)}, initializers={"sizes": np.array([4, 4], np.int64)}, outputs=["y"],
         doc="one scale max(4 / 9, 4 / 12): sizes 4 and round(5.33) = 5"),
    # No nearest case with antialias: ONNX Runtime 1.31 refuses it ("when anti-aliasing is set, Resize only
    # supports mode LINEAR and CUBIC"), where the specification applies the filter to linear and cubic only and the
    # lowering resizes nearest as without antialias.
    dict(name="resize_18_antialias_linear_rank3_middle_axis", opset=18,
         nodes=[node("Resize", ["x", "", "scales"], mode="linear", antialias=1, axes=[0])],
         inputs={"x": normal(9, 3, 4)}, initializers={"scales": np.array([0.45], np.float32)}, outputs=["y"],
         doc="the first of three axes: transposed to the end and back"),
    dict(name="resize_18_cubic_every_axis", opset=18,
         nodes=[node("Resize", ["x", "", "scales"], mode="cubic", cubic_coeff_a=-0.5, exclude_outside=1)],
         inputs={"x": normal(1, 2, 3, 4)}, initializers={"scales": np.array([1, 1, 2, 0.5], np.float32)},
         outputs=["y"], doc="no new attribute used: Resize-13 as written"),
    dict(name="resize_18_tf_crop_and_resize_axes", opset=18,
         nodes=[node("Resize", ["x", "roi", "", "sizes"], mode="linear", axes=[2, 3],
                     coordinate_transformation_mode="tf_crop_and_resize", extrapolation_value=0.5)],
         inputs={"x": normal(1, 2, 5, 5)},
         initializers={"roi": np.array([0.1, -0.2, 0.9, 0.8], np.float32), "sizes": np.array([4, 6], np.int64)},
         outputs=["y"], doc="roi given for the axes only, widened to [0, 1] on N and C"),
    dict(name="resize_19_half_pixel_symmetric_sizes", opset=19,
         nodes=[node("Resize", ["x", "", "", "sizes"], mode="linear", coordinate_transformation_mode="half_pixel_symmetric")],
         inputs={"x": normal(1, 2, 4, 5)}, initializers={"sizes": np.array([1, 2, 7, 3], np.int64)}, outputs=["y"],
         doc="with sizes the scaled width is whole: half_pixel"),
    dict(name="resize_19_half_pixel_symmetric_scales_axes", opset=19,
         nodes=[node("Resize", ["x", "", "scales"], mode="nearest", axes=[2, 3],
                     coordinate_transformation_mode="half_pixel_symmetric", nearest_mode="floor")],
         inputs={"x": normal(1, 2, 4, 4)}, initializers={"scales": np.array([2.0, 1.5], np.float32)}, outputs=["y"],
         doc="scales with whole scaled widths (8, 6)"),
    dict(name="resize_19_half_pixel_symmetric_fractional", opset=19,
         nodes=[node("Resize", ["x", "", "scales"], mode="linear", coordinate_transformation_mode="half_pixel_symmetric")],
         inputs={"x": normal(1, 2, 5, 4)}, initializers={"scales": np.array([1, 1, 0.7, 1.7], np.float32)},
         outputs=["y"], doc="scaled widths 3.5 and 6.8: the sampled span is shifted to stay centred"),
]

DEFORM_CONV = [
    dict(name="deformconv_19_default", opset=19,
         nodes=[node("DeformConv", ["x", "w", "offset"])],
         inputs={"x": normal(1, 2, 5, 5), "offset": 1.5 * normal(1, 2 * 3 * 3, 3, 3)},
         initializers={"w": normal(3, 2, 3, 3)}, outputs=["y"],
         doc="no bias, no mask; offsets up to a few pixels, some past the border (zeros there)"),
    dict(name="deformconv_19_bias_mask_pads_strides", opset=19,
         nodes=[node("DeformConv", ["x", "w", "offset", "b", "mask"], pads=[1, 0, 1, 2], strides=[2, 1])],
         inputs={"x": normal(2, 3, 6, 5), "offset": normal(2, 2 * 2 * 2, 4, 6), "mask": uniform(0, 1, 2, 2 * 2, 4, 6)},
         initializers={"w": normal(4, 3, 2, 2), "b": normal(4)}, outputs=["y"]),
    dict(name="deformconv_19_groups_offset_groups_dilations", opset=19,
         nodes=[node("DeformConv", ["x", "w", "offset", "", "mask"], group=2, offset_group=2, dilations=[2, 1],
                     kernel_shape=[2, 3], pads=[1, 1, 1, 1])],
         inputs={"x": normal(1, 4, 5, 6), "offset": normal(1, 2 * 2 * 6, 5, 6), "mask": uniform(0, 1, 1, 2 * 6, 5, 6)},
         initializers={"w": normal(6, 2, 2, 3)}, outputs=["y"],
         doc="two channel groups and two offset groups, bias omitted and mask given"),
    dict(name="deformconv_19_symbolic_batch_opset22", opset=22,
         nodes=[node("DeformConv", ["x", "w", "offset", "b"])],
         inputs={"x": normal(2, 2, 4, 4), "offset": normal(2, 8, 3, 3)}, shapes={"x": ["N", 2, 4, 4]},
         initializers={"w": normal(3, 2, 2, 2), "b": normal(3)}, outputs=["y"],
         doc="a batch size known only at run time; DeformConv-22 only added types"),
]

CASES = GROUP_NORM + AVERAGE_POOL + LP_POOL + GRID_SAMPLE + AFFINE_GRID + RESIZE + DEFORM_CONV
