// The tiny GPT fixture of tests/data/recompute (tests/data/make_recompute_gpt.py): 3 blocks,
// d 32, vocabulary 64, 16 tokens, computing its own cross-entropy loss from input_ids and
// targets. Shared by the tests of the rewrites that run on a transformer's training graph.
#pragma once

#include <cstdint>
#include <map>
#include <random>
#include <string>

#include "onnx_train/tensor.h"

namespace onnx_train::testing {

inline const std::string kGptTiny = std::string(ONNX_TRAIN_SOURCE_DIR) + "/tests/data/recompute/gpt_tiny.onnx";
constexpr int64_t kGptTinySeq = 16, kGptTinyVocab = 64;

// A batch of random token ids and next-token targets, the same for the same seed.
inline std::map<std::string, Tensor> gpt_tiny_batch(int64_t batch, unsigned seed) {
  std::mt19937 rng(seed);
  Tensor ids(DType::Int64, {batch, kGptTinySeq}), targets(DType::Int64, {batch, kGptTinySeq});
  for (int64_t i = 0; i < batch * kGptTinySeq; ++i) {
    ids.data<int64_t>()[i] = static_cast<int64_t>(rng() % kGptTinyVocab);
    targets.data<int64_t>()[i] = static_cast<int64_t>(rng() % kGptTinyVocab);
  }
  return {{"input_ids", ids}, {"targets", targets}};
}

}  // namespace onnx_train::testing
