// fp64 central differences and seeded inputs for the gradient checks of the unfused primitives
// (matmul, unary, binary, reduce_sum, activation): each check takes a scalar loss L = Σ w ⊙ op(...)
// and compares dL/d(input) by central differences with the analytic gradient that the graph's
// autodiff builds from the same primitives.
#pragma once

#include <gtest/gtest.h>

#include <cmath>
#include <cstdint>
#include <random>
#include <sstream>
#include <string>
#include <vector>

namespace ae::gradcheck {

inline std::vector<double> random_vec(size_t n, uint64_t seed, double lo = -1, double hi = 1) {
  std::mt19937_64 rng(seed);
  std::uniform_real_distribution<double> d(lo, hi);
  std::vector<double> v(n);
  for (auto& e : v) e = d(rng);
  return v;
}

// Like random_vec, but every |value| ≥ margin: a central difference never straddles a kink at 0.
inline std::vector<double> away_from_zero(size_t n, uint64_t seed, double margin = 0.05) {
  std::vector<double> v = random_vec(n, seed);
  for (auto& e : v) e = e < 0 ? e - margin : e + margin;
  return v;
}

inline double dot(const std::vector<double>& a, const std::vector<double>& b) {
  double s = 0;
  for (size_t i = 0; i < a.size(); ++i) s += a[i] * b[i];
  return s;
}

// dL/dv[i] for every i by central differences with step h; v is perturbed in place and restored.
template <class LOSS>
std::vector<double> numeric_grad(std::vector<double>& v, LOSS&& loss, double h = 1e-6) {
  std::vector<double> g(v.size());
  for (size_t i = 0; i < v.size(); ++i) {
    const double keep = v[i];
    v[i] = keep + h;
    const double up = loss();
    v[i] = keep - h;
    const double down = loss();
    v[i] = keep;
    g[i] = (up - down) / (2 * h);
  }
  return g;
}

// |got − want| ≤ tol·(1 + |want|) elementwise; the want vector must not be all zeros unless
// allow_zero (a zero gradient would make the check vacuous).
inline ::testing::AssertionResult all_near(const std::string& what, const std::vector<double>& got,
                                           const std::vector<double>& want, double tol, bool allow_zero = false) {
  if (got.size() != want.size())
    return ::testing::AssertionFailure() << what << ": size " << got.size() << " vs " << want.size();
  double norm = 0;
  for (size_t i = 0; i < want.size(); ++i) {
    norm = std::max(norm, std::fabs(want[i]));
    if (!(std::fabs(got[i] - want[i]) <= tol * (1 + std::fabs(want[i]))))
      return ::testing::AssertionFailure() << what << "[" << i << "]: got " << got[i] << ", want " << want[i];
  }
  if (!allow_zero && norm == 0) return ::testing::AssertionFailure() << what << ": all zero, the check is vacuous";
  return ::testing::AssertionSuccess();
}

}  // namespace ae::gradcheck
