// gemm_nt_bias (the dense forward product x·Wᵀ + b on a cached oneDNN matmul) against a plain
// loop: exact on small-integer inputs (every partial sum is an integer below 2^24, so any order of
// accumulation gives the same float), on odd and tile-straddling shapes, with and without bias;
// and bitwise repeatable when the cached primitive is reused.
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

}  // namespace
}  // namespace ae::cpu
