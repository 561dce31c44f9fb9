// Launcher of the tensor-core dense backward for mixed precision: the gradients of
// dense_forward_tc (kernels/cuda/dense_fwd_tc.cuh), with dy, y, z, x and W in the storage type IN
// (__half, __nv_bfloat16, or float for tf32 math), products on the tensor cores, fp32 accumulation,
// and the parameter gradients in fp32 (they go to the fp32 master weights). Pointers are device
// memory. Throws ae::Error on bad arguments or a failed launch (naming the kernel).
#pragma once

#include <cuda_bf16.h>
#include <cuda_fp16.h>
#include <cuda_runtime.h>

#include <cstdint>

#include "kernels/common/activation.h"
#include "kernels/cuda/tc_tile.cuh"

namespace ae::cuda {

//   dz = dy ⊙ act′ computed in fp32 as dy is loaded (from z when z is given, else from y; gelu
//        needs z), rounded to IN (tf32: to tf32) for the tensor cores; never stored
//   dW (+)= dzᵀ·x,  db (+)= column sums of the rounded dz (fp32, row order, bitwise deterministic),
//   dx = dz·W, rounded to IN
// Two kernels, as ae::cuda::dense_backward: dW with db in the same pass, then dx (skipped when dx
// is null). accumulate_dw / accumulate_db add into dw / db instead of overwriting them. dw, db, dx
// must not alias the inputs.
// Not yet here (fp32 dense_backward only): a corrupted input and the code penalties' gradients.
template <typename IN>
void dense_backward_tc(const IN* dy,  // [M, N] gradient of the loss w.r.t. y
                       const IN* y,   // [M, N] forward output, or nullptr (z given, or act linear)
                       const IN* z,   // [M, N] forward pre-activation, or nullptr when not kept
                       Act act,
                       const IN* x,  // [M, K] forward input
                       const IN* w,  // [N, K] the weight's compute copy
                       int64_t M, int64_t N, int64_t K,
                       float* dw,  // [N, K]
                       float* db,  // [N], or nullptr when the layer has no bias
                       IN* dx,     // [M, K], or nullptr when the input needs no gradient
                       bool accumulate_dw, bool accumulate_db, cudaStream_t stream, TcTile tile = TcTile::automatic);

}  // namespace ae::cuda
