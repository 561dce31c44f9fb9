// The unfused unary kernel: one element per thread per step of a grid-stride loop
// (kernels/cuda/grid_stride.cuh), f from kernels/common/elementwise.h, the same math as the cpu
// reference. One variant: the op is a uniform runtime branch (every thread takes the same case).
#include "kernels/common/error.h"
#include "kernels/cuda/grid_stride.cuh"
#include "kernels/cuda/launch.cuh"
#include "kernels/cuda/unary.cuh"

namespace ae::cuda {

namespace {

template <typename T>
__global__ void __launch_bounds__(grid_stride::THREADS)
    unary_kernel(UnaryOp op, T alpha, const T* x, T* y, int64_t n) {  // x, y [n]
  const int64_t stride = int64_t(gridDim.x) * blockDim.x;
  for (int64_t i = int64_t(blockIdx.x) * blockDim.x + threadIdx.x; i < n; i += stride)
    y[i] = alpha * unary_forward(op, x[i]);
}

}  // namespace

template <typename T>
void unary(UnaryOp op, T alpha, const T* x, T* y, int64_t n, cudaStream_t stream) {
  AE_CHECK(n >= 0, "cuda unary(", unary_op_name(op), "): negative size ", n);
  AE_CHECK(static_cast<int>(op) < UNARY_OP_COUNT, "cuda unary: unknown op ", static_cast<int>(op));
  if (n == 0) return;
  AE_CHECK(x != nullptr && y != nullptr, "cuda unary(", unary_op_name(op), "): x or y is null");
  launch("unary", unary_kernel<T>, grid_stride::grid_for(n), dim3(grid_stride::THREADS), 0, stream, op, alpha, x, y, n);
}

template void unary<float>(UnaryOp, float, const float*, float*, int64_t, cudaStream_t);

}  // namespace ae::cuda
