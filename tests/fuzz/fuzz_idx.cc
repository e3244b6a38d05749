// An IDX file (MNIST's format), plain or gzip-compressed (the bytes decide: gzip's magic
// 1f 8b makes it train-images-idx3-ubyte.gz), as open_data reads it: the images file of a
// model input of shape [1, H, W] with open H and W. A plain rank-1 file is also read as the
// labels file beside an images file of as many 1x1 images (up to 65536), for a 10-class label.
#include "tests/fuzz/data_fuzz.h"

using onnx_train::DType;

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  data_fuzz::clear();
  const bool gzip = size >= 2 && data[0] == 0x1f && data[1] == 0x8b;
  const std::string images = std::string("train-images-idx3-ubyte") + (gzip ? ".gz" : "");
  data_fuzz::write(images, data, size);
  data_fuzz::open_and_read(data_fuzz::folder(), {{"x", DType::Float32, {1, -1, -1}}});

  if (!gzip && size >= 8 && data[0] == 0 && data[1] == 0 && data[3] == 1) {
    const uint32_t count = (uint32_t{data[4]} << 24) | (uint32_t{data[5]} << 16) | (uint32_t{data[6]} << 8) | data[7];
    if (count == 0 || count > 65536) return 0;
    data_fuzz::clear();
    std::vector<uint8_t> pixels = {0, 0, 8, 3, data[4], data[5], data[6], data[7], 0, 0, 0, 1, 0, 0, 0, 1};
    pixels.resize(pixels.size() + count, 128);
    data_fuzz::write("train-images-idx3-ubyte", pixels.data(), pixels.size());
    data_fuzz::write("train-labels-idx1-ubyte", data, size);
    data_fuzz::open_and_read(data_fuzz::folder(),
                             {{"x", DType::Float32, {1, 1, 1}}, {"label", DType::Int64, {}, true, 10}});
  }
  return 0;
}
