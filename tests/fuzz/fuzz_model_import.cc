// Fuzz target: the bytes are an ONNX model file, loaded the way `onnx-train run`/`predict`
// load one (Session::from_file: parse, checker, local functions inlined, opset lowering or
// upgrade, shape inference, the plan built), then run once on zero-filled inputs when the
// inputs are declared and small. onnx_train::Error is the expected outcome of a bad model;
// anything else escaping (std::bad_alloc, std::length_error, a protobuf or ONNX exception),
// a crash, or a sanitizer report is a finding.
#include <cstdint>
#include <cstdio>
#include <cstdlib>
#include <exception>

#include "onnx_train/error.h"
#include "onnx_train/session.h"
#include "tests/fuzz/fuzz_feeds.h"
#include "tests/fuzz/scratch_file.h"

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  const std::string path = fuzz::write_scratch("model.onnx", data, size);
  try {
    onnx_train::Session session = onnx_train::Session::from_file(path);
    if (auto feeds = fuzz::zero_feeds(session.inputs())) session.run(*feeds);
  } catch (const onnx_train::Error& e) {
    if (std::getenv("ONNX_TRAIN_FUZZ_VERBOSE")) std::fprintf(stderr, "%s: %s\n", "fuzz_model_import", e.what());
  } catch (const std::exception& e) {
    std::fprintf(stderr, "fuzz_model_import: escaped %s: %s\n", typeid(e).name(), e.what());
    std::abort();
  }
  return 0;
}
