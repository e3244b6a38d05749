// Activation recomputation (gradient checkpointing, Chen et al. 2016, "Training deep nets with
// sublinear memory cost") as a rewrite of the training graph, after build_gradient_graph.
//
//   GradientGraph grads = build_gradient_graph(train, loss, parameters);
//   RecomputeResult r = recompute_activations(train, forward_outputs, {/*budget=*/0, /*batch=*/4});
//   Plan plan(train, ...);   // the forward pass's activations now die at their last forward use
//
// Saved activations are the forward values that backward nodes read: without recomputation all
// of them are alive at once where the forward pass ends, which is the peak of a training step.
// The rewrite keeps only a few of them (checkpoints) and computes the others again in the
// backward pass, one segment at a time:
//
// 1. Candidates: forward values that every path from the graph inputs to the loss passes
//    through (the articulation points of the forward data flow). Only activations count: float
//    values that depend on a graph input; values computed from weights and constants alone, and
//    integer or bool values (shapes, indices, masks), are small or batch-free and ignored. With
//    the forward nodes in graph order, a value v is a candidate when, right after some node, v
//    is the only activation still to be read by a later forward node. In a transformer these
//    are the residual stream after each residual Add (and a few points before the first and
//    after the last block).
// 2. Segments, between consecutive checkpoints (candidates chosen as segment boundaries); the
//    first segment starts at the graph inputs, and what follows the last checkpoint (the head
//    and the loss, which the backward pass reads first) is kept.
//    - Default: the structure that repeats. Each gap between consecutive candidates gets a
//      signature (the op types of its activation-producing nodes); the smallest period p
//      (1..8) whose run of gaps with signature[k] == signature[k + p] covers the most gaps (at
//      least two units) gives units of p gaps. A unit with a Softmax is a transformer block:
//      one segment per block (pre-LayerNorm GPT blocks alternate attention and MLP gaps, so
//      p = 2: a checkpoint at every second residual Add). Otherwise the units are the layers of
//      a chain, and Chen's sqrt(n) rule groups them round(sqrt(n)) layers per segment (16
//      layers: 4 segments of 4); without any repeating run, the same rule over the candidates.
//      Candidates outside the repeating run stay checkpoints.
//    - With a budget (bytes of saved activations at `batch`): Chen's greedy segmentation,
//      tried over a range of segment sizes, keeps the one whose estimate is smallest:
//        estimate = kept saved values + checkpoints + largest segment's recomputed values
//      (one segment is recomputed at a time). A budget below that is an Error giving the
//      smallest estimate. Then, while the estimate stays within the budget, whole segments
//      (the smallest first) are kept rather than recomputed, which saves their extra forward
//      time. A budget at or above the saved activations without recomputation changes nothing.
// 3. The rewrite, per recomputed segment: the saved activations produced inside it are computed
//    again by clones of the forward nodes that lead to them from the segment's inputs (its
//    checkpoint and kept values), inserted right before the first backward node that reads any
//    of them, and every backward node reads the clones instead. The planner runs nodes in list
//    order and frees each value after its last reader, so the originals die at their last
//    forward use and the clones live only during their segment's backward pass.
//    Kept inside a segment (read as they are, never computed again): values that are not
//    activations, graph outputs, and the outputs of random ops (RandomNormal, Bernoulli, ...).
//    A training Dropout is not run again (it would draw a new mask): its output is recomputed
//    from its kept mask as DropoutGrad(x', mask, scale) = mask ? x' * scale : 0, with scale the
//    constant float(1 / (1 - ratio)) the Dropout kernel computes, so the bits are the same. A
//    Dropout whose ratio or training switch is not a constant keeps its output.
// Clones are named "recompute/<node>", their outputs "<value>_recomputed" (ValueInfos copied),
// so the graph stays an ONNX graph that any tool opens. Gradients are the same bits as without
// the rewrite: every clone runs the same kernel on the same inputs.
#pragma once

#include <cstdint>
#include <set>
#include <string>
#include <vector>

#include "runtime/ir/graph.h"

namespace onnx_train {

struct RecomputeOptions {
  // Bytes of saved activations to fit at `batch`; 0: no budget (the default segmentation).
  uint64_t max_activation_memory = 0;
  // The size of every dimension unknown until run time, for the byte estimates (as
  // Plan::estimate_memory takes it).
  int64_t batch = 1;
};

struct RecomputeSegment {
  std::string begin;  // the checkpoint it starts from ("" for the graph inputs)
  std::string end;    // the checkpoint it ends at (kept)
  bool recomputed = false;
  size_t nodes_cloned = 0;
  uint64_t recomputed_bytes = 0;  // its saved activations computed again, at the batch
};

struct RecomputeResult {
  std::vector<std::string> candidates;   // every articulation value, in forward order
  std::vector<std::string> checkpoints;  // the segment boundaries chosen, in order
  std::string rule;                      // how they were chosen, in words
  std::vector<RecomputeSegment> segments;
  size_t nodes_added = 0;
  // Estimated bytes of saved activations at the batch: without the rewrite (every saved value),
  // and with it (kept values, checkpoints and the largest recomputed segment).
  uint64_t saved_bytes_before = 0, saved_bytes_after = 0;
  std::vector<std::string> notes;  // what the caller may show (e.g. nothing to recompute)
};

// Rewrites the training graph `graph` (see above). `forward_outputs` holds the first output of
// every forward node (model and loss); the other nodes are the backward pass. Throws an Error
// when the budget cannot be met, naming the smallest estimate.
RecomputeResult recompute_activations(Graph& graph, const std::set<std::string>& forward_outputs,
                                      const RecomputeOptions& options = {});

}  // namespace onnx_train
