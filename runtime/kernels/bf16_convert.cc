// float32 <-> bfloat16 array conversion (see bf16_convert.h).
#include "runtime/kernels/bf16_convert.h"

#include <immintrin.h>

#include <algorithm>
#include <cstring>

#include "runtime/core/parallel.h"

namespace onnx_train {

namespace {

// Elements per parallel chunk (a multiple of 16): large enough that a chunk's start costs
// little, small enough that two cores share a 1 MB activation.
constexpr int64_t kChunk = 1 << 14;

#if defined(__x86_64__) && (defined(__GNUC__) || defined(__clang__))
#define ONNX_TRAIN_BF16_AVX512 1

__attribute__((target("avx512f"))) void narrow_avx512(const float* src, BFloat16* dst, int64_t n) {
  const __m512i one = _mm512_set1_epi32(1);
  const __m512i half = _mm512_set1_epi32(0x7fff);
  const __m512i quiet = _mm512_set1_epi32(0x40);
  int64_t i = 0;
  for (; i + 16 <= n; i += 16) {
    const __m512 v = _mm512_loadu_ps(src + i);
    const __m512i x = _mm512_castps_si512(v);
    const __m512i lsb = _mm512_and_si512(_mm512_srli_epi32(x, 16), one);
    __m512i r = _mm512_srli_epi32(_mm512_add_epi32(x, _mm512_add_epi32(half, lsb)), 16);
    const __mmask16 nan = _mm512_cmp_ps_mask(v, v, _CMP_UNORD_Q);
    r = _mm512_mask_or_epi32(r, nan, _mm512_srli_epi32(x, 16), quiet);
    _mm256_storeu_si256(reinterpret_cast<__m256i*>(dst + i), _mm512_cvtepi32_epi16(r));
  }
  if (i < n) bf16_from_float_reference(src + i, dst + i, n - i);
}

__attribute__((target("avx512f"))) void widen_avx512(const BFloat16* src, float* dst, int64_t n) {
  int64_t i = 0;
  for (; i + 16 <= n; i += 16) {
    const __m256i h = _mm256_loadu_si256(reinterpret_cast<const __m256i*>(src + i));
    _mm512_storeu_si512(dst + i, _mm512_slli_epi32(_mm512_cvtepu16_epi32(h), 16));
  }
  if (i < n) float_from_bf16_reference(src + i, dst + i, n - i);
}

bool has_avx512f() {
  static const bool yes = __builtin_cpu_supports("avx512f");
  return yes;
}
#else
bool has_avx512f() { return false; }
#endif

// f(begin, count) over [0, n) in chunks, in parallel when n is large.
template <typename F>
void chunked(int64_t n, F&& f) {
  const int64_t chunks = (n + kChunk - 1) / kChunk;
  parallel_for(
      chunks,
      [&](int64_t c) {
        const int64_t begin = c * kChunk;
        f(begin, std::min(kChunk, n - begin));
      },
      kParallelMinCheapElements / kChunk);
}

}  // namespace

void bf16_from_float_reference(const float* src, BFloat16* dst, int64_t n) {
  for (int64_t i = 0; i < n; ++i) dst[i] = BFloat16(src[i]);
}

void float_from_bf16_reference(const BFloat16* src, float* dst, int64_t n) {
  for (int64_t i = 0; i < n; ++i) dst[i] = static_cast<float>(src[i]);
}

bool bf16_convert_vectorised() { return has_avx512f(); }

void bf16_from_float(const float* src, BFloat16* dst, int64_t n) {
#ifdef ONNX_TRAIN_BF16_AVX512
  if (has_avx512f()) {
    chunked(n, [&](int64_t begin, int64_t count) { narrow_avx512(src + begin, dst + begin, count); });
    return;
  }
#endif
  chunked(n, [&](int64_t begin, int64_t count) { bf16_from_float_reference(src + begin, dst + begin, count); });
}

void float_from_bf16(const BFloat16* src, float* dst, int64_t n) {
#ifdef ONNX_TRAIN_BF16_AVX512
  if (has_avx512f()) {
    chunked(n, [&](int64_t begin, int64_t count) { widen_avx512(src + begin, dst + begin, count); });
    return;
  }
#endif
  chunked(n, [&](int64_t begin, int64_t count) { float_from_bf16_reference(src + begin, dst + begin, count); });
}

}  // namespace onnx_train
