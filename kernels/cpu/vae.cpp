// The cpu VAE code layer: plain loops. A row's KL is summed in vae.h's lane order (32 interleaved
// double lanes, then the fixed tree), the mean KL adds the rounded rows in row order in double, and
// every ε is its own Philox draw keyed by (row_offset + m, j): rows are independent, so they are
// split over OpenMP threads without changing a bit.
#include "kernels/cpu/vae.h"

#include "kernels/common/error.h"
#include "kernels/cpu/simd.h"

namespace ae::cpu {

namespace {

// A Philox draw plus a log and a cos in double per element: worth threads early, as the noise op.
constexpr int64_t PARALLEL_MIN_UNITS = PARALLEL_MIN_ELEMENTS / 16;

void check_shape(int64_t M, int64_t N, const char* what) {
  AE_CHECK(M >= 0 && N >= 1, what, ": need M >= 0 rows and N >= 1 code units, got M=", M, ", N=", N);
}

// One row: z [N] from h [2N], and KL_m in vae.h's order.
template <typename T>
T forward_row(const VaeParams& p, uint64_t seed, uint64_t step, uint64_t row,
              const T* h,  // [2N] μ ‖ ℓ
              int64_t N,
              T* z) {  // [N]
  double lane[VAE_KL_LANES] = {};
  for (int64_t j = 0; j < N; ++j) {
    const T mu = h[j], logvar = h[N + j];
    T eps = T(0), zj = mu;  // mean mode: ε = 0, z = μ exactly
    if (p.sample) {
      eps = static_cast<T>(vae_eps(seed, step, row, j, N));
      zj = vae_z(mu, vae_sigma(logvar), eps);
    }
    z[j] = zj;
    lane[j % VAE_KL_LANES] += p.sampled_kl ? vae_sampled_kl_unit(zj, eps, logvar) : vae_kl_unit(mu, logvar);
  }
  for (int w = VAE_KL_LANES / 2; w >= 1; w /= 2)
    for (int l = 0; l < w; ++l) lane[l] += lane[l + w];
  return static_cast<T>(vae_kl_row(lane[0], p.sampled_kl));
}

}  // namespace

template <typename T>
void reparam_forward(const VaeParams& p, uint64_t seed, uint64_t step, uint64_t row_offset, const T* h, int64_t M,
                     int64_t N, T* z, T* kl, T* value) {
  check_shape(M, N, "reparam_forward");
  AE_CHECK(M == 0 || (h != nullptr && z != nullptr && kl != nullptr), "reparam_forward: h, z or kl is null");
#pragma omp parallel for schedule(static) if (M * N >= PARALLEL_MIN_UNITS)
  for (int64_t m = 0; m < M; ++m)
    kl[m] = forward_row(p, seed, step, row_offset + uint64_t(m), h + m * 2 * N, N, z + m * N);
  if (value == nullptr) return;
  double total = 0.0;  // the rows as rounded to T, in row order
  for (int64_t m = 0; m < M; ++m) total += static_cast<double>(kl[m]);
  *value = M > 0 ? static_cast<T>(total / static_cast<double>(M)) : T(0);
}

template <typename T>
void reparam_backward(const VaeParams& p, uint64_t seed, uint64_t step, uint64_t row_offset, const T* dz, const T* h,
                      const T* dvalue, int64_t M, int64_t N, T* dh, bool accumulate) {
  check_shape(M, N, "reparam_backward");
  AE_CHECK(p.sample && !p.sampled_kl,
           "reparam_backward: only the sampling op with the closed-form KL has a gradient "
           "(got sample=",
           p.sample, ", sampled_kl=", p.sampled_kl, "); the mean code and the sampled KL are forward-only");
  if (M == 0) return;
  AE_CHECK(h != nullptr && dh != nullptr, "reparam_backward: h or dh is null");
  const T c = dvalue != nullptr ? vae_kl_seed(*dvalue, M) : T(0);
#pragma omp parallel for schedule(static) if (M * N >= PARALLEL_MIN_UNITS)
  for (int64_t m = 0; m < M; ++m)
    for (int64_t j = 0; j < N; ++j) {
      const int64_t im = m * 2 * N + j, il = im + N;  // μ_mj and ℓ_mj in h and dh
      const T mu = h[im], logvar = h[il];
      // No dz: nothing flows through z, so ε is not drawn and σ plays no part (0, not 0·∞).
      T g = T(0), eps = T(0), sigma = T(0);
      if (dz != nullptr) {
        g = dz[m * N + j];
        eps = static_cast<T>(vae_eps(seed, step, row_offset + uint64_t(m), j, N));
        sigma = vae_sigma(logvar);
      }
      const T d_mu = vae_grad_mu(g, mu, c), d_logvar = vae_grad_logvar(g, eps, sigma, logvar, c);
      dh[im] = accumulate ? dh[im] + d_mu : d_mu;
      dh[il] = accumulate ? dh[il] + d_logvar : d_logvar;
    }
}

template void reparam_forward<float>(const VaeParams&, uint64_t, uint64_t, uint64_t, const float*, int64_t, int64_t,
                                     float*, float*, float*);
template void reparam_forward<double>(const VaeParams&, uint64_t, uint64_t, uint64_t, const double*, int64_t, int64_t,
                                      double*, double*, double*);
template void reparam_backward<float>(const VaeParams&, uint64_t, uint64_t, uint64_t, const float*, const float*,
                                      const float*, int64_t, int64_t, float*, bool);
template void reparam_backward<double>(const VaeParams&, uint64_t, uint64_t, uint64_t, const double*, const double*,
                                       const double*, int64_t, int64_t, double*, bool);

}  // namespace ae::cpu
