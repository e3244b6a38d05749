// onnx_train/lora.h: low-rank adapters (LoRA, Hu et al. 2021) for fine-tuning large models.
//
//   onnx_train::TrainingOptions options;
//   options.lora.rank = 8;                      // adapters of rank 8 on every eligible weight
//   auto trainer = onnx_train::TrainingSession::from_file("gpt2.onnx", options);
//   ...                                         // only the adapters train
//   trainer.export_model("tuned.onnx");         // the adapters merged into the weights
//
// Each targeted layer y = x W becomes y = x W + (alpha / rank) * (dropout(x) A) B, with W
// frozen, A [in, rank] drawn as PEFT draws lora_A (kaiming_uniform_(a=sqrt(5)): uniform in
// +-1/sqrt(in)) and B [rank, out] zero, so that the adapted model starts equal to the base model.
// The rewrite is runtime/transforms/lora.h; which layers are eligible is said there.
#pragma once

#include <cstdint>
#include <string>
#include <vector>

#include "onnx_train/external_data.h"

namespace onnx_train {

struct LoraOptions {
  int64_t rank = 0;    // 0: no adapters
  double alpha = 0;    // the scale is alpha / rank; 0: alpha = rank (scale 1)
  double dropout = 0;  // Dropout on the adapters' input in training, in [0, 1)
  // A regex (std::regex_search) on the weight initializers' names; "": every eligible weight
  // except the layer that computes the output the loss reads (the head).
  std::string targets;
  // An adapter file (TrainingSession::export_lora_adapter) to start from: its rank, alpha,
  // dropout and targets are used (rank 0 here, or equal), and its base model fingerprint must
  // match the model's.
  std::string adapter;
  // export_model writes the base model as loaded plus the adapters in PATH.lora.onnx beside it,
  // instead of the adapters merged into the weights.
  bool export_separate = false;

  bool enabled() const { return rank > 0 || !adapter.empty(); }
  double effective_alpha() const { return alpha > 0 ? alpha : static_cast<double>(rank); }
  double scale() const { return rank > 0 ? effective_alpha() / static_cast<double>(rank) : 0.0; }
};

// The adapters a session added (TrainingSession::lora()).
struct LoraSummary {
  LoraOptions options;               // as applied: alpha resolved, an adapter file's options
  std::vector<std::string> weights;  // the adapted base weights, in graph order
  bool enabled() const { return !weights.empty(); }
  // "LoRA r=8 alpha=8 on 48 weights (h.0.attn_c.weight, ...): 811,008 values trained (0.65%),
  // 124,439,808 frozen", from the session's counts of trained and frozen values.
  std::string describe(int64_t trained_values, int64_t frozen_values) const;
};

// Writes the model at `model_path` with the adapters of the adapter file `adapter_path`
// (TrainingSession::export_lora_adapter) merged into its weights to `out_path`, as
// TrainingSession::export_model writes a merged model, its weights placed as `external_data`
// says (onnx_train/external_data.h). A base the adapters were not made for is refused, listing
// the differences.
void export_merged_lora(const std::string& model_path, const std::string& adapter_path, const std::string& out_path,
                        ExternalDataMode external_data = ExternalDataMode::Auto);

}  // namespace onnx_train
