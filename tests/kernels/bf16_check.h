// Checks shared by the bf16 kernel tests: the one tolerance rule of a bf16 result against an fp32
// reference, bit comparison against bf16_bits of a reference, NaN-prefilled outputs. Every check
// compares NaN/Inf before numbers and reports its worst error and the margin left.
#pragma once

#include <gtest/gtest.h>

#include <algorithm>
#include <bit>
#include <cmath>
#include <cstdint>
#include <string>
#include <vector>

#include "kernels/common/dtype.h"
#include "kernels/cpu/lowp_round.h"

namespace ae::cpu::test {

inline constexpr double BF16_EPS = lowp_epsilon(Lowp::bf16);  // 2^-7
inline constexpr uint16_t BF16_NAN = 0x7fc0;

inline float load(bfloat16 v) { return bf16_value(v.bits); }
inline float load(float v) { return v; }

// A bf16 result against an fp32 reference computed from the same bf16 inputs, after a reduction
// of length L over terms of magnitude ≤ scale (the product of its operands' largest magnitudes):
// its own rounding and that of the operands it was computed from (≤ eps·|ref|), and the bf16-
// rounded intermediates the reduction sums (dz in dW and dx, z under act), a random walk of L
// terms of ≤ eps/2·scale each (≤ eps·√L·scale). Plus a floor far below any normal-scale check:
// vdpbf16ps treats subnormal bf16 operands as zero (DAZ), so terms under 2^-126 may vanish.
inline double bf16_tol(double ref, int64_t L, double scale) {
  return BF16_EPS * (std::abs(ref) + std::sqrt(double(L)) * scale) + double(L) * 0x1p-120;
}


template <typename V>
double max_abs(const std::vector<V>& v) {
  double m = 0;
  for (const V& x : v) m = std::max(m, std::abs(double(load(x))));
  return m;
}

inline float widen(bfloat16 v) { return bf16_value(v.bits); }
inline bfloat16 narrow(float v) { return bfloat16{bf16_bits(v)}; }
inline std::vector<float> widen(const std::vector<bfloat16>& v) {
  std::vector<float> out(v.size());
  for (size_t i = 0; i < v.size(); ++i) out[i] = widen(v[i]);
  return out;
}
inline std::vector<bfloat16> nan_bf16(size_t n) { return std::vector<bfloat16>(n, bfloat16{BF16_NAN}); }

// got (bf16 or fp32 values) within bf16_tol(ref, L) of ref, NaN where ref is NaN; ref not all zero.
inline bool nonzero(const std::vector<float>& v) {
  for (float x : v)
    if (x != 0) return true;
  return false;
}

// nonzero_ref: demand a reference that is not all zero (a case whose reference may legitimately
// cancel to zero, such as a column sum of small integers, passes false and asserts its inputs).
template <typename G>
void expect_close(const std::vector<G>& got, const std::vector<float>& ref, int64_t L, double scale,
                  const std::string& what, bool nonzero_ref = true) {
  ASSERT_EQ(got.size(), ref.size()) << what;
  double worst = 0, margin = 1e300, norm = 0;
  size_t bad = 0, first_bad = 0;
  for (size_t i = 0; i < got.size(); ++i) {
    const double g = double(load(got[i])), r = ref[i];
    if (std::isnan(r) || std::isnan(g)) {
      if (std::isnan(r) != std::isnan(g) && bad++ == 0) first_bad = i;
      continue;
    }
    const double err = std::abs(g - r), tol = bf16_tol(r, L, scale);
    worst = std::max(worst, err);
    margin = std::min(margin, tol - err);
    norm += r * r;
    if (!(err <= tol) && bad++ == 0) first_bad = i;
  }
  if (nonzero_ref) EXPECT_GT(norm, 0) << what << ": vacuous check, the reference is zero";
  EXPECT_EQ(bad, 0u) << what << ": " << bad << " of " << got.size() << " out of tolerance, first [" << first_bad
                     << "] got " << load(got[first_bad]) << " want " << ref[first_bad] << " (tol "
                     << bf16_tol(ref[first_bad], L, scale) << "); worst |err| " << worst << ", least margin " << margin;
}

// Bit equality: bf16 got against bf16_bits(ref), or fp32 got against ref's bits.
inline bool same_bits(bfloat16 got, float ref) { return got.bits == bf16_bits(ref); }
inline bool same_bits(float got, float ref) { return std::bit_cast<uint32_t>(got) == std::bit_cast<uint32_t>(ref); }
template <typename G>
void expect_bits(const std::vector<G>& got, const std::vector<float>& ref, const std::string& what,
                 bool nonzero_ref = true) {
  ASSERT_EQ(got.size(), ref.size()) << what;
  size_t bad = 0, first_bad = 0;
  double norm = 0;
  for (size_t i = 0; i < got.size(); ++i) {
    if (!std::isnan(ref[i])) norm += double(ref[i]) * ref[i];
    if (!same_bits(got[i], ref[i]) && bad++ == 0) first_bad = i;
  }
  if (nonzero_ref) EXPECT_GT(norm, 0) << what << ": vacuous check, the reference is zero";
  EXPECT_EQ(bad, 0u) << what << ": " << bad << " of " << got.size() << " differ in their bits, first [" << first_bad
                     << "] got " << load(got[first_bad]) << " want " << ref[first_bad];
}

}  // namespace ae::cpu::test
