// Runs a model folder in the layout of ONNX's backend test data:
//   <case>/model.onnx, <case>/test_data_set_<k>/input_<i>.pb, output_<i>.pb
// Used by the conformance test (ONNX's own cases) and the PyTorch parity test.
#pragma once

#include <map>
#include <string>
#include <vector>

#include "onnx_train/tensor.h"
#include "runtime/ir/graph.h"

namespace onnx_train::testing {

struct Tolerance {
  double rtol = 1e-3;  // ONNX's backend runner defaults
  double atol = 1e-7;
};

// "" when `actual` matches `expected` (same dtype and shape; |e - a| <= atol + rtol*|e| for
// floats, NaN equals NaN; integers and bools exact), else a description of the difference.
std::string compare_tensors(const Tensor& expected, const Tensor& actual, const Tolerance& tol);

// Feeds for a Plan of `graph`: the tensor named like each graph input (an error names a
// missing one); overridable initializers keep their stored values.
std::vector<Tensor> feeds_for(const Graph& graph, const std::map<std::string, Tensor>& values);
// The position of graph output `name` among a Plan's results.
size_t output_index(const Graph& graph, const std::string& name);
// The largest |expected - actual| (NaN when the shapes differ).
double max_abs_difference(const Tensor& expected, const Tensor& actual);

// The .pb files in `dir` whose names start with `prefix`, ordered by their number.
std::vector<std::string> numbered_files(const std::string& dir, const std::string& prefix);

struct CaseResult {
  enum class Status { Passed, Failed, Skipped } status = Status::Passed;
  std::string message;  // what failed, or why the case cannot be run
};

// Loads <dir>/model.onnx and checks every test_data_set_*.
//
// Two conventions of ONNX's test data are honoured: bfloat16 tensors stored as uint16 bit
// patterns (numpy has no bfloat16; ONNX's runner then compares the bit patterns with its
// usual tolerances, and so do we), and a case whose input data contradicts the shape the
// model declares for that input is skipped with that reason, since a runtime that checks
// its inputs must refuse it.
CaseResult run_test_case(const std::string& dir, const Tolerance& tol);

}  // namespace onnx_train::testing
