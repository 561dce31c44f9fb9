// cast(): f32 → bf16 and f32 → f16 (nearest even, bit for bit lowp_round.h's bf16_bits and
// fp16_bits), bf16 → f32 and f16 → f32 (exact, fp16_value's bits), bf16 ↔ f16 through fp32 (one
// rounding: the widening is exact). f32 → bf16 has two loops, picked once from cpuid:
//  - AVX512_BF16: vcvtne2ps2bf16 rounds 32 floats per instruction exactly as bf16_bits does
//    (nearest even, NaN → its high half with the quiet bit set) except for subnormal inputs, which
//    it flushes to ±0 (DAZ/FTZ implied, whatever MXCSR says); a 32-float block holding one is
//    redone with the integer rounding, so subnormals survive as bf16_bits keeps them.
//  - elsewhere the branch-free integer rounding of bf16_elem.h, vectorized by the compiler
//    (AVX-512, AVX2 and baseline clones, kernels/cpu/simd.h).
// fp16 has one loop each way: branch-free integer arithmetic that the compiler vectorizes (the
// same clones). F16C's vcvtps2ph/vcvtph2ps would round alike but keep NaN payloads that
// fp16_bits/fp16_value do not (and quiet a signalling NaN on widening), so they are not used.
// Large casts split into contiguous slices between OpenMP threads; elementwise, so the result
// does not depend on the split.
#include "kernels/cpu/cast.h"

#include <algorithm>
#include <bit>
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

// c ? a : b as a bit mask: GCC turns the fp16 functions' ternaries into branches, which stop the
// loops from vectorizing.
inline uint32_t select(bool c, uint32_t a, uint32_t b) {
  return b ^ ((a ^ b) & (0u - uint32_t(c)));
}

// fp16_bits(f) in integer arithmetic without a branch (each case computed, one selected), so the
// loop vectorizes. A normal half rebiases the exponent and rounds 13 bits off (a carry may reach
// inf, so 65520 ≤ |f| < 2^16 needs no case of its own). Below 2^-14 the half is |f|·2^24 rounded
// to an integer: the 24-bit significand shifted right by 126 − exponent (≥ 14), to nearest even;
// a shift capped at 31 still leaves 0, as every shift ≥ 25 does (fp32 subnormals included).
inline uint16_t fp16_round(float f) {
  const uint32_t u = std::bit_cast<uint32_t>(f);
  const uint32_t sign = (u >> 16) & 0x8000u, a = u & 0x7fffffffu;
  const uint32_t r = a - 0x38000000u;
  const uint32_t normal = (r + 0xfffu + ((r >> 13) & 1u)) >> 13;
  const uint32_t shift = std::min(126u - std::min(a >> 23, 112u), 31u);
  const uint32_t sig = (a & 0x7fffffu) | 0x800000u;
  const uint32_t small = (sig + (1u << (shift - 1)) - 1u + ((sig >> shift) & 1u)) >> shift;
  uint32_t h = select(a < 0x38800000u, small, normal);
  h = select(a >= 0x47800000u, 0x7c00u, h);  // ≥ 2^16: inf
  h = select(a > 0x7f800000u, 0x7e00u, h);   // NaN, quiet, as fp16_bits
  return static_cast<uint16_t>(sign | h);
}

// fp16_value(h) without a branch: a normal half rebiases its exponent (112 more); exponent 31
// (inf, NaN) becomes 255, payload kept; a subnormal m·2^-24 is the exact float(m) with 24 taken off
// its exponent (m ≥ 1, so the result is a normal float; m = 0 is ±0).
inline float fp16_widen(uint16_t h) {
  const uint32_t m = h & 0x3ffu, em = uint32_t(h & 0x7fffu) << 13, e = em & 0x0f800000u;
  const uint32_t sub =
      select(m == 0, 0u, std::bit_cast<uint32_t>(static_cast<float>(static_cast<int32_t>(m))) - (24u << 23));
  uint32_t v = select(e == 0, sub, em + 0x38000000u);
  v = select(e == 0x0f800000u, em | 0x7f800000u, v);
  return std::bit_cast<float>(v | uint32_t(h & 0x8000u) << 16);
}

AE_CPU_SIMD_CLONES void to_f16(const float* x, uint16_t* y, int64_t n) {
  for (int64_t i = 0; i < n; ++i) y[i] = fp16_round(x[i]);
}

AE_CPU_SIMD_CLONES void to_f32(const uint16_t* x, float* y, int64_t n) {
  for (int64_t i = 0; i < n; ++i) y[i] = fp16_widen(x[i]);
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

// n fp32 values rounded into y, a bf16 or f16 buffer.
void narrow(const float* x, DType to, void* y, int64_t n) {
  if (to == DType::bf16) return to_bf16(x, static_cast<bfloat16*>(y), n);
  to_f16(x, static_cast<uint16_t*>(y), n);
}

// n bf16 or f16 values widened into y.
void widen(const void* x, DType from, float* y, int64_t n) {
  if (from == DType::bf16) return to_f32(static_cast<const bfloat16*>(x), y, n);
  to_f32(static_cast<const uint16_t*>(x), y, n);
}

constexpr int64_t CHUNK = 64;

// Slices of whole CHUNK-element blocks (a cache line of bf16 or more), so no two threads write one
// cache line of y.
template <class F>
void sliced(int64_t n, F&& f) {
  const int64_t chunks = (n + CHUNK - 1) / CHUNK;
  for_slices(chunks, n, [&](int64_t c0, int64_t c1) {
    const int64_t i0 = c0 * CHUNK, i1 = std::min(n, c1 * CHUNK);
    if (i0 < i1) f(i0, i1 - i0);
  });
}

}  // namespace

void cast(const void* x, DType from, void* y, DType to, int64_t n) {
  AE_CHECK(n >= 0, "cast: negative size ", n);
  AE_CHECK(static_cast<int>(from) < DTYPE_COUNT && static_cast<int>(to) < DTYPE_COUNT, "cast: unknown dtype ",
           static_cast<int>(from), " → ", static_cast<int>(to));
  if (n == 0) return;
  AE_CHECK(x != nullptr && y != nullptr, "cast ", dtype_name(from), " → ", dtype_name(to), ": x or y is null for ", n,
           " elements");
  if (from == to) {
    if (x != y) std::memcpy(y, x, static_cast<size_t>(n * dtype_bytes(from)));
    return;
  }
  const auto* xb = static_cast<const unsigned char*>(x);
  auto* yb = static_cast<unsigned char*>(y);
  const int64_t wx = dtype_bytes(from), wy = dtype_bytes(to);
  sliced(n, [&](int64_t i0, int64_t len) {
    const void* xs = xb + i0 * wx;
    void* ys = yb + i0 * wy;
    if (from == DType::f32) return narrow(static_cast<const float*>(xs), to, ys, len);
    if (to == DType::f32) return widen(xs, from, static_cast<float*>(ys), len);
    // bf16 ↔ f16: widened into a block on the stack, then rounded once.
    for (int64_t j = 0; j < len; j += CHUNK) {
      float block[CHUNK];
      const int64_t m = std::min(CHUNK, len - j);
      widen(static_cast<const unsigned char*>(xs) + j * wx, from, block, m);
      narrow(block, to, static_cast<unsigned char*>(ys) + j * wy, m);
    }
  });
}

}  // namespace ae::cpu
