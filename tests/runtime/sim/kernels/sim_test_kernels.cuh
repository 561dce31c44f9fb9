// Host launchers of the runtime/sim self-test kernels. The kernels (the .cu files beside this header)
// compile both with nvcc and against the sim; the tests call only these launchers and the CUDA
// runtime API. Pointers are device memory unless named host_*. Every launcher throws ae::Error when
// the launch or (under the sim) the kernel's run fails.
#pragma once

#include <cuda_runtime.h>

namespace ae::simtest {

// Block sums of x: out[b] = sum of x[b*256 .. b*256+255] (zero past n). 256 threads per block, a
// shared-memory tree with 8 barriers; skip_barrier in [0, 8) drops one of them (the deliberately
// broken variants), -1 keeps all.
void block_sum(const int* x, int n, int* out, int blocks, int skip_barrier, cudaStream_t stream = nullptr);

// c[m,n] = a[m,k] * b[k,n], row-major, 16x16 shared-memory tiles, 16x16 threads per block.
void gemm_tiled(const float* a, const float* b, float* c, int m, int n, int k, cudaStream_t stream = nullptr);

// One warp-collective per op over a block of `threads` threads (a multiple of 32 or not). Lanes
// whose bit is clear in `mask` do not call the collective and write `sentinel`.
// out layout: [7 ops][threads]: shfl(src=arg), shfl_up(arg), shfl_down(arg), shfl_xor(arg),
// ballot(pred), any(pred), all(pred); pred = in[t] > 0.
void warp_ops_int(const int* in, int* out, int threads, unsigned mask, int arg, int width, int sentinel);
// The four shuffles on doubles (8-byte values): out layout [4 ops][threads].
void warp_shuffles_double(const double* in, double* out, int threads, unsigned mask, int arg, int width);

// Each of blocks*256 threads adds 1 `iters` times through every atomic kind; see atomics.cu.
void atomics(int* ints, unsigned* uints, unsigned long long* ulls, float* floats, double* doubles, int blocks,
             int iters);
// order[b*threads + k] = thread that was k-th to pass the block's first phase (shows the shuffle).
void arrival_order(int* order, int threads, int blocks);
// ids[...] = linear thread id and block id for a 3-D grid of 3-D blocks; counts = barrier votes.
void indexing(int* ids, dim3 grid, dim3 block);
void barrier_votes(const int* pred, int* out, int threads);  // out[3] = count, and, or
// Threads >= live exit first; the others still pass two barriers and sum in shared memory.
void early_exit_sum(const int* x, int* out, int threads, int live);

// y = a*x + y with the block's dynamic shared memory staging x (smem_bytes of it are requested).
void dynamic_smem_axpy(float a, const float* x, float* y, int n, size_t smem_bytes, cudaStream_t stream = nullptr);
void set_dynamic_smem_limit(int bytes);  // cudaFuncSetAttribute on that kernel; throws on error
// Launches a kernel that sets *flag = 1 with any configuration (the launch-validation probe).
void launch_flag(int* flag, dim3 grid, dim3 block, size_t smem_bytes);

// wmma GEMM, one warp per 16x16 output tile: c[m,n] (float) = a[m,k] * b[k,n], m, n multiples of
// 16, k of 16 (8 for tf32). a row-major; b row-major or column-major (b_col: b[n,k] storage).
void wmma_gemm_half(const void* a, const void* b, float* c, int m, int n, int k, bool b_col);
void wmma_gemm_bf16(const void* a, const void* b, float* c, int m, int n, int k, bool b_col);
void wmma_gemm_tf32(const float* a, const float* b, float* c, int m, int n, int k, bool b_col);
// out[i] = wmma::__float_to_tf32(in[i]), one thread per element.
void tf32_round(const float* in, float* out, int n);
// Loads c (column-major), passes it through mma with a zero a, adds 1 elementwise, stores row-major.
void wmma_accumulator_roundtrip(const float* c_col, float* out_row);

// Deliberately wrong kernels: each must fail with an error naming it (never hang).
void fault_mismatched_barriers();
void fault_shfl_lanes_exited();
void fault_mask_mismatch();
void fault_ballot_after_exit();
void fault_mask_without_self();
void fault_warp_vs_block_barrier();
void fault_trap();
// trap_kernel on `stream` (out: 32 ints of device memory). On a deferred stream the launch succeeds
// and the failure is reported by whichever call runs the stream's work.
void trap_on_stream(int* out, cudaStream_t stream);
void fault_out_of_bounds_write(float* data, int n);  // writes data[n]
void fault_missing_wmma_lanes();

// checks.cu: planted shared-memory hazards (64 threads, static or dynamic shared memory; out [64])
// and an off-by-one copy of n + 1 elements, for racecheck and memcheck.
enum PlantedHazard {
  HAZARD_RAW,
  HAZARD_WAR,
  HAZARD_WAW,
  HAZARD_RAW_IN_WARP,
  SAFE_SYNCWARP,
  HAZARD_RAW_AFTER_SHUFFLE,
  SAFE_SYNCTHREADS,
  SAFE_ATOMICS,
  SAFE_NEIGHBOUR_HALVES,
  HAZARD_WAR_BROADCAST,
};
void launch_planted_hazard(int kind, bool dynamic_smem, int* out);
void launch_copy_n_plus_one(const float* in, float* out, int n);
void launch_atomic_add_n_plus_one(float* out, int n);  // atomicAdd(&out[i], 1) for i <= n
// Each of 2 warps stores a 16x16 wmma accumulator (all `value`) to its own tile of shared memory,
// then its lanes read the tile back (out [2][256]) after a __syncwarp (`sync`) or without one.
void launch_wmma_staged_epilogue(float value, bool sync, float* out);
// 64 threads with `n` ints of dynamic shared memory: thread t writes element t + shift, then out[t]
// reads it back (out [64]); n < 64 + shift runs past the end.
void launch_dynamic_smem_shifted(int n, int shift, int* out);

}  // namespace ae::simtest
