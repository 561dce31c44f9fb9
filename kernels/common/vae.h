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
  bool sampled_kl = false;
};

// Philox steps at and above this are never training steps: scoring draws sample k of an
// importance-weighted bound (or the one sample of a negative ELBO, k = 0) at VAE_SCORE_STEP + k.
inline constexpr uint64_t VAE_SCORE_STEP = uint64_t(1) << 55;

// ε of unit j of data row `row`, a code of N units.
AE_HD inline float vae_eps(uint64_t seed, uint64_t step, uint64_t row, int64_t j, int64_t N) {
  return philox_normal(seed, step, PhiloxPurpose::vae_noise, row * static_cast<uint64_t>(N) + static_cast<uint64_t>(j));
}

// σ = exp(ℓ/2), in float as torch.exp(0.5 * logvar).
AE_HD inline float vae_sigma(float logvar) { return math::exp(0.5f * logvar); }

// z = μ + σ·ε. The product of two floats is exact in double and the sum rounds once there, so a
// compiler that contracts to a fused multiply-add computes the same float.
AE_HD inline float vae_z(float mu, float sigma, float eps) {
  return static_cast<float>(static_cast<double>(mu) + static_cast<double>(sigma) * static_cast<double>(eps));
}

// Unit j's term of KL_m before the −½: 1 + ℓ − μ² − e^ℓ, in double.
AE_HD inline double vae_kl_unit(float mu, float logvar) {
  const double m = mu, l = logvar;
  return 1.0 + l - m * m - math::exp(l);
}

// Unit j's term of the sampled form before the ½: z² − ε² − ℓ, in double.
AE_HD inline double vae_sampled_kl_unit(float z, float eps, float logvar) {
  const double zd = z, e = eps;
  return zd * zd - e * e - static_cast<double>(logvar);
}

// ∂/∂μ = dz + c·μ (c = dvalue/M).
AE_HD inline float vae_grad_mu(float dz, float mu, float c) {
  return static_cast<float>(static_cast<double>(dz) + static_cast<double>(c) * static_cast<double>(mu));
}

// ∂/∂ℓ = dz·ε·σ/2 + c·(e^ℓ − 1)/2, with σ = vae_sigma(ℓ) and e^ℓ = σ² as the forward had them.
AE_HD inline float vae_grad_logvar(float dz, float eps, float sigma, float logvar, float c) {
  const double through_z = 0.5 * (static_cast<double>(dz) * static_cast<double>(eps)) * static_cast<double>(sigma);
  const double through_kl = 0.5 * static_cast<double>(c) * math::expm1(static_cast<double>(logvar));
  return static_cast<float>(through_z + through_kl);
}

}  // namespace ae
