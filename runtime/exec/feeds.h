// Checking what a caller feeds a plan against what the model declares, shared by Session
// and TrainingSession.
#pragma once

#include <map>
#include <string>
#include <vector>

#include "onnx_train/session.h"
#include "runtime/ir/graph.h"

namespace onnx_train {

TensorSpec spec_of(const ValueInfo& value);

// Throws naming `source` and the input when `tensor` does not fit `spec` (type, rank, fixed dims).
void check_feed(const TensorSpec& spec, const Tensor& tensor, const std::string& source);

// The plan's feed vector: every `required` input in order (a missing one is an error), then
// every `optional` one (an undefined Tensor where not fed). Names that are neither are an
// error listing the model's inputs.
std::vector<Tensor> order_feeds(const std::map<std::string, Tensor>& feeds, const std::vector<TensorSpec>& required,
                                const std::vector<TensorSpec>& optional, const std::string& source);

}  // namespace onnx_train
