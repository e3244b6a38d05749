// A .csv table as open_data reads it: the bytes are data.csv, read with a class label column
// 'label' (numbers or names) and every other column filling input x; then with a regression
// target (float32) and a column 'id' left out when there is one.
#include "tests/fuzz/data_fuzz.h"

using onnx_train::DType;

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  data_fuzz::clear();
  const std::string path = data_fuzz::write("data.csv", data, size);
  data_fuzz::open_and_read(path, {{"x", DType::Float32, {-1}}, {"label", DType::Int64, {}, true, 3}});
  onnx_train::DataOptions options;
  options.skip_columns_if_present = {"id"};
  data_fuzz::open_and_read(path, {{"x", DType::Float32, {-1}}, {"label", DType::Float32, {}, true, 0}}, options);
  return 0;
}
