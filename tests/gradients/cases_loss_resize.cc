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

// Float32 1-D tensors for Resize's roi and scales; empty() stands for "not given".
Tensor floats(const std::vector<float>& values) {
  return Tensor::from<float>({static_cast<int64_t>(values.size())}, values);
}
Tensor empty() { return floats({}); }

// A Resize-11/13 row: X of shape `x` resized to `y` with the given roi / scales / sizes
// (sizes empty: scales are used) and string attributes.
GradCase resize(int opset, const Shape& x, const Shape& y, const std::vector<float>& scales,
                const std::vector<int64_t>& sizes, std::vector<std::pair<std::string, std::string>> strings,
                std::vector<std::pair<std::string, int64_t>> ints = {},
                std::vector<std::pair<std::string, float>> float_attrs = {}, const std::vector<float>& roi = {}) {
  GradCase c{"Resize", opset, {x}, y};
  c.int_attrs = std::move(ints);
  c.float_attrs = std::move(float_attrs);
  c.string_attrs = std::move(strings);
  c.fixed_inputs = {{1, floats(roi)}, {2, floats(scales)}};
  if (!sizes.empty()) c.fixed_inputs.push_back({3, int64s(sizes)});
  return c;
}

}  // namespace

std::vector<GradCase> loss_resize_grad_cases() {
  const Tensor labels3 = int64s({0, 2, 3});
  const Tensor labels_ignored = int64s({1, 3, 1, 0});  // ignore_index 1 hits positions 0 and 2
  const Tensor labels_spatial = labels({2, 2, 2}, {0, 2, 1, 1, 2, 0, 0, 1});
  std::vector<GradCase> rows = {
      // SoftmaxCrossEntropyLoss: scores (and weights, differentiated, positive); labels fixed.
      {"SoftmaxCrossEntropyLoss", 13, {{3, 4}}, {}, false, {}, {}, {{1, labels3}}},
      {"SoftmaxCrossEntropyLoss", 13, {{3, 4}}, {}, false, {}, {}, {{1, labels3}}, {}, {{"reduction", "sum"}}},
      {"SoftmaxCrossEntropyLoss", 12, {{3, 4}}, {3}, false, {}, {}, {{1, labels3}}, {}, {{"reduction", "none"}}},
      {"SoftmaxCrossEntropyLoss", 13, {{3, 4}, {4}}, {}, false, {}, {}, {{1, labels3}}, {}, {}, {}, 1.2, 0.2, {1}},
      {"SoftmaxCrossEntropyLoss",
       12,
       {{4, 4}, {4}},
       {},
       false,
       {{"ignore_index", 1}},
       {},
       {{1, labels_ignored}},
       {},
       {},
       {},
       1.2,
       0.2,
       {1}},
      {"SoftmaxCrossEntropyLoss",
       13,
       {{4, 4}, {4}},
       {4},
       false,
       {{"ignore_index", 1}},
       {},
       {{1, labels_ignored}},
       {},
       {{"reduction", "none"}},
       {},
       1.2,
       0.2,
       {1}},
      {"SoftmaxCrossEntropyLoss", 13, {{4, 4}}, {}, false, {{"ignore_index", 1}}, {}, {{1, labels_ignored}}},
      {"SoftmaxCrossEntropyLoss",
       13,
       {{2, 3, 2, 2}},
       {2, 2, 2},
       false,
       {},
       {},
       {{1, labels_spatial}},
       {},
       {{"reduction", "none"}}},
      {"SoftmaxCrossEntropyLoss",
       13,
       {{2, 3, 2, 2}, {3}},
       {},
       false,
       {},
       {},
       {{1, labels_spatial}},
       {},
       {},
       {},
       1.2,
       0.2,
       {1}},
      // The log_prob output weighed too (its gradient adds to the loss's).
      {"SoftmaxCrossEntropyLoss", 13, {{3, 4}}, {}, false, {}, {}, {{1, labels3}}, {}, {}, {{3, 4}}},
      {"SoftmaxCrossEntropyLoss",
       12,
       {{2, 3, 2, 2}, {3}},
       {2, 2, 2},
       false,
       {{"ignore_index", 2}},
       {},
       {{1, labels_spatial}},
       {},
       {{"reduction", "none"}},
       {{2, 3, 2, 2}},
       1.2,
       0.2,
       {1}},

      // NegativeLogLikelihoodLoss: input (and weights); labels fixed.
      {"NegativeLogLikelihoodLoss", 13, {{3, 4}}, {}, false, {}, {}, {{1, labels3}}},
      {"NegativeLogLikelihoodLoss", 12, {{3, 4}}, {}, false, {}, {}, {{1, labels3}}, {}, {{"reduction", "sum"}}},
      {"NegativeLogLikelihoodLoss", 13, {{3, 4}}, {3}, false, {}, {}, {{1, labels3}}, {}, {{"reduction", "none"}}},
      {"NegativeLogLikelihoodLoss", 13, {{3, 4}, {4}}, {}, false, {}, {}, {{1, labels3}}, {}, {}, {}, 1.2, 0.2, {1}},
      {"NegativeLogLikelihoodLoss",
       12,
       {{4, 4}, {4}},
       {},
       false,
       {{"ignore_index", 1}},
       {},
       {{1, labels_ignored}},
       {},
       {},
       {},
       1.2,
       0.2,
       {1}},
      {"NegativeLogLikelihoodLoss",
       13,
       {{4, 4}},
       {4},
       false,
       {{"ignore_index", 1}},
       {},
       {{1, labels_ignored}},
       {},
       {{"reduction", "none"}}},
      {"NegativeLogLikelihoodLoss",
       13,
       {{2, 3, 2, 2}},
       {2, 2, 2},
       false,
       {},
       {},
       {{1, labels_spatial}},
       {},
       {{"reduction", "none"}}},
      {"NegativeLogLikelihoodLoss",
       13,
       {{2, 3, 2, 2}, {3}},
       {},
       false,
       {{"ignore_index", 2}},
       {},
       {{1, labels_spatial}},
       {},
       {{"reduction", "sum"}},
       {},
       1.2,
       0.2,
       {1}},

      // Resize-10, Upsample-9: X and scales, asymmetric mapping.
      {"Resize", 10, {{1, 1, 2, 3}}, {1, 1, 4, 4}, false, {}, {}, {{1, floats({1, 1, 2, 1.5f})}}},
      {"Resize",
       10,
       {{1, 2, 4, 5}},
       {1, 2, 2, 3},
       false,
       {},
       {},
       {{1, floats({1, 1, 0.5f, 0.6f})}},
       {},
       {{"mode", "linear"}}},
      {"Resize",
       10,
       {{1, 1, 3, 4}},
       {1, 1, 5, 2},
       false,
       {},
       {},
       {{1, floats({1, 1, 1.7f, 0.5f})}},
       {},
       {{"mode", "nearest"}}},
      {"Upsample", 9, {{1, 2, 2, 3}}, {1, 2, 4, 6}, false, {}, {}, {{1, floats({1, 1, 2, 2})}}},
      {"Upsample",
       9,
       {{1, 1, 2, 3}},
       {1, 1, 5, 4},
       false,
       {},
       {},
       {{1, floats({1, 1, 2.5f, 1.5f})}},
       {},
       {{"mode", "linear"}}},
  };

  // Resize-11/13: nearest with each nearest_mode and several transforms.
  rows.push_back(resize(13, {1, 1, 2, 3}, {1, 1, 4, 4}, {1, 1, 2, 1.5f}, {}, {}));
  rows.push_back(resize(13, {1, 1, 4, 5}, {1, 1, 2, 3}, {1, 1, 0.5f, 0.6f}, {},
                        {{"nearest_mode", "ceil"}, {"coordinate_transformation_mode", "asymmetric"}}));
  rows.push_back(resize(13, {1, 1, 2, 4}, {1, 1, 3, 7}, {}, {1, 1, 3, 7},
                        {{"nearest_mode", "floor"}, {"coordinate_transformation_mode", "align_corners"}}));
  rows.push_back(
      resize(13, {1, 2, 3, 3}, {1, 2, 5, 2}, {}, {1, 2, 5, 2},
             {{"nearest_mode", "round_prefer_ceil"}, {"coordinate_transformation_mode", "pytorch_half_pixel"}}));
  rows.push_back(resize(11, {1, 1, 3, 2}, {1, 1, 4, 5}, {1, 1, 1.5f, 2.5f}, {},
                        {{"coordinate_transformation_mode", "tf_half_pixel_for_nn"}}));
  // Linear: every transform, up and down, scales and sizes (the opset-11 form takes sizes
  // with empty scales).
  rows.push_back(resize(13, {1, 1, 2, 3}, {1, 1, 4, 5}, {1, 1, 2, 1.7f}, {}, {{"mode", "linear"}}));
  rows.push_back(resize(13, {1, 1, 5, 4}, {1, 1, 3, 2}, {}, {1, 1, 3, 2},
                        {{"mode", "linear"}, {"coordinate_transformation_mode", "align_corners"}}));
  rows.push_back(resize(11, {1, 2, 4, 4}, {1, 2, 3, 6}, {}, {1, 2, 3, 6},
                        {{"mode", "linear"}, {"coordinate_transformation_mode", "asymmetric"}}));
  rows.push_back(resize(13, {1, 1, 4, 3}, {1, 1, 1, 5}, {}, {1, 1, 1, 5},
                        {{"mode", "linear"}, {"coordinate_transformation_mode", "pytorch_half_pixel"}}));
  rows.push_back(resize(11, {1, 1, 4, 5}, {1, 1, 3, 3}, {}, {1, 1, 3, 3},
                        {{"mode", "linear"}, {"coordinate_transformation_mode", "tf_crop_and_resize"}}, {},
                        {{"extrapolation_value", 0.5f}}, {0, 0, -0.3f, 0.2f, 1, 1, 1.2f, 0.9f}));
  rows.push_back(resize(13, {2, 3, 4}, {2, 6, 3}, {1, 2, 0.8f}, {}, {{"mode", "linear"}}));
  // Cubic: cubic_coeff_a, exclude_outside, up and down, tf_crop_and_resize.
  rows.push_back(resize(13, {1, 1, 3, 4}, {1, 1, 6, 6}, {1, 1, 2, 1.5f}, {}, {{"mode", "cubic"}}));
  rows.push_back(resize(13, {1, 1, 4, 4}, {1, 1, 3, 5}, {}, {1, 1, 3, 5},
                        {{"mode", "cubic"}, {"coordinate_transformation_mode", "asymmetric"}}, {{"exclude_outside", 1}},
                        {{"cubic_coeff_a", -0.5f}}));
  rows.push_back(resize(11, {1, 1, 6, 5}, {1, 1, 3, 2}, {1, 1, 0.5f, 0.5f}, {},
                        {{"mode", "cubic"}, {"coordinate_transformation_mode", "align_corners"}}));
  rows.push_back(resize(13, {1, 1, 4, 4}, {1, 1, 3, 3}, {}, {1, 1, 3, 3},
                        {{"mode", "cubic"}, {"coordinate_transformation_mode", "tf_crop_and_resize"}}, {}, {},
                        {0, 0, 0.1f, -0.2f, 1, 1, 0.8f, 1.1f}));

  // GridSample: X and the grid (points beyond [-1, 1] too), every mode and padding.
  for (const char* mode : {"bilinear", "nearest", "bicubic"}) {
    for (const char* padding : {"zeros", "border", "reflection"}) {
      rows.push_back({"GridSample",
                      16,
                      {{1, 2, 3, 4}, {1, 2, 3, 2}},
                      {1, 2, 2, 3},
                      false,
                      {},
                      {},
                      {},
                      {},
                      {{"mode", mode}, {"padding_mode", padding}}});
      rows.push_back({"GridSample",
                      16,
                      {{2, 1, 4, 3}, {2, 3, 2, 2}},
                      {2, 1, 3, 2},
                      false,
                      {{"align_corners", 1}},
                      {},
                      {},
                      {},
                      {{"mode", mode}, {"padding_mode", padding}}});
    }
  }
  return rows;
}

}  // namespace onnx_train::testing
