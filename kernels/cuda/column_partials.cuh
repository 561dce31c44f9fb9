// The column partials of a penalty's per-element statistic over 64-row chunks (device code and its
// launcher; included by sparsity.cu and contractive.cu). Both penalties' column sums follow this
// one order, which gemm_tile.cuh's fused dense_fwd epilogue reproduces bit for bit:
//   chunk c holds rows 64c .. 64c+63; its partial for column j is Σ_{g=0..15} (Σ_{i=0..3} f(x[64c + 4g + i, j])),
//   both sums in T, starting at 0 and adding in ascending order (__fadd_rn: never folded into an
//   FMA with a multiply inside f), rows ≥ M not added; the column sum is then Σ_c partial[c, j].
// (The 16 groups of 4 rows are the GEMM tile's 16 thread rows of 4 rows each.) Layout: a block
// covers 32 columns of one chunk with 8 thread slots per column; slot s sums the groups s and s + 8,
// the 16 group sums meet in shared memory and slot 0 adds them in group order. A warp reads 32
// neighbouring columns of a row: coalesced. The grid is flat (one block per chunk and 32 columns),
// so no block loops and its shared memory is used once.
#pragma once

#include <cstdint>

#include "kernels/common/error.h"
#include "kernels/cuda/launch.cuh"

namespace ae::cuda {

constexpr int64_t COLUMN_CHUNK_ROWS = 64;
constexpr int64_t COLUMN_GROUP_ROWS = 4;  // rows of one inner sum; 16 groups per chunk

inline int64_t column_chunks(int64_t M) { return (M + COLUMN_CHUNK_ROWS - 1) / COLUMN_CHUNK_ROWS; }

// Elements of the [chunks, N] partials; at least 1, so a planner never reserves an empty buffer.
inline int64_t column_partials_elements(int64_t M, int64_t N) {
  const int64_t n = column_chunks(M > 0 ? M : 0) * (N > 0 ? N : 0);
  return n > 0 ? n : 1;
}

namespace column_partials_detail {
constexpr int THREADS = 256;
constexpr int GROUPS = int(COLUMN_CHUNK_ROWS / COLUMN_GROUP_ROWS);  // 16 inner sums per chunk
constexpr int COLS = 32;                                           // columns per block
constexpr int SLOTS = THREADS / COLS;                              // threads per column
static_assert(GROUPS % SLOTS == 0, "every slot takes the same number of groups");

// One block: the 32 columns col_block·32 .. + 31 of chunk c, block = c·col_blocks + col_block.
// STAT: a copyable functor, T operator()(T x) const, __host__ __device__.
template <typename T, typename STAT>
__global__ void __launch_bounds__(THREADS) kernel(const STAT stat,
                                                  const T* x,  // [M, N]
                                                  int64_t M, int64_t N, int64_t col_blocks,
                                                  T* partials) {  // [chunks, N]
  __shared__ T group_sum[GROUPS][COLS];
  const int col = threadIdx.x % COLS, slot = threadIdx.x / COLS;
  const int64_t c = int64_t(blockIdx.x) / col_blocks, j = (int64_t(blockIdx.x) - c * col_blocks) * COLS + col;
  for (int g = slot; g < GROUPS; g += SLOTS) {
    // Rows past M are not added (an empty group sums to +0, which adds nothing below).
    const int64_t row0 = c * COLUMN_CHUNK_ROWS + int64_t(g) * COLUMN_GROUP_ROWS;
    T q = T(0);
    if (j < N)
      for (int i = 0; i < COLUMN_GROUP_ROWS && row0 + i < M; ++i) q = __fadd_rn(q, stat(x[(row0 + i) * N + j]));
    group_sum[g][col] = q;
  }
  __syncthreads();  // all 16 group sums of the chunk are in place before slot 0 reads them
  if (slot == 0 && j < N) {
    T sum = T(0);
    for (int g = 0; g < GROUPS; ++g) sum = __fadd_rn(sum, group_sum[g][col]);
    partials[c * N + j] = sum;
  }
}
}  // namespace column_partials_detail

// partials [column_chunks(M), N] of stat(x) in the order above. M or N = 0 writes nothing.
template <typename T, typename STAT>
void launch_column_partials(const char* name, const STAT& stat, const T* x, int64_t M, int64_t N, T* partials,
                            cudaStream_t stream) {
  using namespace column_partials_detail;
  if (M == 0 || N == 0) return;
  AE_CHECK(x != nullptr && partials != nullptr, "cuda ", name, ": the input or the partials are null");
  const int64_t col_blocks = (N + COLS - 1) / COLS;
  AE_CHECK(column_chunks(M) <= 0x7fffffff / col_blocks, "cuda ", name, ": M=", M, ", N=", N, " exceeds the grid limit");
  launch(name, kernel<T, STAT>, dim3(static_cast<unsigned>(column_chunks(M) * col_blocks)), dim3(THREADS), 0, stream,
         stat, x, M, N, col_blocks, partials);
}

}  // namespace ae::cuda
