// Gradient check rows of the reduction, shape and indexing op versions of opsets 18-20, which
// load lowered to opset 17 (importers/lowerings/reduce_shape.cc, indexing.cc): each row builds
// its model at the new opset, so the gradients checked are those of the lowered form. Axes,
// pads, shapes and indices are initializers (constants for the lowering). The scatters' max /
// min rows repeat indices, so that several updates compete for one element.
#include "tests/gradients/gradcheck_cases.h"

namespace onnx_train::testing {

namespace {

Tensor int64_scalar(int64_t value) { return Tensor::from<int64_t>({}, {value}); }

}  // namespace

ONNX_TRAIN_GRAD_CASES(lowered_data) {
  return {
      // Reduce*-18: axes as an input (constant), negative, absent (every axis), noop_with_empty_axes.
      GradCase("ReduceL1", 18).input({3, 4}).output({3, 1}).fixed(1, int64s({1})),
      GradCase("ReduceL2", 18).input({2, 3, 2}).output({3}).attr("keepdims", 0).fixed(1, int64s({0, -1})),
      GradCase("ReduceLogSum", 18).input({3, 4}).output({1, 4}).positive().fixed(1, int64s({-2})),
      GradCase("ReduceLogSumExp", 18).input({3, 4}).output({1, 1}),
      GradCase("ReduceMax", 18).input({3, 4}).output({3, 1}).fixed(1, int64s({1})),
      GradCase("ReduceMin", 18).input({3, 4}).output({4}).attr("keepdims", 0).fixed(1, int64s({0})),
      GradCase("ReduceMean", 18).input({2, 3, 4}).output({2, 1, 4}).fixed(1, int64s({1})),
      GradCase("ReduceMean", 18).input({3, 4}).attr("noop_with_empty_axes", 1).fixed(1, int64s({})),
      GradCase("ReduceSumSquare", 18).input({3, 4}).attr("noop_with_empty_axes", 1),
      GradCase("ReduceL2", 18).input({3, 4}).attr("noop_with_empty_axes", 1).fixed(1, int64s({})),
      GradCase("ReduceLogSum", 18).input({3, 4}).positive().attr("noop_with_empty_axes", 1),
      GradCase("ReduceProd", 18).input({3, 4}).output({3}).attr("keepdims", 0).fixed(1, int64s({1})),
      GradCase("ReduceSumSquare", 18).input({3, 4}).output({1, 4}).fixed(1, int64s({0})),
      GradCase("ReduceMean", 21).input({3, 4}).output({3}).attr("keepdims", 0).fixed(1, int64s({-1})),

      // Split-18: num_outputs, equal and uneven parts.
      GradCase("Split", 18).input({6, 2}).output({2, 2}).more_output({2, 2}).more_output({2, 2}).attr("num_outputs", 3),
      GradCase("Split", 18)
          .input({2, 7})
          .output({2, 3})
          .more_output({2, 3})
          .more_output({2, 1})
          .attr("axis", -1)
          .attr("num_outputs", 3),

      // Pad-18: pads of some axes (pads, constant_value, axes); Pad-19: wrap, and reflect.
      GradCase("Pad", 18)
          .input({2, 3})
          .output({2, 6})
          .fixed(1, int64s({1, 2}))
          .fixed(2, Tensor::scalar<double>(0.5))
          .fixed(3, int64s({-1})),
      GradCase("Pad", 18)
          .input({3, 4})
          .output({2, 7})
          .attr("mode", "edge")
          .fixed(1, int64s({1, -1, 2, 0}))
          .fixed(2, Tensor::scalar<double>(0))
          .fixed(3, int64s({1, 0})),
      GradCase("Pad", 19).input({2, 3}).output({3, 8}).attr("mode", "wrap").fixed(1, int64s({1, 2, 0, 3})),
      GradCase("Pad", 19).input({3, 4}).output({2, 3}).attr("mode", "wrap").fixed(1, int64s({-1, 1, 0, -2})),
      GradCase("Pad", 19).input({3, 4}).output({5, 4}).attr("mode", "reflect").fixed(1, int64s({1, 0, 1, 0})),

      // CenterCropPad-18: crop one axis, pad the other.
      GradCase("CenterCropPad", 18).input({5, 3}).output({2, 6}).fixed(1, int64s({2, 6})),
      GradCase("CenterCropPad", 18).input({2, 6, 3}).output({2, 3, 3}).attr("axes", {-2}).fixed(1, int64s({3})),

      // Col2Im-18 (a ConvTranspose with a one-hot weight): overlapping blocks, and strides, pads, dilations.
      GradCase("Col2Im", 18).input({1, 8, 6}).output({1, 2, 3, 4}).fixed(1, int64s({3, 4})).fixed(2, int64s({2, 2})),
      GradCase("Col2Im", 18)
          .input({1, 6, 6})
          .output({1, 1, 5, 6})
          .attr("strides", {2, 2})
          .attr("pads", {1, 1, 1, 1})
          .attr("dilations", {1, 2})
          .fixed(1, int64s({5, 6}))
          .fixed(2, int64s({2, 3})),

      // ScatterElements-18 / ScatterND-18: none, add, and max / min (the gradient to the winners).
      GradCase("ScatterElements", 18)
          .inputs({3, 4}, {3, 2})
          .attr("axis", 1)
          .fixed(1, Tensor::from<int64_t>({3, 2}, {0, 3, 1, -1, 2, 0})),
      GradCase("ScatterND", 18)
          .inputs({4, 2}, {3, 2})
          .attr("reduction", "add")
          .fixed(1, Tensor::from<int64_t>({3, 1}, {1, 3, 1})),
      GradCase("ScatterElements", 18)
          .inputs({3, 4}, {3, 3})
          .attr("axis", 1)
          .attr("reduction", "max")
          .fixed(1, Tensor::from<int64_t>({3, 3}, {1, 0, 1, 2, 2, -1, 3, 3, 3})),
      GradCase("ScatterElements", 18)
          .inputs({3, 3}, {2, 3})
          .attr("reduction", "min")
          .fixed(1, Tensor::from<int64_t>({2, 3}, {0, 2, 2, 0, 1, -1})),
      GradCase("ScatterND", 18)
          .inputs({4, 3}, {3, 3})
          .attr("reduction", "max")
          .fixed(1, Tensor::from<int64_t>({3, 1}, {1, 3, 1})),
      GradCase("ScatterND", 18)
          .inputs({2, 3}, {4})
          .attr("reduction", "min")
          .fixed(1, Tensor::from<int64_t>({4, 2}, {0, 1, 1, 2, 0, 1, 1, 0})),

      // DFT-20: the default axis (-2: the last signal axis) and an axis input.
      GradCase("DFT", 20).input({2, 6, 1}).output({2, 6, 2}),
      GradCase("DFT", 20)
          .input({3, 4, 2})
          .output({4, 4, 2})
          .attr("inverse", 1)
          .fixed(1, int64_scalar(4))
          .fixed(2, int64_scalar(0)),
  };
}

}  // namespace onnx_train::testing
