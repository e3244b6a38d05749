// Fuzz target: the bytes are a serialized onnx.TensorProto file, read the way
// `onnx-train run --input name=file.pb` and ONNX test data sets read one
// (read_tensor_file: parse, dims and data checked against the type, converted to a Tensor).
// onnx_train::Error is expected; anything else escaping, a crash or a sanitizer report is a
// finding. The tensor, when read, is also checked against the bytes the file holds: a tensor
// much larger than its file could only come from a declared size that was not checked.
#include <cstdint>
#include <cstdio>
#include <cstdlib>
#include <exception>

#include "onnx_train/error.h"
#include "onnx_train/session.h"
#include "tests/fuzz/scratch_file.h"

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  const std::string path = fuzz::write_scratch("tensor.pb", data, size);
  try {
    std::string name;
    const onnx_train::Tensor t = onnx_train::read_tensor_file(path, &name);
    // Typed fields (int32_data for float16, int64 varints) can be up to 8x smaller or larger
    // than the tensor; a zero-element tensor is free. Beyond that the size was not checked.
    if (t.nbytes() > 64 * size + 64) {
      std::fprintf(stderr, "fuzz_tensor_proto: %zu bytes of file gave a tensor of %zu bytes\n", size, t.nbytes());
      std::abort();
    }
  } catch (const onnx_train::Error&) {
  } catch (const std::exception& e) {
    std::fprintf(stderr, "fuzz_tensor_proto: escaped %s: %s\n", typeid(e).name(), e.what());
    std::abort();
  }
  return 0;
}
