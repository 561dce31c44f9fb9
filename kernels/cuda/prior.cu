// The prior-sample kernel: one element per thread per step of a grid-stride loop, each from its
// own Philox draw keyed by its offset, so any grid gives the cpu reference's bits. The kind is a
// uniform runtime branch inside kernels/common/prior.h's prior_sample().
#include "kernels/common/error.h"
#include "kernels/cuda/grid_stride.cuh"
#include "kernels/cuda/launch.cuh"
#include "kernels/cuda/prior.cuh"

namespace ae::cuda {

namespace {

__global__ void __launch_bounds__(grid_stride::THREADS)
    prior_kernel(const PriorKind kind, const StepScalars* steps, float* y, int64_t n) {
  // The step's values are read on the device (a captured graph replays with each step's block).
  const uint64_t seed = steps->seed, step = uint64_t(steps->step);
  const int64_t stride = int64_t(gridDim.x) * blockDim.x;
  for (int64_t i = int64_t(blockIdx.x) * blockDim.x + threadIdx.x; i < n; i += stride)
    y[i] = prior_sample(kind, seed, step, uint64_t(i));
}

}  // namespace

void prior_sample(PriorKind kind, const StepScalars* steps, float* y, int64_t n, cudaStream_t stream) {
  AE_CHECK(n >= 0, "cuda prior_sample: negative size ", n);
  AE_CHECK(static_cast<int>(kind) < PRIOR_KIND_COUNT, "cuda prior_sample: unknown prior kind ", static_cast<int>(kind));
  if (n == 0) return;
  AE_CHECK(y != nullptr && steps != nullptr, "cuda prior_sample: y or the step scalars are null");
  launch("prior_sample", prior_kernel, grid_stride::grid_for(n), dim3(grid_stride::THREADS), 0, stream, kind, steps, y, n);
}

}  // namespace ae::cuda
