// The cpu loss kernel: mse, bce on probabilities and bce from logits, under both reductions (mean
// and sum), against fp64 central differences, hand-computed values and a direct double
// computation, per-sample errors against the loss, float against double, and bitwise determinism.
#include "kernels/cpu/loss.h"

#include <gtest/gtest.h>

#include <algorithm>
#include <cmath>
#include <cstring>
#include <random>
#include <string>
#include <utility>
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
const LossReduction REDUCTIONS[] = {LossReduction::mean, LossReduction::sum};

const char* reduction_name(LossReduction r) { return r == LossReduction::mean ? "mean" : "sum"; }
// The divisor of the loss and of every gradient element: M·N (mean) or M (sum).
double reduction_count(LossReduction r, int64_t M, int64_t N) {
  return r == LossReduction::mean ? double(M) * double(N) : double(M);
}

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
  // N = 37: two whole 16-lane chunks and a tail.
  for (auto [M, N] : {std::pair<int64_t, int64_t>{4, 7}, {3, 37}})
    for (LossReduction r : REDUCTIONS)
      for (const auto& c : CASES) {
        SCOPED_TRACE(std::string(c.name) + " reduction=" + reduction_name(r) + " M=" + std::to_string(M) +
                     " N=" + std::to_string(N));
        std::vector<double> pred, target, grad(M * N, NAN);
        make_inputs(c, M * N, 11, pred, target);
        loss_forward_backward<double>(c.loss, c.from_logits, pred.data(), target.data(), M, N, grad.data(), nullptr,
                                      nullptr, Act::linear, r);
        const double h = 1e-6;
        double worst = 0, norm = 0;
        for (int64_t i = 0; i < M * N; ++i) {
          double keep = pred[i];
          pred[i] = keep + h;
          double lp = loss_forward_backward<double>(c.loss, c.from_logits, pred.data(), target.data(), M, N, nullptr,
                                                    nullptr, nullptr, Act::linear, r);
          pred[i] = keep - h;
          double lm = loss_forward_backward<double>(c.loss, c.from_logits, pred.data(), target.data(), M, N, nullptr,
                                                    nullptr, nullptr, Act::linear, r);
          pred[i] = keep;
          double num = (lp - lm) / (2 * h);
          // Gradients are O(1/count); compare relative to the largest of them.
          worst = std::max(worst, std::abs(grad[i] - num));
          norm = std::max(norm, std::abs(num));
        }
        EXPECT_GT(norm, 1e-4) << "vacuous check";
        EXPECT_LE(worst / norm, 1e-7) << "worst relative error " << worst / norm;
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

// Both reductions: the loss is the mean over the rows of the per-sample errors (row means for
// mean, row sums for sum).
TEST(Loss, PerSampleErrorsAverageToTheLoss) {
  const int64_t M = 33, N = 17;
  for (LossReduction r : REDUCTIONS)
    for (const auto& c : CASES) {
      SCOPED_TRACE(std::string(c.name) + " reduction=" + reduction_name(r));
      std::vector<double> pred, target, ps(M, NAN);
      make_inputs(c, M * N, 21, pred, target);
      double loss = loss_forward_backward<double>(c.loss, c.from_logits, pred.data(), target.data(), M, N, nullptr,
                                                  ps.data(), nullptr, Act::linear, r);
      double s = 0;
      for (double v : ps) s += v;
      EXPECT_NEAR(s / M, loss, 1e-14 * std::abs(loss));
      EXPECT_GT(loss, 0.0);
      // float per-sample errors too
      auto pf = std::vector<float>(pred.begin(), pred.end()), tf = std::vector<float>(target.begin(), target.end());
      std::vector<float> psf(M);
      double lossf = loss_forward_backward<float>(c.loss, c.from_logits, pf.data(), tf.data(), M, N, nullptr,
                                                  psf.data(), nullptr, Act::linear, r);
      double sf = 0;
      for (float v : psf) sf += v;
      EXPECT_NEAR(sf / M, lossf, 1e-6 * lossf);
    }
}

TEST(Loss, FloatAgreesWithDouble) {
  const int64_t M = 31, N = 129;
  for (LossReduction r : REDUCTIONS)
    for (const auto& c : CASES) {
      SCOPED_TRACE(std::string(c.name) + " reduction=" + reduction_name(r));
      std::vector<double> pred, target, g(M * N);
      make_inputs(c, M * N, 3, pred, target);
      double ld = loss_forward_backward<double>(c.loss, c.from_logits, pred.data(), target.data(), M, N, g.data(),
                                                nullptr, nullptr, Act::linear, r);
      std::vector<float> pf(pred.begin(), pred.end()), tf(target.begin(), target.end()), gf(M * N);
      double lf = loss_forward_backward<float>(c.loss, c.from_logits, pf.data(), tf.data(), M, N, gf.data(), nullptr,
                                               nullptr, Act::linear, r);
      EXPECT_NEAR(lf, ld, 1e-6 * ld);
      const double unit = 1.0 / reduction_count(r, M, N);  // one gradient element's scale
      for (int64_t i = 0; i < M * N; ++i) ASSERT_NEAR(gf[i], g[i], 1e-6 * (std::abs(g[i]) + unit)) << i;
    }
}

TEST(Loss, BitwiseDeterministic) {
  const int64_t M = 257, N = 63;
  for (LossReduction r : REDUCTIONS)
    for (const auto& c : CASES) {
      SCOPED_TRACE(std::string(c.name) + " reduction=" + reduction_name(r));
      std::vector<double> pred, target;
      make_inputs(c, M * N, 8, pred, target);
      std::vector<float> pf(pred.begin(), pred.end()), tf(target.begin(), target.end());
      std::vector<float> g1(M * N), g2(M * N), p1(M), p2(M);
      double l1 = loss_forward_backward<float>(c.loss, c.from_logits, pf.data(), tf.data(), M, N, g1.data(),
                                               p1.data(), nullptr, Act::linear, r);
      double l2 = loss_forward_backward<float>(c.loss, c.from_logits, pf.data(), tf.data(), M, N, g2.data(),
                                               p2.data(), nullptr, Act::linear, r);
      EXPECT_EQ(std::memcmp(&l1, &l2, sizeof l1), 0);
      EXPECT_EQ(std::memcmp(g1.data(), g2.data(), g1.size() * sizeof(float)), 0);
      EXPECT_EQ(std::memcmp(p1.data(), p2.data(), p1.size() * sizeof(float)), 0);
    }
}

// The sum reduction by hand: the row sums averaged over the rows, each gradient element over M.
TEST(Loss, SumReductionHandComputedValues) {
  const LossReduction sum = LossReduction::sum;
  // mse: rows (1 + 0) and (4 + 0), loss (1 + 4)/2 = 2.5 (the mean reduction's 1.25 × N), gradient 2(y − t)/2.
  const double y[] = {1, 2, 3, 4}, t[] = {0, 2, 5, 4};
  double g[4], ps[2];
  EXPECT_DOUBLE_EQ(loss_forward_backward<double>(Loss::mse, false, y, t, 2, 2, g, ps, nullptr, Act::linear, sum), 2.5);
  EXPECT_DOUBLE_EQ(g[0], 1.0);
  EXPECT_DOUBLE_EQ(g[1], 0.0);
  EXPECT_DOUBLE_EQ(g[2], -2.0);
  EXPECT_DOUBLE_EQ(g[3], 0.0);
  EXPECT_DOUBLE_EQ(ps[0], 1.0);
  EXPECT_DOUBLE_EQ(ps[1], 4.0);

  // bce, one row: −[ln 0.8 + ln 0.7] in nats, not halved; the gradient not halved either.
  const double p[] = {0.8, 0.3}, tb[] = {1, 0};
  EXPECT_NEAR(loss_forward_backward<double>(Loss::bce, false, p, tb, 1, 2, g, ps, nullptr, Act::linear, sum),
              -(std::log(0.8) + std::log(0.7)), 1e-15);
  EXPECT_NEAR(ps[0], -(std::log(0.8) + std::log(0.7)), 1e-15);
  EXPECT_NEAR(g[0], (0.8 - 1) / (0.8 * 0.2), 1e-14);
  EXPECT_NEAR(g[1], (0.3 - 0) / (0.3 * 0.7), 1e-14);

  // The clamp: p = 0 with t = 1 costs exactly 100 nats, p = 1 with t = 1 nothing.
  const double pc[] = {0.0, 1.0}, tc[] = {1, 1};
  EXPECT_DOUBLE_EQ(loss_forward_backward<double>(Loss::bce, false, pc, tc, 1, 2, g, nullptr, nullptr, Act::linear, sum),
                   100.0);
  EXPECT_TRUE(std::isfinite(g[0]));

  // bce from logits, two rows of two: z = 0 costs ln 2 per element, so 2 ln 2 per row and loss.
  const double z[] = {0.0, 0.0, 0.0, 0.0}, tz[] = {1, 0.25, 0, 0.5};
  double pr[4];
  EXPECT_NEAR(loss_forward_backward<double>(Loss::bce, true, z, tz, 2, 2, g, ps, pr, Act::linear, sum),
              2 * std::log(2.0), 1e-15);
  EXPECT_NEAR(ps[1], 2 * std::log(2.0), 1e-15);
  EXPECT_DOUBLE_EQ(g[0], (0.5 - 1) / 2);
  EXPECT_DOUBLE_EQ(g[3], (0.5 - 0.5) / 2);
  EXPECT_EQ(pr[2], 0.5);
}

// With one feature per row the two reductions are the same arithmetic (count M·1 = M, per-sample
// s/1 = s), so they agree bit for bit.
TEST(Loss, SumEqualsMeanBitwiseWhenNIsOne) {
  const int64_t M = 33, N = 1;
  for (const auto& c : CASES) {
    SCOPED_TRACE(c.name);
    std::vector<double> pred, target;
    make_inputs(c, M * N, 17, pred, target);
    std::vector<float> pf(pred.begin(), pred.end()), tf(target.begin(), target.end());
    std::vector<float> g1(M), g2(M), p1(M), p2(M);
    const double l1 = loss_forward_backward<float>(c.loss, c.from_logits, pf.data(), tf.data(), M, N, g1.data(),
                                                   p1.data(), nullptr, Act::linear, LossReduction::mean);
    const double l2 = loss_forward_backward<float>(c.loss, c.from_logits, pf.data(), tf.data(), M, N, g2.data(),
                                                   p2.data(), nullptr, Act::linear, LossReduction::sum);
    EXPECT_EQ(std::memcmp(&l1, &l2, sizeof l1), 0);
    EXPECT_EQ(std::memcmp(g1.data(), g2.data(), g1.size() * sizeof(float)), 0);
    EXPECT_EQ(std::memcmp(p1.data(), p2.data(), p1.size() * sizeof(float)), 0);
  }
}

// A direct fp64 evaluation of the definitions, row by row in plain order: the loss Σ/count, the
// per-sample errors (row mean or row sum) and dL/d(pred) · out_act′(pred).
struct DirectLoss {
  double value = 0;
  std::vector<double> per_sample, grad;
};
DirectLoss direct_loss(Loss loss, bool from_logits, Act out_act, LossReduction r, const std::vector<double>& pred,
                       const std::vector<double>& target, int64_t M, int64_t N) {
  const double count = reduction_count(r, M, N);
  DirectLoss d;
  d.per_sample.resize(size_t(M));
  d.grad.resize(size_t(M * N));
  double total = 0;
  for (int64_t i = 0; i < M; ++i) {
    double row = 0;
    for (int64_t j = 0; j < N; ++j) {
      const double p = pred[size_t(i * N + j)], t = target[size_t(i * N + j)];
      double term, eg;
      if (loss == Loss::mse) term = mse_term(p, t), eg = mse_grad(p, t);
      else if (from_logits) term = bce_logits_term(p, t), eg = bce_logits_grad(p, t);
      else term = bce_term(p, t), eg = bce_grad(p, t);
      row += term;
      d.grad[size_t(i * N + j)] = eg / count * act_derivative_from_y(out_act, p);
    }
    d.per_sample[size_t(i)] = r == LossReduction::mean ? row / double(N) : row;
    total += row;
  }
  d.value = total / count;
  return d;
}

// Both reductions of the double instantiation against the direct evaluation on odd shapes, for
// every loss form and an output activation: the sum reduction's loss, per-sample errors and
// gradient are the mean reduction's × N, each checked against its own definition.
TEST(Loss, BothReductionsMatchADirectDoubleComputation) {
  struct Form {
    Loss loss;
    bool from_logits;
    Act out_act;
    const char* name;
  };
  const Form forms[] = {{Loss::mse, false, Act::linear, "mse"},
                        {Loss::bce, false, Act::linear, "bce"},
                        {Loss::bce, true, Act::linear, "bce_logits"},
                        {Loss::mse, false, Act::tanh, "mse_out_tanh"},
                        {Loss::bce, false, Act::sigmoid, "bce_out_sigmoid"}};
  uint64_t seed = 40;
  for (int64_t M : {1, 33, 130})
    for (int64_t N : {1, 7, 784})  // 130·784 takes the threaded path
      for (const Form& f : forms)
        for (LossReduction r : REDUCTIONS) {
          SCOPED_TRACE(std::string(f.name) + " reduction=" + reduction_name(r) + " M=" + std::to_string(M) +
                       " N=" + std::to_string(N));
          std::vector<double> pred, target;
          make_inputs({f.loss, f.from_logits, f.name}, M * N, ++seed, pred, target);
          if (f.out_act != Act::linear)  // pred = out_act(z): z from the logits range
            for (auto& p : pred) p = act_forward(f.out_act, f.loss == Loss::bce ? 8 * p - 4 : p);
          const DirectLoss want = direct_loss(f.loss, f.from_logits, f.out_act, r, pred, target, M, N);
          std::vector<double> grad(size_t(M * N), NAN), ps(size_t(M), NAN);
          const double got = loss_forward_backward<double>(f.loss, f.from_logits, pred.data(), target.data(), M, N,
                                                           grad.data(), ps.data(), nullptr, f.out_act, r);
          ASSERT_GT(want.value, 0.0);
          // Orders differ (16 lanes and a tree against one chain): a few ulp of the sums.
          EXPECT_NEAR(got, want.value, 1e-13 * want.value);
          for (int64_t i = 0; i < M; ++i)
            ASSERT_NEAR(ps[size_t(i)], want.per_sample[size_t(i)], 1e-13 * want.per_sample[size_t(i)]) << "row " << i;
          // eg·(1/count) against eg/count: an ulp or two.
          double norm = 0;
          for (int64_t e = 0; e < M * N; ++e) {
            norm = std::max(norm, std::abs(want.grad[size_t(e)]));
            ASSERT_NEAR(grad[size_t(e)], want.grad[size_t(e)], 1e-15 * std::abs(want.grad[size_t(e)]) + 1e-300)
                << "element " << e;
          }
          ASSERT_GT(norm, 0.0);
        }
}

TEST(Loss, FromLogitsOnlyForBce) {
  const double y[] = {1}, t[] = {0};
  EXPECT_THROW(loss_forward_backward<double>(Loss::mse, true, y, t, 1, 1, nullptr, nullptr, nullptr), Error);
}

TEST(Loss, RefusesAnUnknownReduction) {
  const double y[] = {1}, t[] = {0};
  EXPECT_THROW(loss_forward_backward<double>(Loss::mse, false, y, t, 1, 1, nullptr, nullptr, nullptr, Act::linear,
                                             static_cast<LossReduction>(7)),
               Error);
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
