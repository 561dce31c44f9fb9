// The unfused corruption kernel: one element per thread per step of a grid-stride loop, each from
// its own Philox draw keyed by its offset, so any grid gives the cpu reference's bits. The kind is
// a uniform runtime branch inside kernels/common/noise.h's corrupt().
#include "kernels/common/error.h"
#include "kernels/cuda/grid_stride.cuh"
#include "kernels/cuda/launch.cuh"
#include "kernels/cuda/noise.cuh"

namespace ae::cuda {

namespace {

__global__ void __launch_bounds__(grid_stride::THREADS)
    corrupt_kernel(const NoiseParams noise, const StepScalars* steps, const float* x, float* y, int64_t n) {
  // The step's values are read on the device (a captured graph replays with each step's block).
  const uint64_t seed = steps->seed, step = uint64_t(steps->step);
  const int64_t stride = int64_t(gridDim.x) * blockDim.x;
  for (int64_t i = int64_t(blockIdx.x) * blockDim.x + threadIdx.x; i < n; i += stride)
    y[i] = corrupt(noise, x[i], seed, step, uint64_t(i));
}

}  // namespace

void corrupt(const NoiseParams& noise, const StepScalars* steps, const float* x, float* y, int64_t n, cudaStream_t stream) {
  AE_CHECK(n >= 0, "cuda corrupt: negative size ", n);
  AE_CHECK(static_cast<int>(noise.kind) < NOISE_KIND_COUNT, "cuda corrupt: unknown noise kind ", static_cast<int>(noise.kind));
  if (n == 0) return;
  AE_CHECK(x != nullptr && y != nullptr && steps != nullptr, "cuda corrupt: x, y or the step scalars are null");
  launch("corrupt", corrupt_kernel, grid_stride::grid_for(n), dim3(grid_stride::THREADS), 0, stream, noise, steps, x, y, n);
}

}  // namespace ae::cuda
