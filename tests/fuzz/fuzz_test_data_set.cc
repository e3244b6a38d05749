// An ONNX test data set folder as open_data reads it. The bytes hold three files, each but the
// last as a 4-byte little-endian length and that many bytes (cut short where the input ends):
// test_data_set_0/input_0.pb, input_1.pb and output_0.pb (the rest). input_K.pb feed inputs x
// and y (float32, any sample shape) and the tensor named 'label' the label (int64, 10 classes).
#include <algorithm>

#include "tests/fuzz/data_fuzz.h"

using onnx_train::DType;

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  data_fuzz::clear();
  const char* const names[] = {"input_0.pb", "input_1.pb", "output_0.pb"};
  size_t at = 0;
  for (int i = 0; i < 3; ++i) {
    size_t length = size - at;
    if (i < 2) {
      uint32_t prefix = 0;
      for (int b = 0; b < 4 && at < size; ++b, ++at) prefix |= uint32_t{data[at]} << (8 * b);
      length = std::min<size_t>(prefix, size - at);
    }
    data_fuzz::write(std::string("test_data_set_0/") + names[i], data + at, length);
    at += length;
  }
  data_fuzz::open_and_read(data_fuzz::folder(), {{"x", DType::Float32, {-1}},
                                                 {"y", DType::Float32, {-1}},
                                                 {"label", DType::Int64, {}, true, 10}});
  return 0;
}
