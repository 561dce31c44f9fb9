// kernels/cpu/lowp_round.h against CUDA's own conversions (cuda_fp16.h / cuda_bf16.h, whose host
// implementations round as the device does): every 2^k-th fp32 bit pattern plus the ties, subnormal
// and overflow boundaries, bit for bit; and the round trip of every fp16 and bf16 value. The
// tensor-core tests' references (lowp_reference.h) round with lowp_round.h, so this is what ties them
// to the hardware's rounding. tf32 (cvt.rna) is checked against wmma::__float_to_tf32 by
// runtime/sim's own test (tests/runtime/sim/sim_warp_test.cpp) and here at its ties.
#include "kernels/cpu/lowp_round.h"

#include <cuda_bf16.h>
#include <cuda_fp16.h>
#include <gtest/gtest.h>

#include <bit>
#include <cmath>
#include <cstring>
#include <vector>

namespace ae::cudatest {
namespace {

uint16_t cuda_fp16_bits(float f) {
  const __half h = __float2half_rn(f);
  uint16_t b;
  std::memcpy(&b, &h, sizeof b);
  return b;
}
uint16_t cuda_bf16_bits(float f) {
  const __nv_bfloat16 h = __float2bfloat16_rn(f);
  uint16_t b;
  std::memcpy(&b, &h, sizeof b);
  return b;
}

// fp32 values around every rounding decision: a stride through all bit patterns, then the exact
// halfway points (and their neighbours) between consecutive fp16 and bf16 values near 1, at the
// subnormal/normal edge of fp16 and at its overflow threshold.
std::vector<float> probes() {
  std::vector<float> v;
  for (uint64_t u = 0; u <= 0xffffffffull; u += 0x10001ull) v.push_back(std::bit_cast<float>(uint32_t(u)));
  for (float base : {1.0f, 3.0f, 1000.0f, 6.1035156e-05f /* 2^-14 */, 65504.0f, 3.0e-7f})
    for (int i = -40; i <= 40; ++i)
      for (int s : {1, -1}) {
        const uint32_t b = std::bit_cast<uint32_t>(base);
        v.push_back(s * std::bit_cast<float>(b + uint32_t(i) * 0x1000u));  // fp16/tf32 halfway grid
        v.push_back(s * std::bit_cast<float>(b + uint32_t(i) * 0x8000u));  // bf16 halfway grid
        v.push_back(s * std::bit_cast<float>(b + uint32_t(i) * 0x8000u + 1u));
      }
  for (float f : {65519.0f, 65520.0f, 65536.0f, 1e30f, INFINITY, -INFINITY, 0.0f, -0.0f}) v.push_back(f);
  return v;
}

TEST(LowpRound, Fp16MatchesCudasConversion) {
  size_t n = 0;
  for (float f : probes()) {
    if (std::isnan(f)) {
      EXPECT_TRUE(std::isnan(cpu::fp16_value(cpu::fp16_bits(f))));
      continue;
    }
    ASSERT_EQ(cpu::fp16_bits(f), cuda_fp16_bits(f)) << "f = " << f << " (bits " << std::hex << std::bit_cast<uint32_t>(f) << ")";
    ++n;
  }
  EXPECT_GT(n, 60000u);
}

TEST(LowpRound, Bf16MatchesCudasConversion) {
  for (float f : probes()) {
    if (std::isnan(f)) {
      EXPECT_TRUE(std::isnan(cpu::bf16_value(cpu::bf16_bits(f))));
      continue;
    }
    ASSERT_EQ(cpu::bf16_bits(f), cuda_bf16_bits(f)) << "f = " << f << " (bits " << std::hex << std::bit_cast<uint32_t>(f) << ")";
  }
}

TEST(LowpRound, EveryValueRoundTrips) {
  for (uint32_t b = 0; b <= 0xffff; ++b) {
    const uint16_t h = uint16_t(b);
    const float f16 = cpu::fp16_value(h), bf = cpu::bf16_value(h);
    __half ch;
    std::memcpy(&ch, &h, sizeof h);
    if (std::isnan(f16)) {
      EXPECT_TRUE(std::isnan(__half2float(ch)));
    } else {
      ASSERT_EQ(std::bit_cast<uint32_t>(f16), std::bit_cast<uint32_t>(__half2float(ch))) << std::hex << b;
      ASSERT_EQ(cpu::fp16_bits(f16), h) << std::hex << b;
    }
    if (!std::isnan(bf)) ASSERT_EQ(cpu::bf16_bits(bf), h) << std::hex << b;
  }
}

TEST(LowpRound, Tf32TiesAwayFromZero) {
  // 1 + 2^-11 is halfway between 1 and 1 + 2^-10 (tf32 keeps 10 mantissa bits): away from zero.
  EXPECT_EQ(cpu::round_tf32(1.0f + 0x1p-11f), 1.0f + 0x1p-10f);
  EXPECT_EQ(cpu::round_tf32(-(1.0f + 0x1p-11f)), -(1.0f + 0x1p-10f));
  EXPECT_EQ(cpu::round_tf32(1.0f + 0x1p-12f), 1.0f);
  EXPECT_EQ(cpu::round_tf32(3.0f), 3.0f);
  EXPECT_TRUE(std::isnan(cpu::round_tf32(NAN)));
  EXPECT_EQ(cpu::round_tf32(INFINITY), INFINITY);
  // bf16 and fp16 ties go to even instead.
  EXPECT_EQ(cpu::round_to(cpu::Lowp::fp16, 1.0f + 0x1p-11f), 1.0f);
  EXPECT_EQ(cpu::round_to(cpu::Lowp::bf16, 1.0f + 0x1p-8f), 1.0f);
  EXPECT_EQ(cpu::round_to(cpu::Lowp::bf16, 1.0f + 3 * 0x1p-8f), 1.0f + 0x1p-6f);
}

}  // namespace
}  // namespace ae::cudatest
