// The loss kernel's output-activation option: with out_act, grad is dL/dz for pred = out_act(z),
// under both reductions (mean and sum). Checked against fp64 central differences in z, in place
// (grad over pred) against out of place, bitwise, and the refusals (gelu needs z; from_logits is
// already in z).
#include <gtest/gtest.h>

#include <cmath>
#include <cstring>
#include <random>
#include <string>
#include <vector>

#include "kernels/common/error.h"
#include "kernels/cpu/loss.h"

namespace ae::cpu {
namespace {

// Activations whose derivative is a function of y (all but gelu), on z away from the relu kinks.
const Act OUT_ACTS[] = {Act::linear, Act::relu, Act::leaky_relu, Act::sigmoid, Act::tanh,
                        Act::selu,   Act::elu,  Act::softplus};

std::vector<double> random_z(int64_t n, uint64_t seed) {
  std::mt19937_64 rng(seed);
  std::uniform_real_distribution<double> mag(0.1, 2.0);
  std::vector<double> z(n);
  for (auto& v : z) v = (rng() & 1 ? 1 : -1) * mag(rng);
  return z;
}

std::vector<double> activate(Act a, const std::vector<double>& z) {
  std::vector<double> y(z.size());
  for (size_t i = 0; i < z.size(); ++i) y[i] = act_forward(a, z[i]);
  return y;
}

TEST(LossOutAct, GradientInZMatchesCentralDifference) {
  const int64_t M = 3, N = 37;  // N > 16: whole lane chunks and a tail
  for (LossReduction r : {LossReduction::mean, LossReduction::sum})
    for (Loss loss : {Loss::mse, Loss::bce})
      for (Act a : OUT_ACTS) {
        // bce needs probabilities: only activations with outputs inside (0, 1).
        if (loss == Loss::bce && a != Act::sigmoid) continue;
        const std::string what = std::string(loss_name(loss)) + " " + act_name(a) +
                                  (r == LossReduction::sum ? " sum" : " mean");
        auto z = random_z(M * N, 11 + static_cast<int>(a));
        std::vector<double> t(M * N);
        std::mt19937_64 rng(5);
        std::uniform_real_distribution<double> u(0, 1);
        for (auto& v : t) v = u(rng);
        auto y = activate(a, z);
        std::vector<double> g(M * N, NAN);
        loss_forward_backward<double>(loss, false, y.data(), t.data(), M, N, g.data(), nullptr, nullptr, a, r);
        double worst = 0;
        for (int64_t i = 0; i < M * N; ++i) {
          const double h = 1e-6;
          auto zp = z, zm = z;
          zp[i] += h;
          zm[i] -= h;
          auto yp = activate(a, zp), ym = activate(a, zm);
          const double lp = loss_forward_backward<double>(loss, false, yp.data(), t.data(), M, N, nullptr, nullptr,
                                                          nullptr, Act::linear, r);
          const double lm = loss_forward_backward<double>(loss, false, ym.data(), t.data(), M, N, nullptr, nullptr,
                                                          nullptr, Act::linear, r);
          const double num = (lp - lm) / (2 * h);
          ASSERT_TRUE(std::isfinite(g[i])) << what << "[" << i << "]";
          worst = std::max(worst, std::abs(g[i] - num));
          ASSERT_NEAR(g[i], num, 1e-8 + 1e-6 * std::abs(num)) << what << "[" << i << "]";
        }
        EXPECT_LT(worst, 1e-7) << what;
      }
}

TEST(LossOutAct, InPlaceEqualsOutOfPlaceBitwise) {
  const int64_t M = 65, N = 50;
  auto z = random_z(M * N, 99);
  std::vector<float> y(M * N), t(M * N);
  for (int64_t i = 0; i < M * N; ++i) {
    y[i] = 1.0f / (1.0f + std::exp(-float(z[i])));
    t[i] = float(i % 7) / 7.0f;
  }
  for (LossReduction r : {LossReduction::mean, LossReduction::sum}) {
    SCOPED_TRACE(r == LossReduction::sum ? "sum" : "mean");
    std::vector<float> g(M * N, NAN), ps1(M), ps2(M);
    const double l1 = loss_forward_backward<float>(Loss::mse, false, y.data(), t.data(), M, N, g.data(), ps1.data(),
                                                   nullptr, Act::sigmoid, r);
    std::vector<float> inplace = y;
    const double l2 = loss_forward_backward<float>(Loss::mse, false, inplace.data(), t.data(), M, N, inplace.data(),
                                                   ps2.data(), nullptr, Act::sigmoid, r);
    EXPECT_EQ(std::memcmp(&l1, &l2, sizeof l1), 0);
    EXPECT_EQ(std::memcmp(g.data(), inplace.data(), g.size() * sizeof(float)), 0);
    EXPECT_EQ(std::memcmp(ps1.data(), ps2.data(), ps1.size() * sizeof(float)), 0);
    // The same as the loss gradient times y(1 − y), element for element, in the same order.
    std::vector<float> plain(M * N);
    loss_forward_backward<float>(Loss::mse, false, y.data(), t.data(), M, N, plain.data(), nullptr, nullptr,
                                 Act::linear, r);
    for (int64_t i = 0; i < M * N; ++i) ASSERT_EQ(g[i], plain[i] * (y[i] * (1.0f - y[i]))) << i;
  }
}

TEST(LossOutAct, Refusals) {
  const double y[] = {0.5}, t[] = {0};
  double g[1];
  EXPECT_THROW(loss_forward_backward<double>(Loss::mse, false, y, t, 1, 1, g, nullptr, nullptr, Act::gelu), Error);
  EXPECT_THROW(loss_forward_backward<double>(Loss::bce, true, y, t, 1, 1, g, nullptr, nullptr, Act::sigmoid), Error);
}

}  // namespace
}  // namespace ae::cpu
