// Philox4x32-10: Random123's known-answer vectors, the (seed, step, purpose, index) counter
// layout, stream independence, and the uniform/normal helpers' distributions.
#include "kernels/common/philox.h"

#include <gtest/gtest.h>

#include <cmath>
#include <set>

namespace ae {
namespace {

void expect_block(const PhiloxBlock& b, uint32_t a0, uint32_t a1, uint32_t a2, uint32_t a3) {
  EXPECT_EQ(b.v[0], a0);
  EXPECT_EQ(b.v[1], a1);
  EXPECT_EQ(b.v[2], a2);
  EXPECT_EQ(b.v[3], a3);
}

// Random123 kat_vectors, "philox4x32 10": counter (4 words), key (2 words) -> output (4 words).
TEST(Philox, KnownAnswerVectors) {
  expect_block(philox4x32_10(PhiloxBlock{{0, 0, 0, 0}}, 0, 0), 0x6627e8d5u, 0xe169c58du, 0xbc57ac4cu, 0x9b00dbd8u);
  expect_block(philox4x32_10(PhiloxBlock{{0xffffffffu, 0xffffffffu, 0xffffffffu, 0xffffffffu}}, 0xffffffffu, 0xffffffffu),
               0x408f276du, 0x41c83b0eu, 0xa20bc7c6u, 0x6d5451fdu);
  // The digits of pi vector.
  expect_block(philox4x32_10(PhiloxBlock{{0x243f6a88u, 0x85a308d3u, 0x13198a2eu, 0x03707344u}}, 0xa4093822u, 0x299f31d0u),
               0xd16cfe09u, 0x94fdccebu, 0x5001e420u, 0x24126ea1u);
}

TEST(Philox, CounterLayout) {
  // key = seed; counter = index lo, index hi, step lo, step bits 32..55 | purpose << 24.
  const uint64_t seed = 0x0123456789abcdefull, step = 0x00abcdef12345678ull, index = 0xfedcba9876543210ull;
  PhiloxBlock want = philox4x32_10(PhiloxBlock{{0x76543210u, 0xfedcba98u, 0x12345678u, 0x04abcdefu}}, 0x89abcdefu, 0x01234567u);
  PhiloxBlock got = philox_draw(seed, step, PhiloxPurpose::corruption, index);
  expect_block(got, want.v[0], want.v[1], want.v[2], want.v[3]);
  EXPECT_EQ(philox_u64(seed, step, PhiloxPurpose::corruption, index), uint64_t(want.v[0]) | (uint64_t(want.v[1]) << 32));
}

TEST(Philox, StreamsDiffer) {
  std::set<uint64_t> seen;
  const PhiloxPurpose purposes[] = {PhiloxPurpose::init, PhiloxPurpose::shuffle, PhiloxPurpose::data,
                                    PhiloxPurpose::corruption, PhiloxPurpose::vae_noise, PhiloxPurpose::dropout};
  int n = 0;
  for (uint64_t seed : {0ull, 1ull, 1ull << 32})
    for (uint64_t step : {0ull, 1ull, 1ull << 32})
      for (auto p : purposes)
        for (uint64_t idx : {0ull, 1ull, 1ull << 32}) {
          seen.insert(philox_u64(seed, step, p, idx));
          ++n;
        }
  EXPECT_EQ(static_cast<int>(seen.size()), n);  // every (seed, step, purpose, index) its own draw
  // Pure function: the same arguments give the same bits.
  EXPECT_EQ(philox_u64(42, 7, PhiloxPurpose::vae_noise, 99), philox_u64(42, 7, PhiloxPurpose::vae_noise, 99));
}

TEST(Philox, UniformRangesAndMoments) {
  const int n = 200000;
  double s = 0, s2 = 0;
  float lo = 1, hi = 0;
  for (int i = 0; i < n; ++i) {
    float u = philox_uniform(3, 1, PhiloxPurpose::data, i);
    float up = philox_uniform_pos(3, 1, PhiloxPurpose::data, i);
    ASSERT_GE(u, 0.0f);
    ASSERT_LT(u, 1.0f);
    ASSERT_GT(up, 0.0f);
    ASSERT_LE(up, 1.0f);
    EXPECT_EQ(up - u, 1.0f / 16777216.0f);  // same bits, shifted by one step of 2^-24
    lo = std::min(lo, u), hi = std::max(hi, u);
    s += u;
    s2 += double(u) * u;
  }
  double mean = s / n, var = s2 / n - mean * mean;
  // Standard error of the mean is √(1/12/n) ≈ 6.5e-4; allow 5 of them.
  EXPECT_NEAR(mean, 0.5, 3.3e-3);
  EXPECT_NEAR(var, 1.0 / 12, 1e-3);
  EXPECT_LT(lo, 1e-4f);
  EXPECT_GT(hi, 1 - 1e-4f);
}

TEST(Philox, NormalMoments) {
  const int n = 200000;
  double s = 0, s2 = 0, s4 = 0;
  int within1 = 0;
  for (int i = 0; i < n; ++i) {
    double z = philox_normal_f64(11, 0, PhiloxPurpose::vae_noise, i);
    ASSERT_TRUE(std::isfinite(z));
    EXPECT_EQ(philox_normal(11, 0, PhiloxPurpose::vae_noise, i), static_cast<float>(z));
    s += z, s2 += z * z, s4 += z * z * z * z;
    within1 += std::abs(z) < 1;
  }
  double mean = s / n, var = s2 / n - mean * mean;
  EXPECT_NEAR(mean, 0.0, 0.012);        // 5 standard errors (1/√n ≈ 2.2e-3)
  EXPECT_NEAR(var, 1.0, 0.016);         // sd of the sample variance ≈ √(2/n) ≈ 3.2e-3
  EXPECT_NEAR(s4 / n, 3.0, 0.05);       // kurtosis of a normal
  EXPECT_NEAR(double(within1) / n, 0.682689, 0.005);
}

}  // namespace
}  // namespace ae
