// cast(): f32 → bf16 bit for bit against lowp_round.h's bf16_bits over every bf16 pattern with the
// low halves that matter (0, ties, just off ties, all ones), NaN payloads, infinities, subnormals
// and random bit patterns, on lengths that exercise the 32-float blocks, their tails and the
// threaded split; bf16 → f32 exact for all 65536 patterns; the branch-free bf16_elem.h rounding
// (scalar and AVX-512) against bf16_bits; copies. f32 → f16 bit for bit against fp16_bits over
// the same probes plus every fp16 midpoint and the overflow edge, f16 → f32 against fp16_value for
// every pattern, bf16 ↔ f16 as one rounding of the exact widening.
#include "kernels/cpu/cast.h"

#include <gtest/gtest.h>
#include <omp.h>

#include <bit>
#include <cmath>
#include <cstring>
#include <random>
#include <vector>

#include "kernels/common/error.h"
#include "kernels/cpu/bf16_elem.h"
#include "kernels/cpu/lowp_round.h"

namespace ae::cpu {
namespace {

// Every high half with each of these low halves: exact, just above/below the tie, the tie itself,
// all ones; for exponent 0 these are the subnormals, for 0xff the infinities and NaN payloads.
std::vector<float> probe_floats() {
  const uint32_t lows[] = {0x0000, 0x0001, 0x7fff, 0x8000, 0x8001, 0xffff};
  std::vector<float> v;
  for (uint32_t hi = 0; hi < 0x10000; ++hi)
    for (uint32_t lo : lows) v.push_back(std::bit_cast<float>(hi << 16 | lo));
  std::mt19937 rng(13);
  for (int i = 0; i < 100003; ++i) v.push_back(std::bit_cast<float>(uint32_t(rng())));
  return v;
}

void expect_rounds_as_bf16_bits(const std::vector<float>& x, const char* what) {
  std::vector<bfloat16> y(x.size(), bfloat16{0x1234});
  cast(x.data(), DType::f32, y.data(), DType::bf16, int64_t(x.size()));
  size_t bad = 0, first = 0;
  for (size_t i = 0; i < x.size(); ++i)
    if (y[i].bits != bf16_bits(x[i]) && bad++ == 0) first = i;
  EXPECT_EQ(bad, 0u) << what << ": " << bad << " of " << x.size() << " differ; first [" << first << "] input 0x"
                     << std::hex << std::bit_cast<uint32_t>(x[first]) << " got 0x" << y[first].bits << " want 0x"
                     << bf16_bits(x[first]);
}

TEST(Cast, F32ToBf16MatchesBf16BitsEverywhere) {
  const std::vector<float> x = probe_floats();  // 493 219 values: threaded, tail of 3
  expect_rounds_as_bf16_bits(x, "all probes");
  // Short lengths: only the tail loop, one block and a tail, ... (offsets shift block alignment).
  for (size_t n : {1, 31, 32, 33, 63, 64, 65, 1000}) {
    for (size_t off : {0, 5, 0x8000 * 6}) {  // 0x8000·6: the probes of exponent 0 (subnormals) sit there
      std::vector<float> part(x.begin() + off, x.begin() + off + n);
      expect_rounds_as_bf16_bits(part, "slice");
    }
  }
}

TEST(Cast, SubnormalsInsideABlockAreKept) {
  // vcvtne2ps2bf16 flushes subnormals; one in a block of normals must still round as bf16_bits.
  std::vector<float> x(96, 1.5f);
  x[7] = std::bit_cast<float>(0x00012345u);
  x[40] = -std::bit_cast<float>(0x007fffffu);  // rounds up to the smallest normal
  x[95] = std::bit_cast<float>(0x00008000u);   // a tie at the bottom: to even (0)
  expect_rounds_as_bf16_bits(x, "subnormals among normals");
}

TEST(Cast, Bf16ToF32IsExactAndRoundTrips) {
  std::vector<bfloat16> b(0x10000 + 7);
  for (size_t i = 0; i < b.size(); ++i) b[i].bits = uint16_t(i);
  std::vector<float> f(b.size(), 12345.0f);
  cast(b.data(), DType::bf16, f.data(), DType::f32, int64_t(b.size()));
  std::vector<bfloat16> back(b.size(), bfloat16{0x1234});
  cast(f.data(), DType::f32, back.data(), DType::bf16, int64_t(f.size()));
  for (size_t i = 0; i < b.size(); ++i) {
    ASSERT_EQ(std::bit_cast<uint32_t>(f[i]), uint32_t(b[i].bits) << 16) << "pattern " << i;
    // Every value returns to itself; a NaN returns quiet (bf16_bits sets the quiet bit).
    const bool nan = (b[i].bits & 0x7fff) > 0x7f80;
    ASSERT_EQ(back[i].bits, nan ? uint16_t(b[i].bits | 0x40) : b[i].bits) << "pattern " << i;
  }
}

TEST(Cast, ThreadCountDoesNotChangeBits) {
  const std::vector<float> x = probe_floats();
  std::vector<bfloat16> one(x.size()), two(x.size());
  const int saved = omp_get_max_threads();
  omp_set_num_threads(1);
  cast(x.data(), DType::f32, one.data(), DType::bf16, int64_t(x.size()));
  omp_set_num_threads(2);
  cast(x.data(), DType::f32, two.data(), DType::bf16, int64_t(x.size()));
  omp_set_num_threads(saved);
  EXPECT_EQ(std::memcmp(one.data(), two.data(), x.size() * sizeof(bfloat16)), 0);
}

TEST(Cast, BranchFreeRoundingMatchesBf16Bits) {
  const std::vector<float> x = probe_floats();
  for (float f : x) ASSERT_EQ(bf16_round(f), bf16_bits(f)) << std::hex << std::bit_cast<uint32_t>(f);
#ifdef AE_BF16_HAVE_AVX512
  if (!__builtin_cpu_supports("avx512f")) GTEST_SKIP() << "no AVX-512F: the 16-lane rounding is not used here";
  std::vector<uint16_t> got(16);
  for (size_t i = 0; i + 16 <= x.size(); i += 16) {
    [&]() __attribute__((target("avx512f"))) {
      _mm256_storeu_si256(reinterpret_cast<__m256i*>(got.data()), bf16_round16(_mm512_loadu_ps(x.data() + i)));
    }();
    for (size_t l = 0; l < 16; ++l) ASSERT_EQ(got[l], bf16_bits(x[i + l])) << std::hex << std::bit_cast<uint32_t>(x[i + l]);
  }
#endif
}

TEST(Cast, SameTypeCopies) {
  std::vector<float> a{1.0f, -2.5f, NAN}, b(3, 0.0f);
  cast(a.data(), DType::f32, b.data(), DType::f32, 3);
  EXPECT_EQ(std::memcmp(a.data(), b.data(), sizeof(float) * 3), 0);
  std::vector<bfloat16> c{{0x3f80}, {0xffc1}}, d(2, bfloat16{0});
  cast(c.data(), DType::bf16, d.data(), DType::bf16, 2);
  EXPECT_EQ(d[0].bits, 0x3f80);
  EXPECT_EQ(d[1].bits, 0xffc1);
  cast(c.data(), DType::bf16, c.data(), DType::bf16, 2);  // the same pointer: nothing to do
  EXPECT_EQ(c[1].bits, 0xffc1);
  std::vector<uint16_t> h{0x7d01, 0x8001}, k(2, 0);  // a signalling NaN's payload is kept by a copy
  cast(h.data(), DType::f16, k.data(), DType::f16, 2);
  EXPECT_EQ(k, h);
  EXPECT_THROW(cast(a.data(), DType::f32, d.data(), DType::bf16, -1), ae::Error);
  EXPECT_THROW(cast(a.data(), static_cast<DType>(7), d.data(), DType::bf16, 2), ae::Error);
  cast(nullptr, DType::f32, nullptr, DType::bf16, 0);  // nothing to convert
}

// The probes, plus the exact midpoint between each fp16 value and the next larger magnitude (the
// ties of fp16's subnormals sit at other bits than a normal half's) with its fp32 neighbours, and
// the overflow edge: the largest half, just under the tie to inf, the tie, past it.
std::vector<float> fp16_probes() {
  std::vector<float> v = probe_floats();
  for (uint32_t lo : {0x0fffu, 0x1000u, 0x1001u, 0x3000u})  // fp16 ties of a normal half, even and odd
    for (uint32_t hi = 0; hi < 0x10000; ++hi) v.push_back(std::bit_cast<float>(hi << 16 | lo));
  for (uint32_t h = 0; h < 0x7c00; ++h) {
    const double next = h == 0x7bff ? 65536.0 : double(fp16_value(uint16_t(h + 1)));
    const float mid = float((double(fp16_value(uint16_t(h))) + next) / 2);  // exact: 12 bits
    for (float m : {mid, std::nextafter(mid, 0.0f), std::nextafter(mid, INFINITY)}) {
      v.push_back(m);
      v.push_back(-m);
    }
  }
  for (float f : {65504.0f, 65519.99f, std::nextafter(65520.0f, 0.0f), 65520.0f, std::nextafter(65520.0f, INFINITY),
                  65536.0f, 1e30f, INFINITY}) {
    v.push_back(f);
    v.push_back(-f);
  }
  return v;
}

TEST(Cast, F32ToF16MatchesFp16BitsEverywhere) {
  const std::vector<float> x = fp16_probes();  // ~1.1 million: threaded
  for (size_t n : {x.size(), size_t(1), size_t(31), size_t(65), size_t(1000)}) {
    std::vector<uint16_t> y(n, 0x1234);
    cast(x.data(), DType::f32, y.data(), DType::f16, int64_t(n));
    size_t bad = 0, first = 0, ties = 0;
    for (size_t i = 0; i < n; ++i) {
      if (y[i] != fp16_bits(x[i]) && bad++ == 0) first = i;
      ties += (std::bit_cast<uint32_t>(x[i]) & 0x1fffu) == 0x1000u;
    }
    EXPECT_EQ(bad, 0u) << "n=" << n << ": " << bad << " differ; first [" << first << "] input 0x" << std::hex
                       << std::bit_cast<uint32_t>(x[first]) << " got 0x" << y[first] << " want 0x"
                       << fp16_bits(x[first]);
    if (n == x.size()) EXPECT_GT(ties, 100000u);  // the check met ties
  }
  // The edge by value, not only against fp16_bits.
  const float edge[] = {65504.0f, 65519.99f, 65520.0f, -65520.0f, 0x1p-25f, 0x1.8p-24f, -0x1p-24f, NAN};
  std::vector<uint16_t> y(8);
  cast(edge, DType::f32, y.data(), DType::f16, 8);
  EXPECT_EQ(y[0], 0x7bff);
  EXPECT_EQ(y[1], 0x7bff);
  EXPECT_EQ(y[2], 0x7c00);
  EXPECT_EQ(y[3], 0xfc00);
  EXPECT_EQ(y[4], 0x0000);  // a tie at the bottom: to even (0)
  EXPECT_EQ(y[5], 0x0002);  // 1.5 units: to even (2)
  EXPECT_EQ(y[6], 0x8001);
  EXPECT_EQ(y[7] & 0x7fff, 0x7e00);  // a quiet NaN, as fp16_bits
}

TEST(Cast, F16ToF32IsExactAndRoundTrips) {
  std::vector<uint16_t> h(0x10000 + 7);
  for (size_t i = 0; i < h.size(); ++i) h[i] = uint16_t(i);
  std::vector<float> f(h.size(), 12345.0f);
  cast(h.data(), DType::f16, f.data(), DType::f32, int64_t(h.size()));
  std::vector<uint16_t> back(h.size(), 0x1234);
  cast(f.data(), DType::f32, back.data(), DType::f16, int64_t(f.size()));
  for (size_t i = 0; i < h.size(); ++i) {
    ASSERT_EQ(std::bit_cast<uint32_t>(f[i]), std::bit_cast<uint32_t>(fp16_value(h[i]))) << "pattern " << i;
    const bool nan = (h[i] & 0x7fff) > 0x7c00;
    ASSERT_EQ(back[i], nan ? uint16_t((h[i] & 0x8000) | 0x7e00) : h[i]) << "pattern " << i;
  }
  EXPECT_EQ(f[1], 0x1p-24f);  // the smallest subnormal, by value
  EXPECT_EQ(f[0x3c00], 1.0f);
}

TEST(Cast, Bf16AndF16ConvertThroughF32) {
  std::vector<uint16_t> all(0x10000);
  for (size_t i = 0; i < all.size(); ++i) all[i] = uint16_t(i);
  std::vector<uint16_t> to_f16(all.size(), 0x1234), to_bf16(all.size(), 0x1234);
  cast(all.data(), DType::bf16, to_f16.data(), DType::f16, int64_t(all.size()));
  cast(all.data(), DType::f16, to_bf16.data(), DType::bf16, int64_t(all.size()));
  size_t changed = 0;
  for (size_t i = 0; i < all.size(); ++i) {
    ASSERT_EQ(to_f16[i], fp16_bits(bf16_value(all[i]))) << "bf16 pattern " << i;
    ASSERT_EQ(to_bf16[i], bf16_bits(fp16_value(all[i]))) << "f16 pattern " << i;
    changed += to_f16[i] != all[i];
  }
  EXPECT_GT(changed, 0x8000u);
}

TEST(Cast, F16ThreadCountDoesNotChangeBits) {
  const std::vector<float> x = fp16_probes();
  std::vector<uint16_t> one(x.size()), two(x.size());
  const int saved = omp_get_max_threads();
  omp_set_num_threads(1);
  cast(x.data(), DType::f32, one.data(), DType::f16, int64_t(x.size()));
  omp_set_num_threads(2);
  cast(x.data(), DType::f32, two.data(), DType::f16, int64_t(x.size()));
  omp_set_num_threads(saved);
  EXPECT_EQ(one, two);
}

}  // namespace
}  // namespace ae::cpu
