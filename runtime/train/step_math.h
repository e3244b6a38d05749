// The arithmetic of a training step on whole tensors (parameters, gradients, statistics), shared
// by the single-process step (training_session.cc) and the data-parallel one (data_parallel.cc).
#pragma once

#include <string>
#include <vector>

#include "onnx_train/error.h"
#include "onnx_train/tensor.h"
#include "runtime/core/dispatch.h"

namespace onnx_train {

// Parameters and gradients are float32 or float64 (as the optimizers take).
template <typename F>
void visit_parameter_dtype(DType dtype, F&& f) {
  switch (dtype) {
    case DType::Float32: return f(TypeTag<float>{});
    case DType::Float64: return f(TypeTag<double>{});
    default: OT_FAIL("parameters must be float32 or float64, not {}", dtype_name(dtype));
  }
}

// The value of a one-element float tensor (the loss '`what`').
double scalar_value(const Tensor& t, const std::string& what);

// out = scale * g (`first`) or out += scale * g, on all threads; out never shares storage with g.
void accumulate(Tensor& out, const Tensor& g, double scale, bool first);

void scale_in_place(Tensor& t, double scale);

// The sum of every element of float tensors (gradients, statistics; in double, per tensor on all
// threads), each first multiplied in place by `scale` unless it is 1 (averaging accumulated
// gradients in the same pass): finite exactly when no element is NaN or Inf (barring overflow of
// finite values, which a float32 gradient cannot reach in double).
double gradient_checksum(const std::vector<Tensor*>& grads, double scale = 1);

// Copies `source` into `destination` (same dtype and shape, else an Error naming `what`).
void copy_into(Tensor& destination, const Tensor& source, const std::string& what);

}  // namespace onnx_train
