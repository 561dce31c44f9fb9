// Launcher of the unfused input corruption y = corrupt(x) on the GPU (denoising; the math and the
// bits are kernels/common/noise.h's), checked against kernels/cpu/noise.h. The fused path instead
// regenerates the corruption inside the first layer's GEMMs (gemm_tile.cuh); this op runs where
// lowering keeps the corrupted input as a tensor. Pointers are device memory; n = 0 launches nothing.
#pragma once

#include <cuda_runtime.h>

#include <cstdint>

#include "kernels/common/noise.h"
#include "kernels/common/step_scalars.h"

namespace ae::cuda {

// y[i] = corrupt(noise, x[i], steps->seed, steps->step, i); y may alias x.
void corrupt(const NoiseParams& noise,
             const StepScalars* steps,  // [1] device: this step's seed and step
             const float* x,            // [n] a row-major [batch, features] input
             float* y,                  // [n]
             int64_t n, cudaStream_t stream);

}  // namespace ae::cuda
