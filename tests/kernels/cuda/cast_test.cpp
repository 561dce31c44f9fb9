// ae::cuda::cast on cuda-sim against kernels/cpu/lowp_round.h, all nine (from, to) pairs: every
// bf16 and fp16 pattern widened exactly and cross-rounded; fp32 → bf16/f16 over ~2.5 million
// patterns (every sign/exponent/high mantissa with the low halves around the bf16 and fp16 ties,
// each fp16 midpoint and its neighbours, the fp16 overflow edge, a stride through all 2^32 patterns
// and random ones) bit for bit, NaN compared as a class (CUDA returns its canonical NaN, lowp_round
// keeps the payload); same-type casts copy the bits, NaN payloads included. Odd lengths leave the
// elements after the end untouched; bad arguments are refused.
#include "kernels/cuda/cast.cuh"

#include <gtest/gtest.h>

#include <bit>
#include <cmath>
#include <cstring>
#include <random>
#include <sstream>

#include "kernels/common/error.h"
#include "kernels/cpu/lowp_round.h"
#include "tests/kernels/cuda/harness.h"

namespace ae::cudatest {
namespace {

// Host images hold each element's bits in a uint32_t whatever its dtype (16-bit types in the low half).
using Bits = std::vector<uint32_t>;

float value_of(DType d, uint32_t b) {
  return d == DType::f32    ? std::bit_cast<float>(b)
         : d == DType::bf16 ? cpu::bf16_value(uint16_t(b))
                            : cpu::fp16_value(uint16_t(b));
}
uint32_t bits_of(DType d, float v) {
  return d == DType::f32 ? std::bit_cast<uint32_t>(v) : d == DType::bf16 ? cpu::bf16_bits(v) : cpu::fp16_bits(v);
}
bool is_nan(DType d, uint32_t b) {
  return std::isnan(value_of(d, b));
}

// The reference: widen exactly, round once with lowp_round.h; from == to keeps the bits.
uint32_t reference(DType from, DType to, uint32_t b) {
  return from == to ? b : bits_of(to, value_of(from, b));
}

// Bits packed into the dtype's storage and back.
std::vector<unsigned char> pack(DType d, const Bits& v) {
  const size_t w = size_t(dtype_bytes(d));
  std::vector<unsigned char> out(v.size() * w);
  for (size_t i = 0; i < v.size(); ++i) std::memcpy(&out[i * w], &v[i], w);  // little endian: the low half
  return out;
}
Bits unpack(DType d, const std::vector<unsigned char>& bytes) {
  const size_t w = size_t(dtype_bytes(d));
  Bits v(bytes.size() / w, 0);
  for (size_t i = 0; i < v.size(); ++i) std::memcpy(&v[i], &bytes[i * w], w);
  return v;
}

// Every 16-bit pattern: the whole of bf16 and of fp16.
Bits all_16_bit_patterns() {
  Bits v(0x10000);
  for (uint32_t b = 0; b < 0x10000; ++b) v[b] = b;
  return v;
}

// fp32 values around every decision the two roundings make.
Bits f32_probes() {
  Bits v;
  // Every sign, exponent and top 7 mantissa bits (so every bf16 value and all subnormals' high
  // parts) with low halves: exact; bf16 ties (0x8000) and their neighbours; fp16 ties of a normal
  // half (bit 12), even (0x1000) and odd (0x3000), and their neighbours; all ones.
  const uint32_t lows[] = {0x0000, 0x0001, 0x0fff, 0x1000, 0x1001, 0x2fff,
                           0x3000, 0x3001, 0x7fff, 0x8000, 0x8001, 0xffff};
  for (uint32_t hi = 0; hi < 0x10000; ++hi)
    for (uint32_t lo : lows) v.push_back(hi << 16 | lo);
  // The exact midpoint between each fp16 value and the next larger magnitude (fp16 subnormals
  // included: their ties sit at other bits), and the fp32 values either side of it.
  for (uint32_t h = 0; h < 0x7c00; ++h) {
    const double next = h == 0x7bff ? 65536.0 : double(cpu::fp16_value(uint16_t(h + 1)));
    const float mid = float((double(cpu::fp16_value(uint16_t(h))) + next) / 2);  // exact: 12 bits
    for (float m : {mid, std::nextafter(mid, 0.0f), std::nextafter(mid, INFINITY)})
      for (float s : {m, -m}) v.push_back(std::bit_cast<uint32_t>(s));
  }
  // The fp16 overflow edge: the largest half, just under the tie to inf, the tie, past it.
  for (float f : {65504.0f, 65519.99f, std::nextafter(65520.0f, 0.0f), 65520.0f, std::nextafter(65520.0f, INFINITY),
                  65536.0f, 1e30f, INFINITY, 0.0f, NAN})
    for (float s : {f, -f}) v.push_back(std::bit_cast<uint32_t>(s));
  // A stride through all 2^32 patterns (a prime step, so the low bits vary) and random patterns.
  for (uint64_t u = 0; u <= 0xffffffffull; u += 4099) v.push_back(uint32_t(u));
  std::mt19937 rng(13);
  for (int i = 0; i < 500000; ++i) v.push_back(uint32_t(rng()));
  return v;
}

const Bits& inputs_of(DType from) {
  static const Bits f32 = f32_probes(), b16 = all_16_bit_patterns();
  return from == DType::f32 ? f32 : b16;
}

// Runs the cast on a device copy of x (n = x.size()) into a NaN-prefilled output with `tail` more
// elements of 0x5a5a... after the end, which must survive; returns the n converted elements.
Bits run_cast(DType from, DType to, const Bits& x, const std::string& what, size_t tail = 0) {
  const size_t n = x.size(), w = size_t(dtype_bytes(to));
  DeviceBuffer<unsigned char> dx(pack(from, x)), dy((n + tail) * w);
  name_for_memcheck(dx, "x");
  name_for_memcheck(dy, "y");
  if (tail) {
    std::vector<unsigned char> t(tail * w, 0x5a);
    AE_CUDA_CHECK(cudaMemcpy(dy.get() + n * w, t.data(), t.size(), cudaMemcpyHostToDevice));
  }
  ae::cuda::cast(dx.get(), from, dy.get(), to, int64_t(n), nullptr);
  AE_CUDA_CHECK(cudaDeviceSynchronize());
  expect_guards(what, dx, dy);
  std::vector<unsigned char> y = dy.download();
  for (size_t i = n * w; i < y.size(); ++i)
    if (y[i] != 0x5a) {
      ADD_FAILURE() << what << ": byte " << i - n * w << " after the end overwritten";
      break;
    }
  y.resize(n * w);
  return unpack(to, y);
}

// got against reference() element by element: bits, or both NaN for a conversion (from ≠ to).
::testing::AssertionResult matches_reference(DType from, DType to, const Bits& x, const Bits& got,
                                             const std::string& what) {
  size_t bad = 0, nans = 0;
  std::ostringstream first;
  FailureDump dump(what);
  std::vector<float> bad_x, bad_ref, bad_got;
  for (size_t i = 0; i < x.size(); ++i) {
    const uint32_t want = reference(from, to, x[i]);
    const bool nan = from != to && is_nan(to, want);
    nans += nan;
    if (nan ? is_nan(to, got[i]) : got[i] == want) continue;
    if (bad++ == 0)
      first << std::hex << "first at [" << std::dec << i << std::hex << "]: input 0x" << x[i] << " got 0x" << got[i]
            << " want 0x" << want;
    if (bad_x.size() < 1000)
      bad_x.push_back(value_of(from, x[i])), bad_ref.push_back(value_of(to, want)),
          bad_got.push_back(value_of(to, got[i]));
  }
  dump.add("x (failing elements)", bad_x), dump.add("reference", bad_ref), dump.add("got", bad_got);
  if (bad == 0) {
    std::printf("[ compare  ] %s: %zu elements (%zu NaN) bit-equal to lowp_round\n", what.c_str(), x.size(), nans);
    return ::testing::AssertionSuccess();
  }
  return ::testing::AssertionFailure() << what << ": " << bad << " of " << x.size() << " differ; " << first.str()
                                       << replay_note();
}

struct CastCase {
  DType from, to;
  std::string params() const {
    std::ostringstream os;
    os << "cast(from=" << dtype_name(from) << ",to=" << dtype_name(to) << ")";
    return os.str();
  }
};

class Cast : public DeviceTestWithParam<CastCase> {};

TEST_P(Cast, MatchesLowpRoundBitForBit) {
  const CastCase& c = GetParam();
  const Bits& x = inputs_of(c.from);
  const Bits got = run_cast(c.from, c.to, x, c.params());
  EXPECT_TRUE(matches_reference(c.from, c.to, x, got, c.params()));
  // Not vacuous: the outputs are not the NaN prefill, and a narrowing met ties both ways.
  size_t finite = 0;
  for (uint32_t b : got) finite += std::isfinite(value_of(c.to, b));
  EXPECT_GT(finite, x.size() / 2) << c.params();
}

std::vector<CastCase> cast_cases() {
  std::vector<CastCase> v;
  for (DType from : {DType::f32, DType::bf16, DType::f16})
    for (DType to : {DType::f32, DType::bf16, DType::f16}) v.push_back({from, to});
  return v;
}

INSTANTIATE_TEST_SUITE_P(Pairs, Cast, ::testing::ValuesIn(cast_cases()),
                         [](const auto& info) { return test_name(info.param.params()); });

class CastEdge : public DeviceTest {};

// Lengths that end mid-block and mid-lap (1000003 > 4096·256 / 2: every thread loops), with guard
// elements after the end that must stay as they were.
TEST_F(CastEdge, OddLengthsStopAtTheEnd) {
  const Bits& probes = inputs_of(DType::f32);
  for (auto [from, to] : {std::pair{DType::f32, DType::bf16},
                          {DType::f32, DType::f16},
                          {DType::bf16, DType::f32},
                          {DType::f16, DType::f32},
                          {DType::f16, DType::f16}})
    for (size_t n : {size_t(1), size_t(31), size_t(1000003)}) {
      Bits x(n);
      // From the middle of the probes (normal values, so the first element is not zero).
      for (size_t i = 0; i < n; ++i)
        x[i] = from == DType::f32 ? probes[(0x3f80u * 12 + i) % probes.size()] : uint32_t(0x3c00u + i) & 0xffffu;
      std::ostringstream what;
      what << "cast(from=" << dtype_name(from) << ",to=" << dtype_name(to) << ",n=" << n << ")";
      ASSERT_NE(value_of(from, x[0]), 0.0f);
      const Bits got = run_cast(from, to, x, what.str(), 37);
      EXPECT_TRUE(matches_reference(from, to, x, got, what.str()));
    }
}

TEST_F(CastEdge, SamePointerSameTypeIsANoOp) {
  const Bits x = {0x3f80, 0xffc1, 0x0001};
  DeviceBuffer<unsigned char> d(pack(DType::bf16, x));
  ae::cuda::cast(d.get(), DType::bf16, d.get(), DType::bf16, 3, nullptr);
  EXPECT_EQ(unpack(DType::bf16, d.download()), x);
}

TEST_F(CastEdge, RefusesBadArguments) {
  DeviceBuffer<float> a(64), b(64);
  auto* p = reinterpret_cast<unsigned char*>(a.get());
  EXPECT_THROW(ae::cuda::cast(a.get(), DType::f32, b.get(), DType::bf16, -1, nullptr), ae::Error);
  EXPECT_THROW(ae::cuda::cast(a.get(), static_cast<DType>(7), b.get(), DType::bf16, 4, nullptr), ae::Error);
  EXPECT_THROW(ae::cuda::cast(nullptr, DType::f32, b.get(), DType::bf16, 4, nullptr), ae::Error);
  // In place across types, and overlapping ranges of one type.
  EXPECT_THROW(ae::cuda::cast(a.get(), DType::f32, a.get(), DType::bf16, 8, nullptr), ae::Error);
  EXPECT_THROW(ae::cuda::cast(p, DType::f32, p + 8, DType::f32, 8, nullptr), ae::Error);
  ae::cuda::cast(nullptr, DType::f32, nullptr, DType::f16, 0, nullptr);  // nothing to convert
  ae::cuda::cast(p, DType::f32, p + 32, DType::f32, 8, nullptr);         // adjacent, not overlapping
}

}  // namespace
}  // namespace ae::cudatest
