// The sparsity penalties on an autoencoder's code h [B, N], shared by every backend: the kinds,
// their parameters, and the three pieces every kernel is built from.
//   l1:  value = (1/B) Σ_b Σ_j |h_bj|                       ∂value/∂h_bj = sign(h_bj) / B
//   kl:  value = Σ_j KL(ρ ‖ ρ̂_j),  ρ̂_j = (1/B) Σ_b h_bj      ∂value/∂h_bj = (−ρ/ρ̂_j + (1−ρ)/(1−ρ̂_j)) / B
// with KL(ρ ‖ ρ̂) = ρ ln(ρ/ρ̂) + (1−ρ) ln((1−ρ)/(1−ρ̂)) ≥ 0, 0 when ρ̂ = ρ. Both are functions of the
// column sums s_j = Σ_b f(h_bj) (f = |·| or identity), so a kernel computes the value in two steps:
// the column sums (in the code layer's forward epilogue on cuda), then Σ_j of a per-unit term. The
// gradient of unit j needs h_bj and s_j only: a dense backward adds it to dy as it loads it. The
// term's weight (λ or β) is not here: it arrives as dvalue, the seed of the objective term.
#pragma once

#include <cmath>
#include <cstdint>

#include "kernels/common/activation.h"  // AE_HD

namespace ae {

enum class SparsityKind : uint8_t {
  none,
  l1,  // λ·(1/B) Σ |h| (tf.keras 2's activity_regularizer=l1)
  kl,  // β·Σ_j KL(ρ ‖ ρ̂_j) on a sigmoid code
};
inline constexpr int SPARSITY_KIND_COUNT = 3;
inline const char* sparsity_kind_name(SparsityKind k) {
  return k == SparsityKind::l1 ? "l1" : k == SparsityKind::kl ? "kl" : k == SparsityKind::none ? "none" : "?";
}

// One penalty's settings; trivially copyable, passed to kernels by value.
struct SparsityParams {
  SparsityKind kind = SparsityKind::none;
  float rho = 0;  // kl: the target mean activation, in (0, 1)
};

// A penalty the kernels can run: l1, or kl with 0 < ρ < 1 (launchers check this before launching).
inline bool sparsity_params_valid(const SparsityParams& p) {
  return p.kind == SparsityKind::l1 || (p.kind == SparsityKind::kl && p.rho > 0 && p.rho < 1);
}

// What the column sums add up: |h| (l1) or h (kl).
template <typename T>
AE_HD inline T sparsity_stat(SparsityKind k, T h) {
  return k == SparsityKind::l1 ? (h < T(0) ? -h : h) : h;
}

// Unit j's share of the value from its column sum s over `batch` rows, in double.
AE_HD inline double sparsity_unit_value(const SparsityParams& p, double s, double inv_batch) {
  if (p.kind == SparsityKind::l1) return s * inv_batch;
  const double rho = p.rho, mean = s * inv_batch;
  return rho * log(rho / mean) + (1.0 - rho) * log((1.0 - rho) / (1.0 - mean));
}

// dvalue · ∂value/∂h for element h of a unit whose column sum is s (sign(0) = 0).
template <typename T>
AE_HD inline T sparsity_grad(const SparsityParams& p, T h, T s, T dvalue, T inv_batch) {
  const T scale = dvalue * inv_batch;
  if (p.kind == SparsityKind::l1) return h > T(0) ? scale : (h < T(0) ? -scale : T(0));
  const T mean = s * inv_batch, rho = static_cast<T>(p.rho);
  return scale * (-rho / mean + (T(1) - rho) / (T(1) - mean));
}

}  // namespace ae
