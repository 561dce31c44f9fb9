// The contractive penalty of a one-layer encoder h = a(z), z = W x + b, in closed form, shared by
// every backend. The Jacobian ∂h/∂x = diag(a′(z)) W, so per sample ‖J‖²_F = Σ_j a′(z_j)² ‖W_j‖² and
//   value = (1/B) Σ_b Σ_j a′(z_bj)² ‖W_j‖² = (1/B) Σ_j s_j n_j,   s_j = Σ_b a′(z_bj)²,  n_j = ‖W_j‖²
//   ∂value/∂z_bj = (2/B) a′(z_bj) a″(z_bj) n_j        (then back through z = W x + b as usual)
//   ∂value/∂W_jk = (2/B) s_j W_jk                     (through the norms only)
// s and n are the forward's by-products the gradients read. The term's weight λ is not here: it
// arrives as dvalue, the seed of the objective term. Deeper encoders are built from primitives
// (graph/build.cpp); they reuse none of this.
#pragma once

#include "kernels/common/activation.h"

namespace ae {

// a′(z)²: what s sums over the batch.
template <typename T>
AE_HD inline T contractive_stat(Act a, T z) {
  const T d = act_derivative_from_z(a, z);
  return d * d;
}

// dvalue·∂value/∂z for one element with pre-activation z of a unit whose row norm² is `norm`.
template <typename T>
AE_HD inline T contractive_grad_z(Act a, T z, T norm, T dvalue, T inv_batch) {
  const T scale = T(2) * dvalue * inv_batch;
  return scale * (act_derivative_from_z(a, z) * act_second_derivative_from_z(a, z)) * norm;
}

// dvalue·∂value/∂W for weight w of a unit whose batch sum of a′² is s.
template <typename T>
AE_HD inline T contractive_grad_w(T w, T s, T dvalue, T inv_batch) {
  const T scale = T(2) * dvalue * inv_batch;
  return (scale * s) * w;
}

}  // namespace ae
