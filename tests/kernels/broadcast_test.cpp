// The cpu broadcast primitive y = alpha·x spread over an [M, N] output: forward against a naive
// loop for every layout (accumulate on and off), and d/dx of L = Σ w ⊙ broadcast(x) against fp64
// central differences, the analytic gradient being reduce_sum over the same axis (its adjoint); the
// per-sample layouts (sample, tile, channel) with G rows per sample, G in {1, 3, 7, 32}, the same
// two ways.
#include "kernels/cpu/broadcast.h"

#include <gtest/gtest.h>

#include <string>
#include <vector>

#include "kernels/common/error.h"
#include "kernels/cpu/reduce.h"
#include "tests/kernels/grad_check.h"

namespace ae::cpu {
namespace {

using gradcheck::all_near;

const Broadcast ALL[] = {Broadcast::none, Broadcast::row, Broadcast::col, Broadcast::scalar};

TEST(Broadcast, ForwardMatchesNaiveLoop) {
  for (Broadcast bb : ALL)
    for (auto [M, N] : {std::pair<int64_t, int64_t>{1, 1}, {7, 5}, {37, 65}})
      for (bool acc : {false, true}) {
        SCOPED_TRACE(std::string(broadcast_name(bb)) + " M=" + std::to_string(M) + " N=" + std::to_string(N) +
                     (acc ? " accumulate" : ""));
        auto x = gradcheck::random_vec(size_t(broadcast_size(bb, M, N)), 5 + M, -2, 2);
        auto y0 = gradcheck::random_vec(size_t(M * N), 9 + N, -1, 1);
        std::vector<double> want(y0), y(y0);
        for (int64_t i = 0; i < M; ++i)
          for (int64_t j = 0; j < N; ++j) {
            const double src = bb == Broadcast::none ? x[size_t(i * N + j)]
                               : bb == Broadcast::row ? x[size_t(j)]
                               : bb == Broadcast::col ? x[size_t(i)] : x[0];
            want[size_t(i * N + j)] = (acc ? y0[size_t(i * N + j)] : 0.0) + 0.75 * src;
          }
        broadcast<double>(bb, 0.75, x.data(), y.data(), M, N, acc);
        EXPECT_TRUE(all_near("y", y, want, 1e-15));
      }
}

TEST(Broadcast, GradientIsTheReductionOverTheSameAxis) {
  const int64_t M = 6, N = 5;
  for (Broadcast bb : ALL) {
    SCOPED_TRACE(broadcast_name(bb));
    auto x = gradcheck::random_vec(size_t(broadcast_size(bb, M, N)), 21, -1, 1);
    const auto w = gradcheck::random_vec(size_t(M * N), 22, -1, 1);
    auto loss = [&] {
      std::vector<double> y(size_t(M * N));
      broadcast<double>(bb, -1.25, x.data(), y.data(), M, N, false);
      return gradcheck::dot(w, y);
    };
    const auto numeric = gradcheck::numeric_grad(x, loss);
    std::vector<double> analytic(x.size());
    if (bb == Broadcast::none)
      for (size_t i = 0; i < w.size(); ++i) analytic[i] = -1.25 * w[i];
    else
      reduce_sum<double>(adjoint_axis(bb), -1.25, w.data(), analytic.data(), M, N, false);
    EXPECT_TRUE(all_near("dL/dx", analytic, numeric, 1e-7));
  }
}

const Broadcast GROUPED[] = {Broadcast::sample, Broadcast::tile, Broadcast::channel};

TEST(Broadcast, PerSampleForwardMatchesNaiveLoop) {
  for (Broadcast bb : GROUPED)
    for (int64_t G : {1, 3, 7, 32})
      for (auto [samples, N] : {std::pair<int64_t, int64_t>{1, 1}, {1, 13}, {2, 5}, {9, 37}})
        for (bool acc : {false, true}) {
          const int64_t M = samples * G;
          SCOPED_TRACE(std::string(broadcast_name(bb)) + " G=" + std::to_string(G) + " M=" + std::to_string(M) +
                       " N=" + std::to_string(N) + (acc ? " accumulate" : ""));
          auto x = gradcheck::random_vec(size_t(broadcast_size(bb, M, N, G)), 31 + M + N, -2, 2);
          auto y0 = gradcheck::random_vec(size_t(M * N), 37 + G, -1, 1);
          ASSERT_EQ(x.size(), size_t(bb == Broadcast::sample ? samples * N : bb == Broadcast::tile ? G * N : G));
          std::vector<double> want(y0), y(acc ? y0 : std::vector<double>(size_t(M * N), NAN));
          for (int64_t i = 0; i < M; ++i)
            for (int64_t j = 0; j < N; ++j) {
              // x's element for y[i, j]: row i/G (sample) or i%G (tile), or channel i%G's one value.
              const int64_t src = bb == Broadcast::sample ? (i / G) * N + j
                                  : bb == Broadcast::tile ? (i % G) * N + j
                                                          : i % G;
              want[size_t(i * N + j)] = (acc ? y0[size_t(i * N + j)] : 0.0) + 0.75 * x[size_t(src)];
            }
          broadcast<double>(bb, 0.75, x.data(), y.data(), M, N, acc, G);
          EXPECT_TRUE(all_near("y", y, want, 1e-15));
        }
}

TEST(Broadcast, PerSampleGradientIsTheReductionOverTheSameAxis) {
  const int64_t samples = 3, N = 5;
  for (Broadcast bb : GROUPED)
    for (int64_t G : {1, 4, 7}) {
      const int64_t M = samples * G;
      SCOPED_TRACE(std::string(broadcast_name(bb)) + " G=" + std::to_string(G));
      auto x = gradcheck::random_vec(size_t(broadcast_size(bb, M, N, G)), 41 + G, -1, 1);
      const auto w = gradcheck::random_vec(size_t(M * N), 42 + G, -1, 1);
      auto loss = [&] {
        std::vector<double> y(size_t(M * N));
        broadcast<double>(bb, -1.25, x.data(), y.data(), M, N, false, G);
        return gradcheck::dot(w, y);
      };
      std::vector<double> analytic(x.size(), NAN);
      reduce_sum<double>(adjoint_axis(bb), -1.25, w.data(), analytic.data(), M, N, false, G);
      EXPECT_TRUE(all_near("dL/dx", analytic, gradcheck::numeric_grad(x, loss), 1e-7));
    }
}

TEST(Broadcast, BadArgumentsAreErrors) {
  std::vector<float> x(4), y(4);
  EXPECT_THROW(broadcast<float>(Broadcast::row, 1.0f, x.data(), y.data(), -1, 2, false), Error);
  EXPECT_THROW(broadcast<float>(Broadcast::row, 1.0f, nullptr, y.data(), 2, 2, false), Error);
  EXPECT_THROW(broadcast<float>(static_cast<Broadcast>(BROADCAST_COUNT), 1.0f, x.data(), y.data(), 2, 2, false), Error);
  // Rows that are not whole samples, and G < 1.
  EXPECT_THROW(broadcast<float>(Broadcast::sample, 1.0f, x.data(), y.data(), 3, 1, false, 2), Error);
  EXPECT_THROW(broadcast<float>(Broadcast::tile, 1.0f, x.data(), y.data(), 2, 2, false, 0), Error);
  EXPECT_THROW(broadcast<float>(Broadcast::channel, 1.0f, x.data(), y.data(), 3, 1, false, 2), Error);
}

}  // namespace
}  // namespace ae::cpu
