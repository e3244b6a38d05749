// Gradient check rows of the rules in gradients/rules/loss_resize.cc: the losses (each
// reduction, class weights, ignore_index present among the labels, the [N, C, d1, d2] form,
// SoftmaxCrossEntropyLoss's log_prob output) and Resize / Upsample (every mode, nearest_mode
// and coordinate transformation, up- and downscaling, scales vs sizes, opsets 9..13) and
// GridSample (every mode and padding, with and without align_corners).
#include "tests/gradients/gradcheck_cases.h"

namespace onnx_train::testing {

namespace {

// Integer labels of any shape.
Tensor labels(const Shape& shape, const std::vector<int64_t>& values) { return Tensor::from<int64_t>(shape, values); }

// Float32 1-D tensors for Resize's roi and scales; an empty one stands for "not given".
Tensor floats(const std::vector<float>& values) {
  return Tensor::from<float>({static_cast<int64_t>(values.size())}, values);
}

// A Resize-11/13 row: X of shape `x` resized to `y` with the given roi / scales / sizes
// (sizes empty: scales are used).
GradCase resize(int opset, const Shape& x, const Shape& y, const std::vector<float>& scales,
                const std::vector<int64_t>& sizes, const std::vector<float>& roi = {}) {
  GradCase c = GradCase("Resize", opset).input(x).output(y).fixed(1, floats(roi)).fixed(2, floats(scales));
  if (!sizes.empty()) c.fixed(3, int64s(sizes));
  return c;
}

}  // namespace

ONNX_TRAIN_GRAD_CASES(loss_resize) {
  const Tensor labels3 = int64s({0, 2, 3});
  const Tensor labels_ignored = int64s({1, 3, 1, 0});  // ignore_index 1 hits positions 0 and 2
  const Tensor labels_spatial = labels({2, 2, 2}, {0, 2, 1, 1, 2, 0, 0, 1});
  std::vector<GradCase> rows = {
      // SoftmaxCrossEntropyLoss: scores (and weights, differentiated, positive); labels fixed.
      GradCase("SoftmaxCrossEntropyLoss", 13).input({3, 4}).output({}).fixed(1, labels3),
      GradCase("SoftmaxCrossEntropyLoss", 13).input({3, 4}).output({}).fixed(1, labels3).attr("reduction", "sum"),
      GradCase("SoftmaxCrossEntropyLoss", 12).input({3, 4}).output({3}).fixed(1, labels3).attr("reduction", "none"),
      GradCase("SoftmaxCrossEntropyLoss", 13).inputs({3, 4}, {4}).output({}).fixed(1, labels3).positive_input(1),
      GradCase("SoftmaxCrossEntropyLoss", 12)
          .inputs({4, 4}, {4})
          .output({})
          .attr("ignore_index", 1)
          .fixed(1, labels_ignored)
          .positive_input(1),
      GradCase("SoftmaxCrossEntropyLoss", 13)
          .inputs({4, 4}, {4})
          .output({4})
          .attr("ignore_index", 1)
          .fixed(1, labels_ignored)
          .attr("reduction", "none")
          .positive_input(1),
      GradCase("SoftmaxCrossEntropyLoss", 13).input({4, 4}).output({}).attr("ignore_index", 1).fixed(1, labels_ignored),
      GradCase("SoftmaxCrossEntropyLoss", 13)
          .input({2, 3, 2, 2})
          .output({2, 2, 2})
          .fixed(1, labels_spatial)
          .attr("reduction", "none"),
      GradCase("SoftmaxCrossEntropyLoss", 13)
          .inputs({2, 3, 2, 2}, {3})
          .output({})
          .fixed(1, labels_spatial)
          .positive_input(1),
      // The log_prob output weighed too (its gradient adds to the loss's).
      GradCase("SoftmaxCrossEntropyLoss", 13).input({3, 4}).output({}).fixed(1, labels3).more_output({3, 4}),
      GradCase("SoftmaxCrossEntropyLoss", 12)
          .inputs({2, 3, 2, 2}, {3})
          .output({2, 2, 2})
          .attr("ignore_index", 2)
          .fixed(1, labels_spatial)
          .attr("reduction", "none")
          .more_output({2, 3, 2, 2})
          .positive_input(1),

      // NegativeLogLikelihoodLoss: input (and weights); labels fixed.
      GradCase("NegativeLogLikelihoodLoss", 13).input({3, 4}).output({}).fixed(1, labels3),
      GradCase("NegativeLogLikelihoodLoss", 12).input({3, 4}).output({}).fixed(1, labels3).attr("reduction", "sum"),
      GradCase("NegativeLogLikelihoodLoss", 13).input({3, 4}).output({3}).fixed(1, labels3).attr("reduction", "none"),
      GradCase("NegativeLogLikelihoodLoss", 13).inputs({3, 4}, {4}).output({}).fixed(1, labels3).positive_input(1),
      GradCase("NegativeLogLikelihoodLoss", 12)
          .inputs({4, 4}, {4})
          .output({})
          .attr("ignore_index", 1)
          .fixed(1, labels_ignored)
          .positive_input(1),
      GradCase("NegativeLogLikelihoodLoss", 13)
          .input({4, 4})
          .output({4})
          .attr("ignore_index", 1)
          .fixed(1, labels_ignored)
          .attr("reduction", "none"),
      GradCase("NegativeLogLikelihoodLoss", 13)
          .input({2, 3, 2, 2})
          .output({2, 2, 2})
          .fixed(1, labels_spatial)
          .attr("reduction", "none"),
      GradCase("NegativeLogLikelihoodLoss", 13)
          .inputs({2, 3, 2, 2}, {3})
          .output({})
          .attr("ignore_index", 2)
          .fixed(1, labels_spatial)
          .attr("reduction", "sum")
          .positive_input(1),

      // Resize-10, Upsample-9: X and scales, asymmetric mapping.
      GradCase("Resize", 10).input({1, 1, 2, 3}).output({1, 1, 4, 4}).fixed(1, floats({1, 1, 2, 1.5f})),
      GradCase("Resize", 10)
          .input({1, 2, 4, 5})
          .output({1, 2, 2, 3})
          .fixed(1, floats({1, 1, 0.5f, 0.6f}))
          .attr("mode", "linear"),
      GradCase("Resize", 10)
          .input({1, 1, 3, 4})
          .output({1, 1, 5, 2})
          .fixed(1, floats({1, 1, 1.7f, 0.5f}))
          .attr("mode", "nearest"),
      GradCase("Upsample", 9).input({1, 2, 2, 3}).output({1, 2, 4, 6}).fixed(1, floats({1, 1, 2, 2})),
      GradCase("Upsample", 9)
          .input({1, 1, 2, 3})
          .output({1, 1, 5, 4})
          .fixed(1, floats({1, 1, 2.5f, 1.5f}))
          .attr("mode", "linear"),
  };

  // Resize-11/13: nearest with each nearest_mode and several transforms.
  rows.push_back(resize(13, {1, 1, 2, 3}, {1, 1, 4, 4}, {1, 1, 2, 1.5f}, {}));
  rows.push_back(resize(13, {1, 1, 4, 5}, {1, 1, 2, 3}, {1, 1, 0.5f, 0.6f}, {})
                     .attr("nearest_mode", "ceil")
                     .attr("coordinate_transformation_mode", "asymmetric"));
  rows.push_back(resize(13, {1, 1, 2, 4}, {1, 1, 3, 7}, {}, {1, 1, 3, 7})
                     .attr("nearest_mode", "floor")
                     .attr("coordinate_transformation_mode", "align_corners"));
  rows.push_back(resize(13, {1, 2, 3, 3}, {1, 2, 5, 2}, {}, {1, 2, 5, 2})
                     .attr("nearest_mode", "round_prefer_ceil")
                     .attr("coordinate_transformation_mode", "pytorch_half_pixel"));
  rows.push_back(resize(11, {1, 1, 3, 2}, {1, 1, 4, 5}, {1, 1, 1.5f, 2.5f}, {})
                     .attr("coordinate_transformation_mode", "tf_half_pixel_for_nn"));
  // Linear: every transform, up and down, scales and sizes (the opset-11 form takes sizes
  // with empty scales).
  rows.push_back(resize(13, {1, 1, 2, 3}, {1, 1, 4, 5}, {1, 1, 2, 1.7f}, {}).attr("mode", "linear"));
  rows.push_back(resize(13, {1, 1, 5, 4}, {1, 1, 3, 2}, {}, {1, 1, 3, 2})
                     .attr("mode", "linear")
                     .attr("coordinate_transformation_mode", "align_corners"));
  rows.push_back(resize(11, {1, 2, 4, 4}, {1, 2, 3, 6}, {}, {1, 2, 3, 6})
                     .attr("mode", "linear")
                     .attr("coordinate_transformation_mode", "asymmetric"));
  rows.push_back(resize(13, {1, 1, 4, 3}, {1, 1, 1, 5}, {}, {1, 1, 1, 5})
                     .attr("mode", "linear")
                     .attr("coordinate_transformation_mode", "pytorch_half_pixel"));
  rows.push_back(resize(11, {1, 1, 4, 5}, {1, 1, 3, 3}, {}, {1, 1, 3, 3}, {0, 0, -0.3f, 0.2f, 1, 1, 1.2f, 0.9f})
                     .attr("mode", "linear")
                     .attr("coordinate_transformation_mode", "tf_crop_and_resize")
                     .attr("extrapolation_value", 0.5f));
  rows.push_back(resize(13, {2, 3, 4}, {2, 6, 3}, {1, 2, 0.8f}, {}).attr("mode", "linear"));
  // Cubic: cubic_coeff_a, exclude_outside, up and down, tf_crop_and_resize.
  rows.push_back(resize(13, {1, 1, 3, 4}, {1, 1, 6, 6}, {1, 1, 2, 1.5f}, {}).attr("mode", "cubic"));
  rows.push_back(resize(13, {1, 1, 4, 4}, {1, 1, 3, 5}, {}, {1, 1, 3, 5})
                     .attr("mode", "cubic")
                     .attr("coordinate_transformation_mode", "asymmetric")
                     .attr("exclude_outside", 1)
                     .attr("cubic_coeff_a", -0.5f));
  rows.push_back(resize(11, {1, 1, 6, 5}, {1, 1, 3, 2}, {1, 1, 0.5f, 0.5f}, {})
                     .attr("mode", "cubic")
                     .attr("coordinate_transformation_mode", "align_corners"));
  rows.push_back(resize(13, {1, 1, 4, 4}, {1, 1, 3, 3}, {}, {1, 1, 3, 3}, {0, 0, 0.1f, -0.2f, 1, 1, 0.8f, 1.1f})
                     .attr("mode", "cubic")
                     .attr("coordinate_transformation_mode", "tf_crop_and_resize"));

  // GridSample: X and the grid (points beyond [-1, 1] too), every mode and padding.
  for (const char* mode : {"bilinear", "nearest", "bicubic"}) {
    for (const char* padding : {"zeros", "border", "reflection"}) {
      rows.push_back(GradCase("GridSample", 16)
                         .inputs({1, 2, 3, 4}, {1, 2, 3, 2})
                         .output({1, 2, 2, 3})
                         .attr("mode", mode)
                         .attr("padding_mode", padding));
      rows.push_back(GradCase("GridSample", 16)
                         .inputs({2, 1, 4, 3}, {2, 3, 2, 2})
                         .output({2, 1, 3, 2})
                         .attr("align_corners", 1)
                         .attr("mode", mode)
                         .attr("padding_mode", padding));
    }
  }
  return rows;
}

}  // namespace onnx_train::testing
