// Launchers of a VAE's code layer on the GPU (kernels/common/vae.h), checked against
// kernels/cpu/vae.h: the forward z = μ + σ⊙ε with each row's KL and the mean KL, and the gradient
// into the head h [M, 2N] = μ ‖ log σ². One fused kernel each way (the forward adds a one-thread
// kernel for the mean). Deterministic: no atomics, the KL sums in the order vae.h documents and the
// mean in row order, as the reference, so under one libm the results are the reference's bits.
// Seed, step and row offset are read on the device from the step block (a captured graph replays
// with each step's values). Pointers are device memory; throws ae::Error on bad arguments.
#pragma once

#include <cuda_runtime.h>

#include <cstdint>

#include "kernels/common/step_scalars.h"
#include "kernels/common/vae.h"

namespace ae::cuda {

// z = μ + σ⊙ε (μ when !p.sample), kl[m] = KL_m (closed or sampled form), value = (1/M) Σ_m kl[m]
// (row order, double) when value is non-null. ε of (row m, unit j) is vae_eps(steps->seed,
// steps->step, steps->row_offset + m, j, N); steps is read only when p.sample (may be null
// otherwise). N ≥ 1; M = 0 launches nothing but writes value = 0. z, kl, value alias nothing.
void reparam_forward(const VaeParams& p,
                     const StepScalars* steps,  // [1] device: seed, step, row_offset
                     const float* h,            // [M, 2N] μ ‖ log σ²
                     int64_t M, int64_t N,
                     float* z,      // [M, N] out
                     float* kl,     // [M] out: per-row KL
                     float* value,  // [1] out: mean KL, or nullptr
                     cudaStream_t stream);

// dh (+)= ∂(z, value)/∂h: dμ = dz + c·μ, dℓ = dz·ε·σ/2 + c·(e^ℓ − 1)/2, c = vae_kl_seed(dvalue[0], M)
// read on the device. dz == nullptr: no gradient reaches z (ε not drawn, steps may be null);
// dvalue == nullptr: c = 0. Only p.sample && !p.sampled_kl has a gradient: anything else throws.
// dh aliases nothing above.
void reparam_backward(const VaeParams& p,
                      const StepScalars* steps,  // [1] device: seed, step, row_offset
                      const float* dz,           // [M, N] or nullptr
                      const float* h,            // [M, 2N] μ ‖ log σ²
                      const float* dvalue,       // [1] device: the KL term's seed (β), or nullptr
                      int64_t M, int64_t N,
                      float* dh,  // [M, 2N] out
                      bool accumulate, cudaStream_t stream);

}  // namespace ae::cuda
