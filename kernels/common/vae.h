// The variational code layer, shared by every backend: the reparameterisation and the KL term of a
// VAE whose encoder ends in one linear head h [M, 2N] — columns [0, N) the mean μ, [N, 2N) the
// log-variance ℓ = log σ² (one GEMM for both heads; the model file names them apart).
//   z_mj  = μ_mj + σ_mj·ε_mj,   σ = exp(ℓ/2),   ε ~ N(0, 1) from Philox
//   KL_m  = −½ Σ_j (1 + ℓ_mj − μ_mj² − e^ℓ_mj)            (KL(q(z|x_m) ‖ N(0, I)), nats)
//   value = (1/M) Σ_m KL_m                                 (the objective's KL term; β is its weight)
// Gradients, with c = dvalue/M (dvalue: the term's seed, β at this step):
//   ∂/∂μ = dz + c·μ        ∂/∂ℓ = dz·ε·σ/2 + c·(e^ℓ − 1)/2
// ε of element (row r, unit j) is philox_normal(seed, step, vae_noise, (row_offset + r)·N + j): the
// same on every backend and thread count. Training passes the batch-local row (row_offset 0) and
// the training step; scoring passes the data row and a step of its own (kernels/common/vae.h's
// callers say which), so a score does not depend on the batch size.
#pragma once

#include <cstdint>

#include "kernels/common/philox.h"

namespace ae {

// What a reparam op computes. Trivially copyable, passed to kernels by value.
struct VaeParams {
  bool sample = true;       // z = μ + σ⊙ε; false: z = μ (the code `ae encode` writes), KL as usual
  // KL_m as the one-sample estimate log q(z_m|x_m) − log p(z_m) = ½ Σ_j (z² − ε² − ℓ) instead of the
  // closed form: the log-weights of the importance-weighted bound (`ae score --iw K`). Forward only.
  // With !sample, ε = 0 (z = μ): the log-density ratio at the mean, ½ Σ_j (μ² − ℓ).
  bool sampled_kl = false;
};
// Only {sample, closed-form KL} has a backward (the training op); the other combinations are
// forward-only and a backward refuses them.

// Philox steps at and above this are never training steps: scoring draws sample k of an
// importance-weighted bound (or the one sample of a negative ELBO, k = 0) at VAE_SCORE_STEP + k.
inline constexpr uint64_t VAE_SCORE_STEP = uint64_t(1) << 55;

// ε of unit j of data row `row`, a code of N units. Always a float draw: the fp64 reference (the
// gradient checks) widens the same ε, so both precisions see one noise.
AE_HD inline float vae_eps(uint64_t seed, uint64_t step, uint64_t row, int64_t j, int64_t N) {
  return philox_normal(seed, step, PhiloxPurpose::vae_noise, row * static_cast<uint64_t>(N) + static_cast<uint64_t>(j));
}

// The helpers below are templated on the element type T: float is what every backend runs (each
// formula's roundings are part of the contract: cpu, cuda-sim and cuda agree bit for bit under one
// libm); double is the cpu reference's fp64 instantiation for the central-difference checks, where
// the casts to double change nothing.

// σ = exp(ℓ/2), in T as torch.exp(0.5 * logvar).
template <typename T>
AE_HD inline T vae_sigma(T logvar) {
  return math::exp(T(0.5) * logvar);
}

// z = μ + σ·ε. The product of two floats is exact in double and the sum rounds once there, so a
// compiler that contracts to a fused multiply-add computes the same float.
template <typename T>
AE_HD inline T vae_z(T mu, T sigma, T eps) {
  return static_cast<T>(static_cast<double>(mu) + static_cast<double>(sigma) * static_cast<double>(eps));
}

// Unit j's term of KL_m before the −½: 1 + ℓ − μ² − e^ℓ, in double.
template <typename T>
AE_HD inline double vae_kl_unit(T mu, T logvar) {
  const double m = mu, l = logvar;
  return 1.0 + l - m * m - math::exp(l);
}

// Unit j's term of the sampled form before the ½: z² − ε² − ℓ, in double.
template <typename T>
AE_HD inline double vae_sampled_kl_unit(T z, T eps, T logvar) {
  const double zd = z, e = eps;
  return zd * zd - e * e - static_cast<double>(logvar);
}

// The order of a row's KL sum, one contract for every backend (the CUDA forward is one warp per row):
// unit j goes to lane j mod VAE_KL_LANES; each lane adds its units' terms (vae_kl_unit or
// vae_sampled_kl_unit) in ascending j in double, starting at 0; then the lanes meet in the fixed tree
//   for w = 16, 8, 4, 2, 1:  lane[l] += lane[l + w]   (l < w)
// and lane 0 holds the row's sum S. KL_m = vae_kl_row(S) rounded once to T. The mean then adds the
// M rows as rounded to T in row order in double and divides by M once (value 0 when M = 0).
inline constexpr int VAE_KL_LANES = 32;

// KL_m from its row sum S: −½·S for the closed form, ½·S for the sampled one.
AE_HD inline double vae_kl_row(double sum, bool sampled_kl) {
  return (sampled_kl ? 0.5 : -0.5) * sum;
}

// c = dvalue/M, the KL term's gradient seed per row, in double and rounded once to T (M > 0).
template <typename T>
AE_HD inline T vae_kl_seed(T dvalue, int64_t M) {
  return static_cast<T>(static_cast<double>(dvalue) / static_cast<double>(M));
}

// ∂/∂μ = dz + c·μ (c = dvalue/M).
template <typename T>
AE_HD inline T vae_grad_mu(T dz, T mu, T c) {
  return static_cast<T>(static_cast<double>(dz) + static_cast<double>(c) * static_cast<double>(mu));
}

// ∂/∂ℓ = dz·ε·σ/2 + c·(e^ℓ − 1)/2, with σ = vae_sigma(ℓ) as the forward had it and e^ℓ − 1 taken
// by expm1 in double (accurate where ℓ ≈ 0, the prior's log-variance).
template <typename T>
AE_HD inline T vae_grad_logvar(T dz, T eps, T sigma, T logvar, T c) {
  const double through_z = 0.5 * (static_cast<double>(dz) * static_cast<double>(eps)) * static_cast<double>(sigma);
  const double through_kl = 0.5 * static_cast<double>(c) * math::expm1(static_cast<double>(logvar));
  return static_cast<T>(through_z + through_kl);
}

}  // namespace ae
