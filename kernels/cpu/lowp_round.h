// Rounding of fp32 values to the low-precision types of mixed precision, on the host and bit for
// bit as a GPU rounds them, so a cpu reference can see exactly the operands a tensor-core kernel
// multiplies:
//   bf16, fp16: to nearest, ties to even (__float2bfloat16_rn, __float2half_rn: how a kernel stores
//               a computed value in its storage type), overflow to ±inf, fp16 subnormals kept;
//   tf32:       to nearest, ties away from zero (cvt.rna.tf32.f32, i.e. wmma::__float_to_tf32, the
//               conversion CUDA documents for tf32 fragments; the ties-to-even cvt.rn form is sm_90+).
// NaN stays NaN (quiet) and ±inf stays ±inf in all three. Header-only, no CUDA headers.
#pragma once

#include <bit>
#include <cmath>
#include <cstdint>

namespace ae::cpu {

// The tensor-core operand types; tf32 is fp32 storage with a 10-bit mantissa in the multiplier.
enum class Lowp : uint8_t { bf16, fp16, tf32 };
inline constexpr int LOWP_COUNT = 3;

inline const char* lowp_name(Lowp t) {
  switch (t) {
    case Lowp::bf16: return "bf16";
    case Lowp::fp16: return "fp16";
    case Lowp::tf32: return "tf32";
  }
  return "?";
}

// One unit in the last place at 1.0: the relative spacing of the type's values (2^-mantissa bits).
constexpr double lowp_epsilon(Lowp t) {
  return t == Lowp::bf16 ? 0x1p-7 : 0x1p-10;  // bf16: 7 stored mantissa bits; fp16, tf32: 10
}

// bf16 bits of f, rounded to nearest even.
inline uint16_t bf16_bits(float f) {
  const uint32_t u = std::bit_cast<uint32_t>(f);
  if ((u & 0x7fffffffu) > 0x7f800000u) return static_cast<uint16_t>((u >> 16) | 0x0040u);  // quiet NaN
  return static_cast<uint16_t>((u + 0x7fffu + ((u >> 16) & 1u)) >> 16);  // a carry may reach the exponent: inf
}
inline float bf16_value(uint16_t b) { return std::bit_cast<float>(uint32_t(b) << 16); }

// fp16 bits of f, rounded to nearest even; |f| ≥ 65520 (halfway past the largest half) gives inf.
inline uint16_t fp16_bits(float f) {
  const uint32_t u = std::bit_cast<uint32_t>(f);
  const uint32_t sign = (u >> 16) & 0x8000u, a = u & 0x7fffffffu;
  if (a > 0x7f800000u) return static_cast<uint16_t>(sign | 0x7e00u);  // NaN
  if (a >= 0x477ff000u) return static_cast<uint16_t>(sign | 0x7c00u);  // inf, or rounds to it
  if (a >= 0x38800000u) {  // a normal half (≥ 2^-14): rebias the exponent (127 → 15), round 13 bits off
    const uint32_t r = a - 0x38000000u;
    return static_cast<uint16_t>(sign | ((r + 0xfffu + ((r >> 13) & 1u)) >> 13));
  }
  // Subnormal or zero: the half's bits are |f|·2^24 rounded to an integer (1024 is the smallest
  // normal's encoding). The scaling is exact and nearbyint rounds ties to even in the default mode.
  const float m = std::nearbyint(std::bit_cast<float>(a) * 0x1p24f);
  return static_cast<uint16_t>(sign | static_cast<uint32_t>(m));
}
inline float fp16_value(uint16_t h) {
  const uint32_t sign = uint32_t(h & 0x8000u) << 16, e = (h >> 10) & 0x1fu, m = h & 0x3ffu;
  if (e == 0x1f) return std::bit_cast<float>(sign | 0x7f800000u | (m << 13));  // inf, NaN
  if (e == 0) {  // subnormal: m·2^-24
    const float v = static_cast<float>(m) * 0x1p-24f;
    return sign ? -v : v;
  }
  return std::bit_cast<float>(sign | ((e + 112u) << 23) | (m << 13));
}

// f rounded to tf32 (kept in a float): 13 low mantissa bits cleared, ties away from zero.
inline float round_tf32(float f) {
  const uint32_t u = std::bit_cast<uint32_t>(f);
  if ((u & 0x7f800000u) == 0x7f800000u) return f;  // inf, NaN
  return std::bit_cast<float>((u + 0x1000u) & 0xffffe000u);
}

// f rounded to the type t, as a float.
inline float round_to(Lowp t, float f) {
  switch (t) {
    case Lowp::bf16: return bf16_value(bf16_bits(f));
    case Lowp::fp16: return fp16_value(fp16_bits(f));
    case Lowp::tf32: return round_tf32(f);
  }
  return f;
}

}  // namespace ae::cpu
