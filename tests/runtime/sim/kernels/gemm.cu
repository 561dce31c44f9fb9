// The classic shared-memory tiled fp32 GEMM, 16x16 threads per block, one output per thread. Its two
// __syncthreads() are both necessary (load-before-use and use-before-overwrite): the sim test on
// shapes 1..129 must fail when either is deleted. Also the kernel of bench/sim.
#include "kernels/cuda/launch.cuh"
#include "tests/runtime/sim/kernels/sim_test_kernels.cuh"

namespace ae::simtest {
namespace {

constexpr int k_tile = 16;

__global__ void gemm_tiled_kernel(const float* a,  // [m, k]
                                  const float* b,  // [k, n]
                                  float* c,        // [m, n]
                                  int m, int n, int k) {
  __shared__ float as[k_tile][k_tile];
  __shared__ float bs[k_tile][k_tile];
  const int tx = threadIdx.x, ty = threadIdx.y;
  const int row = blockIdx.y * k_tile + ty, col = blockIdx.x * k_tile + tx;
  float acc = 0.0f;
  for (int k0 = 0; k0 < k; k0 += k_tile) {
    as[ty][tx] = (row < m && k0 + tx < k) ? a[row * k + k0 + tx] : 0.0f;
    bs[ty][tx] = (k0 + ty < k && col < n) ? b[(k0 + ty) * n + col] : 0.0f;
    __syncthreads();
    for (int kk = 0; kk < k_tile; ++kk) acc += as[ty][kk] * bs[kk][tx];
    __syncthreads();
  }
  if (row < m && col < n) c[row * n + col] = acc;
}

}  // namespace

void gemm_tiled(const float* a, const float* b, float* c, int m, int n, int k, cudaStream_t stream) {
  dim3 grid((n + k_tile - 1) / k_tile, (m + k_tile - 1) / k_tile);
  AE_LAUNCH(gemm_tiled_kernel, grid, dim3(k_tile, k_tile), 0, stream, a, b, c, m, n, k);
}

}  // namespace ae::simtest
