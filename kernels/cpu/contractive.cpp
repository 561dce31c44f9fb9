// The cpu contractive penalty in closed form: plain loops, sums in double in row order (s walks
// the batch per unit, n the unit's weights, the value the units), gradients elementwise, so no
// result depends on the thread count.
#include "kernels/cpu/contractive.h"

#include <vector>

#include "kernels/common/error.h"
#include "kernels/cpu/simd.h"

namespace ae::cpu {

namespace {
void check(Act act, int64_t M, int64_t N, int64_t K, const char* what) {
  AE_CHECK(M >= 0 && N >= 0 && K >= 0, what, ": negative dimension (M=", M, ", N=", N, ", K=", K, ")");
  AE_CHECK(static_cast<int>(act) < ACT_COUNT, what, ": unknown activation ", static_cast<int>(act));
}
}  // namespace

template <typename T>
void contractive_forward(Act act, const T* z, const T* w, int64_t M, int64_t N, int64_t K, T* s, T* norms, T* value) {
  check(act, M, N, K, "contractive_forward");
  AE_CHECK(value != nullptr && (N == 0 || (s != nullptr && norms != nullptr)), "contractive_forward: an output is null");
  std::vector<double> sum(size_t(N), 0.0);
  for (int64_t m = 0; m < M; ++m)
    for (int64_t j = 0; j < N; ++j) sum[size_t(j)] += static_cast<double>(contractive_stat(act, z[m * N + j]));
  double v = 0;
  for (int64_t j = 0; j < N; ++j) {
    double n = 0;
    for (int64_t k = 0; k < K; ++k) n += static_cast<double>(w[j * K + k]) * static_cast<double>(w[j * K + k]);
    s[j] = static_cast<T>(sum[size_t(j)]);
    norms[j] = static_cast<T>(n);
    v += sum[size_t(j)] * n;
  }
  *value = static_cast<T>(M > 0 ? v / double(M) : 0.0);
}

template <typename T>
void contractive_backward_z(Act act, const T* dvalue, const T* z, const T* norms, int64_t M, int64_t N, T* dz,
                            bool accumulate) {
  check(act, M, N, 0, "contractive_backward_z");
  if (M == 0 || N == 0) return;
  AE_CHECK(dvalue && z && norms && dz, "contractive_backward_z: a pointer is null");
  const T inv_batch = T(1) / static_cast<T>(M);
#pragma omp parallel for schedule(static) if (M * N >= PARALLEL_MIN_ELEMENTS)
  for (int64_t m = 0; m < M; ++m)
    for (int64_t j = 0; j < N; ++j) {
      const T g = contractive_grad_z(act, z[m * N + j], norms[j], *dvalue, inv_batch);
      dz[m * N + j] = accumulate ? dz[m * N + j] + g : g;
    }
}

template <typename T>
void contractive_backward_w(const T* dvalue, const T* w, const T* s, int64_t M, int64_t N, int64_t K, T* dw,
                            bool accumulate) {
  check(Act::linear, M, N, K, "contractive_backward_w");
  if (N == 0 || K == 0) return;
  AE_CHECK(dvalue && w && s && dw, "contractive_backward_w: a pointer is null");
  const T inv_batch = M > 0 ? T(1) / static_cast<T>(M) : T(0);  // an empty batch: a zero penalty
#pragma omp parallel for schedule(static) if (N * K >= PARALLEL_MIN_ELEMENTS)
  for (int64_t j = 0; j < N; ++j)
    for (int64_t k = 0; k < K; ++k) {
      const T g = contractive_grad_w(w[j * K + k], s[j], *dvalue, inv_batch);
      dw[j * K + k] = accumulate ? dw[j * K + k] + g : g;
    }
}

template void contractive_forward<float>(Act, const float*, const float*, int64_t, int64_t, int64_t, float*, float*, float*);
template void contractive_forward<double>(Act, const double*, const double*, int64_t, int64_t, int64_t, double*, double*,
                                          double*);
template void contractive_backward_z<float>(Act, const float*, const float*, const float*, int64_t, int64_t, float*, bool);
template void contractive_backward_z<double>(Act, const double*, const double*, const double*, int64_t, int64_t, double*,
                                             bool);
template void contractive_backward_w<float>(const float*, const float*, const float*, int64_t, int64_t, int64_t, float*,
                                            bool);
template void contractive_backward_w<double>(const double*, const double*, const double*, int64_t, int64_t, int64_t,
                                             double*, bool);

}  // namespace ae::cpu
