// Test-only kernels (not part of ae's library) that fill a buffer with Philox draws keyed by a
// step, standing in for the noise node until it exists: one reads (seed, step) from the
// device-resident StepScalars block, as every per-step kernel must; the other takes the step as a
// by-value launch argument — the mistake the block exists to prevent (a captured graph freezes it).
#pragma once

#include <cuda_runtime.h>

#include <cstdint>

#include "kernels/common/step_scalars.h"

namespace ae::cudatest {

// out[4·i + w] = word w of philox_draw(block->seed, block->step, corruption, i), i < n.
void philox_fill_from_block(const StepScalars* block,  // [1] device
                            uint32_t* out,             // [n × 4] device
                            int64_t n, cudaStream_t stream);

// The same draws for the (seed, step) given at launch.
void philox_fill_by_value(uint64_t seed, int64_t step,
                          uint32_t* out,  // [n × 4] device
                          int64_t n, cudaStream_t stream);

}  // namespace ae::cudatest
