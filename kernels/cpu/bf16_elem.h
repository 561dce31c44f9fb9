// Per-element bf16 loads and stores for the cpu kernels' loops (dense, loss, optimizer, cast):
// bit for bit lowp_round.h's bf16_value/bf16_bits (nearest even, NaN stays a quiet NaN,
// subnormals kept), but branch-free, so a loop over them vectorizes. load_value/store_value are
// overloaded on the storage type, so one templated loop serves float, double and bf16 storage
// with the arithmetic always in the compute type.
#pragma once

#include <bit>
#include <cstdint>

#include "kernels/common/dtype.h"

#if defined(__x86_64__) && defined(__GNUC__) && defined(__linux__)
#include <immintrin.h>
#define AE_BF16_HAVE_AVX512 1
#endif

namespace ae::cpu {

// bf16_bits(f) without a branch: a NaN keeps its high half with the quiet bit set, anything else
// rounds to nearest even (a carry may reach the exponent: inf).
inline uint16_t bf16_round(float f) {
  const uint32_t u = std::bit_cast<uint32_t>(f);
  const uint32_t rounded = (u + 0x7fffu + ((u >> 16) & 1u)) >> 16;
  const uint32_t nan = (u >> 16) | 0x0040u;
  return static_cast<uint16_t>((u & 0x7fffffffu) > 0x7f800000u ? nan : rounded);
}

inline float load_value(float v) { return v; }
inline double load_value(double v) { return v; }
inline float load_value(bfloat16 v) { return std::bit_cast<float>(uint32_t(v.bits) << 16); }

inline void store_value(float& out, float v) { out = v; }
inline void store_value(double& out, double v) { out = v; }
inline void store_value(bfloat16& out, float v) { out.bits = bf16_round(v); }

#ifdef AE_BF16_HAVE_AVX512
// 16 lanes of bf16_round (AVX-512F only: usable by any avx512f-targeted function). The maskz
// forms with every lane on are the plain instructions (the unmasked intrinsics trip a GCC 12
// -Wmaybe-uninitialized).
__attribute__((target("avx512f"), always_inline)) inline __m256i bf16_round16(__m512 v) {
  constexpr __mmask16 ALL = 0xFFFF;
  const __m512i u = _mm512_castps_si512(v);
  const __m512i high = _mm512_maskz_srli_epi32(ALL, u, 16);
  const __m512i lsb = _mm512_and_si512(high, _mm512_set1_epi32(1));
  const __m512i rounded =
      _mm512_maskz_srli_epi32(ALL, _mm512_add_epi32(u, _mm512_add_epi32(lsb, _mm512_set1_epi32(0x7fff))), 16);
  const __m512i nan = _mm512_or_si512(high, _mm512_set1_epi32(0x0040));
  const __mmask16 is_nan =
      _mm512_cmpgt_epu32_mask(_mm512_and_si512(u, _mm512_set1_epi32(0x7fffffff)), _mm512_set1_epi32(0x7f800000));
  return _mm512_maskz_cvtepi32_epi16(ALL, _mm512_mask_blend_epi32(is_nan, rounded, nan));
}

// 16 bf16 values widened to fp32 (exact).
__attribute__((target("avx512f"), always_inline)) inline __m512 bf16_load16(const bfloat16* p) {
  const __m256i h = _mm256_loadu_si256(reinterpret_cast<const __m256i*>(p));
  return _mm512_castsi512_ps(_mm512_slli_epi32(_mm512_cvtepu16_epi32(h), 16));
}
#endif

}  // namespace ae::cpu
