// What the convolution and pooling tests share: the one tolerance of a float result against the
// double reference, seeded inputs (uniform, or small integers for the exact mode) and the
// elementwise comparison that checks NaN/Inf before numbers and reports the worst error and margin.
#pragma once

#include <gtest/gtest.h>

#include <cmath>
#include <cstdint>
#include <limits>
#include <random>
#include <sstream>
#include <string>
#include <vector>

#include "tests/kernels/grad_check.h"

namespace ae::convtest {

// A float result of a reduction of K terms, each of magnitude at most `scale`, against the double
// reference r: |a − r| ≤ 32·ε·scale·√K + 32·ε·|r| (ε = float's epsilon). The two sum in different
// orders (oneDNN's blocking against the reference's loop), a random walk of about √K roundings of
// terms of size scale; 32 leaves a margin of several standard deviations, while a lost or doubled
// term (an error of order scale) is far above the bound.
inline double f32_bound(int64_t K, double scale, double ref) {
  constexpr double eps = std::numeric_limits<float>::epsilon();
  return 32 * eps * scale * std::sqrt(static_cast<double>(K > 1 ? K : 1)) + 32 * eps * std::fabs(ref);
}

// Uniform values in [lo, hi): the gradient checks' generator (tests/kernels/grad_check.h).
inline std::vector<double> uniform(size_t n, uint64_t seed, double lo = -1, double hi = 1) {
  return gradcheck::random_vec(n, seed, lo, hi);
}

// Integers in [−r, r]: products and every partial sum of a convolution of them are exact in float.
inline std::vector<double> small_ints(size_t n, uint64_t seed, int r = 2) {
  std::mt19937_64 rng(seed);
  std::uniform_int_distribution<int> d(-r, r);
  std::vector<double> v(n);
  for (auto& e : v) e = d(rng);
  return v;
}

template <typename T, typename U>
std::vector<T> cast(const std::vector<U>& v) {
  return std::vector<T>(v.begin(), v.end());
}

inline double max_abs(const std::vector<double>& v) {
  double m = 0;
  for (double e : v) m = std::max(m, std::fabs(e));
  return m;
}

// Float `got` against the double reference `want`, element by element: non-finite values must
// match as such (an unwritten NaN-prefilled element fails here), then |got − want| ≤ f32_bound
// (bit equality when exact). The reference must not be all zero (a vacuous check).
template <typename F>
::testing::AssertionResult close_to_reference(const std::string& what, const std::vector<F>& got,
                                              const std::vector<double>& want, int64_t K, double scale,
                                              bool exact = false) {
  if (got.size() != want.size())
    return ::testing::AssertionFailure() << what << ": size " << got.size() << " vs " << want.size();
  double worst = 0, worst_margin = std::numeric_limits<double>::infinity(), norm = 0;
  for (size_t i = 0; i < want.size(); ++i) {
    const double g = got[i], r = want[i];
    if (!std::isfinite(g) || !std::isfinite(r)) {
      if (std::isnan(g) != std::isnan(r) || (!std::isnan(r) && g != r))
        return ::testing::AssertionFailure() << what << "[" << i << "]: got " << g << ", want " << r;
      continue;
    }
    norm = std::max(norm, std::fabs(r));
    const double err = std::fabs(g - r), bound = exact ? 0.0 : f32_bound(K, scale, r);
    if (exact ? got[i] != static_cast<F>(r) : !(err <= bound))
      return ::testing::AssertionFailure() << what << "[" << i << "]: got " << g << ", want " << r << " (error "
                                           << err << ", bound " << bound << ")";
    worst = std::max(worst, err);
    if (!exact) worst_margin = std::min(worst_margin, bound - err);
  }
  if (norm == 0) return ::testing::AssertionFailure() << what << ": the reference is all zero, the check is vacuous";
  return ::testing::AssertionSuccess() << what << ": worst error " << worst << ", least margin " << worst_margin;
}

}  // namespace ae::convtest
