// LoRA adapter files: the adapters of a run without the base model, to load onto it again.
//
// An adapter file is an onnx-train checkpoint file (importers/checkpoint_file.h: an ONNX file
// without nodes, any ONNX tool opens it) holding the A and B tensors by their graph names and
// the metadata
//   lora.rank, lora.alpha, lora.dropout, lora.targets   the options the adapters were made with
//   lora.weights       "h.0.attn_c.weight float32[96, 32];..." the adapted base weights, in order
//   lora.fingerprint   LoraInfo::fingerprint of those weights
//   lora.base_model    the base model's file name
// Loading it onto a model adds the adapters to the same weights (whatever the default selection
// of that model would be) and sets A and B to the file's values. A base whose weights are
// missing or of other shapes is refused at once, with every difference listed.
#pragma once

#include <cstdint>
#include <map>
#include <string>

#include "importers/proto_io.h"
#include "runtime/ir/graph.h"
#include "runtime/transforms/lora.h"

namespace onnx_train {

// Writes `info`'s adapters with their values in `model` (the adapted graph) to `path`.
void write_lora_adapter(const LoraInfo& info, const Graph& model, const std::string& base_model,
                        const std::string& path);

// apply_lora with the options `options.adapter` was made with (a rank given in `options` must
// equal the file's), then the file's A and B values. Errors name the file and the model.
LoraInfo apply_lora_adapter(Graph& graph, const LoraOptions& options, uint64_t seed, const std::string& model_path);

// W' = W + s A B of each adapted weight of `model` (an adapted graph), by the weight's name, each
// made only when the export writes it (one at a time): what the export writes into the user's
// file in place of W. `model` must outlive the values.
std::map<std::string, DeferredTensor> merged_lora_values(const Graph& model, const LoraInfo& info);

// Where export_model writes the adapters beside the model at `model_path`: "x.onnx" -> "x.lora.onnx".
std::string lora_adapter_path(const std::string& model_path);

}  // namespace onnx_train
