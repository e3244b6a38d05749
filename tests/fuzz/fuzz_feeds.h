// Zero-filled feeds for a model's declared inputs, so that a fuzz target can run what it
// built: a first (batch) dimension that is not fixed becomes the first input's fixed batch size
// (so that a label matches its input), any other one 2. Inputs of a type a Tensor cannot hold, or
// feeds of more than kMaxFeedElements elements in all, give no feeds (the caller skips the run).
#pragma once

#include <cstdint>
#include <map>
#include <optional>
#include <string>
#include <vector>

#include "onnx_train/session.h"

namespace fuzz {

inline constexpr int64_t kMaxFeedElements = 1 << 16;

inline std::optional<std::map<std::string, onnx_train::Tensor>> zero_feeds(
    const std::vector<onnx_train::TensorSpec>& specs) {
  std::map<std::string, onnx_train::Tensor> feeds;
  int64_t total = 0, batch = 2;
  if (!specs.empty() && specs[0].rank_known && !specs[0].shape.empty() && specs[0].shape[0] > 0)
    batch = specs[0].shape[0];
  for (const auto& spec : specs) {
    if (!spec.rank_known || onnx_train::dtype_size(spec.dtype) == 0) return std::nullopt;
    onnx_train::Shape shape;
    int64_t n = 1;
    for (size_t i = 0; i < spec.shape.size(); ++i) {
      const int64_t d = spec.shape[i];
      const int64_t dim = d >= 0 ? d : i == 0 ? batch : 2;
      if (dim > kMaxFeedElements) return std::nullopt;
      n *= dim;
      if (n > kMaxFeedElements) return std::nullopt;
      shape.push_back(dim);
    }
    total += n;
    if (total > kMaxFeedElements) return std::nullopt;
    feeds.emplace(spec.name, onnx_train::Tensor(spec.dtype, shape));
  }
  return feeds;
}

}  // namespace fuzz
