// The small memory-bound kernels: fill, copy, add (one element per thread per step of a
// grid-stride loop, the grid capped so huge tensors reuse threads) and gather_rows (a 2-D grid:
// x over the features of a row, y over the rows; one index read per thread, coalesced rows).
// One variant each; T is the element type, instantiated for float at the bottom.
#include "kernels/common/elementwise.h"
#include "kernels/common/error.h"
#include "kernels/cuda/elementwise.cuh"
#include "kernels/cuda/launch.cuh"

namespace ae::cuda {

namespace {

constexpr int THREADS = 256;
constexpr int64_t MAX_BLOCKS = 4096;  // grid-stride beyond this: plenty of blocks to fill any GPU

dim3 grid_1d(int64_t n) {
  const int64_t blocks = (n + THREADS - 1) / THREADS;
  return dim3(static_cast<unsigned>(blocks < MAX_BLOCKS ? blocks : MAX_BLOCKS));
}

template <typename T>
__global__ void __launch_bounds__(THREADS) fill_kernel(T* y, T value, int64_t n) {  // y [n]
  const int64_t stride = int64_t(gridDim.x) * blockDim.x;
  for (int64_t i = int64_t(blockIdx.x) * blockDim.x + threadIdx.x; i < n; i += stride) y[i] = value;
}

template <typename T>
__global__ void __launch_bounds__(THREADS) fill_ramped_kernel(T* y, double weight, int64_t ramp, const StepScalars* steps,
                                                              int64_t n, const AmpState* amp) {  // y [n], amp [1] or null
  T value = static_cast<T>(ramp_weight(weight, steps->step, ramp));
  // Rounded to T first, then scaled: torch's autograd multiplies the term's weight by the scale's
  // gradient in the tensor's type, and the power-of-two scale changes no bits of a normal value.
  if (amp != nullptr) value = value * static_cast<T>(amp->scale);
  const int64_t stride = int64_t(gridDim.x) * blockDim.x;
  for (int64_t i = int64_t(blockIdx.x) * blockDim.x + threadIdx.x; i < n; i += stride) y[i] = value;
}

template <typename T>
__global__ void __launch_bounds__(THREADS) copy_kernel(const T* x, T* y, int64_t n) {  // x, y [n]
  const int64_t stride = int64_t(gridDim.x) * blockDim.x;
  for (int64_t i = int64_t(blockIdx.x) * blockDim.x + threadIdx.x; i < n; i += stride) y[i] = x[i];
}

template <typename T>
__global__ void __launch_bounds__(THREADS) add_kernel(const T* a, const T* b, T* y, int64_t n) {  // [n] each
  const int64_t stride = int64_t(gridDim.x) * blockDim.x;
  for (int64_t i = int64_t(blockIdx.x) * blockDim.x + threadIdx.x; i < n; i += stride) y[i] = a[i] + b[i];
}

// Block (x, y): features [x·256, x·256 + 256) of rows y, y + gridDim.y, ... (grid-stride in rows).
template <typename T>
__global__ void __launch_bounds__(THREADS) gather_rows_kernel(const T* src,  // [src_rows, F]
                                                              int64_t src_rows,
                                                              const int64_t* index,  // [M]
                                                              int64_t M, int64_t F,
                                                              T* out) {  // [M, F]
  const int64_t f = int64_t(blockIdx.x) * THREADS + threadIdx.x;
  for (int64_t i = blockIdx.y; i < M; i += gridDim.y) {
    const int64_t r = index[i];
    if (r < 0 || r >= src_rows) __trap();  // a bad permutation is a bug upstream: fail the launch
    if (f < F) out[i * F + f] = src[r * F + f];
  }
}

}  // namespace

template <typename T>
void fill(T* y, T value, int64_t n, cudaStream_t stream) {
  AE_CHECK(n >= 0, "cuda fill: negative size ", n);
  if (n == 0) return;
  AE_CHECK(y != nullptr, "cuda fill: y is null");
  launch("fill", fill_kernel<T>, grid_1d(n), dim3(THREADS), 0, stream, y, value, n);
}

template <typename T>
void fill_ramped(T* y, double weight, int64_t ramp, const StepScalars* steps, int64_t n, cudaStream_t stream,
                 const AmpState* amp) {
  AE_CHECK(n >= 0, "cuda fill_ramped: negative size ", n);
  if (n == 0) return;
  AE_CHECK(y != nullptr && steps != nullptr, "cuda fill_ramped: y or the step scalars are null");
  launch("fill_ramped", fill_ramped_kernel<T>, grid_1d(n), dim3(THREADS), 0, stream, y, weight, ramp, steps, n, amp);
}

template <typename T>
void copy(const T* x, T* y, int64_t n, cudaStream_t stream) {
  AE_CHECK(n >= 0, "cuda copy: negative size ", n);
  if (n == 0) return;
  AE_CHECK(x != nullptr && y != nullptr, "cuda copy: x or y is null");
  launch("copy", copy_kernel<T>, grid_1d(n), dim3(THREADS), 0, stream, x, y, n);
}

template <typename T>
void add(const T* a, const T* b, T* y, int64_t n, cudaStream_t stream) {
  AE_CHECK(n >= 0, "cuda add: negative size ", n);
  if (n == 0) return;
  AE_CHECK(a != nullptr && b != nullptr && y != nullptr, "cuda add: a, b or y is null");
  launch("add", add_kernel<T>, grid_1d(n), dim3(THREADS), 0, stream, a, b, y, n);
}

template <typename T>
void gather_rows(const T* src, int64_t src_rows, const int64_t* index, int64_t M, int64_t F, T* out,
                 cudaStream_t stream) {
  AE_CHECK(src_rows >= 0 && M >= 0 && F >= 0, "cuda gather_rows: negative size (src_rows=", src_rows, ", M=", M,
           ", F=", F, ")");
  if (M == 0 || F == 0) return;
  AE_CHECK(src != nullptr && index != nullptr && out != nullptr, "cuda gather_rows: src, index or out is null");
  const int64_t gx = (F + THREADS - 1) / THREADS;
  AE_CHECK(gx <= 0x7fffffff, "cuda gather_rows: F=", F, " exceeds the grid limit");
  const dim3 grid(static_cast<unsigned>(gx), static_cast<unsigned>(M < 65535 ? M : 65535));
  launch("gather_rows", gather_rows_kernel<T>, grid, dim3(THREADS), 0, stream, src, src_rows, index, M, F, out);
}

template void fill<float>(float*, float, int64_t, cudaStream_t);
template void fill_ramped<float>(float*, double, int64_t, const StepScalars*, int64_t, cudaStream_t, const AmpState*);
template void copy<float>(const float*, float*, int64_t, cudaStream_t);
template void add<float>(const float*, const float*, float*, int64_t, cudaStream_t);
template void gather_rows<float>(const float*, int64_t, const int64_t*, int64_t, int64_t, float*, cudaStream_t);

}  // namespace ae::cuda
