// An inference rewrite: each Conv with what follows it in a chain becomes one FusedConv
// (ai.onnx_train, runtime/kernels/dnnl/conv.cc), run as one oneDNN convolution with post-ops
// instead of a convolution and separate passes over its output:
//
//   Conv -> [BatchNormalization] -> [Add(., z)] -> [Relu | Clip | Sigmoid | Sigmoid+Mul (SiLU)]
//     => FusedConv(x, w', b', z) with y = act(conv(x, w') + b' + z)
//
// - BatchNormalization (inference form) folds into the weights, only when the graph's
//   initializers are constant (FuseConvOptions): w' = w * s, b' = (b - mean) * s + beta per
//   output channel, s = scale / sqrt(var + epsilon); w' and b' are new initializers.
// - Add takes z of the Conv output's shape (a residual); Clip's bounds must be constants.
// - Every value the chain absorbs must be read by the next link alone (not a graph output):
//   the intermediate values disappear.
// Not fused: a Conv whose output several nodes read; ConvTranspose. The rewritten graph is a
// valid ONNX graph of the same outputs (FusedConv in the project's domain, opset 1).
#pragma once

#include <cstddef>

#include "runtime/ir/graph.h"

namespace onnx_train {

struct FuseConvOptions {
  // The initializers never change while the graph's plan lives (an inference Session, not a
  // training session's eval and predict plans, whose weights the optimizer updates in
  // place): BatchNormalization folds into the weights, and the fused nodes are marked
  // constant_weights = 1 so the kernels keep their reordered weights.
  bool constant_initializers = false;
};

struct FusedConvs {
  size_t fused = 0;               // FusedConv nodes made
  size_t batch_norms_folded = 0;  // of which with a folded BatchNormalization
  size_t nodes_removed = 0;       // nodes absorbed
};

FusedConvs fuse_conv(Graph& graph, const FuseConvOptions& options);

}  // namespace onnx_train
