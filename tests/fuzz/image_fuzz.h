// The image targets' body: the bytes are one picture of class folder 'a' (classes a and b),
// decoded and fitted to a model input of 3 x 16 x 16 (or 1 x 8 x 8 for inputs of odd size),
// then read again with every augmentation on, as the training loader reads it.
#pragma once

#include "tests/fuzz/data_fuzz.h"

namespace data_fuzz {

inline void read_picture(const uint8_t* data, size_t size, const char* name) {
  using onnx_train::DType;
  clear();
  write(std::string("a/") + name, data, size);
  onnx_train::DataOptions options;
  options.classes = {"a", "b"};
  options.classes_from = "the fuzz target";
  options.augment.crop_min_scale = 0.3;
  options.augment.hflip = true;
  options.augment.rotate_degrees = 15;
  const onnx_train::Shape shape = size % 2 ? onnx_train::Shape{1, 8, 8} : onnx_train::Shape{3, 16, 16};
  open_and_read(folder(), {{"x", DType::Float32, shape}, {"label", DType::Int64, {}, true, 2}}, options);
}

}  // namespace data_fuzz
