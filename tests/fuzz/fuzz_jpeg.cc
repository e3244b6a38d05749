// A JPEG picture in an image class folder, as open_data decodes and fits it (image_fuzz.h).
#include "tests/fuzz/image_fuzz.h"

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  data_fuzz::read_picture(data, size, "0.jpg");
  return 0;
}
