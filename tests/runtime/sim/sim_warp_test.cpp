// runtime/sim warp collectives and wmma: every shuffle and vote against a scalar model (full and
// partial masks, sub-warp widths, partial warps), and wmma GEMMs bit-exact against a scalar GEMM.
#include <cuda_bf16.h>
#include <cuda_fp16.h>

#include <random>

#include "tests/runtime/sim/kernels/sim_test_kernels.cuh"
#include "tests/runtime/sim/sim_test_util.h"

namespace ae::simtest {
namespace {

constexpr int k_sentinel = 0x5e5e5e5e;
constexpr int k_undefined = -1;  // the sim's value for a lane reading one outside the mask (all-ones)

// Scalar model of one shuffle: the source lane, or -1 when the lane keeps its own value.
int model_source(int op, int lane, int arg, int width) {
  const int seg = lane & ~(width - 1);
  switch (op) {
    case 0: return seg + (arg & (width - 1));
    case 1: return lane - arg >= seg ? lane - arg : -1;
    case 2: return lane + arg < seg + width ? lane + arg : -1;
    default: return ((lane ^ arg) & ~(width - 1)) == seg ? (lane ^ arg) : -1;
  }
}

struct WarpCase {
  int threads;
  unsigned mask;
  int arg;
  int width;
};

void check_warp_case(const WarpCase& c) {
  std::mt19937 rng(unsigned(c.threads * 7 + c.arg));
  std::vector<int> in(size_t(c.threads));
  for (int t = 0; t < c.threads; ++t) in[size_t(t)] = int(rng() % 200) - 50;
  DeviceBuffer<int> din(in), dout(static_cast<size_t>(7 * c.threads));
  warp_ops_int(din.get(), dout.get(), c.threads, c.mask, c.arg, c.width, k_sentinel);
  std::vector<int> out = dout.download();
  for (int t = 0; t < c.threads; ++t) {
    const int lane = t % 32, base = t - lane;
    const int lanes_here = std::min(32, c.threads - base);
    auto in_group = [&](int l) { return l < lanes_here && (c.mask >> l & 1); };
    for (int op = 0; op < 7; ++op) {
      int expect = k_sentinel;
      if (in_group(lane)) {
        if (op < 4) {
          int src = model_source(op, lane, c.arg, c.width);
          expect = src < 0 ? in[size_t(t)] : in_group(src) ? in[size_t(base + src)] : k_undefined;
        } else {
          unsigned ballot = 0, members = 0;
          for (int l = 0; l < 32; ++l)
            if (in_group(l)) {
              members |= 1u << l;
              if (in[size_t(base + l)] > 0) ballot |= 1u << l;
            }
          expect = op == 4 ? int(ballot) : op == 5 ? int(ballot != 0) : int(ballot == members);
        }
      }
      ASSERT_EQ(out[size_t(op * c.threads + t)], expect)
          << "op " << op << " thread " << t << " mask 0x" << std::hex << c.mask << std::dec << " arg " << c.arg
          << " width " << c.width;
    }
  }
}

TEST(SimWarp, ShufflesAndVotesMatchTheScalarModel) {
  const WarpCase cases[] = {
      {64, 0xffffffffu, 3, 32}, {64, 0xffffffffu, 1, 32},  {64, 0xffffffffu, 17, 32}, {32, 0xffffffffu, 5, 8},
      {32, 0xffffffffu, 2, 4},  {96, 0xffffffffu, 31, 16}, {32, 0x0000ffffu, 4, 32},  {32, 0xaaaaaaaau, 1, 32},
      {32, 0xf0f0f0f0u, 2, 8},  {48, 0x0000ffffu, 9, 32},  {40, 0xffffffffu, 3, 32},  {32, 0x80000001u, 31, 32},
  };
  for (const auto& c : cases) check_warp_case(c);
}

TEST(SimWarp, DoubleShufflesMoveEightBytes) {
  const int threads = 64;
  std::vector<double> in(threads);
  for (int t = 0; t < threads; ++t) in[size_t(t)] = 1.0 / (t + 3) + 1e12 * t;
  DeviceBuffer<double> din(in), dout(static_cast<size_t>(4 * threads));
  warp_shuffles_double(din.get(), dout.get(), threads, 0xffffffffu, 6, 32);
  std::vector<double> out = dout.download();
  for (int t = 0; t < threads; ++t)
    for (int op = 0; op < 4; ++op) {
      int lane = t % 32, src = model_source(op, lane, 6, 32);
      double expect = src < 0 ? in[size_t(t)] : in[size_t(t - lane + src)];
      ASSERT_EQ(out[size_t(op * threads + t)], expect) << "op " << op << " thread " << t;
    }
}

// ---- wmma ----
template <typename T>
std::vector<T> convert(const std::vector<float>& v) {
  std::vector<T> r(v.size());
  for (size_t i = 0; i < v.size(); ++i) r[i] = T(v[i]);
  return r;
}

std::vector<float> small_ints(size_t n, unsigned seed) {
  std::mt19937 rng(seed);
  std::vector<float> v(n);
  for (auto& x : v) x = float(int(rng() % 9) - 4);
  return v;
}

// Runs one wmma GEMM and compares with the scalar product, bit for bit.
template <typename RUN>
void check_wmma(int m, int n, int k, bool b_col, RUN run, const char* what) {
  std::vector<float> a = small_ints(size_t(m * k), 1), b = small_ints(size_t(k * n), 2);
  std::vector<float> ref(size_t(m * n), 0.0f), b_stored(b.size());
  for (int i = 0; i < m; ++i)
    for (int j = 0; j < n; ++j)
      for (int p = 0; p < k; ++p) ref[size_t(i * n + j)] += a[size_t(i * k + p)] * b[size_t(p * n + j)];
  for (int p = 0; p < k; ++p)
    for (int j = 0; j < n; ++j) b_stored[b_col ? size_t(j * k + p) : size_t(p * n + j)] = b[size_t(p * n + j)];
  DeviceBuffer<float> dc(static_cast<size_t>(m * n));
  run(a, b_stored, dc.get());
  std::vector<float> c = dc.download();
  size_t bad = 0;
  for (size_t i = 0; i < c.size(); ++i) bad += c[i] != ref[i];
  EXPECT_EQ(bad, 0u) << what << " " << m << "x" << n << "x" << k << (b_col ? " b col-major" : " b row-major");
}

TEST(SimWmma, HalfBf16AndTf32GemmsAreBitExactOnSmallIntegers) {
  for (bool b_col : {false, true}) {
    check_wmma(32, 48, 64, b_col, [&](auto& a, auto& b, float* c) {
      DeviceBuffer<__half> da(convert<__half>(a)), db(convert<__half>(b));
      wmma_gemm_half(da.get(), db.get(), c, 32, 48, 64, b_col);
    }, "half");
    check_wmma(48, 16, 32, b_col, [&](auto& a, auto& b, float* c) {
      DeviceBuffer<__nv_bfloat16> da(convert<__nv_bfloat16>(a)), db(convert<__nv_bfloat16>(b));
      wmma_gemm_bf16(da.get(), db.get(), c, 48, 16, 32, b_col);
    }, "bf16");
    check_wmma(16, 32, 40, b_col, [&](auto& a, auto& b, float* c) {
      DeviceBuffer<float> da(a), db(b);
      wmma_gemm_tf32(da.get(), db.get(), c, 16, 32, 40, b_col);
    }, "tf32");
  }
}

TEST(SimWmma, Tf32RoundsToTenMantissaBits) {
  // 1 + 2^-11 is a tie between 1 and 1 + 2^-10: rounds away from zero, as cvt.rna.tf32.f32.
  std::vector<float> in = {1.0f + 1.0f / 2048, 1.0f + 1.0f / 4096, -(1.0f + 3.0f / 2048), 3.0f};
  DeviceBuffer<float> din(in), dout(in.size());
  tf32_round(din.get(), dout.get(), int(in.size()));
  std::vector<float> out = dout.download();
  EXPECT_EQ(out[0], 1.0f + 1.0f / 1024);
  EXPECT_EQ(out[1], 1.0f);
  EXPECT_EQ(out[2], -(1.0f + 2.0f / 1024));
  EXPECT_EQ(out[3], 3.0f);
}

TEST(SimWmma, AccumulatorLoadsColumnMajorAndStoresRowMajor) {
  std::vector<float> c(256);
  for (int i = 0; i < 256; ++i) c[size_t(i)] = float(i);
  DeviceBuffer<float> dc(c), dout(static_cast<size_t>(256));
  wmma_accumulator_roundtrip(dc.get(), dout.get());
  std::vector<float> out = dout.download();
  for (int r = 0; r < 16; ++r)
    for (int col = 0; col < 16; ++col)
      ASSERT_EQ(out[size_t(r * 16 + col)], c[size_t(col * 16 + r)] + 1.0f) << r << "," << col;
}

}  // namespace
}  // namespace ae::simtest
