// The cpu reference of an adversarial autoencoder's prior samples: y[i] = prior_sample(kind, seed,
// step, i) (kernels/common/prior.h), every element from its own Philox draw keyed by its offset, so
// the result is the same at any thread count and on every backend.
#pragma once

#include <cstdint>

#include "kernels/common/prior.h"

namespace ae::cpu {

// y[i] for i in [0, n): element i of a row-major [batch, code] sample.
void prior_sample(PriorKind kind, uint64_t seed, uint64_t step,
                  float* y,  // [n]
                  int64_t n);

}  // namespace ae::cpu
