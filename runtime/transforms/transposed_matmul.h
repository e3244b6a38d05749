// A training-graph rewrite: MatMul reading a weight through Transpose reads the weight as
// stored.
//
// torch exports nn.Linear in training form as MatMul(x, Transpose(W)) with W [out, in] an
// initializer. Run as written, the plan copies every W into its transpose before the forward
// pass and again before the backward pass, and the gradient builder adds a Transpose of dW
// back: on a GPT-2-sized model that is a sixth of a step. This rewrite turns
//
//   Y = MatMul(x, Transpose(W, perm = [1, 0]))     W a 2-D float initializer [N, K]
//   Y = MatMul(x, Transpose(Cast(W)))              the same after autocast_bf16
//     => Y = FusedMatMul(x, W | Cast(W), trans_b = 1)   (ai.onnx_train, version 1)
//
// whose kernel reads W^T through strides (runtime/kernels/dnnl/matmul.cc) and whose gradient
// rule emits MatMulGrad(trans_b = 1), producing dW in W's own [out, in] layout. The result is
// the same product: only the order of float additions inside the gemm may differ.
//
// Rewritten only when every reader of the Transpose's output is such a MatMul (as its second
// input), the output is no graph output, and the graph holds no subgraph (If / Loop / Scan
// may read outer values without listing them); the Transpose then goes. Run it after LoRA and
// autocast, before the gradient builder, on the training and the eval graph; never on the
// model a session exports (export_model writes the model as given).
#pragma once

#include <cstddef>

#include "runtime/ir/graph.h"

namespace onnx_train {

struct TransposedMatMuls {
  size_t matmuls = 0;     // MatMul nodes now FusedMatMul(trans_b = 1)
  size_t transposes = 0;  // Transpose nodes removed
};

TransposedMatMuls fuse_transposed_matmul(Graph& graph);

}  // namespace onnx_train
