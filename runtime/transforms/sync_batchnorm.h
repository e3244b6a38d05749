// Synchronised BatchNormalization (torch.nn.SyncBatchNorm) as a graph rewrite: in a
// data-parallel run each BatchNormalization of the training graph normalizes with the mean and
// biased variance of the union of every rank's micro-batch, not of its own.
//
//   TrainingForm form = to_training_form(train, seed);   // runtime/transforms/train_mode.h
//   sync_batchnorm(train, form, group);                   // before append_loss / autodiff
//   build_gradient_graph(train, loss, parameters);
//
// Each training-form BatchNormalization node (the fused node that to_training_form makes, whose
// batch statistics feed the running-statistic update) is replaced by ONNX ops and the
// project's AllReduceSum (ai.onnx_train, runtime/kernels/reference/collectives.cc), which sums
// over the ranks of process group `group` (runtime/distributed/process_groups.h). With X
// [N, C, D1..Dn] on each rank, axes = every axis but 1, stat = [1, C, 1..1]:
//   M     = AllReduceSum(float(Size(X) / Size(scale)))         the values per channel, all ranks
//   mean  = AllReduceSum(ReduceSum(X, axes, keepdims)) / M      [stat]
//   d     = X - mean                                            [N, C, D1..Dn]
//   var   = AllReduceSum(ReduceSum(d * d, axes, keepdims)) / M  [stat], biased
//   Y     = d / Sqrt(var + epsilon) * scale[1, C, 1..] + B[1, C, 1..]
// (BatchNormalization-7 with spatial=0: per-activation statistics, axes = {0}, stat = [1, C,
// D1..Dn].) The batch statistics outputs become Squeeze(mean) and Squeeze(var), and the
// running-statistic update's M is the global M, so updated_var uses the unbiased variance of
// the global batch, M / (M - 1) with M over every rank, as PyTorch does.
//
// Every value the rest of the graph reads keeps its name: Y, the batch statistics, M and the
// TrainingForm's updated_mean / updated_var (graph outputs). New nodes and values are named
// "sync_batchnorm/<node>/...", each new value has a ValueInfo, and the nodes stay
// topologically sorted. Every op used has a gradient rule, so build_gradient_graph works after
// the rewrite; autodiff then differentiates through the statistics, including AllReduceSum
// (dX = AllReduceSum(dY): every rank's loss reads the global statistics).
//
// NOTE: the forward pass is exact for any micro-batch sizes. The backward pass gives the
// gradient of the sum of the ranks' losses; the data-parallel step averages it over ranks,
// which is the gradient of the loss over the global batch only when every rank's micro-batch
// has the same number of samples (the sharded BatchLoader guarantees it), as with PyTorch.
//
// With group 0 (one process) the rewritten graph computes what the fused node does.
#pragma once

#include <cstdint>

#include "runtime/ir/graph.h"
#include "runtime/transforms/train_mode.h"

namespace onnx_train {

// Rewrites every BatchNormalization node of `form` (as to_training_form returned it for
// `train`) into its synchronised form over process group `group` (see above). A graph without
// BatchNormalization is left as it is. Throws, leaving `train` unchanged, when a node is not
// in training form, X's rank is unknown, or its element type is not float32 / float64.
void sync_batchnorm(Graph& train, const TrainingForm& form, int64_t group);

}  // namespace onnx_train
