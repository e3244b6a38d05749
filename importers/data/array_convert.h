// Fitting the arrays found in data files to what a field (dataset.h) takes: element types
// converted exactly, sample shapes resolved. Shared by every data format.
#pragma once

#include <cstdint>
#include <functional>
#include <string>

#include "onnx_train/dataset.h"

namespace onnx_train {

// Converts `count` elements of type `from` at `src` (native byte order, any alignment) to
// type `to` at `dst`. Values must survive the conversion: an integer or bool target takes
// only whole numbers in its range (bool: 0 and 1), so a fraction, NaN or out-of-range value
// is an Error starting with `where()` ("data/train/y.npy, sample 17") and naming the value.
// A float target takes every value (float64 -> float32 overflow gives Inf, which the
// BatchLoader reports). Source bools are read as bytes, any non-zero byte being true.
void convert_elements(DType from, const void* src, DType to, void* dst, int64_t count,
                      const std::function<std::string()>& where);

// True for the element types data files may hold: bool and every numeric type.
bool is_data_dtype(DType dtype);

// The shape `field` takes for samples that have shape `found` in `file`:
//   - found fits the field's sample_shape (open -1 dims take found's sizes; found may lack
//     leading 1s, so [28, 28] fits [1, -1, -1]): that shape;
//   - one open dim and found's element count is a multiple of the fixed dims: that dim inferred;
//   - no open dims and the same element count: the field's shape (the sample is reshaped);
//   - otherwise an Error naming the file, the field, both shapes and what to do.
Shape resolve_sample_shape(const FieldSpec& field, const Shape& found, const std::string& file);

}  // namespace onnx_train
