// Dense initialisation: per-activation scheme statistics on a large layer, zero biases,
// determinism across runs and thread counts, and independence across seeds and layers.
#include "kernels/cpu/init.h"

#include <gtest/gtest.h>
#include <omp.h>

#include <cmath>
#include <string>
#include <vector>

#include "kernels/common/error.h"

namespace ae::cpu {
namespace {

struct Stats {
  double mean, std, max_abs;
};
Stats stats(const std::vector<float>& w) {
  double s = 0, s2 = 0, m = 0;
  for (float v : w) s += v, s2 += double(v) * v, m = std::max(m, double(std::abs(v)));
  double mean = s / w.size();
  return {mean, std::sqrt(s2 / w.size() - mean * mean), m};
}

TEST(Init, SchemeStatistics) {
  const int64_t out = 384, in = 256, n = out * in;
  struct Expect {
    Act act;
    bool uniform;
    double std;  // expected standard deviation; for U(−a, a) it is a/√3
  };
  const double xavier1 = std::sqrt(6.0 / (in + out));
  const Expect cases[] = {
      {Act::relu, false, std::sqrt(2.0) / std::sqrt(double(in))},
      {Act::leaky_relu, false, std::sqrt(2.0 / (1 + 1e-4)) / std::sqrt(double(in))},
      {Act::selu, false, 1.0 / std::sqrt(double(in))},
      {Act::tanh, true, 5.0 / 3.0 * xavier1 / std::sqrt(3.0)},
      {Act::linear, true, xavier1 / std::sqrt(3.0)},
      {Act::sigmoid, true, xavier1 / std::sqrt(3.0)},
      {Act::softplus, true, xavier1 / std::sqrt(3.0)},
      {Act::gelu, true, xavier1 / std::sqrt(3.0)},
      {Act::elu, true, xavier1 / std::sqrt(3.0)},
  };
  for (const auto& c : cases) {
    SCOPED_TRACE(act_name(c.act));
    std::vector<float> w(n, NAN), b(out, NAN);
    init_dense(c.act, out, in, 1234, 0, w.data(), b.data());
    Stats st = stats(w);
    EXPECT_NEAR(st.mean, 0.0, 5 * c.std / std::sqrt(double(n)));
    EXPECT_NEAR(st.std, c.std, 0.01 * c.std);  // sd of the sample sd ≈ 1/√(2n) ≈ 0.2%
    if (c.uniform) {
      const double a = c.std * std::sqrt(3.0);
      EXPECT_LE(st.max_abs, a);
      EXPECT_GT(st.max_abs, 0.999 * a);
    } else {
      EXPECT_GT(st.max_abs, 3.5 * c.std);  // normal tails exist (P(|z|>3.5) ≈ 4.7e-4 per draw)
    }
    for (float v : b) EXPECT_EQ(v, 0.0f);
  }
}

TEST(Init, DeterministicAcrossRunsAndThreads) {
  const int64_t out = 100, in = 300;
  std::vector<float> a(out * in), b(out * in), c(out * in);
  init_dense(Act::relu, out, in, 7, 2, a.data(), nullptr);
  init_dense(Act::relu, out, in, 7, 2, b.data(), nullptr);
  int threads = omp_get_max_threads();
  omp_set_num_threads(1);
  init_dense(Act::relu, out, in, 7, 2, c.data(), nullptr);
  omp_set_num_threads(threads);
  EXPECT_EQ(a, b);
  EXPECT_EQ(a, c);
}

TEST(Init, SeedsAndLayersGiveDifferentWeights) {
  const int64_t out = 64, in = 32;
  std::vector<float> base(out * in), other_seed(out * in), other_layer(out * in);
  init_dense(Act::tanh, out, in, 1, 0, base.data(), nullptr);
  init_dense(Act::tanh, out, in, 2, 0, other_seed.data(), nullptr);
  init_dense(Act::tanh, out, in, 1, 1, other_layer.data(), nullptr);
  int same_seed = 0, same_layer = 0;
  for (int64_t i = 0; i < out * in; ++i) same_seed += base[i] == other_seed[i], same_layer += base[i] == other_layer[i];
  EXPECT_LE(same_seed, 2);
  EXPECT_LE(same_layer, 2);
  // A layer's weights depend only on (seed, layer, element): a bigger layer starts with the same values.
  std::vector<float> bigger(2 * out * in);
  init_dense(Act::relu, 2 * out, in, 5, 3, bigger.data(), nullptr);
  init_dense(Act::relu, out, in, 5, 3, base.data(), nullptr);
  for (int64_t i = 0; i < out * in; ++i) ASSERT_EQ(base[i], bigger[i]);
}

TEST(Init, SchemeNamesAndErrors) {
  EXPECT_EQ(std::string(init_scheme_name(Act::relu)).rfind("he_normal", 0), 0u);
  EXPECT_EQ(std::string(init_scheme_name(Act::leaky_relu)).rfind("he_normal", 0), 0u);
  EXPECT_EQ(std::string(init_scheme_name(Act::selu)).rfind("lecun_normal", 0), 0u);
  EXPECT_EQ(std::string(init_scheme_name(Act::tanh)), "xavier_uniform(gain=5/3)");
  EXPECT_EQ(std::string(init_scheme_name(Act::sigmoid)), "xavier_uniform(gain=1)");
  std::vector<float> w(4);
  EXPECT_THROW(init_dense(Act::relu, 0, 4, 1, 0, w.data(), nullptr), Error);
}

}  // namespace
}  // namespace ae::cpu
