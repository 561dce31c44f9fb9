// The cpu VAE code layer (kernels/cpu/vae.h) against the formulas of kernels/common/vae.h: ε is the
// documented Philox draw keyed by the data row, the mean code is μ exactly, the closed-form and
// sampled KL against direct double formulas (and the sampled form's average against the closed
// form), the row sums in vae.h's lane order and the mean in row order; the gradient of
// L = Σ w⊙z + a·value against fp64 central differences (with and without each seed); accumulate;
// float against double; bit-equal results for 1 and 2 OpenMP threads; refused arguments.
#include "kernels/cpu/vae.h"

#include <gtest/gtest.h>
#include <omp.h>

#include <cmath>
#include <cstring>
#include <string>
#include <vector>

#include "kernels/common/error.h"
#include "tests/kernels/grad_check.h"

namespace ae::cpu {
namespace {

constexpr VaeParams SAMPLE{true, false}, MEAN{false, false}, SAMPLED_KL{true, true}, MEAN_SAMPLED_KL{false, true};

// A head h [M, 2N]: μ in [−2, 2], ℓ in [−3, 1.5] (σ from 0.22 to 2.1).
template <typename T>
std::vector<T> head(int64_t M, int64_t N, uint64_t seed) {
  const auto mu = gradcheck::random_vec(size_t(M * N), seed), lv = gradcheck::random_vec(size_t(M * N), seed + 1);
  std::vector<T> h(size_t(M * 2 * N));
  for (int64_t m = 0; m < M; ++m)
    for (int64_t j = 0; j < N; ++j) {
      h[size_t(m * 2 * N + j)] = static_cast<T>(2 * mu[size_t(m * N + j)]);
      h[size_t(m * 2 * N + N + j)] = static_cast<T>(-0.75 + 2.25 * lv[size_t(m * N + j)]);
    }
  return h;
}

template <typename T>
struct Fwd {
  std::vector<T> z, kl, value;
};
template <typename T>
Fwd<T> forward(const VaeParams& p, uint64_t seed, uint64_t step, uint64_t row_offset, const std::vector<T>& h,
               int64_t M, int64_t N) {
  Fwd<T> r{std::vector<T>(size_t(M * N), T(NAN)), std::vector<T>(size_t(M), T(NAN)), std::vector<T>(1, T(NAN))};
  reparam_forward<T>(p, seed, step, row_offset, h.data(), M, N, r.z.data(), r.kl.data(), r.value.data());
  return r;
}

bool bit_equal(const std::vector<float>& a, const std::vector<float>& b) {
  return a.size() == b.size() && std::memcmp(a.data(), b.data(), a.size() * sizeof(float)) == 0;
}

double eps_of(uint64_t seed, uint64_t step, uint64_t row, int64_t j, int64_t N) {
  return philox_normal(seed, step, PhiloxPurpose::vae_noise, row * uint64_t(N) + uint64_t(j));
}

TEST(VaeForward, EpsIsThePhiloxDrawOfTheDataRow) {
  const int64_t M = 5, N = 7;
  const uint64_t seed = 0x5eedull, step = 12, offset = 1000;
  // μ = 0, ℓ = 0: σ = 1 and z = ε exactly.
  const Fwd<float> f = forward<float>(SAMPLE, seed, step, offset, std::vector<float>(size_t(M * 2 * N), 0.0f), M, N);
  for (int64_t m = 0; m < M; ++m)
    for (int64_t j = 0; j < N; ++j)
      EXPECT_EQ(f.z[size_t(m * N + j)], float(eps_of(seed, step, offset + m, j, N))) << "m=" << m << " j=" << j;
  // A general head: z = float(μ + σ·ε) in double, σ = expf(ℓ/2).
  const std::vector<float> h = head<float>(M, N, 3);
  const Fwd<float> g = forward<float>(SAMPLE, seed, step, offset, h, M, N);
  for (int64_t m = 0; m < M; ++m)
    for (int64_t j = 0; j < N; ++j) {
      const float mu = h[size_t(m * 2 * N + j)], sigma = std::exp(0.5f * h[size_t(m * 2 * N + N + j)]);
      EXPECT_EQ(g.z[size_t(m * N + j)], float(double(mu) + double(sigma) * eps_of(seed, step, offset + m, j, N)));
    }
}

// Rows [3, 8) of a batch drawn with row_offset 0 are a batch of their own drawn with row_offset 3:
// a score does not depend on how the data is batched. Seed and step each change every draw.
TEST(VaeForward, RowOffsetKeysTheDataRow) {
  const int64_t M = 8, N = 33, from = 3;
  const std::vector<float> h = head<float>(M, N, 5);
  const Fwd<float> all = forward<float>(SAMPLE, 9, 4, 0, h, M, N);
  const std::vector<float> tail_h(h.begin() + from * 2 * N, h.end());
  const Fwd<float> tail = forward<float>(SAMPLE, 9, 4, from, tail_h, M - from, N);
  EXPECT_TRUE(bit_equal(tail.z, std::vector<float>(all.z.begin() + from * N, all.z.end())));
  EXPECT_TRUE(bit_equal(tail.kl, std::vector<float>(all.kl.begin() + from, all.kl.end())));
  for (const Fwd<float>& other : {forward<float>(SAMPLE, 10, 4, 0, h, M, N), forward<float>(SAMPLE, 9, 5, 0, h, M, N),
                                  forward<float>(SAMPLE, 9, 4, 1, h, M, N)}) {
    size_t same = 0;
    for (size_t i = 0; i < all.z.size(); ++i) same += other.z[i] == all.z[i];
    EXPECT_LT(same, all.z.size() / 50) << "another key must draw another ε";
  }
}

TEST(VaeForward, MeanModeIsMuExactlyWithTheSameKl) {
  const int64_t M = 6, N = 35;
  const std::vector<float> h = head<float>(M, N, 7);
  const Fwd<float> mean = forward<float>(MEAN, 1, 1, 0, h, M, N), sample = forward<float>(SAMPLE, 1, 1, 0, h, M, N);
  for (int64_t m = 0; m < M; ++m)
    EXPECT_EQ(std::memcmp(&mean.z[size_t(m * N)], &h[size_t(m * 2 * N)], size_t(N) * sizeof(float)), 0) << "row " << m;
  EXPECT_TRUE(bit_equal(mean.kl, sample.kl)) << "the closed-form KL does not depend on ε";
  EXPECT_TRUE(bit_equal(mean.value, sample.value));
}

TEST(VaeForward, ClosedFormKlMatchesTheDirectFormula) {
  const int64_t M = 9, N = 67;
  const std::vector<float> h = head<float>(M, N, 11);
  const Fwd<float> f = forward<float>(SAMPLE, 1, 2, 0, h, M, N);
  double mean = 0;
  for (int64_t m = 0; m < M; ++m) {
    double kl = 0, size = 0;
    for (int64_t j = 0; j < N; ++j) {
      const double mu = h[size_t(m * 2 * N + j)], l = h[size_t(m * 2 * N + N + j)];
      kl += -0.5 * (1 + l - mu * mu - std::exp(l));
      size += 0.5 * (1 + std::fabs(l) + mu * mu + std::exp(l));
    }
    EXPECT_GT(kl, 0);
    EXPECT_NEAR(f.kl[size_t(m)], kl, 1e-6 * size) << "row " << m;
    mean += double(f.kl[size_t(m)]) / M;
  }
  EXPECT_NEAR(f.value[0], mean, 1e-6 * std::fabs(mean));
  // The prior itself: μ = 0, σ = 1 gives exactly 0.
  const Fwd<float> prior = forward<float>(SAMPLE, 1, 2, 0, std::vector<float>(size_t(2 * N), 0.0f), 1, N);
  EXPECT_EQ(prior.kl[0], 0.0f);
  EXPECT_EQ(prior.value[0], 0.0f);
}

TEST(VaeForward, SampledKlMatchesItsFormula) {
  const int64_t M = 7, N = 37;
  const uint64_t seed = 21, step = VAE_SCORE_STEP + 2, offset = 50;
  const std::vector<float> h = head<float>(M, N, 13);
  for (const VaeParams& p : {SAMPLED_KL, MEAN_SAMPLED_KL}) {
    SCOPED_TRACE(p.sample ? "sample" : "mean");
    const Fwd<float> f = forward<float>(p, seed, step, offset, h, M, N);
    for (int64_t m = 0; m < M; ++m) {
      double kl = 0, size = 0;
      for (int64_t j = 0; j < N; ++j) {
        const double z = f.z[size_t(m * N + j)], l = h[size_t(m * 2 * N + N + j)];
        const double e = p.sample ? eps_of(seed, step, offset + m, j, N) : 0.0;  // mean mode: ε = 0, z = μ
        if (!p.sample) EXPECT_EQ(z, double(h[size_t(m * 2 * N + j)]));
        kl += 0.5 * (z * z - e * e - l);
        size += 0.5 * (z * z + e * e + std::fabs(l));
      }
      EXPECT_NEAR(f.kl[size_t(m)], kl, 1e-6 * size) << "row " << m;
    }
  }
}

// E_ε[log q(z|x) − log p(z)] = KL(q ‖ p): the sampled form averaged over many rows of one head row
// is the closed form, within 5 standard errors.
TEST(VaeForward, SampledKlAveragesToTheClosedForm) {
  const int64_t M = 4000, N = 3;
  const std::vector<float> one = head<float>(1, N, 17);
  std::vector<float> h;
  for (int64_t m = 0; m < M; ++m) h.insert(h.end(), one.begin(), one.end());
  const Fwd<float> sampled = forward<float>(SAMPLED_KL, 3, 1, 0, h, M, N);
  const Fwd<float> closed = forward<float>(SAMPLE, 3, 1, 0, h, M, N);
  double sum = 0, sum2 = 0;
  for (float k : sampled.kl) sum += k, sum2 += double(k) * k;
  const double mean = sum / M, sd = std::sqrt(sum2 / M - mean * mean);
  EXPECT_NEAR(mean, closed.kl[0], 5 * sd / std::sqrt(double(M))) << "sd " << sd;
  EXPECT_NEAR(sampled.value[0], mean, 1e-5 * std::fabs(mean));
}

// KL_m follows vae.h's order literally: 32 interleaved double lanes, the fixed tree, one rounding;
// the mean adds the float rows in row order in double.
TEST(VaeForward, RowSumsInTheDocumentedOrder) {
  const int64_t M = 5, N = 101;
  const std::vector<float> h = head<float>(M, N, 19);
  const Fwd<float> f = forward<float>(SAMPLE, 1, 1, 0, h, M, N);
  double total = 0;
  for (int64_t m = 0; m < M; ++m) {
    double lane[32] = {};
    for (int64_t j = 0; j < N; ++j) {
      const double mu = h[size_t(m * 2 * N + j)], l = h[size_t(m * 2 * N + N + j)];
      lane[j % 32] += 1.0 + l - mu * mu - std::exp(l);
    }
    for (int w = 16; w >= 1; w /= 2)
      for (int l = 0; l < w; ++l) lane[l] += lane[l + w];
    EXPECT_EQ(f.kl[size_t(m)], float(-0.5 * lane[0])) << "row " << m;
    total += double(f.kl[size_t(m)]);
  }
  EXPECT_EQ(f.value[0], float(total / M));
}

TEST(VaeForward, ValueIsOptionalAndZeroWithoutRows) {
  const int64_t M = 4, N = 3;
  const std::vector<float> h = head<float>(M, N, 23);
  std::vector<float> z(static_cast<size_t>(M * N)), kl(static_cast<size_t>(M));
  reparam_forward<float>(SAMPLE, 1, 1, 0, h.data(), M, N, z.data(), kl.data(), nullptr);
  EXPECT_TRUE(bit_equal(kl, forward<float>(SAMPLE, 1, 1, 0, h, M, N).kl));
  float value = NAN;
  reparam_forward<float>(SAMPLE, 1, 1, 0, nullptr, 0, N, nullptr, nullptr, &value);
  EXPECT_EQ(value, 0.0f);
}

// ---- gradient -----------------------------------------------------------------------------

// L = Σ w⊙z + a·value (either part off) by central differences in fp64, against reparam_backward.
void check_gradient(int64_t M, int64_t N, bool with_dz, bool with_dvalue) {
  SCOPED_TRACE("M=" + std::to_string(M) + " N=" + std::to_string(N) + (with_dz ? " dz" : "") +
               (with_dvalue ? " dvalue" : ""));
  const uint64_t seed = 77, step = 3, offset = 5;
  std::vector<double> h = head<double>(M, N, 29);
  const std::vector<double> w = gradcheck::random_vec(size_t(M * N), 31);
  const double a = 0.7;
  auto loss = [&] {
    const Fwd<double> f = forward<double>(SAMPLE, seed, step, offset, h, M, N);
    return (with_dz ? gradcheck::dot(w, f.z) : 0.0) + (with_dvalue ? a * f.value[0] : 0.0);
  };
  const std::vector<double> numeric = gradcheck::numeric_grad(h, loss);
  std::vector<double> dh(h.size(), NAN);
  reparam_backward<double>(SAMPLE, seed, step, offset, with_dz ? w.data() : nullptr, h.data(),
                           with_dvalue ? &a : nullptr, M, N, dh.data(), false);
  EXPECT_TRUE(gradcheck::all_near("dh", dh, numeric, 1e-7));
}

TEST(VaeBackward, GradientMatchesCentralDifferences) {
  for (auto [M, N] : {std::pair<int64_t, int64_t>{3, 5}, {2, 37}, {1, 1}}) {
    check_gradient(M, N, true, true);
    check_gradient(M, N, true, false);
    check_gradient(M, N, false, true);
  }
}

TEST(VaeBackward, NoSeedsGiveZero) {
  const int64_t M = 3, N = 4;
  const std::vector<float> h = head<float>(M, N, 37);
  std::vector<float> dh(h.size(), NAN);
  reparam_backward<float>(SAMPLE, 1, 1, 0, nullptr, h.data(), nullptr, M, N, dh.data(), false);
  for (float g : dh) EXPECT_EQ(g, 0.0f);
}

TEST(VaeBackward, AccumulateAddsToDh) {
  const int64_t M = 11, N = 13;
  const std::vector<float> h = head<float>(M, N, 41);
  const auto wd = gradcheck::random_vec(size_t(M * N), 43), d0 = gradcheck::random_vec(h.size(), 47);
  const std::vector<float> dz(wd.begin(), wd.end()), dh0(d0.begin(), d0.end());
  const float dvalue = 0.75f;
  std::vector<float> fresh(h.size(), NAN), acc = dh0;
  reparam_backward<float>(SAMPLE, 5, 6, 7, dz.data(), h.data(), &dvalue, M, N, fresh.data(), false);
  reparam_backward<float>(SAMPLE, 5, 6, 7, dz.data(), h.data(), &dvalue, M, N, acc.data(), true);
  for (size_t i = 0; i < h.size(); ++i) {
    ASSERT_TRUE(std::isfinite(fresh[i])) << i;
    EXPECT_EQ(acc[i], dh0[i] + fresh[i]) << i;
  }
}

// The float instantiation is the double one rounded: the same ε, the same formulas.
TEST(VaeBackward, FloatAgreesWithDouble) {
  const int64_t M = 6, N = 41;
  const std::vector<double> hd = head<double>(M, N, 53), wd = gradcheck::random_vec(size_t(M * N), 59);
  const std::vector<float> hf(hd.begin(), hd.end()), wf(wd.begin(), wd.end());
  const std::vector<double> hd_rounded(hf.begin(), hf.end()), wd_rounded(wf.begin(), wf.end());
  const Fwd<float> ff = forward<float>(SAMPLE, 2, 3, 4, hf, M, N);
  const Fwd<double> fd = forward<double>(SAMPLE, 2, 3, 4, hd_rounded, M, N);
  for (size_t i = 0; i < ff.z.size(); ++i) EXPECT_NEAR(ff.z[i], fd.z[i], 1e-6 * (1 + std::fabs(fd.z[i])));
  for (size_t i = 0; i < ff.kl.size(); ++i) EXPECT_NEAR(ff.kl[i], fd.kl[i], 1e-6 * std::fabs(fd.kl[i]));
  const float af = 0.5f;
  const double ad = 0.5;
  std::vector<float> gf(hf.size());
  std::vector<double> gd(hd.size());
  reparam_backward<float>(SAMPLE, 2, 3, 4, wf.data(), hf.data(), &af, M, N, gf.data(), false);
  reparam_backward<double>(SAMPLE, 2, 3, 4, wd_rounded.data(), hd_rounded.data(), &ad, M, N, gd.data(), false);
  for (size_t i = 0; i < gf.size(); ++i) EXPECT_NEAR(gf[i], gd[i], 1e-6 * (1 + std::fabs(gd[i]))) << i;
}

TEST(VaeBackward, ForwardOnlyModesAndBadShapesAreRefused) {
  std::vector<float> h(8), dh(8), z(4), kl(2);
  const float dv = 1;
  for (const VaeParams& p : {MEAN, SAMPLED_KL, MEAN_SAMPLED_KL})
    EXPECT_THROW(reparam_backward<float>(p, 1, 1, 0, z.data(), h.data(), &dv, 2, 2, dh.data(), false), ae::Error);
  EXPECT_THROW(reparam_backward<float>(SAMPLE, 1, 1, 0, z.data(), h.data(), &dv, 2, 0, dh.data(), false), ae::Error);
  EXPECT_THROW(reparam_backward<float>(SAMPLE, 1, 1, 0, z.data(), h.data(), &dv, -1, 2, dh.data(), false), ae::Error);
  EXPECT_THROW(reparam_backward<float>(SAMPLE, 1, 1, 0, z.data(), nullptr, &dv, 2, 2, dh.data(), false), ae::Error);
  EXPECT_THROW(reparam_forward<float>(SAMPLE, 1, 1, 0, h.data(), 2, 0, z.data(), kl.data(), nullptr), ae::Error);
  EXPECT_THROW(reparam_forward<float>(SAMPLE, 1, 1, 0, h.data(), -2, 2, z.data(), kl.data(), nullptr), ae::Error);
  EXPECT_THROW(reparam_forward<float>(SAMPLE, 1, 1, 0, h.data(), 2, 2, z.data(), nullptr, nullptr), ae::Error);
}

// Rows are independent and the mean is taken after them: 1 and 2 threads give the same bits.
TEST(Vae, BitwiseIndependentOfThreadCount) {
  const int64_t M = 1031, N = 67;  // past the parallel threshold
  const std::vector<float> h = head<float>(M, N, 61);
  const auto wd = gradcheck::random_vec(size_t(M * N), 67);
  const std::vector<float> dz(wd.begin(), wd.end());
  const float dvalue = 0.3f;
  const int threads = omp_get_max_threads();
  Fwd<float> f[2];
  std::vector<float> dh[2];
  for (int t = 0; t < 2; ++t) {
    omp_set_num_threads(t + 1);
    f[t] = forward<float>(SAMPLE, 8, 9, 10, h, M, N);
    dh[t].assign(h.size(), NAN);
    reparam_backward<float>(SAMPLE, 8, 9, 10, dz.data(), h.data(), &dvalue, M, N, dh[t].data(), false);
  }
  omp_set_num_threads(threads);
  EXPECT_TRUE(bit_equal(f[0].z, f[1].z));
  EXPECT_TRUE(bit_equal(f[0].kl, f[1].kl));
  EXPECT_TRUE(bit_equal(f[0].value, f[1].value));
  EXPECT_TRUE(bit_equal(dh[0], dh[1]));
}

}  // namespace
}  // namespace ae::cpu
