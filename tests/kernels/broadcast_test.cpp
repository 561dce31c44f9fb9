// The cpu broadcast primitive y = alpha·x spread over an [M, N] output: forward against a naive
// loop for every layout (accumulate on and off), and d/dx of L = Σ w ⊙ broadcast(x) against fp64
// central differences, the analytic gradient being reduce_sum over the same axis (its adjoint).
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

TEST(Broadcast, BadArgumentsAreErrors) {
  std::vector<float> x(4), y(4);
  EXPECT_THROW(broadcast<float>(Broadcast::row, 1.0f, x.data(), y.data(), -1, 2, false), Error);
  EXPECT_THROW(broadcast<float>(Broadcast::row, 1.0f, nullptr, y.data(), 2, 2, false), Error);
  EXPECT_THROW(broadcast<float>(static_cast<Broadcast>(7), 1.0f, x.data(), y.data(), 2, 2, false), Error);
}

}  // namespace
}  // namespace ae::cpu
