// A .npy file (numpy.save) as open_data reads it: the bytes are x.npy, read as a model input
// of any sample shape (converted to float32) and as class labels (int64, 10 classes).
#include "tests/fuzz/data_fuzz.h"

using onnx_train::DType;

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  data_fuzz::clear();
  const std::string path = data_fuzz::write("x.npy", data, size);
  data_fuzz::open_and_read(path, {{"x", DType::Float32, {-1}}});
  data_fuzz::open_and_read(path, {{"x", DType::Int64, {}, /*is_label=*/true, /*num_classes=*/10}});
  return 0;
}
