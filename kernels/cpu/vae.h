// The cpu reference of a VAE's code layer (kernels/common/vae.h): the reparameterisation z = μ + σ⊙ε
// with its per-row KL and mean KL, and the gradient into the head h = μ ‖ log σ². Templated on the
// element type (float, and double for the fp64 gradient checks); every sum in the order vae.h
// documents, so the result does not depend on the thread count and the CUDA kernels match it.
#pragma once

#include <cstdint>

#include "kernels/common/vae.h"

namespace ae::cpu {

// z = μ + σ⊙ε (or μ when !p.sample); kl[m] = KL_m (closed form, or the sampled form when
// p.sampled_kl), each row summed in vae.h's lane order; value[0] = (1/M) Σ_m kl[m], the rows (as
// rounded to T) added in row order in double, 0 when M = 0. ε of (row m, unit j) is
// vae_eps(seed, step, row_offset + m, j, N). N ≥ 1; z and kl may alias nothing.
template <typename T>
void reparam_forward(const VaeParams& p, uint64_t seed, uint64_t step, uint64_t row_offset,
                     const T* h,  // [M, 2N] μ ‖ log σ²
                     int64_t M, int64_t N,
                     T* z,       // [M, N] out
                     T* kl,      // [M] out: per-row KL (required)
                     T* value);  // [1] out: mean KL, or nullptr

// dh (+)= ∂(z, value)/∂h: dμ = dz + c·μ, dℓ = dz·ε·σ/2 + c·(e^ℓ − 1)/2, c = vae_kl_seed(dvalue[0], M).
// dz == nullptr: no gradient reaches z (taken as 0, ε is not drawn); dvalue == nullptr: c = 0. Only
// p.sample && !p.sampled_kl is differentiable: anything else throws. dh may alias nothing above.
template <typename T>
void reparam_backward(const VaeParams& p, uint64_t seed, uint64_t step, uint64_t row_offset,
                      const T* dz,      // [M, N] or nullptr
                      const T* h,       // [M, 2N] μ ‖ log σ²
                      const T* dvalue,  // [1] or nullptr
                      int64_t M, int64_t N,
                      T* dh,  // [M, 2N] out
                      bool accumulate);

}  // namespace ae::cpu
