// Deliberately wrong kernels. On a GPU each would hang, read garbage or corrupt memory; under the
// sim each must fail with an error that names it (or, for the out-of-bounds write, be caught by
// AddressSanitizer in the sanitizer build). They compile with nvcc too: they are valid CUDA C++.
#include <mma.h>

#include "kernels/cuda/launch.cuh"
#include "tests/runtime/sim/kernels/sim_test_kernels.cuh"

namespace ae::simtest {
namespace {

__global__ void mismatched_barriers(int* sink) {
  if (threadIdx.x < 16) {
    __syncthreads();
  } else {
    __syncthreads();  // a different barrier: undefined on a GPU
  }
  sink[threadIdx.x] = 1;
}

__global__ void shfl_lanes_exited(int* out) {
  const int lane = threadIdx.x % 32;
  if (lane >= 16) return;  // half the full mask has left
  out[lane] = __shfl_sync(0xffffffffu, lane, 0);
}

__global__ void mask_mismatch(int* out) {
  const int lane = threadIdx.x % 32;
  const unsigned mask = lane < 16 ? 0x0000ffffu : 0xffffffffu;  // lanes disagree about the group
  out[lane] = __shfl_sync(mask, lane, 0);
}

__global__ void ballot_after_exit(const int* x, int n, unsigned* out) {
  const int i = blockIdx.x * blockDim.x + threadIdx.x;
  if (i >= n) return;  // the tail's lanes leave, then the full-mask vote waits for them
  out[i] = __ballot_sync(0xffffffffu, x[i] > 0);
}

__global__ void mask_without_self(int* out) {
  const int lane = threadIdx.x % 32;
  out[lane] = __shfl_sync(0x1u, lane, 0);  // lanes 1..31 are not in their own mask
}

__global__ void warp_vs_block_barrier(int* out) {
  if (threadIdx.x == 0) {
    __syncwarp();  // lane 0 waits for lanes 1..31, which wait at the block barrier for lane 0
  } else {
    __syncthreads();
  }
  out[threadIdx.x] = 1;
}

__global__ void trap_kernel(int* out) {
  if (threadIdx.x == 7) __trap();
  out[threadIdx.x] = 1;
}

__global__ void out_of_bounds_write(float* data,  // [n]
                                    int n) {
  const int i = blockIdx.x * blockDim.x + threadIdx.x;
  if (i <= n) data[i] = 1.0f;  // off by one: writes data[n]
}

__global__ void missing_wmma_lanes(float* out) {  // out: [16, 16]
  nvcuda::wmma::fragment<nvcuda::wmma::accumulator, 16, 16, 16, float> acc;
  if (threadIdx.x >= 16) return;
  nvcuda::wmma::fill_fragment(acc, 1.0f);
  nvcuda::wmma::store_matrix_sync(out, acc, 16, nvcuda::wmma::mem_row_major);
}

// Scratch for kernels whose output nobody checks; device memory, freed after the launch.
struct Scratch {
  int* p = nullptr;
  Scratch() { AE_CUDA_CHECK(cudaMalloc(&p, 1024 * sizeof(int))); }
  ~Scratch() { cudaFree(p); }
};

}  // namespace

void fault_mismatched_barriers() {
  Scratch s;
  AE_LAUNCH(mismatched_barriers, dim3(1), dim3(64), 0, nullptr, s.p);
}
void fault_shfl_lanes_exited() {
  Scratch s;
  AE_LAUNCH(shfl_lanes_exited, dim3(1), dim3(32), 0, nullptr, s.p);
}
void fault_mask_mismatch() {
  Scratch s;
  AE_LAUNCH(mask_mismatch, dim3(1), dim3(32), 0, nullptr, s.p);
}
void fault_ballot_after_exit() {
  Scratch s;
  AE_LAUNCH(ballot_after_exit, dim3(1), dim3(64), 0, nullptr, s.p, 40, reinterpret_cast<unsigned*>(s.p));
}
void fault_mask_without_self() {
  Scratch s;
  AE_LAUNCH(mask_without_self, dim3(1), dim3(32), 0, nullptr, s.p);
}
void fault_warp_vs_block_barrier() {
  Scratch s;
  AE_LAUNCH(warp_vs_block_barrier, dim3(1), dim3(32), 0, nullptr, s.p);
}
void fault_trap() {
  Scratch s;
  AE_LAUNCH(trap_kernel, dim3(1), dim3(32), 0, nullptr, s.p);
}
void trap_on_stream(int* out, cudaStream_t stream) {
  AE_LAUNCH(trap_kernel, dim3(1), dim3(32), 0, stream, out);
}
void fault_out_of_bounds_write(float* data, int n) {
  AE_LAUNCH(out_of_bounds_write, dim3((n + 255) / 256 + 1), dim3(256), 0, nullptr, data, n);
}
void fault_missing_wmma_lanes() {
  Scratch s;
  AE_LAUNCH(missing_wmma_lanes, dim3(1), dim3(32), 0, nullptr, reinterpret_cast<float*>(s.p));
}

}  // namespace ae::simtest
