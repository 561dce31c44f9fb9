// The unfused binary kernel: one element of the [M, N] output per thread per step of a
// grid-stride loop over the flattened index; the row and column of an element (for the broadcast
// b) come from one division. The op, broadcast and accumulate are uniform runtime branches.
#include "kernels/common/error.h"
#include "kernels/cuda/binary.cuh"
#include "kernels/cuda/grid_stride.cuh"
#include "kernels/cuda/launch.cuh"

namespace ae::cuda {

namespace {

template <typename T>
__global__ void __launch_bounds__(grid_stride::THREADS)
    binary_kernel(BinaryOp op, const T* a,  // [M, N]
                  const T* b,               // broadcast_size(bb, M, N)
                  T* y,                     // [M, N]
                  int64_t M, int64_t N, Broadcast bb, bool accumulate, int64_t G) {
  const int64_t n = M * N, stride = int64_t(gridDim.x) * blockDim.x;
  for (int64_t k = int64_t(blockIdx.x) * blockDim.x + threadIdx.x; k < n; k += stride) {
    const int64_t i = k / N, j = k - i * N;
    const T v = binary_apply(op, a[k], b[broadcast_index(bb, i, j, N, G)]);
    y[k] = accumulate ? y[k] + v : v;
  }
}

}  // namespace

template <typename T>
void binary(BinaryOp op, const T* a, const T* b, T* y, int64_t M, int64_t N, Broadcast bb, bool accumulate,
            cudaStream_t stream, int64_t G) {
  AE_CHECK(M >= 0 && N >= 0, "cuda binary(", binary_op_name(op), "): negative dimension (M=", M, ", N=", N, ")");
  AE_CHECK(static_cast<int>(op) < BINARY_OP_COUNT, "cuda binary: unknown op ", static_cast<int>(op));
  AE_CHECK(static_cast<int>(bb) < BROADCAST_COUNT, "cuda binary: unknown broadcast ", static_cast<int>(bb));
  AE_CHECK(G >= 1 && M % G == 0, "cuda binary: ", M, " rows are not whole groups of ", G);
  if (M == 0 || N == 0) return;
  AE_CHECK(a != nullptr && b != nullptr && y != nullptr, "cuda binary(", binary_op_name(op), "): a, b or y is null");
  launch("binary", binary_kernel<T>, grid_stride::grid_for(M * N), dim3(grid_stride::THREADS), 0, stream, op, a, b, y,
         M, N, bb, accumulate, G);
}

template void binary<float>(BinaryOp, const float*, const float*, float*, int64_t, int64_t, Broadcast, bool,
                            cudaStream_t, int64_t);

}  // namespace ae::cuda
