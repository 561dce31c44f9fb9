// The cpu dense layer: forward against a naive loop, backward (dx, dW, db through every
// activation, with z kept and from y alone) against fp64 central differences, float against
// double, accumulation (dW and db on their own flags), and bitwise determinism.
#include "kernels/cpu/dense.h"

#include <gtest/gtest.h>
#include <omp.h>

#include <cmath>
#include <cstring>
#include <random>
#include <string>
#include <vector>

#include "kernels/common/error.h"

namespace ae::cpu {
namespace {

const Act ALL_ACTS[] = {Act::linear, Act::relu, Act::leaky_relu, Act::sigmoid, Act::tanh,
                        Act::selu,   Act::elu,  Act::softplus,   Act::gelu};

std::vector<double> random_vec(size_t n, std::mt19937_64& rng, double lo = -1, double hi = 1) {
  std::uniform_real_distribution<double> d(lo, hi);
  std::vector<double> v(n);
  for (auto& x : v) x = d(rng);
  return v;
}

template <typename T>
std::vector<T> cast(const std::vector<double>& v) {
  return std::vector<T>(v.begin(), v.end());
}

// A dense layer's inputs for one (M, N, K, seed), redrawn until no pre-activation lies within
// `margin` of a kink (relu/leaky_relu/elu/selu at 0): with margin 0.02 the central difference
// (h = 1e-6) never straddles one; a float/double comparison needs only a small margin so that
// float rounding cannot flip the side of a kink.
struct DenseCase {
  int64_t M, N, K;
  std::vector<double> x, w, b, c;  // c: the weights of the scalar loss L = Σ c ⊙ y, so dy = c
  DenseCase(int64_t m, int64_t n, int64_t k, uint64_t seed, double margin = 0.02) : M(m), N(n), K(k) {
    std::mt19937_64 rng(seed);
    for (int attempt = 0; attempt < 1000; ++attempt) {
      x = random_vec(M * K, rng);
      w = random_vec(N * K, rng);
      b = random_vec(N, rng, -0.5, 0.5);
      c = random_vec(M * N, rng);
      if (margin <= 0 || min_abs_preact() > margin) return;
    }
    ADD_FAILURE() << "could not draw kink-free inputs";
  }
  double preact(int64_t i, int64_t j) const {
    double s = b[j];
    for (int64_t k = 0; k < K; ++k) s += x[i * K + k] * w[j * K + k];
    return s;
  }
  double min_abs_preact() const {
    double m = 1e300;
    for (int64_t i = 0; i < M; ++i)
      for (int64_t j = 0; j < N; ++j) m = std::min(m, std::abs(preact(i, j)));
    return m;
  }
  // L = Σ c ⊙ act(x·Wᵀ + b), through the kernel under test.
  double loss(Act act) const {
    std::vector<double> y(M * N);
    dense_forward<double>(x.data(), w.data(), b.data(), act, M, N, K, y.data(), nullptr);
    double s = 0;
    for (int64_t i = 0; i < M * N; ++i) s += c[i] * y[i];
    return s;
  }
};

// Central difference of L w.r.t. every element of v (v is one of the case's vectors).
std::vector<double> numeric_grad(DenseCase& dc, std::vector<double>& v, Act act) {
  const double h = 1e-6;
  std::vector<double> g(v.size());
  for (size_t i = 0; i < v.size(); ++i) {
    double keep = v[i];
    v[i] = keep + h;
    double lp = dc.loss(act);
    v[i] = keep - h;
    double lm = dc.loss(act);
    v[i] = keep;
    g[i] = (lp - lm) / (2 * h);
  }
  return g;
}

// Element-wise |analytic − numeric| ≤ tol·max(1, |numeric|); also demands a non-zero gradient.
void expect_grad_close(const std::vector<double>& ana, const std::vector<double>& num, const std::string& what) {
  ASSERT_EQ(ana.size(), num.size());
  double worst = 0, norm = 0;
  for (size_t i = 0; i < ana.size(); ++i) {
    worst = std::max(worst, std::abs(ana[i] - num[i]) / std::max(1.0, std::abs(num[i])));
    norm += num[i] * num[i];
  }
  EXPECT_GT(norm, 1e-6) << what << ": vacuous check, gradient is zero";
  EXPECT_LE(worst, 1e-7) << what << ": worst relative error " << worst;
}

void check_dense_gradients(Act act, bool keep_z) {
  DenseCase dc(5, 7, 3, 1234 + static_cast<int>(act));
  const int64_t M = dc.M, N = dc.N, K = dc.K;
  std::vector<double> y(M * N), z(M * N);
  dense_forward<double>(dc.x.data(), dc.w.data(), dc.b.data(), act, M, N, K, y.data(), z.data());
  std::vector<double> dz(M * N), dw(N * K, NAN), db(N, NAN), dx(M * K, NAN);
  dense_backward<double>(dc.c.data(), keep_z ? nullptr : y.data(), keep_z ? z.data() : nullptr, act,
                         dc.x.data(), dc.w.data(), M, N, K, dz.data(), dw.data(), db.data(), dx.data(), false, false);
  std::string what = std::string(act_name(act)) + (keep_z ? " (z kept)" : " (from y)");
  expect_grad_close(dx, numeric_grad(dc, dc.x, act), what + " dx");
  expect_grad_close(dw, numeric_grad(dc, dc.w, act), what + " dW");
  expect_grad_close(db, numeric_grad(dc, dc.b, act), what + " db");
}

TEST(Dense, ForwardMatchesNaiveLoop) {
  for (Act act : ALL_ACTS) {
    DenseCase dc(9, 13, 11, 77);
    std::vector<double> y(dc.M * dc.N, NAN), z(dc.M * dc.N, NAN), y2(dc.M * dc.N, NAN);
    dense_forward<double>(dc.x.data(), dc.w.data(), dc.b.data(), act, dc.M, dc.N, dc.K, y.data(), z.data());
    dense_forward<double>(dc.x.data(), dc.w.data(), dc.b.data(), act, dc.M, dc.N, dc.K, y2.data(), nullptr);
    for (int64_t i = 0; i < dc.M; ++i)
      for (int64_t j = 0; j < dc.N; ++j) {
        double pre = dc.preact(i, j);
        ASSERT_NEAR(z[i * dc.N + j], pre, 1e-14) << act_name(act);
        ASSERT_NEAR(y[i * dc.N + j], act_forward(act, pre), 1e-14) << act_name(act);
        ASSERT_EQ(y[i * dc.N + j], y2[i * dc.N + j]) << "y must not depend on whether z is kept";
      }
  }
}

TEST(Dense, GradientsWithZKept) {
  for (Act act : ALL_ACTS) check_dense_gradients(act, true);
}

TEST(Dense, GradientsFromYOnly) {
  for (Act act : ALL_ACTS)
    if (!act_derivative_needs_z(act)) check_dense_gradients(act, false);
}

TEST(Dense, GeluWithoutZIsRefused) {
  DenseCase dc(2, 3, 2, 5);
  std::vector<double> y(6), dz(6), dw(6), db(3);
  try {
    dense_backward<double>(dc.c.data(), y.data(), nullptr, Act::gelu, dc.x.data(), dc.w.data(), 2, 3, 2,
                           dz.data(), dw.data(), db.data(), nullptr, false, false);
    FAIL() << "expected ae::Error";
  } catch (const Error& e) {
    EXPECT_NE(std::string(e.what()).find("gelu"), std::string::npos) << e.what();
  }
}

TEST(Dense, DzMayAliasDyAndAccumulateAdds) {
  DenseCase dc(6, 5, 4, 99);
  const int64_t M = dc.M, N = dc.N, K = dc.K;
  std::vector<double> y(M * N);
  dense_forward<double>(dc.x.data(), dc.w.data(), dc.b.data(), Act::tanh, M, N, K, y.data(), nullptr);
  std::vector<double> dz(M * N), dw(N * K), db(N), dx(M * K);
  dense_backward<double>(dc.c.data(), y.data(), nullptr, Act::tanh, dc.x.data(), dc.w.data(), M, N, K, dz.data(),
                         dw.data(), db.data(), dx.data(), false, false);
  // In place: dz aliases dy, and the parameter gradients accumulate onto the first result.
  std::vector<double> dy = dc.c, dw2 = dw, db2 = db, dx2(M * K);
  dense_backward<double>(dy.data(), y.data(), nullptr, Act::tanh, dc.x.data(), dc.w.data(), M, N, K, dy.data(),
                         dw2.data(), db2.data(), dx2.data(), true, true);
  for (int64_t i = 0; i < M * N; ++i) EXPECT_EQ(dy[i], dz[i]);
  for (int64_t i = 0; i < N * K; ++i) EXPECT_NEAR(dw2[i], 2 * dw[i], 1e-15);
  for (int64_t j = 0; j < N; ++j) EXPECT_EQ(db2[j], 2 * db[j]);
  for (int64_t i = 0; i < M * K; ++i) EXPECT_EQ(dx2[i], dx[i]);
}

// dW and db accumulate each on its own flag (a penalised or tied weight's dW has an earlier writer
// its db has not). The gradient being overwritten starts as NaN and the one being added to as a
// non-zero prefill, so a flag applied to the wrong output, or one ignored, fails.
TEST(Dense, DwAndDbAccumulateIndependently) {
  DenseCase dc(6, 5, 4, 98);
  const int64_t M = dc.M, N = dc.N, K = dc.K;
  std::vector<double> z(M * N), y(M * N);
  dense_forward<double>(dc.x.data(), dc.w.data(), dc.b.data(), Act::relu, M, N, K, y.data(), z.data());
  std::vector<double> dz(M * N), dw(N * K), db(N), dx(M * K);
  dense_backward<double>(dc.c.data(), nullptr, z.data(), Act::relu, dc.x.data(), dc.w.data(), M, N, K, dz.data(),
                         dw.data(), db.data(), dx.data(), false, false);
  std::mt19937_64 rng(7);
  const std::vector<double> dw0 = random_vec(N * K, rng), db0 = random_vec(N, rng);
  for (const bool acc_dw : {true, false}) {
    const bool acc_db = !acc_dw;
    SCOPED_TRACE(std::string("accumulate_dw=") + (acc_dw ? "1" : "0") + " accumulate_db=" + (acc_db ? "1" : "0"));
    std::vector<double> dw2 = acc_dw ? dw0 : std::vector<double>(N * K, NAN);
    std::vector<double> db2 = acc_db ? db0 : std::vector<double>(N, NAN), dx2(M * K, NAN);
    dense_backward<double>(dc.c.data(), nullptr, z.data(), Act::relu, dc.x.data(), dc.w.data(), M, N, K, dz.data(),
                           dw2.data(), db2.data(), dx2.data(), acc_dw, acc_db);
    for (int64_t i = 0; i < N * K; ++i)
      EXPECT_NEAR(dw2[i], (acc_dw ? dw0[i] : 0.0) + dw[i], 1e-14) << "dW[" << i << "]";
    for (int64_t j = 0; j < N; ++j) EXPECT_EQ(db2[j], (acc_db ? db0[j] : 0.0) + db[j]) << "db[" << j << "]";
    for (int64_t i = 0; i < M * K; ++i) EXPECT_EQ(dx2[i], dx[i]);
    // An empty batch: the overwritten gradient becomes zero, the accumulated one stays as it was.
    std::vector<double> dw3 = acc_dw ? dw0 : std::vector<double>(N * K, NAN);
    std::vector<double> db3 = acc_db ? db0 : std::vector<double>(N, NAN);
    dense_backward<double>(dc.c.data(), nullptr, z.data(), Act::relu, dc.x.data(), dc.w.data(), 0, N, K, dz.data(),
                           dw3.data(), db3.data(), nullptr, acc_dw, acc_db);
    for (int64_t i = 0; i < N * K; ++i) EXPECT_EQ(dw3[i], acc_dw ? dw0[i] : 0.0) << "dW[" << i << "], M = 0";
    for (int64_t j = 0; j < N; ++j) EXPECT_EQ(db3[j], acc_db ? db0[j] : 0.0) << "db[" << j << "], M = 0";
  }
}

TEST(Dense, FloatAgreesWithDouble) {
  for (Act act : ALL_ACTS) {
    DenseCase dc(37, 29, 65, 4242, 1e-4);
    const int64_t M = dc.M, N = dc.N, K = dc.K;
    std::vector<double> y(M * N), z(M * N), dz(M * N), dw(N * K), db(N), dx(M * K);
    dense_forward<double>(dc.x.data(), dc.w.data(), dc.b.data(), act, M, N, K, y.data(), z.data());
    dense_backward<double>(dc.c.data(), y.data(), z.data(), act, dc.x.data(), dc.w.data(), M, N, K, dz.data(),
                           dw.data(), db.data(), dx.data(), false, false);
    auto xf = cast<float>(dc.x), wf = cast<float>(dc.w), bf = cast<float>(dc.b), cf = cast<float>(dc.c);
    std::vector<float> yf(M * N), zf(M * N), dzf(M * N), dwf(N * K), dbf(N), dxf(M * K);
    dense_forward<float>(xf.data(), wf.data(), bf.data(), act, M, N, K, yf.data(), zf.data());
    dense_backward<float>(cf.data(), yf.data(), zf.data(), act, xf.data(), wf.data(), M, N, K, dzf.data(),
                          dwf.data(), dbf.data(), dxf.data(), false, false);
    // float rounding of K- or M-long sums of O(1) terms: a few ulps times √length.
    auto close = [&](const auto& f, const std::vector<double>& d, int64_t len, const char* what) {
      const double tol = 4e-7 * std::sqrt(static_cast<double>(len));
      for (size_t i = 0; i < d.size(); ++i)
        ASSERT_NEAR(f[i], d[i], tol * (1 + std::abs(d[i]))) << act_name(act) << " " << what << "[" << i << "]";
    };
    close(yf, y, K, "y");
    close(dwf, dw, M, "dW");
    close(dbf, db, M, "db");
    close(dxf, dx, N, "dx");
  }
}

TEST(Dense, BitwiseDeterministic) {
  DenseCase dc(67, 129, 65, 31337, 0.0);
  const int64_t M = dc.M, N = dc.N, K = dc.K;
  auto xf = cast<float>(dc.x), wf = cast<float>(dc.w), bf = cast<float>(dc.b), cf = cast<float>(dc.c);
  auto run = [&](std::vector<float>& out) {
    std::vector<float> y(M * N), z(M * N), dz(M * N), dw(N * K), db(N), dx(M * K);
    dense_forward<float>(xf.data(), wf.data(), bf.data(), Act::gelu, M, N, K, y.data(), z.data());
    dense_backward<float>(cf.data(), y.data(), z.data(), Act::gelu, xf.data(), wf.data(), M, N, K, dz.data(),
                          dw.data(), db.data(), dx.data(), false, false);
    out.clear();
    for (auto* v : {&y, &z, &dz, &dw, &db, &dx}) out.insert(out.end(), v->begin(), v->end());
    return db;
  };
  std::vector<float> a, b;
  auto db1 = run(a);
  run(b);
  ASSERT_EQ(a.size(), b.size());
  EXPECT_EQ(std::memcmp(a.data(), b.data(), a.size() * sizeof(float)), 0);
  // db's column sums are independent of the thread count by construction.
  int threads = omp_get_max_threads();
  omp_set_num_threads(1);
  auto db_one = run(b);
  omp_set_num_threads(threads);
  EXPECT_EQ(std::memcmp(db1.data(), db_one.data(), db1.size() * sizeof(float)), 0);
}

TEST(Dense, EmptyBatchAndNoBias) {
  std::vector<double> w = {1, 2, 3, 4, 5, 6}, dw(6, NAN), db(2, NAN), dy(1), dz(1);
  // M = 0: nothing flows back, so the parameter gradients are zero (not left unwritten).
  dense_backward<double>(dy.data(), nullptr, nullptr, Act::linear, w.data(), w.data(), 0, 2, 3, dz.data(),
                         dw.data(), db.data(), nullptr, false, false);
  for (double v : dw) EXPECT_EQ(v, 0.0);
  for (double v : db) EXPECT_EQ(v, 0.0);
  // No bias: y = x·Wᵀ exactly.
  std::vector<double> x = {1, -1, 2}, y(2);
  dense_forward<double>(x.data(), w.data(), nullptr, Act::linear, 1, 2, 3, y.data(), nullptr);
  EXPECT_EQ(y[0], 1 - 2 + 6.0);
  EXPECT_EQ(y[1], 4 - 5 + 12.0);
}

}  // namespace
}  // namespace ae::cpu
