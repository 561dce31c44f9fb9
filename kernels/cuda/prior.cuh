// Launcher of an adversarial autoencoder's prior samples on the GPU: y[i] = prior_sample(kind,
// seed, step, i), the math and the bits kernels/common/prior.h's, checked against
// kernels/cpu/prior.h. Seed and step come from the device's step scalars, so a captured CUDA graph
// draws each step's samples. Pointers are device memory; n = 0 launches nothing.
#pragma once

#include <cuda_runtime.h>

#include <cstdint>

#include "kernels/common/prior.h"
#include "kernels/common/step_scalars.h"

namespace ae::cuda {

void prior_sample(PriorKind kind,
                  const StepScalars* steps,  // [1] device: this step's seed and step
                  float* y,                  // [n] a row-major [batch, code] sample
                  int64_t n, cudaStream_t stream);

}  // namespace ae::cuda
