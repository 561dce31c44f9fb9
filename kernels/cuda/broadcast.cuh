// Launcher of the broadcast primitive on CUDA: y[M, N] = alpha·x spread over rows, columns or
// everything. Same contract as ae::cpu::broadcast (kernels/cpu/broadcast.h), plus a stream.
// Pointers are device memory. Throws ae::Error on bad arguments or a failed launch.
#pragma once

#include <cuda_runtime.h>

#include <cstdint>

#include "kernels/common/elementwise.h"

namespace ae::cuda {

template <typename T>
void broadcast(Broadcast bb, T alpha,
               const T* x,  // [M, N] none, [N] row, [M] col, [1] scalar
               T* y,        // [M, N]
               int64_t M, int64_t N, bool accumulate, cudaStream_t stream,
               int64_t G = 1);  // rows per sample (Broadcast::sample, tile)

}  // namespace ae::cuda
