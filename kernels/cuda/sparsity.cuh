// Launchers of the unfused sparsity penalty on the GPU (kernels/common/sparsity.h's l1 and kl on a
// code h [M, N]), checked against kernels/cpu/sparsity.h: the forward in two steps (per-chunk column
// partials, then the column sums and the value) and the elementwise gradient. The fused path writes
// the partials in dense_fwd's epilogue and runs only sparsity_finalize, so the partials' summation
// order below is a contract, not an implementation detail. Deterministic: no atomics, every sum in a
// fixed order. Pointers are device memory; throws ae::Error on bad arguments.
#pragma once

#include <cuda_runtime.h>

#include <cstdint>

#include "kernels/common/sparsity.h"

namespace ae::cuda {

// The column sums are taken in a fixed order that the code layer's fused forward reproduces bit for
// bit: rows are split into chunks of SPARSITY_CHUNK_ROWS = 64 (chunk c: rows 64c .. 64c+63); a
// chunk's partial for column j is Σ_{g=0..15} ( Σ_{i=0..3} f(h[64c + 4g + i, j]) ), both sums in T,
// each starting at 0 and adding in ascending order, rows ≥ M skipped (not added); then
// s_j = Σ_c partial[c, j] in ascending c, in T, starting at 0. (The 16 groups of 4 rows are the
// 64-row GEMM tile's 16 thread rows of 4 rows each, kernels/cuda/gemm_tile.cuh.)
constexpr int64_t SPARSITY_CHUNK_ROWS = 64;
constexpr int64_t SPARSITY_GROUP_ROWS = 4;  // rows of one inner sum; 16 groups per chunk

inline int64_t sparsity_chunks(int64_t M) {
  return (M + SPARSITY_CHUNK_ROWS - 1) / SPARSITY_CHUNK_ROWS;
}

// Elements of T of workspace sparsity_forward needs (the [chunks, N] partials); at least 1, so a
// planner never reserves an empty buffer.
inline int64_t sparsity_workspace_floats(int64_t M, int64_t N) {
  const int64_t n = sparsity_chunks(M > 0 ? M : 0) * (N > 0 ? N : 0);
  return n > 0 ? n : 1;
}

// partials [ceil(M/64), N] of h in the order above. M or N = 0 writes nothing.
template <typename T>
void sparsity_column_partials(const SparsityParams& p,
                              const T* h,  // [M, N] the code
                              int64_t M, int64_t N,
                              T* partials,  // [ceil(M/64), N] out
                              cudaStream_t stream);

// colsum_j = Σ_c partials[c, j] (ascending c) and value = Σ_j sparsity_unit_value(p, colsum_j as
// double, 1/M), summed in double in a fixed order (one block: thread t the units t, t + 256, ... in
// order, then a fixed shared-memory tree) and rounded to T once. M = 0: colsum 0, value 0.
template <typename T>
void sparsity_finalize(const SparsityParams& p,
                       const T* partials,  // [ceil(M/64), N] from sparsity_column_partials or the fused forward
                       int64_t M, int64_t N,
                       T* colsum,  // [N] out
                       T* value,   // [1] out
                       cudaStream_t stream);

// Both of the above.
template <typename T>
void sparsity_forward(const SparsityParams& p,
                      const T* h,  // [M, N] the code
                      int64_t M, int64_t N,
                      T* colsum,     // [N] out
                      T* value,      // [1] out
                      T* workspace,  // [sparsity_workspace_floats(M, N)] scratch
                      cudaStream_t stream);

// dh (+)= sparsity_grad(p, h, colsum[j], dvalue[0], 1/M) elementwise; dh may alias nothing above.
template <typename T>
void sparsity_backward(const SparsityParams& p,
                       const T* dvalue,  // [1] device: the term's gradient seed (its weight)
                       const T* h,       // [M, N]
                       const T* colsum,  // [N] from sparsity_forward / sparsity_finalize
                       int64_t M, int64_t N,
                       T* dh,  // [M, N] out
                       bool accumulate, cudaStream_t stream);

}  // namespace ae::cuda
