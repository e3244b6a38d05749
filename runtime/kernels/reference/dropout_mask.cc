// Philox blocks many at a time (reference/dropout_mask.h).
#include "runtime/kernels/reference/dropout_mask.h"

#include <algorithm>
#include <cstring>

namespace onnx_train {

namespace {

constexpr int kLanes = 16;  // blocks computed side by side

// kLanes blocks starting at `first`, written as words[4 * lane + w]; `count` <= kLanes are kept.
// The same rounds as philox4x32_10, one lane per block. Cloned per instruction set and picked
// at load time (AVX-512, AVX2, baseline x86-64), so the binary runs on any x86-64 CPU.
__attribute__((target_clones("avx512f", "avx2", "default"))) void philox_lanes(const PhiloxKey& key, uint64_t first,
                                                                               int64_t count, uint32_t* words) {
  constexpr uint32_t kMultiplier0 = 0xD2511F53u, kMultiplier1 = 0xCD9E8D57u;
  constexpr uint32_t kWeyl0 = 0x9E3779B9u, kWeyl1 = 0xBB67AE85u;
  uint32_t c0[kLanes], c1[kLanes], c2[kLanes], c3[kLanes];
  for (int l = 0; l < kLanes; ++l) {
    const uint64_t index = first + static_cast<uint64_t>(l);
    c0[l] = static_cast<uint32_t>(index);
    c1[l] = static_cast<uint32_t>(index >> 32);
    c2[l] = 0;
    c3[l] = 0;
  }
  uint32_t k0 = key[0], k1 = key[1];
  for (int round = 0; round < 10; ++round) {
    if (round > 0) {
      k0 += kWeyl0;
      k1 += kWeyl1;
    }
    for (int l = 0; l < kLanes; ++l) {
      const uint64_t product0 = static_cast<uint64_t>(kMultiplier0) * c0[l];
      const uint64_t product1 = static_cast<uint64_t>(kMultiplier1) * c2[l];
      const auto next0 = static_cast<uint32_t>(product1 >> 32) ^ c1[l] ^ k0;
      const auto next2 = static_cast<uint32_t>(product0 >> 32) ^ c3[l] ^ k1;
      c1[l] = static_cast<uint32_t>(product1);
      c3[l] = static_cast<uint32_t>(product0);
      c0[l] = next0;
      c2[l] = next2;
    }
  }
  for (int64_t l = 0; l < count; ++l) {
    words[4 * l] = c0[l];
    words[4 * l + 1] = c1[l];
    words[4 * l + 2] = c2[l];
    words[4 * l + 3] = c3[l];
  }
}

// One lane group of dropout_chunk_f32; `Lanes` fixed so the loop becomes vector code. The
// select is a bit mask over in * scale (all ones or zero), which compilers vectorise where
// they keep a branch for `keep ? in * scale : 0`.
template <int Lanes>
inline void dropout_lanes(const uint32_t* __restrict words, uint32_t threshold, float scale, const float* __restrict in,
                          float* __restrict out, bool* __restrict keep) {
  for (int i = 0; i < Lanes; ++i) {
    const uint32_t all = 0u - static_cast<uint32_t>(words[i] >= threshold);
    uint32_t bits;
    const float kept = in[i] * scale;
    std::memcpy(&bits, &kept, sizeof bits);
    bits &= all;
    std::memcpy(&out[i], &bits, sizeof bits);
    keep[i] = all != 0;
  }
}

// One lane group of dropout_grad_chunk_f32, the same bit-mask select.
template <int Lanes>
inline void dropout_grad_lanes(const float* __restrict dy, const bool* __restrict keep, float scale,
                               float* __restrict dx) {
  for (int i = 0; i < Lanes; ++i) {
    const uint32_t all = 0u - static_cast<uint32_t>(keep[i]);
    uint32_t bits;
    const float kept = dy[i] * scale;
    std::memcpy(&bits, &kept, sizeof bits);
    bits &= all;
    std::memcpy(&dx[i], &bits, sizeof bits);
  }
}

}  // namespace

__attribute__((target_clones("avx512f", "avx2", "default"))) void dropout_grad_chunk_f32(const float* dy,
                                                                                         const bool* keep, float scale,
                                                                                         float* dx, int64_t count) {
  int64_t i = 0;
  for (; i + kLanes <= count; i += kLanes) dropout_grad_lanes<kLanes>(dy + i, keep + i, scale, dx + i);
  for (; i < count; ++i) dropout_grad_lanes<1>(dy + i, keep + i, scale, dx + i);
}

__attribute__((target_clones("avx512f", "avx2", "default"))) void dropout_chunk_f32(const uint32_t* words,
                                                                                    uint32_t threshold, float scale,
                                                                                    const float* in, float* out,
                                                                                    bool* keep, int64_t count) {
  int64_t i = 0;
  for (; i + kLanes <= count; i += kLanes)
    dropout_lanes<kLanes>(words + i, threshold, scale, in + i, out + i, keep + i);
  for (; i < count; ++i) dropout_lanes<1>(words + i, threshold, scale, in + i, out + i, keep + i);
}

void philox_words(const PhiloxKey& key, uint64_t first, int64_t blocks, uint32_t* words) {
  for (int64_t j = 0; j < blocks; j += kLanes)
    philox_lanes(key, first + static_cast<uint64_t>(j), std::min<int64_t>(kLanes, blocks - j), words + 4 * j);
}

}  // namespace onnx_train
