// The cpu loss kernel: mse, bce on probabilities and bce from logits against fp64 central
// differences and hand-computed values, per-sample errors against the mean, float against
// double, and bitwise determinism.
#include "kernels/cpu/loss.h"

#include <gtest/gtest.h>

#include <cmath>
#include <cstring>
#include <random>
#include <string>
#include <vector>

#include "kernels/common/error.h"

namespace ae::cpu {
namespace {

struct LossCase {
  Loss loss;
  bool from_logits;
  const char* name;
};
const LossCase CASES[] = {{Loss::mse, false, "mse"}, {Loss::bce, false, "bce"}, {Loss::bce, true, "bce_logits"}};

// pred in a range where every form is smooth: probabilities in (0.05, 0.95), logits in (−4, 4);
// targets in [0, 1] (soft targets are legal for both losses).
void make_inputs(const LossCase& c, int64_t n, uint64_t seed, std::vector<double>& pred, std::vector<double>& target) {
  std::mt19937_64 rng(seed);
  std::uniform_real_distribution<double> p(0.05, 0.95), z(-4, 4), t(0, 1);
  pred.resize(n);
  target.resize(n);
  for (int64_t i = 0; i < n; ++i) {
    pred[i] = c.loss == Loss::bce && !c.from_logits ? p(rng) : z(rng);
    target[i] = t(rng);
  }
}

TEST(Loss, GradientMatchesCentralDifference) {
  const int64_t M = 4, N = 7;
  for (const auto& c : CASES) {
    std::vector<double> pred, target, grad(M * N, NAN);
    make_inputs(c, M * N, 11, pred, target);
    loss_forward_backward<double>(c.loss, c.from_logits, pred.data(), target.data(), M, N, grad.data(), nullptr,
                                  nullptr);
    const double h = 1e-6;
    double worst = 0, norm = 0;
    for (int64_t i = 0; i < M * N; ++i) {
      double keep = pred[i];
      pred[i] = keep + h;
      double lp = loss_forward_backward<double>(c.loss, c.from_logits, pred.data(), target.data(), M, N, nullptr,
                                                nullptr, nullptr);
      pred[i] = keep - h;
      double lm = loss_forward_backward<double>(c.loss, c.from_logits, pred.data(), target.data(), M, N, nullptr,
                                                nullptr, nullptr);
      pred[i] = keep;
      double num = (lp - lm) / (2 * h);
      // Gradients are O(1/(M·N)); compare relative to the largest of them.
      worst = std::max(worst, std::abs(grad[i] - num));
      norm = std::max(norm, std::abs(num));
    }
    EXPECT_GT(norm, 1e-4) << c.name << ": vacuous check";
    EXPECT_LE(worst / norm, 1e-7) << c.name << ": worst relative error " << worst / norm;
  }
}

TEST(Loss, HandComputedValues) {
  // mse: ((1−0)² + 0 + (3−5)² + 0) / 4 = 1.25, gradient 2(y − t)/4.
  const double y[] = {1, 2, 3, 4}, t[] = {0, 2, 5, 4};
  double g[4], ps[2];
  EXPECT_DOUBLE_EQ(loss_forward_backward<double>(Loss::mse, false, y, t, 2, 2, g, ps, nullptr), 1.25);
  EXPECT_DOUBLE_EQ(g[0], 0.5);
  EXPECT_DOUBLE_EQ(g[1], 0.0);
  EXPECT_DOUBLE_EQ(g[2], -1.0);
  EXPECT_DOUBLE_EQ(ps[0], 0.5);  // row 0: (1 + 0)/2
  EXPECT_DOUBLE_EQ(ps[1], 2.0);  // row 1: (4 + 0)/2

  // bce: −[1·ln 0.8] and −[ln(1 − 0.3)] averaged.
  const double p[] = {0.8, 0.3}, tb[] = {1, 0};
  double expect = -(std::log(0.8) + std::log(0.7)) / 2;
  EXPECT_NEAR(loss_forward_backward<double>(Loss::bce, false, p, tb, 1, 2, g, nullptr, nullptr), expect, 1e-15);
  EXPECT_NEAR(g[0], (0.8 - 1) / (0.8 * 0.2) / 2, 1e-15);
  EXPECT_NEAR(g[1], (0.3 - 0) / (0.3 * 0.7) / 2, 1e-15);

  // bce clamps each log at −100 (PyTorch): p = 0 with t = 1 costs exactly 100, p = 1 with t = 1 nothing.
  const double pc[] = {0.0, 1.0}, tc[] = {1, 1};
  EXPECT_DOUBLE_EQ(loss_forward_backward<double>(Loss::bce, false, pc, tc, 1, 2, g, nullptr, nullptr), 50.0);
  EXPECT_TRUE(std::isfinite(g[0]));

  // bce from logits: z = 0 is p = 0.5, loss ln 2 whatever the target; gradient (0.5 − t)/n.
  const double z[] = {0.0, 0.0}, tz[] = {1, 0.25};
  double pr[2];
  EXPECT_NEAR(loss_forward_backward<double>(Loss::bce, true, z, tz, 2, 1, g, ps, pr), std::log(2.0), 1e-15);
  EXPECT_DOUBLE_EQ(g[0], (0.5 - 1) / 2);
  EXPECT_DOUBLE_EQ(g[1], (0.5 - 0.25) / 2);
  EXPECT_EQ(pr[0], 0.5);
  // Large logits stay finite where log(σ(z)) would not: z = −200, t = 1 costs 200.
  const double zb[] = {-200.0}, tb1[] = {1};
  EXPECT_NEAR(loss_forward_backward<double>(Loss::bce, true, zb, tb1, 1, 1, g, nullptr, nullptr), 200.0, 1e-12);
  EXPECT_NEAR(g[0], -1.0, 1e-15);
}

TEST(Loss, LogitsFormEqualsBceOfSigmoid) {
  const int64_t M = 3, N = 5;
  std::vector<double> z, t, p(M * N), probs(M * N, NAN), ga(M * N), gb(M * N);
  make_inputs(CASES[2], M * N, 5, z, t);
  double la = loss_forward_backward<double>(Loss::bce, true, z.data(), t.data(), M, N, ga.data(), nullptr, probs.data());
  for (int64_t i = 0; i < M * N; ++i) {
    p[i] = 1 / (1 + std::exp(-z[i]));
    EXPECT_NEAR(probs[i], p[i], 1e-15);
  }
  double lb = loss_forward_backward<double>(Loss::bce, false, p.data(), t.data(), M, N, gb.data(), nullptr, nullptr);
  EXPECT_NEAR(la, lb, 1e-13);
  // Chain rule: dL/dz = dL/dp · σ′(z).
  for (int64_t i = 0; i < M * N; ++i) EXPECT_NEAR(ga[i], gb[i] * p[i] * (1 - p[i]), 1e-14);
}

TEST(Loss, PerSampleErrorsAverageToTheMean) {
  const int64_t M = 33, N = 17;
  for (const auto& c : CASES) {
    std::vector<double> pred, target, ps(M, NAN);
    make_inputs(c, M * N, 21, pred, target);
    double mean = loss_forward_backward<double>(c.loss, c.from_logits, pred.data(), target.data(), M, N, nullptr,
                                                ps.data(), nullptr);
    double s = 0;
    for (double v : ps) s += v;
    EXPECT_NEAR(s / M, mean, 1e-14 * std::abs(mean)) << c.name;
    EXPECT_GT(mean, 0.0) << c.name;
    // float per-sample errors too
    auto pf = std::vector<float>(pred.begin(), pred.end()), tf = std::vector<float>(target.begin(), target.end());
    std::vector<float> psf(M);
    double meanf = loss_forward_backward<float>(c.loss, c.from_logits, pf.data(), tf.data(), M, N, nullptr,
                                                psf.data(), nullptr);
    double sf = 0;
    for (float v : psf) sf += v;
    EXPECT_NEAR(sf / M, meanf, 1e-6 * meanf) << c.name;
  }
}

TEST(Loss, FloatAgreesWithDouble) {
  const int64_t M = 31, N = 129;
  for (const auto& c : CASES) {
    std::vector<double> pred, target, g(M * N);
    make_inputs(c, M * N, 3, pred, target);
    double ld = loss_forward_backward<double>(c.loss, c.from_logits, pred.data(), target.data(), M, N, g.data(),
                                              nullptr, nullptr);
    std::vector<float> pf(pred.begin(), pred.end()), tf(target.begin(), target.end()), gf(M * N);
    double lf = loss_forward_backward<float>(c.loss, c.from_logits, pf.data(), tf.data(), M, N, gf.data(), nullptr,
                                             nullptr);
    EXPECT_NEAR(lf, ld, 1e-6 * ld) << c.name;
    for (int64_t i = 0; i < M * N; ++i) ASSERT_NEAR(gf[i], g[i], 1e-6 * (std::abs(g[i]) + 1.0 / (M * N))) << c.name;
  }
}

TEST(Loss, BitwiseDeterministic) {
  const int64_t M = 257, N = 63;
  for (const auto& c : CASES) {
    std::vector<double> pred, target;
    make_inputs(c, M * N, 8, pred, target);
    std::vector<float> pf(pred.begin(), pred.end()), tf(target.begin(), target.end());
    std::vector<float> g1(M * N), g2(M * N), p1(M), p2(M);
    double l1 = loss_forward_backward<float>(c.loss, c.from_logits, pf.data(), tf.data(), M, N, g1.data(), p1.data(),
                                             nullptr);
    double l2 = loss_forward_backward<float>(c.loss, c.from_logits, pf.data(), tf.data(), M, N, g2.data(), p2.data(),
                                             nullptr);
    EXPECT_EQ(std::memcmp(&l1, &l2, sizeof l1), 0) << c.name;
    EXPECT_EQ(std::memcmp(g1.data(), g2.data(), g1.size() * sizeof(float)), 0) << c.name;
    EXPECT_EQ(std::memcmp(p1.data(), p2.data(), p1.size() * sizeof(float)), 0) << c.name;
  }
}

TEST(Loss, FromLogitsOnlyForBce) {
  const double y[] = {1}, t[] = {0};
  EXPECT_THROW(loss_forward_backward<double>(Loss::mse, true, y, t, 1, 1, nullptr, nullptr, nullptr), Error);
}

TEST(Loss, Names) {
  EXPECT_STREQ(loss_name(Loss::mse), "mse");
  EXPECT_STREQ(loss_name(Loss::bce), "bce");
  EXPECT_EQ(parse_loss_name("bce"), Loss::bce);
  EXPECT_EQ(parse_loss_name("mse"), Loss::mse);
  EXPECT_FALSE(parse_loss_name("l2").has_value());
  EXPECT_EQ(loss_names_list(), "mse, bce");
}

}  // namespace
}  // namespace ae::cpu
