// Launcher of the unfused reduce_sum primitive on the GPU: y = alpha·Σ x over the rows (y [N], a
// bias gradient), the columns (y [M]), everything (y [1]) or per group of rows (groups, samples,
// channels: kernels/common/elementwise.h) of an [M, N] x, overwriting or accumulating; checked
// against kernels/cpu/reduce.h. Deterministic: every sum has a fixed order whatever the scheduling
// (no atomics). Pointers are device memory; throws ae::Error on bad arguments.
#pragma once

#include <cuda_runtime.h>

#include <cstdint>

#include "kernels/common/elementwise.h"

namespace ae::cuda {

// M or N may be 0 (the sums are 0). y must not alias x.
template <typename T>
void reduce_sum(ReduceAxis axis, T alpha,
                const T* x,  // [M, N]
                T* y,        // [N] rows, [M] cols, [1] all, [M/G, N] groups, [G, N] samples, [G] channels
                int64_t M, int64_t N, bool accumulate, cudaStream_t stream,
                int64_t G = 1);  // rows per sample (ReduceAxis::groups, samples, channels)

}  // namespace ae::cuda
