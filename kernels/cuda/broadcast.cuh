// Launcher of the broadcast primitive on CUDA: y[M, N] = alpha·x spread over rows, columns,
// everything or groups of rows (kernels/common/elementwise.h's Broadcast). Same contract as
// ae::cpu::broadcast (kernels/cpu/broadcast.h), plus a stream. Pointers are device memory. Throws
// ae::Error on bad arguments or a failed launch.
#pragma once

#include <cuda_runtime.h>

#include <cstdint>

#include "kernels/common/elementwise.h"

namespace ae::cuda {

template <typename T>
void broadcast(Broadcast bb, T alpha,
               const T* x,  // broadcast_size(bb, M, N, G): [M, N] none, [N] row, [M] col, [1] scalar, [G] channel...
               T* y,        // [M, N]
               int64_t M, int64_t N, bool accumulate, cudaStream_t stream,
               int64_t G = 1);  // rows per sample (Broadcast::sample, tile, channel)

}  // namespace ae::cuda
