// The random words of Dropout's masks (reference/dropout.cc): Philox4x32-10 blocks
// (random_ops_philox.h) generated many at a time, lanes side by side so the compiler keeps
// them in vector registers, and the keep threshold for a ratio. philox_words matches
// philox4x32_10 block for block (tests/kernels/normalization_test.cc checks it).
#pragma once

#include <cmath>
#include <cstdint>

#include "runtime/kernels/reference/random_ops_philox.h"

namespace onnx_train {

// Elements per parallel chunk of a Dropout pass (a multiple of 4: whole blocks).
constexpr int64_t kDropoutChunk = 4096;

// words[4 * j + w] = word w of philox4x32_10({first + j (64 bits), 0, 0}, key), j < blocks.
void philox_words(const PhiloxKey& key, uint64_t first, int64_t blocks, uint32_t* words);

// The float32 pass of one chunk: keep[i] = words[i] >= threshold, out[i] = keep[i] ? in[i] *
// scale : 0 (the generic loop of reference/dropout.cc, vectorised; tests compare the two).
void dropout_chunk_f32(const uint32_t* words, uint32_t threshold, float scale, const float* in, float* out, bool* keep,
                       int64_t count);

// Dropout's backward pass on one chunk: dx[i] = keep[i] ? dy[i] * scale : 0.
void dropout_grad_chunk_f32(const float* dy, const bool* keep, float scale, float* dx, int64_t count);

// t such that a uniform 32-bit word w has P(w >= t) = 1 - ratio (to 2^-32), ratio in [0, 1).
inline uint32_t dropout_threshold(double ratio) {
  const double t = std::round(ratio * 4294967296.0);
  return t >= 4294967295.0 ? 0xFFFFFFFFu : static_cast<uint32_t>(t);
}

}  // namespace onnx_train
