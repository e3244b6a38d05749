// What the picture formats (IDX files, image classification folders) share: which of the
// wanted fields the pixels and the class label go to, and writing values into a field's
// dtype, scaled and normalised like torchvision's ToTensor and Normalize.
#pragma once

#include <algorithm>
#include <cstdint>
#include <functional>
#include <optional>
#include <string>
#include <type_traits>
#include <vector>

#include "importers/data/array_convert.h"
#include "onnx_train/dataset.h"
#include "runtime/core/dispatch.h"

namespace onnx_train {

// Pictures feed exactly one model input; the label field is optional (a model without one
// just gets no labels).
struct PictureFields {
  size_t image = 0;             // index in `wanted` of the model input the pixels feed
  std::optional<size_t> label;  // index in `wanted` of the label field
};

// The fields of `wanted` as pictures use them; an Error naming `source` ("IDX files in
// data/train") when the model has no input, or more than one, or more than one label.
PictureFields pick_picture_fields(const std::vector<FieldSpec>& wanted, const std::string& source);

// How pixel values become a float field's values: x / divisor, then (x - mean[c]) / std[c]
// for channel c, the first axis of a [C, H, W] sample (samples of another rank are one
// channel).
struct PixelScaling {
  double divisor = 1;            // 255 for 8-bit pixels going to a float field
  std::vector<float> mean, std;  // both empty (no normalisation) or both one value per channel
  int64_t channel_size = 1;      // elements per channel: H * W
};

// The scaling for `field`, whose sample shape is final (no open dimensions), with
// DataOptions::mean / std of 1 value (for every channel) or C values; a missing one is 0 or 1.
// Integer fields take the values as they are, so normalising one is an Error, as are other
// sizes and a std of 0.
PixelScaling make_pixel_scaling(double divisor, const DataOptions& options, const FieldSpec& field,
                                const std::string& source);

// Writes `count` values of `in` to `out` as `field`'s dtype. Float fields get `scaling`,
// computed in float (double for float64 fields) as torchvision computes in float32. Integer
// and bool fields get the values unchanged (convert_elements: a value they cannot hold is an
// Error that `where()`, "data/x-idx3-ubyte, sample 4", locates).
template <typename Src>
void store_values(const Src* in, int64_t count, const FieldSpec& field, const PixelScaling& scaling, void* out,
                  const std::function<std::string()>& where) {
  if (!dtype_is_float(field.dtype)) {
    convert_elements(dtype_of<Src>(), in, field.dtype, out, count, where);
    return;
  }
  visit_float(field.dtype, [&](auto tag) {
    using Dst = typename decltype(tag)::type;
    using Calc = std::conditional_t<std::is_same_v<Dst, double>, double, float>;
    Dst* dst = static_cast<Dst*>(out);
    const Calc divisor = static_cast<Calc>(scaling.divisor);
    const bool normalise = !scaling.mean.empty();
    const int64_t per_channel = normalise ? scaling.channel_size : count;
    for (int64_t begin = 0, c = 0; begin < count; begin += per_channel, ++c) {
      const Calc mean = normalise ? static_cast<Calc>(scaling.mean[c]) : Calc(0);
      const Calc std = normalise ? static_cast<Calc>(scaling.std[c]) : Calc(1);
      const int64_t end = std::min(count, begin + per_channel);
      for (int64_t i = begin; i < end; ++i)
        dst[i] = from_compute<Dst>((static_cast<Calc>(in[i]) / divisor - mean) / std);
    }
  });
}

}  // namespace onnx_train
