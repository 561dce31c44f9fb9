// cast(): f32 → bf16 (nearest even, bit for bit lowp_round.h's bf16_bits) and bf16 → f32 (a
// 16-bit shift, exact). f32 → bf16 has two loops, picked once from cpuid:
//  - AVX512_BF16: vcvtne2ps2bf16 rounds 32 floats per instruction exactly as bf16_bits does
//    (nearest even, NaN → its high half with the quiet bit set) except for subnormal inputs, which
//    it flushes to ±0 (DAZ/FTZ implied, whatever MXCSR says); a 32-float block holding one is
//    redone with the integer rounding, so subnormals survive as bf16_bits keeps them.
//  - elsewhere the branch-free integer rounding of bf16_elem.h, vectorized by the compiler
//    (AVX-512, AVX2 and baseline clones, kernels/cpu/simd.h).
// Large casts split into contiguous slices between OpenMP threads; elementwise, so the result
// does not depend on the split.
#include "kernels/cpu/cast.h"

#include <algorithm>
#include <cstring>

#include "kernels/common/error.h"
#include "kernels/cpu/bf16_elem.h"
#include "kernels/cpu/simd.h"

namespace ae::cpu {

namespace {

AE_CPU_SIMD_CLONES void to_bf16_portable(const float* x, bfloat16* y, int64_t n) {
  for (int64_t i = 0; i < n; ++i) y[i].bits = bf16_round(x[i]);
}

AE_CPU_SIMD_CLONES void to_f32(const bfloat16* x, float* y, int64_t n) {
  for (int64_t i = 0; i < n; ++i) y[i] = load_value(x[i]);
}

#ifdef AE_BF16_HAVE_AVX512
// Lanes holding a subnormal (exponent 0, mantissa ≠ 0): |u| − 1 ≤ 0x7ffffe, unsigned.
__attribute__((target("avx512f"), always_inline)) inline __mmask16 subnormal(__m512 v) {
  const __m512i a = _mm512_and_si512(_mm512_castps_si512(v), _mm512_set1_epi32(0x7fffffff));
  return _mm512_cmple_epu32_mask(_mm512_sub_epi32(a, _mm512_set1_epi32(1)), _mm512_set1_epi32(0x007ffffe));
}

__attribute__((target("avx512f,avx512bw,avx512bf16"))) void to_bf16_avx512bf16(const float* x, bfloat16* y,
                                                                                int64_t n) {
  int64_t i = 0;
  for (; i + 32 <= n; i += 32) {
    const __m512 lo = _mm512_loadu_ps(x + i), hi = _mm512_loadu_ps(x + i + 16);
    if (subnormal(lo) | subnormal(hi)) {
      _mm256_storeu_si256(reinterpret_cast<__m256i*>(y + i), bf16_round16(lo));
      _mm256_storeu_si256(reinterpret_cast<__m256i*>(y + i + 16), bf16_round16(hi));
    } else {
      // The low 16 results come from the second operand.
      _mm512_storeu_si512(y + i, (__m512i)_mm512_cvtne2ps_pbh(hi, lo));
    }
  }
  for (; i < n; ++i) y[i].bits = bf16_round(x[i]);
}

bool cpu_has_avx512bf16() {
  static const bool has = __builtin_cpu_supports("avx512bf16") && __builtin_cpu_supports("avx512bw");
  return has;
}
#endif

void to_bf16(const float* x, bfloat16* y, int64_t n) {
#ifdef AE_BF16_HAVE_AVX512
  if (cpu_has_avx512bf16()) return to_bf16_avx512bf16(x, y, n);
#endif
  to_bf16_portable(x, y, n);
}

// Slices of whole 64-element blocks (a cache line of bf16 or more), so no two threads write one
// cache line of y.
template <class F>
void sliced(int64_t n, F&& f) {
  constexpr int64_t CHUNK = 64;
  const int64_t chunks = (n + CHUNK - 1) / CHUNK;
  for_slices(chunks, n, [&](int64_t c0, int64_t c1) {
    const int64_t i0 = c0 * CHUNK, i1 = std::min(n, c1 * CHUNK);
    if (i0 < i1) f(i0, i1 - i0);
  });
}

}  // namespace

void cast(const void* x, DType from, void* y, DType to, int64_t n) {
  AE_CHECK(n >= 0, "cast: negative size ", n);
  if (from == DType::f16 || to == DType::f16)
    AE_FAIL("cast ", dtype_name(from), " → ", dtype_name(to), ": f16 is not supported on the cpu; use bf16 or f32");
  AE_CHECK(static_cast<int>(from) < DTYPE_COUNT && static_cast<int>(to) < DTYPE_COUNT, "cast: unknown dtype ",
           static_cast<int>(from), " → ", static_cast<int>(to));
  if (n == 0) return;
  AE_CHECK(x != nullptr && y != nullptr, "cast: x or y is null for ", n, " elements");
  if (from == to) {
    if (x != y) std::memcpy(y, x, static_cast<size_t>(n * dtype_bytes(from)));
    return;
  }
  if (from == DType::f32) {
    const auto* xf = static_cast<const float*>(x);
    auto* yb = static_cast<bfloat16*>(y);
    sliced(n, [&](int64_t i0, int64_t len) { to_bf16(xf + i0, yb + i0, len); });
  } else {
    const auto* xb = static_cast<const bfloat16*>(x);
    auto* yf = static_cast<float*>(y);
    sliced(n, [&](int64_t i0, int64_t len) { to_f32(xb + i0, yf + i0, len); });
  }
}

}  // namespace ae::cpu
