// The broadcast kernel: one output element per thread per step of a grid-stride loop over the
// flattened [M, N] index; the source element comes from kernels/common/elementwise.h's
// broadcast_index, the same indexing the cpu reference uses.
#include "kernels/common/error.h"
#include "kernels/cuda/broadcast.cuh"
#include "kernels/cuda/grid_stride.cuh"
#include "kernels/cuda/launch.cuh"

namespace ae::cuda {

namespace {

template <typename T>
__global__ void __launch_bounds__(grid_stride::THREADS)
    broadcast_kernel(Broadcast bb, T alpha, const T* x,  // per bb
                     T* y,                               // [M, N]
                     int64_t M, int64_t N, bool accumulate, int64_t G) {
  const int64_t n = M * N, stride = int64_t(gridDim.x) * blockDim.x;
  for (int64_t k = int64_t(blockIdx.x) * blockDim.x + threadIdx.x; k < n; k += stride) {
    const int64_t i = k / N, j = k - i * N;
    const T v = alpha * x[broadcast_index(bb, i, j, N, G)];
    y[k] = accumulate ? y[k] + v : v;
  }
}

}  // namespace

template <typename T>
void broadcast(Broadcast bb, T alpha, const T* x, T* y, int64_t M, int64_t N, bool accumulate, cudaStream_t stream,
               int64_t G) {
  AE_CHECK(M >= 0 && N >= 0, "cuda broadcast: negative dimension (M=", M, ", N=", N, ")");
  AE_CHECK(static_cast<int>(bb) < BROADCAST_COUNT, "cuda broadcast: unknown broadcast ", static_cast<int>(bb));
  AE_CHECK(G >= 1 && M % G == 0, "cuda broadcast: ", M, " rows are not whole groups of ", G);
  if (M == 0 || N == 0) return;
  AE_CHECK(x != nullptr && y != nullptr, "cuda broadcast(", broadcast_name(bb), "): x or y is null");
  launch("broadcast", broadcast_kernel<T>, grid_stride::grid_for(M * N), dim3(grid_stride::THREADS), 0, stream, bb, alpha,
         x, y, M, N, accumulate, G);
}

template void broadcast<float>(Broadcast, float, const float*, float*, int64_t, int64_t, bool, cudaStream_t, int64_t);

}  // namespace ae::cuda
