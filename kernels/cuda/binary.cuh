// Launcher of the unfused elementwise binary primitive with broadcast on the GPU: y = a op b (or
// y += a op b) over an [M, N] a, b full, a row vector, a column vector, a scalar or one row or value
// per group of rows (kernels/common/elementwise.h's Broadcast); checked against
// kernels/cpu/binary.h. Pointers are device memory. Throws ae::Error on bad arguments or a failed
// launch; an empty a launches nothing.
#pragma once

#include <cuda_runtime.h>

#include <cstdint>

#include "kernels/common/elementwise.h"

namespace ae::cuda {

// y may alias a; it must not alias a broadcast b.
template <typename T>
void binary(BinaryOp op,
            const T* a,  // [M, N]
            const T* b,  // broadcast_size(bb, M, N, G): [M, N] none, [N] row, [M] col, [1] scalar, [G] channel...
            T* y,        // [M, N]
            int64_t M, int64_t N, Broadcast bb, bool accumulate, cudaStream_t stream,
            int64_t G = 1);  // rows per sample (Broadcast::sample, tile, channel)

}  // namespace ae::cuda
