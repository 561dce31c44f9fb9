// Launcher of the tensor-core dense backward for mixed precision: the gradients of
// dense_forward_tc (kernels/cuda/dense_fwd_tc.cuh), with dy, y, z, x and W in the storage type IN
// (__half, __nv_bfloat16, or float for tf32 math), products on the tensor cores, fp32 accumulation,
// and the parameter gradients in fp32 (they go to the fp32 master weights). Pointers are device
// memory. Throws ae::Error on bad arguments or a failed launch (naming the kernel).
#pragma once

#include <cuda_bf16.h>
#include <cuda_fp16.h>
#include <cuda_runtime.h>

#include <cstddef>
#include <cstdint>

#include "kernels/common/activation.h"
#include "kernels/cuda/tc_tile.cuh"

namespace ae::cuda {

// How dW's reduction over the batch M is split: `splits` blocks along the grid's z, split z summing
// rows [z·rows, min((z + 1)·rows, M)) of dz and x (the last ones may be empty) into its own fp32
// partial of dW and db in the workspace; a second kernel then adds the partials in split order
// (then into dw, db when accumulating). splits = 1: no workspace, dW and db written directly.
struct TcDwSplit {
  int splits;
  int64_t rows;
  TcTile tile;  // the output tile of the dW pass (never automatic)
};

// The split for an M×N×K layer on the current device: enough blocks for about two per SM, each
// split at least two K-steps deep, at most 64 splits. `splits` > 0 forces that many (tests; rows =
// ⌈M / splits⌉). The tile follows `tile`; automatic takes 64×64 when the split 64×64 grid fills
// the device, else 32×32.
TcDwSplit dense_backward_tc_split(int64_t M, int64_t N, int64_t K, TcTile tile = TcTile::automatic, int splits = 0);

// The workspace dense_backward_tc needs for the same M, N, K, tile and splits, in bytes (0 when it
// needs none): splits × (N·K + N) fp32 partials. The planner sizes it; the caller owns it.
size_t dense_backward_tc_workspace_bytes(int64_t M, int64_t N, int64_t K, TcTile tile = TcTile::automatic,
                                         int splits = 0);

// Enough workspace for every automatic split of M = 1 … max_M rows at this N, K on any device (a
// plan's batch and its partial batches): what a runtime that sizes once allocates.
size_t dense_backward_tc_workspace_bound(int64_t max_M, int64_t N, int64_t K);

//   dz = dy ⊙ act′ computed in fp32 as dy is loaded (from z when z is given, else from y; gelu
//        needs z), rounded to IN (tf32: to tf32) for the tensor cores; never stored
//   dW (+)= dzᵀ·x,  db (+)= column sums of the rounded dz (fp32), dx = dz·W, rounded to IN
// dW's sum over M is split (dense_backward_tc_split); each split sums its rows in order (db: in fp32,
// row order) and the partials are added in split order: bitwise deterministic, independent of
// timing, for a given split. Kernels: dW with db (split over M), the partials' sum when split, then
// dx (skipped when dx is null). accumulate_dw / accumulate_db add into dw / db instead of
// overwriting them. dw, db, dx and the workspace must not alias the inputs or each other.
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
                       bool accumulate_dw, bool accumulate_db, cudaStream_t stream,
                       void* workspace,         // dense_backward_tc_workspace_bytes(M, N, K, tile, splits)
                       size_t workspace_bytes,  // its size: checked against the need
                       TcTile tile = TcTile::automatic, int splits = 0);

}  // namespace ae::cuda
