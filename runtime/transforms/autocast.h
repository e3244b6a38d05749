// bfloat16 mixed precision as a graph rewrite (PyTorch's CPU autocast, made explicit).
//
// autocast_bf16 rewrites the forward part of a training graph (after the loss and the
// training form, before build_gradient_graph) so that the ops PyTorch's CPU autocast runs in
// lower precision (conv*, conv_transpose*, mm, bmm, addmm, baddbmm, linear, matmul: here
// MatMul, Gemm, Conv, ConvTranspose) read bfloat16 copies of their float32 inputs and their
// bfloat16 result is cast back to float32:
//
//   Y = MatMul(A, B)   ->   A_bf16 = Cast(A, to=bfloat16); B_bf16 = Cast(B, to=bfloat16)
//                           Y_bf16 = MatMul(A_bf16, B_bf16); Y = Cast(Y_bf16, to=float)
//
// Everything else (softmax, normalisation and its statistics, reductions, exp/log/pow, the
// loss) stays float32, as do the master weights and the optimizer state: a weight is cast
// once per step, where its first consumer runs. The gradient builder then differentiates
// through the Casts (the rule of Cast casts the gradient back), so the backward MatMulGrad /
// Gemm / ConvGrad nodes run in bfloat16 too and each parameter's gradient arrives in float32.
//
// - One Cast per value: an activation read by three projections is cast once.
// - Gemm's bias C stays float32: Gemm(A, B, C) becomes Add(Cast(Gemm(A_bf16, B_bf16)), C)
//   (times beta by a Mul when beta != 1), since ONNX requires C of A's type. Gemm before
//   opset 11 needs C: there C is cast too. Conv / ConvTranspose bias B is cast (PyTorch
//   autocast casts conv's bias too; the kernels accumulate in float32).
// - Round trips: a Cast back to float32 whose value reaches only layout ops (Reshape,
//   Transpose, Squeeze, Unsqueeze, Flatten, Split, Slice, Identity; data input 0) that reach
//   only Casts to bfloat16 (attention's q / k / v between two MatMuls) is removed: those
//   layout ops move bfloat16 instead (their kernels copy bytes whatever the type) and the
//   Casts to bfloat16 after them go.
// - Weights: a Cast to bfloat16 of a layout op's output that nothing else reads moves ahead of
//   the layout op (torch's MatMul(x, Transpose(W)) becomes MatMul(x, Transpose(Cast(W)))), so
//   the Transpose and its gradient move 2-byte elements.
// - A graph with subgraphs (If, Loop, Scan may read outer values without listing them) gets
//   the Casts only: no round trip is removed and no Cast moved.
// - Only nodes whose float inputs are known to be float32 are rewritten; graph outputs keep
//   their float32 type. New nodes are named "autocast/...", every new value gets a ValueInfo,
//   and each Cast is placed just before its first reader (the order stays topological).
#pragma once

#include <cstddef>

#include "runtime/ir/graph.h"

namespace onnx_train {

struct AutocastReport {
  size_t rewritten = 0;         // MatMul / Gemm / Conv / ConvTranspose nodes now in bfloat16
  size_t casts = 0;             // Cast nodes in the graph after the rewrite that it added
  size_t round_trips_removed = 0;
  size_t casts_moved = 0;  // Casts moved ahead of a layout op (Cast(Transpose(W)) -> Transpose(Cast(W)))
};

AutocastReport autocast_bf16(Graph& graph);

// Whether op_type (default domain) runs in bfloat16 under autocast_bf16.
bool autocast_lowers(const std::string& op_type);

}  // namespace onnx_train
