// The codes of a report drawn in 2-D: the first two principal components of an [n, d] matrix,
// from its covariance in double and a cyclic Jacobi eigen-solver (d is a code width: a few
// hundred at most, so the O(d³) sweeps cost milliseconds and need no LAPACK).
#pragma once

#include <cstdint>
#include <vector>

namespace ae::report {

// Eigen-decomposition of a symmetric matrix by cyclic Jacobi rotations.
struct SymmetricEigen {
  std::vector<double> values;   // [d], descending
  std::vector<double> vectors;  // [d, d]: row k is the unit eigenvector of values[k]
};
// `a` is [d, d], symmetric (only the upper triangle is read). Each eigenvector's largest
// component is made positive, so the result does not depend on rotation order signs.
SymmetricEigen symmetric_eigen(std::vector<double> a, int64_t d);

struct Projection2d {
  std::vector<float> xy;        // [n, 2]: each row's coordinates on the two components
  double explained[2] = {0, 0};  // share of the total variance each component holds (0 when it is 0)
};
// The rows of x ([n, d], n ≥ 1, d ≥ 2) centred and projected on the two leading principal
// components of their covariance.
Projection2d principal_components_2d(const float* x, int64_t n, int64_t d);

}  // namespace ae::report
