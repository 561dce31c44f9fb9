// Draws from the prior an adversarial autoencoder's code is pushed toward (Makhzani et al., 2016),
// shared by every backend: the discriminator sees prior samples p [B, N] as "real" and encoder
// codes as "fake". Element i (its offset in the row-major [B, N] sample) of training step `step` is
//   gaussian: philox_normal(seed, step, prior, i)                 (N(0, 1), Box–Muller in double)
//   uniform:  2·philox_uniform(seed, step, prior, i) − 1          (U[−1, 1), exact in float)
// Training steps start at 1; `ae sample` draws its codes at step 0 of the same purpose.
#pragma once

#include <cstdint>

#include "kernels/common/philox.h"

namespace ae {

enum class PriorKind : uint8_t { gaussian, uniform };
inline constexpr int PRIOR_KIND_COUNT = 2;

// Sample element `index` of step `step`. The uniform's 24-bit u·2 − 1 is exact in float, and the
// gaussian rounds one double to float: the same bits on cpu, cuda-sim and (but for rare last-place
// libm differences in log/cos, as for every gaussian draw) cuda.
AE_HD inline float prior_sample(PriorKind kind, uint64_t seed, uint64_t step, uint64_t index) {
  if (kind == PriorKind::uniform) return 2.0f * philox_uniform(seed, step, PhiloxPurpose::prior, index) - 1.0f;
  return philox_normal(seed, step, PhiloxPurpose::prior, index);
}

}  // namespace ae
