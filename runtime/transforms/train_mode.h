// Train and eval forms of a graph: PyTorch's module.train() / module.eval() as a graph
// transform (a model edit, made with the graph editor; not a gradient rule).
//
// Exporters usually write a model in inference ("eval") form: BatchNormalization normalizes
// with its stored running statistics and Dropout passes its input through. Training needs
// the other behaviour, and to_training_form rewrites the graph to it:
//
//   Graph graph = load_onnx_model("model.onnx");
//   const TrainingForm form = to_training_form(graph, /*seed=*/42);
//   // ... append a loss, build_gradient_graph, build a Plan and run steps; after each step
//   // copy every form.running_stats[i].updated_mean / updated_var (graph outputs) into the
//   // initializers mean / var for the next step.
//   to_eval_form(graph);  // inference form again, e.g. to evaluate or export
//
// BatchNormalization (versions 7, 9, 14, 15), X [N, C, D1..Dn], statistics per channel over
// M = N * D1 * .. * Dn values (M = N for BatchNormalization-7 with spatial=0). In training
// form the node normalizes with the batch mean and the biased batch variance, as
// torch.nn.BatchNorm*d in train() does, still as one fused node, and outputs the batch
// statistics themselves:
//   version 14/15: training_mode=1 with momentum=0, so its running_mean/running_var outputs
//                  are input * 0 + batch * 1 = the batch mean and biased variance; the
//                  model's ONNX momentum is kept in a Constant node for to_eval_form;
//   version 7/9:   training is signalled by the optional outputs: the node gets only
//                  saved_mean and saved_var (the batch mean and biased variance), its own
//                  running_mean/running_var outputs stay omitted.
// The running-statistics update is then composed with ONNX ops, because ONNX's own update
// uses the biased variance where PyTorch uses the unbiased one. With ONNX momentum m (the
// weight of the old value; PyTorch's momentum is 1 - m, torch exports 0.1 as 0.9):
//   updated_mean = mean * m + batch_mean * (1 - m)
//   updated_var  = var  * m + batch_var * M / (M - 1) * (1 - m)
// which is torch's running = (1 - momentum) * running + momentum * batch with the
// unbiased batch variance. M comes from Size(X) / Size(scale) at run time, so the batch
// size may vary; M = 1 gives an infinite variance (PyTorch refuses such a batch).
//
// Dropout (7, 10, 12, 13) in training form zeroes each element with probability `ratio` and
// scales the kept ones by 1 / (1 - ratio) (F.dropout in train()). Dropout-12/13 get a
// bool training_mode input that is a Constant true and a `seed` attribute, a hash of `seed`
// and the node's ordinal among the Dropout nodes, so runs are reproducible (each plan's
// kernel starts its generator from that seed). Dropout-7/10 have no training switch (ONNX
// defines them as inference-only): their nodes are run as Dropout-12 instead (since_version
// 12, the ratio attribute becoming a Constant input); their mask output, bool in version 12
// but data-typed in version 7, must be unused for Dropout-7. to_eval_form gives them their
// own version back. The masks are not torch's: PyTorch's generator differs.
//
// Models whose BatchNormalization was folded into the preceding Conv, or whose Dropout was
// removed at export (torch does both in eval export where it can), need nothing.
// Every node the transforms add is named "train_mode/...", every new value gets a ValueInfo
// (for the gradient builder), and the nodes stay topologically sorted. In training form the
// gradient rules see BatchNormalization as training (its dX goes through the batch
// statistics) and the update nodes do not reach a loss, so build_gradient_graph works on it.
#pragma once

#include <cstdint>
#include <string>
#include <vector>

#include "runtime/ir/graph.h"

namespace onnx_train {

// One BatchNormalization node's running statistics in training form.
struct RunningStat {
  std::string node;          // the BatchNormalization node's name
  std::string mean, var;     // its running mean and variance inputs (usually initializers)
  std::string updated_mean;  // graph outputs: their PyTorch-updated values after a step
  std::string updated_var;
};

struct TrainingForm {
  std::vector<RunningStat> running_stats;  // in node order
  std::vector<std::string> dropout_nodes;  // the Dropout nodes now training, in node order
};

// Rewrites `graph` into training form (see above); `seed` seeds the Dropout masks. Throws,
// leaving the graph unchanged, when a node is already in training form (call to_eval_form
// first) or cannot be converted.
TrainingForm to_training_form(Graph& graph, uint64_t seed);

// Rewrites `graph` into inference form: BatchNormalization normalizes with its running
// statistics (training_mode=0 and no statistics outputs; versions 14/15 get their ONNX
// momentum back), Dropout passes its input through (no training_mode input, no seed), and
// the nodes and graph outputs to_training_form added are removed. Also turns a model
// exported in training form (torch's TrainingMode.TRAINING) into inference form; graph
// outputs that were BatchNormalization statistics are dropped.
void to_eval_form(Graph& graph);

}  // namespace onnx_train
