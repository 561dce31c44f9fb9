// The cpu reference of the unfused reduce_sum primitive over an [M, N] tensor: over rows (y [N], a
// bias gradient), over columns (y [M]), everything (y [1]) or per group of rows (groups, samples,
// channels: kernels/common/elementwise.h); the adjoint of binary's broadcasts. Sums run in double
// in a fixed order (rows in ascending m, columns in ascending n, `all` as the row sums added in row
// order, `channels` as each channel's row sums added in sample order), so the result does not
// depend on the thread count.
#pragma once

#include <cstdint>

#include "kernels/common/elementwise.h"

namespace ae::cpu {

// y = alpha·Σ x over axis, or y += alpha·Σ x with accumulate. M or N may be 0 (the sums are 0).
// y must not alias x.
template <typename T>
void reduce_sum(ReduceAxis axis, T alpha,
                const T* x,  // [M, N]
                T* y,        // [N] rows, [M] cols, [1] all, [M/G, N] groups, [G, N] samples, [G] channels
                int64_t M, int64_t N, bool accumulate,
                int64_t G = 1);  // rows per sample (ReduceAxis::groups, samples, channels)

}  // namespace ae::cpu
