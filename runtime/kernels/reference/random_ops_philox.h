// The random-number generator of the random ops: Philox4x32-10, a counter-based generator
// (Salmon, Moraes, Dror, Shaw: "Parallel random numbers: as easy as 1, 2, 3", SC 2011).
//
// A counter-based generator is a keyed bijection: block(key, counter) -> 128 random bits.
// There is no sequential state, so the value drawn for element i of a tensor depends only on
// (key, i + the stream position), not on the order elements are computed in: a kernel may
// later fill a tensor in parallel and get the same numbers.
//
// PhiloxStream numbers blocks 0, 1, 2, ... under one key; each kernel run reserves the
// blocks it needs with take(), so successive runs draw fresh numbers and a new stream with
// the same seed replays the same sequence.
#pragma once

#include <array>
#include <cstdint>
#include <cstring>
#include <string>

namespace onnx_train {

using PhiloxCounter = std::array<uint32_t, 4>;
using PhiloxKey = std::array<uint32_t, 2>;

// One Philox4x32-10 block: ten rounds of two 32x32->64-bit multiplies, with the key
// bumped by the Weyl constants between rounds. Matches Random123's known-answer vectors.
inline PhiloxCounter philox4x32_10(PhiloxCounter counter, PhiloxKey key) {
  constexpr uint32_t kMultiplier0 = 0xD2511F53u, kMultiplier1 = 0xCD9E8D57u;
  constexpr uint32_t kWeyl0 = 0x9E3779B9u, kWeyl1 = 0xBB67AE85u;
  for (int round = 0; round < 10; ++round) {
    if (round > 0) {
      key[0] += kWeyl0;
      key[1] += kWeyl1;
    }
    const uint64_t product0 = static_cast<uint64_t>(kMultiplier0) * counter[0];
    const uint64_t product1 = static_cast<uint64_t>(kMultiplier1) * counter[2];
    const auto hi0 = static_cast<uint32_t>(product0 >> 32), lo0 = static_cast<uint32_t>(product0);
    const auto hi1 = static_cast<uint32_t>(product1 >> 32), lo1 = static_cast<uint32_t>(product1);
    counter = {hi1 ^ counter[1] ^ key[0], lo1, hi0 ^ counter[3] ^ key[1], lo0};
  }
  return counter;
}

// SplitMix64's finalizer: spreads a 64-bit seed over all bits of the key.
inline uint64_t mix_seed(uint64_t x) {
  x += 0x9E3779B97F4A7C15ull;
  x = (x ^ (x >> 30)) * 0xBF58476D1CE4E5B9ull;
  x = (x ^ (x >> 27)) * 0x94D049BB133111EBull;
  return x ^ (x >> 31);
}

// The seed for an ONNX `seed` attribute (a float): its bit pattern, so 1.0 and 1.5 differ.
inline uint64_t seed_from_attribute(float seed) {
  uint32_t bits = 0;
  std::memcpy(&bits, &seed, sizeof bits);
  return bits;
}

// The seed of a node without a `seed` attribute: a hash (FNV-1a) of its first output's name,
// which is unique in a graph. Fixed for the node, so runs are reproducible, and different
// for two unseeded nodes of one graph, so they do not draw the same numbers.
inline uint64_t seed_from_name(const std::string& name) {
  uint64_t hash = 0xCBF29CE484222325ull;
  for (unsigned char c : name) hash = (hash ^ c) * 0x100000001B3ull;
  return hash;
}

class PhiloxStream {
 public:
  explicit PhiloxStream(uint64_t seed) {
    const uint64_t k = mix_seed(seed);
    key_ = {static_cast<uint32_t>(k), static_cast<uint32_t>(k >> 32)};
  }

  // The 128 bits of block `index` of this stream.
  PhiloxCounter block(uint64_t index) const {
    return philox4x32_10({static_cast<uint32_t>(index), static_cast<uint32_t>(index >> 32), 0u, 0u}, key_);
  }

  // Reserves `count` blocks for one run and returns the index of the first.
  uint64_t take(uint64_t count) {
    const uint64_t first = next_block_;
    next_block_ += count;
    return first;
  }

  // The index of the next block take() hands out, and setting it (a kernel's saved state).
  uint64_t position() const { return next_block_; }
  void seek(uint64_t block) { next_block_ = block; }
  const PhiloxKey& key() const { return key_; }

 private:
  PhiloxKey key_{};
  uint64_t next_block_ = 0;
};

// A uniform draw in [0, 1) on a grid of 2^-bits (bits <= 53) from 64 random bits. Using
// only as many bits as the output type's significand keeps low + (high - low) * u from
// rounding up to 1 in that type.
inline double unit_uniform(uint32_t high_word, uint32_t low_word, int bits = 53) {
  const uint64_t word = (static_cast<uint64_t>(high_word) << 32) | low_word;
  return static_cast<double>(word >> (64 - bits)) * (1.0 / static_cast<double>(uint64_t{1} << bits));
}

}  // namespace onnx_train
