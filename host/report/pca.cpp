// Principal components for the report's code scatter. See pca.h.
#include "host/report/pca.h"

#include <algorithm>
#include <cmath>
#include <numeric>

#include "kernels/common/error.h"

namespace ae::report {

namespace {

// One Jacobi rotation zeroing a[p][q] of the symmetric [d, d] matrix `a`, accumulated into the
// rows of `v` (v's rows become the eigenvectors). Golub & Van Loan, Algorithm 8.5.2.
void rotate(std::vector<double>& a, std::vector<double>& v, int64_t d, int64_t p, int64_t q) {
  const double apq = a[size_t(p * d + q)];
  if (apq == 0) return;
  const double theta = (a[size_t(q * d + q)] - a[size_t(p * d + p)]) / (2 * apq);
  const double t = (theta >= 0 ? 1.0 : -1.0) / (std::abs(theta) + std::sqrt(theta * theta + 1));
  const double c = 1 / std::sqrt(t * t + 1), s = t * c;
  for (int64_t k = 0; k < d; ++k) {  // columns p and q
    const double akp = a[size_t(k * d + p)], akq = a[size_t(k * d + q)];
    a[size_t(k * d + p)] = c * akp - s * akq;
    a[size_t(k * d + q)] = s * akp + c * akq;
  }
  for (int64_t k = 0; k < d; ++k) {  // rows p and q
    const double apk = a[size_t(p * d + k)], aqk = a[size_t(q * d + k)];
    a[size_t(p * d + k)] = c * apk - s * aqk;
    a[size_t(q * d + k)] = s * apk + c * aqk;
  }
  for (int64_t k = 0; k < d; ++k) {
    const double vp = v[size_t(p * d + k)], vq = v[size_t(q * d + k)];
    v[size_t(p * d + k)] = c * vp - s * vq;
    v[size_t(q * d + k)] = s * vp + c * vq;
  }
}

}  // namespace

SymmetricEigen symmetric_eigen(std::vector<double> a, int64_t d) {
  AE_CHECK(d >= 1 && int64_t(a.size()) == d * d, "symmetric_eigen: a must be [d, d]");
  for (int64_t i = 0; i < d; ++i)  // symmetric from the upper triangle
    for (int64_t j = 0; j < i; ++j) a[size_t(i * d + j)] = a[size_t(j * d + i)];
  std::vector<double> v(size_t(d * d), 0.0);
  for (int64_t i = 0; i < d; ++i) v[size_t(i * d + i)] = 1;
  double scale = 0;
  for (double x : a) scale += x * x;
  // Each sweep squares the off-diagonal mass once it is small: a dozen sweeps reach double
  // precision for any d; 60 is a guard, not an expected count.
  for (int sweep = 0; sweep < 60; ++sweep) {
    double off = 0;
    for (int64_t p = 0; p < d; ++p)
      for (int64_t q = p + 1; q < d; ++q) off += a[size_t(p * d + q)] * a[size_t(p * d + q)];
    if (off <= 1e-30 * scale || off == 0) break;
    for (int64_t p = 0; p < d; ++p)
      for (int64_t q = p + 1; q < d; ++q) rotate(a, v, d, p, q);
  }
  std::vector<int64_t> order(static_cast<size_t>(d));
  std::iota(order.begin(), order.end(), int64_t(0));
  std::stable_sort(order.begin(), order.end(),
                   [&](int64_t i, int64_t j) { return a[size_t(i * d + i)] > a[size_t(j * d + j)]; });
  SymmetricEigen e;
  for (int64_t k : order) {
    e.values.push_back(a[size_t(k * d + k)]);
    const auto row = v.begin() + k * d;
    const auto big = std::max_element(row, row + d, [](double x, double y) { return std::abs(x) < std::abs(y); });
    const double sign = *big < 0 ? -1.0 : 1.0;
    for (int64_t j = 0; j < d; ++j) e.vectors.push_back(sign * row[j]);
  }
  return e;
}

Projection2d principal_components_2d(const float* x, int64_t n, int64_t d) {
  AE_CHECK(n >= 1 && d >= 2, "principal_components_2d: needs n ≥ 1 rows of d ≥ 2 columns");
  std::vector<double> mean(size_t(d), 0.0);
  for (int64_t r = 0; r < n; ++r)
    for (int64_t j = 0; j < d; ++j) mean[size_t(j)] += double(x[r * d + j]);
  for (double& m : mean) m /= double(n);
  std::vector<double> cov(static_cast<size_t>(d * d), 0.0), row(static_cast<size_t>(d));
  for (int64_t r = 0; r < n; ++r) {
    for (int64_t j = 0; j < d; ++j) row[size_t(j)] = double(x[r * d + j]) - mean[size_t(j)];
    for (int64_t i = 0; i < d; ++i)
      for (int64_t j = i; j < d; ++j) cov[size_t(i * d + j)] += row[size_t(i)] * row[size_t(j)];
  }
  for (double& c : cov) c /= double(std::max<int64_t>(1, n - 1));
  const SymmetricEigen e = symmetric_eigen(std::move(cov), d);
  double total = 0;
  for (double l : e.values) total += std::max(0.0, l);
  Projection2d p;
  for (int k = 0; k < 2; ++k) p.explained[k] = total > 0 ? std::max(0.0, e.values[size_t(k)]) / total : 0;
  p.xy.resize(size_t(2 * n));
  for (int64_t r = 0; r < n; ++r)
    for (int k = 0; k < 2; ++k) {
      double s = 0;
      for (int64_t j = 0; j < d; ++j) s += (double(x[r * d + j]) - mean[size_t(j)]) * e.vectors[size_t(k * d + j)];
      p.xy[size_t(2 * r + k)] = float(s);
    }
  return p;
}

}  // namespace ae::report
