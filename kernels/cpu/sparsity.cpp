// The cpu sparsity penalty: plain loops. Column sums walk the rows in order per column (double),
// the value adds the units' terms in unit order, and the gradient is elementwise, so the result
// does not depend on the thread count.
#include "kernels/cpu/sparsity.h"

#include <vector>

#include "kernels/common/error.h"
#include "kernels/cpu/simd.h"

namespace ae::cpu {

namespace {
void check(const SparsityParams& p, int64_t M, int64_t N, const char* what) {
  AE_CHECK(M >= 0 && N >= 0, what, ": negative dimension (M=", M, ", N=", N, ")");
  AE_CHECK(p.kind == SparsityKind::l1 || p.kind == SparsityKind::kl, what, ": unknown sparsity kind ", static_cast<int>(p.kind));
  AE_CHECK(p.kind != SparsityKind::kl || (p.rho > 0 && p.rho < 1), what, ": kl needs 0 < rho < 1, got ", p.rho);
}
}  // namespace

template <typename T>
void sparsity_forward(const SparsityParams& p, const T* h, int64_t M, int64_t N, T* colsum, T* value) {
  check(p, M, N, "sparsity_forward");
  AE_CHECK(value != nullptr && (N == 0 || colsum != nullptr), "sparsity_forward: an output is null");
  std::vector<double> s(size_t(N), 0.0);
  for (int64_t m = 0; m < M; ++m)
    for (int64_t j = 0; j < N; ++j) s[size_t(j)] += static_cast<double>(sparsity_stat(p.kind, h[m * N + j]));
  const double inv_batch = M > 0 ? 1.0 / double(M) : 0.0;
  double v = 0;
  for (int64_t j = 0; j < N; ++j) {
    colsum[j] = static_cast<T>(s[size_t(j)]);
    if (M > 0) v += sparsity_unit_value(p, s[size_t(j)], inv_batch);
  }
  *value = static_cast<T>(v);
}

template <typename T>
void sparsity_backward(const SparsityParams& p, const T* dvalue, const T* h, const T* colsum, int64_t M, int64_t N, T* dh,
                       bool accumulate) {
  check(p, M, N, "sparsity_backward");
  if (M == 0 || N == 0) return;
  AE_CHECK(dvalue && h && colsum && dh, "sparsity_backward: a pointer is null");
  const T inv_batch = T(1) / static_cast<T>(M);
#pragma omp parallel for schedule(static) if (M * N >= PARALLEL_MIN_ELEMENTS)
  for (int64_t m = 0; m < M; ++m)
    for (int64_t j = 0; j < N; ++j) {
      const T g = sparsity_grad(p, h[m * N + j], colsum[j], *dvalue, inv_batch);
      dh[m * N + j] = accumulate ? dh[m * N + j] + g : g;
    }
}

template void sparsity_forward<float>(const SparsityParams&, const float*, int64_t, int64_t, float*, float*);
template void sparsity_forward<double>(const SparsityParams&, const double*, int64_t, int64_t, double*, double*);
template void sparsity_backward<float>(const SparsityParams&, const float*, const float*, const float*, int64_t, int64_t,
                                       float*, bool);
template void sparsity_backward<double>(const SparsityParams&, const double*, const double*, const double*, int64_t,
                                        int64_t, double*, bool);

}  // namespace ae::cpu
