// The test-only Philox fill kernels (philox_fill.cuh): one thread per index, grid-stride, each
// writing the four words of its draw. Purpose `corruption`, the stream the denoising noise node
// will draw from.
#include "kernels/common/error.h"
#include "kernels/common/philox.h"
#include "kernels/cuda/grid_stride.cuh"
#include "kernels/cuda/launch.cuh"
#include "tests/runtime/cuda/philox_fill.cuh"

namespace ae::cudatest {

namespace {

__device__ __forceinline__ void fill(uint64_t seed, int64_t step, uint32_t* out, int64_t n) {
  const int64_t stride = int64_t(gridDim.x) * blockDim.x;
  for (int64_t i = int64_t(blockIdx.x) * blockDim.x + threadIdx.x; i < n; i += stride) {
    const PhiloxBlock b = philox_draw(seed, uint64_t(step), PhiloxPurpose::corruption, uint64_t(i));
    for (int w = 0; w < 4; ++w) out[4 * i + w] = b.v[w];
  }
}

// Reads the block when it runs: a replayed graph sees the step written before the replay.
__global__ void philox_fill_block_kernel(const StepScalars* block, uint32_t* out, int64_t n) {
  fill(block->seed, block->step, out, n);
}

// seed and step are launch arguments: a captured graph replays the values of capture time.
__global__ void philox_fill_value_kernel(uint64_t seed, int64_t step, uint32_t* out, int64_t n) {
  fill(seed, step, out, n);
}

}  // namespace

void philox_fill_from_block(const StepScalars* block, uint32_t* out, int64_t n, cudaStream_t stream) {
  AE_CHECK(block && out && n > 0, "philox_fill_from_block: null pointer or empty buffer");
  ae::cuda::launch("philox_fill_block", philox_fill_block_kernel, ae::cuda::grid_stride::grid_for(n),
                   dim3(ae::cuda::grid_stride::THREADS), 0, stream, block, out, n);
}

void philox_fill_by_value(uint64_t seed, int64_t step, uint32_t* out, int64_t n, cudaStream_t stream) {
  AE_CHECK(out && n > 0, "philox_fill_by_value: null pointer or empty buffer");
  ae::cuda::launch("philox_fill_value", philox_fill_value_kernel, ae::cuda::grid_stride::grid_for(n),
                   dim3(ae::cuda::grid_stride::THREADS), 0, stream, seed, step, out, n);
}

}  // namespace ae::cudatest
