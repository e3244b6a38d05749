// Rewrites of the op patterns exported transformers are made of into fewer, faster ops, run
// on the forward graph as it is loaded (runtime/transforms/load_model.cc), before any
// gradient is built: the gradients then come from the rules of the ops the pass leaves
// (an adjoint that is one cheap op), so one rewrite serves inference and training and the
// backward graph needs no pattern matching of its own.
//
// Chunks into Split: torch's MultiheadAttention (and every tensor.chunk / q,k,v split)
// exports its packed in-projection as Slices of one tensor whose starts/ends are computed
// at run time from Shape(x) (dim + 1) / 3 * k. Where the sliced dimension is static those
// bounds are constants in disguise; when the Slices of a value along one axis (step 1)
// tile it exactly, they become one Split:
//   y_i = Slice(x, s_i, e_i, [axis]), s_0 = 0, s_{i+1} = e_i, e_last = dim(x, axis)
//   ->  y_0, ..., y_k = Split(x, [e_0 - s_0, ..., e_k - s_k], axis)
// Same values; the gradient becomes Concat(dy_0, ..., dy_k) instead of one scatter
// (GatherElementsGrad over a Range) per Slice plus a Sum of the scattered tensors.
// The shape arithmetic left without readers is removed.
//
// What it does not touch: Slices with steps other than 1, several axes, bounds that depend on
// a dynamic dimension, or that overlap or leave a gap.
#pragma once

#include <cstddef>

#include "runtime/ir/graph.h"

namespace onnx_train {

struct TransformerFusions {
  size_t chunk_splits = 0;  // Split nodes made from tiling Slices
};

// Applies the rewrites above in place; the graph stays topologically sorted.
TransformerFusions fuse_transformer_patterns(Graph& graph);

}  // namespace onnx_train
