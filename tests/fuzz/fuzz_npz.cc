// A .npz archive (numpy.savez, savez_compressed) as open_data reads it: the bytes are
// data.npz, whose members x.npy and label.npy feed a model input of any sample shape
// (float32) and class labels (int64, 10 classes); then the input alone.
#include "tests/fuzz/data_fuzz.h"

using onnx_train::DType;

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  data_fuzz::clear();
  const std::string path = data_fuzz::write("data.npz", data, size);
  data_fuzz::open_and_read(path, {{"x", DType::Float32, {-1}}, {"label", DType::Int64, {}, true, 10}});
  data_fuzz::open_and_read(path, {{"x", DType::Float32, {-1}}});
  return 0;
}
