// The unfused reduce_sum kernels, one per axis, each with a fixed summation order (bitwise the same
// result under any schedule; sums in T = float):
//   rows: a block covers 32 columns with 8 row slices; slice s sums rows s, s + 8, ... in order
//         (coalesced: neighbouring threads read neighbouring columns), then thread (c, 0) adds the
//         8 slices in order;
//   cols: a block per row (grid-stride over rows); thread t sums columns t, t + 256, ..., then a
//         fixed shared-memory tree over the 256 partials;
//   all:  one block, thread t sums elements t, t + 256, ... of the flattened x, then the same tree.
//         One block keeps it deterministic without a workspace; `all` reduces scalar loss and
//         penalty terms, not bulk tensors.
//   groups, samples (G rows per sample): one output per thread of a grid-stride loop, summing its
//         G (groups) or M/G (samples) rows in order;
//   channels (G rows per sample, y [G]): a block per channel g (grid-stride over channels), thread t
//         sums elements t, t + 256, ... of the channel's rows g, G + g, ... read as one flattened
//         [M/G, N] run, then the fixed tree: the per-channel bias gradient of an NCHW tensor.
#include "kernels/common/error.h"
#include "kernels/cuda/launch.cuh"
#include "kernels/cuda/reduce.cuh"

namespace ae::cuda {

namespace {

constexpr int THREADS = 256;
constexpr int ROWS_COLS = 32;                     // rows kernel: columns per block
constexpr int ROWS_SLICES = THREADS / ROWS_COLS;  // rows kernel: row slices per block
constexpr int64_t MAX_BLOCKS = 65535;             // cols, channels kernels: grid-stride beyond this

template <typename T>
__device__ __forceinline__ void store(T* y, T sum, T alpha, bool accumulate) {
  *y = accumulate ? *y + alpha * sum : alpha * sum;
}

// The sum of v over the block's THREADS threads in a fixed pairwise tree, returned to every thread.
// Every thread of the block must call it (it has barriers); sh is free again when it returns.
template <typename T>
__device__ T block_tree_sum(T v, T* sh) {  // sh [THREADS] shared
  const int tid = threadIdx.x;
  sh[tid] = v;
  __syncthreads();  // every partial is in place before the tree reads it
  for (int s = THREADS / 2; s > 0; s >>= 1) {
    if (tid < s) sh[tid] += sh[tid + s];
    __syncthreads();  // a level is complete before the next reads it
  }
  const T total = sh[0];
  __syncthreads();  // everyone has read the total before sh is reused
  return total;
}

// Block (32 columns × 8 slices): y[n] = alpha·Σ_m x[m, n] for n in the block's 32 columns.
template <typename T>
__global__ void __launch_bounds__(THREADS) reduce_rows_kernel(T alpha, const T* x,  // [M, N]
                                                              T* y,                 // [N]
                                                              int64_t M, int64_t N, bool accumulate) {
  __shared__ T part[ROWS_SLICES][ROWS_COLS];
  const int c = threadIdx.x % ROWS_COLS, s = threadIdx.x / ROWS_COLS;
  const int64_t n = int64_t(blockIdx.x) * ROWS_COLS + c;
  T acc = T(0);
  if (n < N)
    for (int64_t m = s; m < M; m += ROWS_SLICES) acc += x[m * N + n];
  part[s][c] = acc;
  __syncthreads();  // all slices are written before row slice 0 adds them
  if (s == 0 && n < N) {
    T sum = part[0][c];
    for (int k = 1; k < ROWS_SLICES; ++k) sum += part[k][c];
    store(y + n, sum, alpha, accumulate);
  }
}

// Block per row m (grid-stride): y[m] = alpha·Σ_n x[m, n].
template <typename T>
__global__ void __launch_bounds__(THREADS) reduce_cols_kernel(T alpha, const T* x,  // [M, N]
                                                              T* y,                 // [M]
                                                              int64_t M, int64_t N, bool accumulate) {
  __shared__ T sh[THREADS];
  for (int64_t m = blockIdx.x; m < M; m += gridDim.x) {  // uniform in the block: barriers are safe
    T acc = T(0);
    for (int64_t n = threadIdx.x; n < N; n += THREADS) acc += x[m * N + n];
    const T sum = block_tree_sum(acc, sh);
    if (threadIdx.x == 0) store(y + m, sum, alpha, accumulate);
  }
}

// One block: y[0] = alpha·Σ x over all count elements.
template <typename T>
__global__ void __launch_bounds__(THREADS) reduce_all_kernel(T alpha, const T* x,  // [count]
                                                             T* y,                 // [1]
                                                             int64_t count, bool accumulate) {
  __shared__ T sh[THREADS];
  T acc = T(0);
  for (int64_t k = threadIdx.x; k < count; k += THREADS) acc += x[k];
  const T sum = block_tree_sum(acc, sh);
  if (threadIdx.x == 0) store(y, sum, alpha, accumulate);
}

// One output per thread: groups y[r, n] = Σ_g x[r·G + g, n]; samples y[g, n] = Σ_r x[r·G + g, n].
template <typename T>
__global__ void __launch_bounds__(THREADS) reduce_grouped_kernel(T alpha, const T* x,  // [M, N]
                                                                 T* y,  // [M/G, N] or [G, N]
                                                                 int64_t M, int64_t N, int64_t G, bool by_sample,
                                                                 bool accumulate) {
  const int64_t samples = M / G, out_rows = by_sample ? samples : G, inner = by_sample ? G : samples;
  const int64_t outputs = out_rows * N, stride = int64_t(gridDim.x) * blockDim.x;
  for (int64_t k = int64_t(blockIdx.x) * blockDim.x + threadIdx.x; k < outputs; k += stride) {
    const int64_t o = k / N, n = k - o * N;
    T acc = T(0);
    for (int64_t t = 0; t < inner; ++t) acc += x[(by_sample ? o * G + t : t * G + o) * N + n];
    store(y + k, acc, alpha, accumulate);
  }
}

// Block per channel g (grid-stride): y[g] = alpha·Σ_r Σ_n x[r·G + g, n].
template <typename T>
__global__ void __launch_bounds__(THREADS) reduce_channels_kernel(T alpha, const T* x,  // [M, N]
                                                                  T* y,                 // [G]
                                                                  int64_t M, int64_t N, int64_t G, bool accumulate) {
  __shared__ T sh[THREADS];
  const int64_t count = (M / G) * N;                     // each channel's elements
  for (int64_t g = blockIdx.x; g < G; g += gridDim.x) {  // uniform in the block: barriers are safe
    T acc = T(0);
    for (int64_t k = threadIdx.x; k < count; k += THREADS) {
      const int64_t r = k / N;
      acc += x[(r * G + g) * N + (k - r * N)];
    }
    const T sum = block_tree_sum(acc, sh);
    if (threadIdx.x == 0) store(y + g, sum, alpha, accumulate);
  }
}

}  // namespace

template <typename T>
void reduce_sum(ReduceAxis axis, T alpha, const T* x, T* y, int64_t M, int64_t N, bool accumulate,
                cudaStream_t stream, int64_t G) {
  AE_CHECK(M >= 0 && N >= 0, "cuda reduce_sum(", reduce_axis_name(axis), "): negative dimension (M=", M, ", N=", N,
           ")");
  AE_CHECK(static_cast<int>(axis) < REDUCE_AXIS_COUNT, "cuda reduce_sum: unknown axis ", static_cast<int>(axis));
  AE_CHECK(G >= 1 && M % G == 0, "cuda reduce_sum: ", M, " rows are not whole groups of ", G);
  const int64_t outputs = reduce_outputs(axis, M, N, G);
  if (outputs == 0) return;
  AE_CHECK(y != nullptr, "cuda reduce_sum(", reduce_axis_name(axis), "): y is null");
  AE_CHECK(M * N == 0 || x != nullptr, "cuda reduce_sum(", reduce_axis_name(axis), "): x is null");
  switch (axis) {
    case ReduceAxis::rows: {
      const int64_t blocks = (N + ROWS_COLS - 1) / ROWS_COLS;
      AE_CHECK(blocks <= 0x7fffffff, "cuda reduce_sum(rows): N=", N, " exceeds the grid limit");
      launch("reduce_sum_rows", reduce_rows_kernel<T>, dim3(static_cast<unsigned>(blocks)), dim3(THREADS), 0, stream,
             alpha, x, y, M, N, accumulate);
      return;
    }
    case ReduceAxis::cols:
      launch("reduce_sum_cols", reduce_cols_kernel<T>, dim3(static_cast<unsigned>(M < MAX_BLOCKS ? M : MAX_BLOCKS)),
             dim3(THREADS), 0, stream, alpha, x, y, M, N, accumulate);
      return;
    case ReduceAxis::all:
      launch("reduce_sum_all", reduce_all_kernel<T>, dim3(1), dim3(THREADS), 0, stream, alpha, x, y, M * N, accumulate);
      return;
    case ReduceAxis::groups:
    case ReduceAxis::samples: {
      const int64_t blocks = (outputs + THREADS - 1) / THREADS;
      launch(axis == ReduceAxis::groups ? "reduce_sum_groups" : "reduce_sum_samples", reduce_grouped_kernel<T>,
             dim3(static_cast<unsigned>(blocks < MAX_BLOCKS ? blocks : MAX_BLOCKS)), dim3(THREADS), 0, stream, alpha, x, y,
             M, N, G, axis == ReduceAxis::groups, accumulate);
      return;
    }
    case ReduceAxis::channels:
      launch("reduce_sum_channels", reduce_channels_kernel<T>,
             dim3(static_cast<unsigned>(G < MAX_BLOCKS ? G : MAX_BLOCKS)), dim3(THREADS), 0, stream, alpha, x, y, M, N,
             G, accumulate);
      return;
  }
}

template void reduce_sum<float>(ReduceAxis, float, const float*, float*, int64_t, int64_t, bool, cudaStream_t, int64_t);

}  // namespace ae::cuda
