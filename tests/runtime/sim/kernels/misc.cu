// Small kernels for the sim's built-ins: thread/block indexing in 3-D, barrier votes, threads that
// exit before a barrier, dynamic shared memory, the launch-validation probe, and the shuffled
// arrival order of a block's threads.
#include "kernels/cuda/launch.cuh"
#include "tests/runtime/sim/kernels/sim_test_kernels.cuh"

namespace ae::simtest {
namespace {

__global__ void indexing_kernel(int* ids) {  // ids: [blocks * threads, 2]
  const int t = threadIdx.x + blockDim.x * (threadIdx.y + blockDim.y * threadIdx.z);
  const int b = blockIdx.x + gridDim.x * (blockIdx.y + gridDim.y * blockIdx.z);
  const int threads = blockDim.x * blockDim.y * blockDim.z;
  ids[2 * (b * threads + t)] = t;
  ids[2 * (b * threads + t) + 1] = b;
}

__global__ void barrier_votes_kernel(const int* pred,  // [blockDim.x]
                                     int* out) {       // [3]
  const int p = pred[threadIdx.x];
  const int count = __syncthreads_count(p);
  const int all = __syncthreads_and(p);
  const int any = __syncthreads_or(p);
  if (threadIdx.x == 0) {
    out[0] = count;
    out[1] = all;
    out[2] = any;
  }
}

__global__ void early_exit_sum_kernel(const int* x,  // [live]
                                      int* out, int live) {
  __shared__ int s[1024];
  const int t = threadIdx.x;
  if (t >= live) return;  // exited threads count as arrived at the barriers below
  s[t] = x[t];
  __syncthreads();
  if (t == 0) {
    int sum = 0;
    for (int i = 0; i < live; ++i) sum += s[i];
    s[0] = sum;
  }
  __syncthreads();
  if (t == live - 1) *out = s[0];
}

__global__ void dynamic_smem_axpy_kernel(float a, const float* x,  // [n]
                                         float* y, int n) {        // [n]
  float* staged = ae::cuda::dynamic_shared<float>();  // [blockDim.x]
  const int t = threadIdx.x, i = blockIdx.x * blockDim.x + t;
  // Stage in reverse so each thread reads another thread's element: needs the barrier.
  staged[blockDim.x - 1 - t] = i < n ? x[i] : 0.0f;
  __syncthreads();
  if (i < n) y[i] += a * staged[blockDim.x - 1 - t];
}

__global__ void flag_kernel(int* flag) { *flag = 1; }

__global__ void arrival_order_kernel(int* order) {  // [gridDim.x, blockDim.x]
  __shared__ int next;
  if (threadIdx.x == 0) next = 0;
  __syncthreads();
  const int k = atomicAdd(&next, 1);
  order[blockIdx.x * blockDim.x + k] = threadIdx.x;
}

}  // namespace

void indexing(int* ids, dim3 grid, dim3 block) { AE_LAUNCH(indexing_kernel, grid, block, 0, nullptr, ids); }
void barrier_votes(const int* pred, int* out, int threads) {
  AE_LAUNCH(barrier_votes_kernel, dim3(1), dim3(threads), 0, nullptr, pred, out);
}
void early_exit_sum(const int* x, int* out, int threads, int live) {
  AE_LAUNCH(early_exit_sum_kernel, dim3(1), dim3(threads), 0, nullptr, x, out, live);
}
void dynamic_smem_axpy(float a, const float* x, float* y, int n, size_t smem_bytes, cudaStream_t stream) {
  const int threads = 256;
  AE_LAUNCH(dynamic_smem_axpy_kernel, dim3((n + threads - 1) / threads), dim3(threads), smem_bytes, stream, a, x, y, n);
}
void set_dynamic_smem_limit(int bytes) {
  AE_CUDA_CHECK(cudaFuncSetAttribute(reinterpret_cast<const void*>(dynamic_smem_axpy_kernel),
                                     cudaFuncAttributeMaxDynamicSharedMemorySize, bytes));
}
void launch_flag(int* flag, dim3 grid, dim3 block, size_t smem_bytes) {
  AE_LAUNCH(flag_kernel, grid, block, smem_bytes, nullptr, flag);
}
void arrival_order(int* order, int threads, int blocks) {
  AE_LAUNCH(arrival_order_kernel, dim3(blocks), dim3(threads), 0, nullptr, order);
}

}  // namespace ae::simtest
