// Block sum through a shared-memory tree: correct only with every one of its 8 barriers, which is
// what the sim's barrier test needs. SKIP names the barrier a deliberately broken variant omits
// (-1: none); the variants are kept so that test keeps proving a missing barrier is caught.
#include "kernels/cuda/launch.cuh"
#include "tests/runtime/sim/kernels/sim_test_kernels.cuh"

namespace ae::simtest {
namespace {

#define AE_TEST_BARRIER(k) \
  if (SKIP != (k)) __syncthreads()

template <int SKIP>
__global__ void block_sum_kernel(const int* x,  // [n]
                                 int n, int* out) {  // out: [gridDim.x]
  __shared__ int s[256];
  const int t = threadIdx.x;
  const int i = blockIdx.x * 256 + t;
  s[t] = i < n ? x[i] : 0;
  AE_TEST_BARRIER(0);
  if (t < 128) s[t] += s[t + 128];
  AE_TEST_BARRIER(1);
  if (t < 64) s[t] += s[t + 64];
  AE_TEST_BARRIER(2);
  if (t < 32) s[t] += s[t + 32];
  AE_TEST_BARRIER(3);
  if (t < 16) s[t] += s[t + 16];
  AE_TEST_BARRIER(4);
  if (t < 8) s[t] += s[t + 8];
  AE_TEST_BARRIER(5);
  if (t < 4) s[t] += s[t + 4];
  AE_TEST_BARRIER(6);
  if (t < 2) s[t] += s[t + 2];
  AE_TEST_BARRIER(7);
  if (t == 0) out[blockIdx.x] = s[0] + s[1];
}
#undef AE_TEST_BARRIER

using BlockSumFn = void (*)(const int*, int, int*);
constexpr BlockSumFn k_block_sum[] = {block_sum_kernel<-1>, block_sum_kernel<0>, block_sum_kernel<1>,
                                      block_sum_kernel<2>,  block_sum_kernel<3>, block_sum_kernel<4>,
                                      block_sum_kernel<5>,  block_sum_kernel<6>, block_sum_kernel<7>};

}  // namespace

void block_sum(const int* x, int n, int* out, int blocks, int skip_barrier, cudaStream_t stream) {
  AE_CHECK(skip_barrier >= -1 && skip_barrier < 8, "skip_barrier ", skip_barrier, " outside [-1, 8)");
  ae::cuda::launch("block_sum", k_block_sum[skip_barrier + 1], dim3(blocks), dim3(256), 0, stream, x, n, out);
}

}  // namespace ae::simtest
