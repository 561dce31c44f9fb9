// The cpu reference of input corruption (denoising): y = corrupt(x) elementwise, every element
// from its own Philox draw keyed by (seed, step, element index) — kernels/common/noise.h — so the
// result is the same at any thread count and on every backend.
#pragma once

#include <cstdint>

#include "kernels/common/noise.h"

namespace ae::cpu {

// y[i] = corrupt(noise, x[i], seed, step, i); y may alias x.
void corrupt(const NoiseParams& noise, uint64_t seed, uint64_t step,
             const float* x,  // [n] (a row-major [batch, features] input: i is the element's offset)
             float* y,        // [n]
             int64_t n);

}  // namespace ae::cpu
