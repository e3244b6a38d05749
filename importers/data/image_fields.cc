#include "importers/data/image_fields.h"

#include <cmath>

namespace onnx_train {

namespace {

std::string field_names(const std::vector<FieldSpec>& wanted, const std::vector<size_t>& indices) {
  std::string names;
  for (size_t i : indices) names += (names.empty() ? "'" : ", '") + wanted[i].name + "'";
  return names;
}

// One value per channel from DataOptions' `values` (1 or `channels` of them; empty: `fallback`).
std::vector<float> per_channel(const std::vector<float>& values, float fallback, const char* what, int64_t channels,
                               const FieldSpec& field, const std::string& source) {
  OT_CHECK(values.size() <= 1 || static_cast<int64_t>(values.size()) == channels,
           "{}: {} has {} values, but the model input '{}' (samples of shape {}) has {} channel{}; give 1 value for "
           "all channels or {}",
           source, what, values.size(), field.name, shape_str(field.sample_shape), channels, channels == 1 ? "" : "s",
           channels);
  std::vector<float> out(static_cast<size_t>(channels), values.empty() ? fallback : values[0]);
  if (values.size() > 1) out = values;
  return out;
}

}  // namespace

PictureFields pick_picture_fields(const std::vector<FieldSpec>& wanted, const std::string& source) {
  std::vector<size_t> inputs, labels;
  for (size_t i = 0; i < wanted.size(); ++i) (wanted[i].is_label ? labels : inputs).push_back(i);
  OT_CHECK(inputs.size() == 1,
           "{}: pictures feed one model input, but the model has {}{}; use one .npy file per input (named after "
           "it) instead",
           source, inputs.size(), inputs.empty() ? "" : " (" + field_names(wanted, inputs) + ")");
  OT_CHECK(labels.size() <= 1, "{}: pictures come with one class label, but {} label fields were asked for ({})",
           source, labels.size(), field_names(wanted, labels));
  PictureFields fields;
  fields.image = inputs[0];
  if (!labels.empty()) fields.label = labels[0];
  return fields;
}

PixelScaling make_pixel_scaling(double divisor, const DataOptions& options, const FieldSpec& field,
                                const std::string& source) {
  PixelScaling scaling;
  const bool normalise = !options.mean.empty() || !options.std.empty();
  if (!dtype_is_float(field.dtype)) {
    OT_CHECK(!normalise,
             "{}: mean/std normalisation needs a floating-point input, but the model input '{}' is {} (it gets the "
             "pixel values as they are); leave out mean and std",
             source, field.name, dtype_name(field.dtype));
    return scaling;
  }
  scaling.divisor = divisor;
  if (!normalise) return scaling;
  const Shape& shape = field.sample_shape;
  const int64_t channels = shape.size() == 3 ? std::max<int64_t>(shape[0], 1) : 1;
  scaling.channel_size = shape_numel(shape) / channels;
  scaling.mean = per_channel(options.mean, 0.0f, "mean", channels, field, source);
  scaling.std = per_channel(options.std, 1.0f, "std", channels, field, source);
  for (size_t c = 0; c < scaling.std.size(); ++c)
    OT_CHECK(std::isfinite(scaling.std[c]) && scaling.std[c] != 0.0f && std::isfinite(scaling.mean[c]),
             "{}: normalising channel {} by mean {} and std {} is not possible; std must be a nonzero number and "
             "mean a finite one",
             source, c, scaling.mean[c], scaling.std[c]);
  return scaling;
}

}  // namespace onnx_train
