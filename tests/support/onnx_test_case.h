// Runs a model folder in the layout of ONNX's backend test data:
//   <case>/model.onnx, <case>/test_data_set_<k>/input_<i>.pb, output_<i>.pb
// Used by the conformance test (ONNX's own cases) and the PyTorch parity test.
#pragma once

#include <string>
#include <vector>

#include "onnx_train/tensor.h"

namespace onnx_train::testing {

struct Tolerance {
  double rtol = 1e-3;  // ONNX's backend runner defaults
  double atol = 1e-7;
};

// "" when `actual` matches `expected` (same dtype and shape; |e - a| <= atol + rtol*|e| for
// floats, NaN equals NaN; integers and bools exact), else a description of the difference.
std::string compare_tensors(const Tensor& expected, const Tensor& actual, const Tolerance& tol);

// The .pb files in `dir` whose names start with `prefix`, ordered by their number.
std::vector<std::string> numbered_files(const std::string& dir, const std::string& prefix);

// Loads <dir>/model.onnx and checks every test_data_set_*; "" on success, else what failed.
std::string run_test_case(const std::string& dir, const Tolerance& tol);

}  // namespace onnx_train::testing
