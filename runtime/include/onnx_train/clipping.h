// onnx_train/clipping.h: gradient clipping by global norm and by value, equal
// to torch.nn.utils.clip_grad_norm_ and clip_grad_value_.
//
// Use, between the backward pass and the optimizer step:
//   std::vector<Tensor*> grads = {&w_grad, &b_grad};
//   double norm = clip_grad_norm(grads, /*max_norm=*/1.0);      // the norm before clipping
//   clip_grad_value(grads, /*clip_value=*/0.5);
//
// clip_grad_norm: the norm of all gradients as if concatenated into one vector,
//   total = (sum over every element x of |x|^p)^(1/p),  or max |x| for p = inf,
// (which is PyTorch's norm of the per-tensor norms), and every gradient is scaled in place by
// coef = max_norm / (total + 1e-6) when coef < 1, i.e. when total > max_norm - 1e-6. Otherwise
// the gradients are left untouched, bit for bit. This is PyTorch's formula, which multiplies
// by min(coef, 1): NOTE a total just at or below max_norm (within 1e-6) is still scaled,
// by a factor just below 1. Like PyTorch with error_if_nonfinite=False, a NaN or infinite
// total still scales (by NaN or 0). No gradients: total 0.
// clip_grad_value: x = min(max(x, -clip_value), clip_value) elementwise (NaN stays NaN).
//
// Gradients are float32 or float64, any mix. Sums and the maximum are taken in double, over
// fixed chunks combined in a fixed order: the result does not depend on the thread count.
// Large tensors run on every core (OpenMP). NOTE: PyTorch sums a float32 gradient's norm and
// forms the coefficient in float32, so float32 results differ from it by float32 rounding
// (tests compare at rtol 1e-6); float64 agrees to double rounding.
#pragma once

#include <vector>

#include "onnx_train/tensor.h"

namespace onnx_train {

// Returns the total norm before clipping. norm_type is p > 0 or infinity.
double clip_grad_norm(std::vector<Tensor*>& grads, double max_norm, double norm_type = 2.0);

// Clamps every gradient element to [-clip_value, clip_value]; clip_value >= 0.
void clip_grad_value(std::vector<Tensor*>& grads, double clip_value);

}  // namespace onnx_train
