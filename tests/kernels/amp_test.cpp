// fp16 dynamic loss scaling on the host: kernels/common/amp.h's update rule step by step against
// torch.amp.GradScaler's documented behaviour (growth exactly at the 2000th clean step, backoff on an
// overflow that resets the count and counts a skip, repeated backoffs down to the smallest
// subnormal, no growth to inf), the state's layout, and the cpu reference of amp_unscale.
#include "kernels/cpu/amp.h"

#include <gtest/gtest.h>

#include <cmath>
#include <vector>

namespace ae::cpu {
namespace {

AmpState updated(AmpState s, int32_t found_inf) {
  s.found_inf = found_inf;
  amp_update_rule(s);
  return s;
}

TEST(AmpRule, StartsAtGradScalersDefaults) {
  const AmpState s = amp_initial_state();
  EXPECT_EQ(s.scale, 65536.0f);
  EXPECT_EQ(s.growth, 0);
  EXPECT_EQ(s.found_inf, 0);
  EXPECT_EQ(s.skipped, 0);
  EXPECT_EQ(AMP_GROWTH_INTERVAL, 2000);
  EXPECT_EQ(AMP_GROWTH_FACTOR, 2.0f);
  EXPECT_EQ(AMP_BACKOFF_FACTOR, 0.5f);
}

TEST(AmpRule, TwoThousandCleanStepsDoubleTheScaleAtTheLast) {
  AmpState s = amp_initial_state();
  for (int k = 1; k < AMP_GROWTH_INTERVAL; ++k) {
    s = updated(s, 0);
    ASSERT_EQ(s.scale, 65536.0f) << "grew early, at clean step " << k;
    ASSERT_EQ(s.growth, k);
  }
  s = updated(s, 0);
  EXPECT_EQ(s.scale, 131072.0f);
  EXPECT_EQ(s.growth, 0);
  EXPECT_EQ(s.skipped, 0);
  // And again 2000 steps later, not sooner.
  for (int k = 1; k < AMP_GROWTH_INTERVAL; ++k) s = updated(s, 0);
  EXPECT_EQ(s.scale, 131072.0f);
  s = updated(s, 0);
  EXPECT_EQ(s.scale, 262144.0f);
}

TEST(AmpRule, OverflowHalvesResetsGrowthAndCountsASkip) {
  AmpState s = amp_initial_state();
  for (int k = 0; k < 1500; ++k) s = updated(s, 0);
  ASSERT_EQ(s.growth, 1500);
  s = updated(s, 1);
  EXPECT_EQ(s.scale, 32768.0f);
  EXPECT_EQ(s.growth, 0);
  EXPECT_EQ(s.skipped, 1);
  EXPECT_EQ(s.found_inf, 0) << "the update consumes found_inf";
  // The count restarted: the 1999th clean step after it does not grow the scale, the 2000th does.
  for (int k = 1; k < AMP_GROWTH_INTERVAL; ++k) s = updated(s, 0);
  EXPECT_EQ(s.scale, 32768.0f);
  s = updated(s, 0);
  EXPECT_EQ(s.scale, 65536.0f);
  EXPECT_EQ(s.skipped, 1);
}

TEST(AmpRule, RepeatedOverflowsKeepHalvingExactly) {
  AmpState s = amp_initial_state();
  // 2^16 down to 2^-149, fp32's smallest subnormal: every halving exact; one more gives 0.
  for (int k = 1; k <= 165; ++k) {
    s = updated(s, 1);
    ASSERT_EQ(s.scale, std::ldexp(1.0f, 16 - k)) << "after " << k << " overflows";
    ASSERT_EQ(s.growth, 0);
    ASSERT_EQ(s.skipped, k);
  }
  s = updated(s, 1);
  EXPECT_EQ(s.scale, 0.0f);
}

TEST(AmpRule, GrowthStopsShortOfInfinity) {
  AmpState s{0x1p127f, AMP_GROWTH_INTERVAL - 1, 0, 0};
  s = updated(s, 0);
  EXPECT_EQ(s.scale, 0x1p127f) << "2^128 is inf in fp32: torch keeps the scale";
  EXPECT_EQ(s.growth, 0) << "the count restarts either way";
  s = AmpState{0x1p126f, AMP_GROWTH_INTERVAL - 1, 0, 0};
  EXPECT_EQ(updated(s, 0).scale, 0x1p127f);
}

TEST(AmpUnscale, CleanGradientsAreExactQuotients) {
  std::vector<float> g = {65536.0f, -3.0f * 65536.0f, 0.0f, -0.0f, 1e-30f, 123.456f, 1e38f};
  const std::vector<float> in = g;
  AmpState s = amp_initial_state();
  amp_unscale(s, g.data(), int64_t(g.size()));
  for (size_t i = 0; i < g.size(); ++i) EXPECT_EQ(double(g[i]), double(in[i]) / 65536.0) << "[" << i << "]";
  EXPECT_TRUE(std::signbit(g[3]));
  EXPECT_EQ(s.found_inf, 0);
  EXPECT_EQ(s.scale, 65536.0f);
}

TEST(AmpUnscale, NonFiniteSetsFoundInfAndTheRestIsStillUnscaled) {
  for (float bad : {INFINITY, -INFINITY, NAN})
    for (size_t at : {size_t(0), size_t(2), size_t(4)}) {
      std::vector<float> g = {2.0f, 4.0f, 8.0f, 16.0f, 32.0f};
      g[at] = bad;
      AmpState s{2.0f, 9, 0, 0};
      amp_unscale(s, g.data(), int64_t(g.size()));
      EXPECT_EQ(s.found_inf, 1) << bad << " at " << at;
      for (size_t i = 0; i < g.size(); ++i)
        if (i == at)
          EXPECT_FALSE(std::isfinite(g[i]));
        else
          EXPECT_EQ(g[i], float(1u << i)) << bad << " at " << at << ": element " << i;
      EXPECT_EQ(s.growth, 9);
    }
}

TEST(AmpUnscale, AQuotientThatOverflowsIsFoundAndFoundInfIsNeverCleared) {
  std::vector<float> g = {1.0f, 3e38f};
  AmpState s{0.25f, 0, 0, 0};  // backed off below 1: inv = 4
  amp_unscale(s, g.data(), 2);
  EXPECT_EQ(g[0], 4.0f);
  EXPECT_TRUE(std::isinf(g[1]));
  EXPECT_EQ(s.found_inf, 1);
  std::vector<float> clean = {1.0f};
  amp_unscale(s, clean.data(), 1);  // a later group's clean gradients
  EXPECT_EQ(s.found_inf, 1) << "found_inf collects over every unscale until the update";
}

}  // namespace
}  // namespace ae::cpu
