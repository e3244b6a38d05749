// Low-rank adapters as a model edit (onnx_train/lora.h says what LoRA is for the user).
//
// Eligible layers, each reading a float initializer W that nothing else reads:
//   MatMul(x, W)                 W [K, N] (a constant-folded torch export: `onnx::MatMul_N`)
//   MatMul(x, Transpose(W))      W [N, K], perm [1, 0] (torch's training-form nn.Linear); the
//                                Transpose's output read by that MatMul only
//   Gemm(a, W, c)                W [K, N], or [N, K] with transB = 1; alpha, transA honoured,
//                                the bias c stays on the base path
//   Conv(x, W) 1x1, group 1      W [Cout, Cin, 1, ...]
// A weight other nodes also read (GPT-2's wte, read by the embedding's Gather and the tied
// lm_head) is not eligible: merging an adapter into it would change what the others read.
//
// The rewrite of y = op(x, W), with s = alpha / r and A, B new initializers:
//   MatMul / Gemm:  y = op(x, W) + s' * ((dropout(x') A) B),  A [K, r], B [r, N],
//                   x' = x (Gemm: a, transposed when transA = 1), s' = s (Gemm: s * alpha)
//   Conv:           y = Conv(x, W) + s * Conv(Conv(dropout(x), A), B),
//                   A [r, Cin, 1, ...] with the op's strides and pads, B [Cout, r, 1, ...]
// A = uniform(-1/sqrt(K), 1/sqrt(K)) (K = in features: PEFT's kaiming_uniform_(a=sqrt(5)) on
// lora_A.weight [r, K], stored here transposed), B = 0, so the edited graph computes the same
// as the base. The op keeps its node; its output is renamed and the sum takes the old name, so
// every reader (graph outputs included) is unchanged. Dropout with P > 0 is a Dropout node in
// inference form; the training form (train_mode.h) makes it draw masks.
//
// The merge for export, in W's own layout: W' = W + s * A B  ([K, N]), W + s * (A B)^T
// ([N, K]), W'[o, i] = W[o, i] + s * sum_j B[o, j] A[j, i] (Conv); Gemm's alpha then scales
// the merged W' as it scaled W and the adapter path.
#pragma once

#include <cstdint>
#include <map>
#include <string>
#include <vector>

#include "onnx_train/lora.h"
#include "runtime/ir/graph.h"

namespace onnx_train {

// How W reaches its op.
enum class LoraWeightForm {
  Direct,      // MatMul / Gemm with W [K, N]
  Transposed,  // MatMul through Transpose, or Gemm transB = 1: W [N, K]
  Conv,        // Conv: W [Cout, Cin, 1, ...]
};

struct LoraAdapter {
  std::string weight;  // the base weight initializer
  std::string a, b;    // the adapter initializers (<weight>.lora_A, <weight>.lora_B)
  std::string node;    // the adapted node's name
  std::string op_type;
  LoraWeightForm form = LoraWeightForm::Direct;
  double scale = 1;        // s' above, on the adapter path: alpha / rank, times Gemm's alpha
  double merge_scale = 1;  // s, added to W: Gemm multiplies W' by its alpha itself
  int64_t in_features = 0, out_features = 0;
};

struct LoraInfo {
  LoraOptions options;  // as applied (alpha resolved)
  std::vector<LoraAdapter> adapters;
  std::vector<std::string> eligible;  // every eligible weight, in graph order
  std::string head;                   // the default selection's excluded head weight ("" when none)

  bool enabled() const { return !adapters.empty(); }
  std::vector<std::string> adapter_names() const;  // A and B of every adapter, in order
  // A fingerprint of the base weights' names and shapes ("lora-v1:" + 16 hex digits).
  std::string fingerprint(const Graph& graph) const;
};

// The eligible weights of `graph` (above), in node order.
std::vector<std::string> lora_eligible_weights(const Graph& graph);

// Adds the adapters; `loss_output` is the value the loss reads (its producing layer, the head,
// is left out of the default selection). Throws OptionError("lora_targets") for an invalid regex
// or one matching no eligible weight, OptionError("lora") for a bad rank, alpha or dropout, or a
// model without eligible weights; each lists what there is.
LoraInfo apply_lora(Graph& graph, const LoraOptions& options, uint64_t seed, const std::string& loss_output = "");

// W' of `adapter` from `values` (the graph's initializers: W, A and B by name), in W's layout.
Tensor merged_lora_weight(const LoraAdapter& adapter, const std::map<std::string, Tensor>& values);

}  // namespace onnx_train
