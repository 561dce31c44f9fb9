// gemm_nt_bias (the dense forward product x·Wᵀ + b on a cached oneDNN matmul) against a plain
// loop: exact on small-integer inputs (every partial sum is an integer below 2^24, so any order of
// accumulation gives the same float), on odd and tile-straddling shapes, with and without bias;
// and bitwise repeatable when the cached primitive is reused. PackedNtBias (W packed once for many
// calls) the same way, plus: it packs once across calls and M values, and invalidate() picks up new
// weights.
#include "kernels/cpu/gemm.h"

#include <gtest/gtest.h>

#include <cmath>
#include <cstring>
#include <random>
#include <vector>

namespace ae::cpu {
namespace {

TEST(GemmNtBias, ExactOnSmallIntegers) {
  const int64_t shapes[][3] = {{1, 1, 1}, {256, 256, 784}, {256, 784, 256}, {37, 31, 65}, {17, 129, 3}, {2, 33, 16}};
  std::mt19937 rng(2024);
  std::uniform_int_distribution<int> small(-4, 4);
  for (auto [M, N, K] : shapes)
    for (bool bias : {true, false}) {
      std::vector<float> x(M * K), w(N * K), b(N), y(M * N, NAN);
      for (auto& v : x) v = float(small(rng));
      for (auto& v : w) v = float(small(rng));
      for (auto& v : b) v = float(small(rng));
      gemm_nt_bias<float>(M, N, K, x.data(), w.data(), bias ? b.data() : nullptr, y.data());
      int64_t nonzero = 0;
      for (int64_t i = 0; i < M; ++i)
        for (int64_t j = 0; j < N; ++j) {
          double want = bias ? b[j] : 0.0;
          for (int64_t k = 0; k < K; ++k) want += double(x[i * K + k]) * double(w[j * K + k]);
          nonzero += want != 0;
          ASSERT_EQ(y[i * N + j], float(want)) << "M=" << M << " N=" << N << " K=" << K << " bias=" << bias
                                               << " at (" << i << "," << j << ")";
        }
      if (M * N > 4) EXPECT_GT(nonzero, 0);
    }
}

TEST(GemmNtBias, RepeatableAndDoubleAgrees) {
  const int64_t M = 67, N = 129, K = 65;
  std::mt19937 rng(7);
  std::uniform_real_distribution<double> u(-1, 1);
  std::vector<double> xd(M * K), wd(N * K), bd(N), yd(M * N);
  for (auto& v : xd) v = u(rng);
  for (auto& v : wd) v = u(rng);
  for (auto& v : bd) v = u(rng);
  gemm_nt_bias<double>(M, N, K, xd.data(), wd.data(), bd.data(), yd.data());
  std::vector<float> x(xd.begin(), xd.end()), w(wd.begin(), wd.end()), b(bd.begin(), bd.end());
  std::vector<float> y1(M * N, NAN), y2(M * N, NAN);
  gemm_nt_bias<float>(M, N, K, x.data(), w.data(), b.data(), y1.data());
  gemm_nt_bias<float>(M, N, K, x.data(), w.data(), b.data(), y2.data());
  EXPECT_EQ(std::memcmp(y1.data(), y2.data(), y1.size() * sizeof(float)), 0);
  for (int64_t i = 0; i < M * N; ++i) ASSERT_NEAR(y1[i], yd[i], 1e-5 * std::sqrt(double(K))) << i;
}

// y = x·Wᵀ + b in double, the reference of the exact checks.
std::vector<double> nt_bias_reference(int64_t M, int64_t N, int64_t K, const std::vector<float>& x,
                                      const std::vector<float>& w, const float* b) {
  std::vector<double> y(size_t(M * N));
  for (int64_t i = 0; i < M; ++i)
    for (int64_t j = 0; j < N; ++j) {
      double acc = b ? b[j] : 0.0;
      for (int64_t k = 0; k < K; ++k) acc += double(x[i * K + k]) * double(w[j * K + k]);
      y[size_t(i * N + j)] = acc;
    }
  return y;
}

TEST(PackedNtBias, ExactOnSmallIntegersAcrossBatchSizesAndRepacks) {
  const int64_t shapes[][2] = {{256, 784}, {32, 256}, {31, 65}, {129, 3}, {1, 1}};  // N, K
  std::mt19937 rng(2025);
  std::uniform_int_distribution<int> small(-4, 4);
  for (auto [N, K] : shapes)
    for (bool bias : {true, false}) {
      PackedNtBias packed(N, K);
      std::vector<float> w(N * K), b(N);
      for (auto& v : w) v = float(small(rng));
      for (auto& v : b) v = float(small(rng));
      for (int round = 0; round < 2; ++round) {
        if (round == 1) {  // new weights: stale packed values would fail the exact check
          for (auto& v : w) v = float(small(rng));
          packed.invalidate();
        }
        for (int64_t M : {1, 7, 1, 64, 7}) {
          std::vector<float> x(M * K), y(M * N, NAN);
          for (auto& v : x) v = float(small(rng));
          packed.run(M, x.data(), w.data(), bias ? b.data() : nullptr, y.data());
          auto want = nt_bias_reference(M, N, K, x, w, bias ? b.data() : nullptr);
          for (int64_t i = 0; i < M * N; ++i)
            ASSERT_EQ(y[i], float(want[i])) << "N=" << N << " K=" << K << " M=" << M << " bias=" << bias
                                            << " round " << round << " at " << i;
        }
      }
      // Once per round, plus once per M whose primitive wants another weight layout (oneDNN's
      // choice); never once per call.
      EXPECT_GE(packed.packs(), 2) << "N=" << N << " K=" << K;
      EXPECT_LE(packed.packs(), 6) << "N=" << N << " K=" << K;
    }
}

TEST(PackedNtBias, RepeatableCallAfterCall) {
  const int64_t M = 1, N = 256, K = 784;
  std::mt19937 rng(8);
  std::uniform_real_distribution<float> u(-1, 1);
  std::vector<float> x(M * K), w(N * K), b(N), first(M * N, NAN), y(M * N, NAN);
  for (auto& v : x) v = u(rng);
  for (auto& v : w) v = u(rng);
  for (auto& v : b) v = u(rng);
  PackedNtBias packed(N, K);
  packed.run(M, x.data(), w.data(), b.data(), first.data());
  for (int i = 0; i < 20; ++i) {
    packed.run(M, x.data(), w.data(), b.data(), y.data());
    ASSERT_EQ(std::memcmp(y.data(), first.data(), y.size() * sizeof(float)), 0) << "call " << i;
  }
  EXPECT_EQ(packed.packs(), 1);
  PackedNtBias fresh(N, K);  // a second packing of the same W gives the same bits
  fresh.run(M, x.data(), w.data(), b.data(), y.data());
  EXPECT_EQ(std::memcmp(y.data(), first.data(), y.size() * sizeof(float)), 0);
}

}  // namespace
}  // namespace ae::cpu
