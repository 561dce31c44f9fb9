// Planted bugs for runtime/sim's racecheck and memcheck: shared-memory hazards of each kind (between
// warps and within a warp), the same hand-offs done right, and off-by-one accesses. Valid CUDA C++
// (nvcc compiles them too); on a GPU the hazards are what compute-sanitizer's racecheck reports.
#include <mma.h>

#include "kernels/cuda/launch.cuh"
#include "tests/runtime/sim/kernels/sim_test_kernels.cuh"

namespace ae::simtest {
namespace {

// 64 threads (two warps). A thread's single-lane __syncwarp orders nothing with other threads, but it
// makes the sim run the accesses before it in one scheduling round and those after it in the next,
// so the order of the two accesses, and with it the hazard's kind, is the same for every seed.
template <bool DYNAMIC>
__global__ void planted_hazard(int kind,
                               int* out) {  // [64]
  __shared__ int fixed[64];
  int* s = DYNAMIC ? ae::cuda::dynamic_shared<int>() : fixed;
  const int t = threadIdx.x;
  const unsigned self = 1u << (t % 32);
  int v = 0;
  switch (kind) {
    case HAZARD_RAW:  // thread 32 reads what thread 0 wrote
      if (t == 0) s[5] = 7, __syncwarp(self);
      if (t == 32) __syncwarp(self), v = s[5];
      break;
    case HAZARD_WAR:  // thread 0 overwrites what thread 32 read
      if (t == 32) v = s[5], __syncwarp(self);
      if (t == 0) __syncwarp(self), s[5] = 7;
      break;
    case HAZARD_WAW:  // both write
      if (t == 0) s[5] = 7, __syncwarp(self);
      if (t == 32) __syncwarp(self), s[5] = 9;
      break;
    case HAZARD_RAW_IN_WARP:  // lanes 0 and 1 of one warp, no collective of both between
      if (t == 0) s[5] = 7, __syncwarp(self);
      if (t == 1) __syncwarp(self), v = s[5];
      break;
    case SAFE_SYNCWARP:  // the same hand-off through a __syncwarp of both lanes
      if (t == 0) s[5] = 7;
      if (t < 2) __syncwarp(0x3u);
      if (t == 1) v = s[5];
      break;
    case HAZARD_RAW_AFTER_SHUFFLE:  // a shuffle exchanges registers but, unlike __syncwarp, does
                                    // not order memory (CUDA C++ Programming Guide)
      if (t == 0) s[5] = 7;
      if (t < 2) v = __shfl_sync(0x3u, t, 0);
      if (t == 1) v += s[5];
      break;
    case SAFE_SYNCTHREADS:  // across warps through the block barrier
      if (t == 0) s[5] = 7;
      __syncthreads();
      if (t == 32) v = s[5];
      break;
    case SAFE_ATOMICS:  // every thread adds to one word: atomics are not hazards
      if (t == 0) s[5] = 0;
      __syncthreads();
      atomicAdd(&s[5], 1);
      __syncthreads();
      v = s[5];
      break;
    case SAFE_NEIGHBOUR_HALVES: {  // threads write adjacent 2-byte halves of words: no byte is shared
      auto* h = reinterpret_cast<unsigned short*>(s);
      h[t] = static_cast<unsigned short>(t);
      __syncthreads();
      v = h[t ^ 1];
      break;
    }
    case HAZARD_WAR_BROADCAST:  // every thread reads one word, then thread 0 overwrites it after a
                                // __syncwarp that orders its own warp's reads but not warp 1's
      if (t == 0) s[5] = 7;
      __syncthreads();
      v = s[5];
      __syncwarp();
      if (t == 0) s[5] = 9;
      break;
    default: break;
  }
  out[t] = v;
}

__global__ void copy_n_plus_one(const float* in,  // [n + 1] read: one past the end
                                float* out,       // [n + 1] written
                                int n) {
  const int i = blockIdx.x * blockDim.x + threadIdx.x;
  if (i <= n) out[i] = in[i];  // the planted off-by-one: <= instead of <
}

__global__ void atomic_add_n_plus_one(float* out,  // [n + 1] updated: one past the end
                                      int n) {
  const int i = blockIdx.x * blockDim.x + threadIdx.x;
  if (i <= n) atomicAdd(&out[i], 1.0f);  // the planted off-by-one, through an atomic
}

// An epilogue staged through shared memory as tensor-core GEMMs do: the warp stores its accumulator
// tile, and its lanes read back elements other lanes stored, which needs a __syncwarp between.
__global__ void wmma_staged_epilogue(float value, bool sync,
                                     float* out) {  // [2][256]
  alignas(32) __shared__ float tiles[2][256];
  const int warp = threadIdx.x / 32, lane = threadIdx.x % 32;
  nvcuda::wmma::fragment<nvcuda::wmma::accumulator, 16, 16, 16, float> acc;
  nvcuda::wmma::fill_fragment(acc, value);
  nvcuda::wmma::store_matrix_sync(tiles[warp], acc, 16, nvcuda::wmma::mem_row_major);
  if (sync) __syncwarp();
  for (int i = lane; i < 256; i += 32) out[warp * 256 + i] = tiles[warp][(i + 17) % 256];
}

__global__ void dynamic_smem_shifted(int shift,
                                     int* out) {  // [64]
  int* s = ae::cuda::dynamic_shared<int>();
  const int t = threadIdx.x;
  s[t + shift] = t;
  __syncthreads();
  out[t] = s[t + shift];
}

}  // namespace

void launch_dynamic_smem_shifted(int n, int shift, int* out) {
  AE_LAUNCH(dynamic_smem_shifted, dim3(1), dim3(64), size_t(n) * sizeof(int), nullptr, shift, out);
}

void launch_wmma_staged_epilogue(float value, bool sync, float* out) {
  AE_LAUNCH(wmma_staged_epilogue, dim3(1), dim3(64), 0, nullptr, value, sync, out);
}

void launch_planted_hazard(int kind, bool dynamic_smem, int* out) {
  if (dynamic_smem)
    AE_LAUNCH(planted_hazard<true>, dim3(1), dim3(64), 64 * sizeof(int), nullptr, kind, out);
  else
    AE_LAUNCH(planted_hazard<false>, dim3(1), dim3(64), 0, nullptr, kind, out);
}

void launch_atomic_add_n_plus_one(float* out, int n) {
  AE_LAUNCH(atomic_add_n_plus_one, dim3(unsigned((n + 128) / 128)), dim3(128), 0, nullptr, out, n);
}

void launch_copy_n_plus_one(const float* in, float* out, int n) {
  AE_LAUNCH(copy_n_plus_one, dim3(unsigned((n + 128) / 128)), dim3(128), 0, nullptr, in, out, n);
}

}  // namespace ae::simtest
