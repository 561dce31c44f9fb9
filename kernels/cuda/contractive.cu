// The contractive penalty kernels of a one-layer encoder (contractive.cuh; z [M, N], W [N, K]; sums
// in T = float unless said; no atomics). The forward is three launches on one stream:
//   partials: s's column partials of a′(z)² over 64-row chunks: column_partials.cuh's, as for
//             sparsity (its adds are __fadd_rn: nvcc may not fold a′·a′ + q into an FMA).
//   units:    one warp per unit j, 8 per block: lane l sums W_jk² for k ≡ l mod 32 in ascending k
//             (a warp reads 32 consecutive weights: coalesced; K ~ 4096 gives every lane 128 loads
//             to overlap), a fixed shuffle tree gives n_j; lane 0 then adds s's chunk partials of
//             column j in chunk order. ceil(N/8) blocks, ~125 for N = 1000, each warp streaming its
//             row: the pass is bound by reading W once, which it does at full coalescing.
//   value:    one block: thread t adds s_j·n_j (in double) for j = t, t + 256, ... in order, a fixed
//             shared-memory tree, one division by M and one rounding to T. A scalar of N terms: one
//             block is plenty and keeps the order independent of the grid.
// The backwards are elementwise grid-stride loops, one element per thread per step.
#include "kernels/cuda/contractive.cuh"

#include "kernels/common/error.h"
#include "kernels/cuda/column_partials.cuh"
#include "kernels/cuda/grid_stride.cuh"
#include "kernels/cuda/launch.cuh"

namespace ae::cuda {

namespace {

constexpr int THREADS = 256;
constexpr int WARP = 32;
constexpr int UNITS_PER_BLOCK = THREADS / WARP;                               // units: one warp each
static_assert(CONTRACTIVE_CHUNK_ROWS == COLUMN_CHUNK_ROWS && CONTRACTIVE_GROUP_ROWS == COLUMN_GROUP_ROWS,
              "contractive.cuh documents column_partials.cuh's order");

struct ContractiveStat {  // column_partials.cuh's statistic: a′(z)²
  Act act;
  template <typename T>
  AE_HD T operator()(T z) const {
    return contractive_stat(act, z);
  }
};

// Warp w of block b: unit j = 8b + w. norms[j] = Σ_k W_jk², s[j] = Σ_c partials[c, j].
template <typename T>
__global__ void __launch_bounds__(THREADS) contractive_units_kernel(const T* w,         // [N, K]
                                                                    const T* partials,  // [chunks, N]
                                                                    int64_t chunks, int64_t N, int64_t K,
                                                                    T* s,        // [N]
                                                                    T* norms) {  // [N]
  const int lane = threadIdx.x % WARP;
  const int64_t j = int64_t(blockIdx.x) * UNITS_PER_BLOCK + threadIdx.x / WARP;
  if (j >= N) return;  // the whole warp: j is uniform in it, so the shuffles below see all 32 lanes
  const T* row = w + j * K;
  T acc = T(0);
  for (int64_t k = lane; k < K; k += WARP) acc += row[k] * row[k];  // an FMA is welcome: no contract here
  // Fixed tree: lane l adds lane l + 16, then + 8, ... (lanes past the width read their own value,
  // which lane 0's sum never takes).
  for (int d = WARP / 2; d >= 1; d /= 2) acc += __shfl_down_sync(0xffffffffu, acc, d);
  if (lane == 0) {
    T sum = T(0);
    for (int64_t c = 0; c < chunks; ++c) sum = __fadd_rn(sum, partials[c * N + j]);
    s[j] = sum;
    norms[j] = acc;
  }
}

// One block: value [1] = (Σ_j s_j·n_j in double) / M, rounded to T once. M = 0: 0.
template <typename T>
__global__ void __launch_bounds__(THREADS) contractive_value_kernel(const T* s,      // [N]
                                                                    const T* norms,  // [N]
                                                                    int64_t M, int64_t N,
                                                                    T* value) {  // [1]
  __shared__ double sh[THREADS];
  const int tid = threadIdx.x;
  double acc = 0.0;
  for (int64_t j = tid; j < N; j += THREADS) acc += static_cast<double>(s[j]) * static_cast<double>(norms[j]);
  sh[tid] = acc;
  __syncthreads();  // every thread's share is in place before the tree reads it
  for (int h = THREADS / 2; h > 0; h >>= 1) {
    if (tid < h) sh[tid] += sh[tid + h];
    __syncthreads();  // a level is complete before the next reads it
  }
  if (tid == 0) *value = static_cast<T>(M > 0 ? sh[0] / static_cast<double>(M) : 0.0);
}

template <typename T>
__global__ void __launch_bounds__(grid_stride::THREADS)
    contractive_backward_z_kernel(Act act,
                                  const T* dvalue,  // [1]
                                  const T* z,       // [M, N]
                                  const T* norms,   // [N]
                                  int64_t M, int64_t N,
                                  T inv_batch,  // 1/M rounded to T, as the reference's
                                  T* dz,        // [M, N]
                                  bool accumulate) {
  const T dv = *dvalue;  // read on the device: a captured graph replays with the seed of each step
  const int64_t n = M * N, stride = int64_t(gridDim.x) * blockDim.x;
  for (int64_t e = int64_t(blockIdx.x) * blockDim.x + threadIdx.x; e < n; e += stride) {
    const int64_t j = e - (e / N) * N;
    const T g = contractive_grad_z(act, z[e], norms[j], dv, inv_batch);
    dz[e] = accumulate ? __fadd_rn(dz[e], g) : g;  // no FMA: a fused dense_bwd adds g to dy alike
  }
}

template <typename T>
__global__ void __launch_bounds__(grid_stride::THREADS)
    contractive_backward_w_kernel(const T* dvalue,  // [1]
                                  const T* w,       // [N, K]
                                  const T* s,       // [N]
                                  int64_t N, int64_t K,
                                  T inv_batch,  // 1/M rounded to T, 0 for an empty batch
                                  T* dw,        // [N, K]
                                  bool accumulate) {
  const T dv = *dvalue;
  const int64_t n = N * K, stride = int64_t(gridDim.x) * blockDim.x;
  for (int64_t e = int64_t(blockIdx.x) * blockDim.x + threadIdx.x; e < n; e += stride) {
    const T g = contractive_grad_w(w[e], s[e / K], dv, inv_batch);
    dw[e] = accumulate ? __fadd_rn(dw[e], g) : g;
  }
}

void check_dims(Act act, int64_t M, int64_t N, int64_t K, const char* what) {
  AE_CHECK(M >= 0 && N >= 0 && K >= 0, "cuda ", what, ": negative dimension (M=", M, ", N=", N, ", K=", K, ")");
  AE_CHECK(static_cast<int>(act) < ACT_COUNT, "cuda ", what, ": unknown activation ", static_cast<int>(act),
           "; expected one of: ", act_names_list());
}

}  // namespace

template <typename T>
void contractive_forward(Act act, const T* z, const T* w, int64_t M, int64_t N, int64_t K, T* s, T* norms, T* value,
                         T* workspace, cudaStream_t stream) {
  // Everything checked before the first launch: a refused call leaves every buffer as it was.
  check_dims(act, M, N, K, "contractive_forward");
  AE_CHECK(value != nullptr && (N == 0 || (s != nullptr && norms != nullptr)),
           "cuda contractive_forward: s, norms or value is null");
  AE_CHECK(M == 0 || N == 0 || (z != nullptr && workspace != nullptr), "cuda contractive_forward: z or the workspace (",
           contractive_workspace_floats(M, N, K), " elements) is null");
  AE_CHECK(N == 0 || K == 0 || w != nullptr, "cuda contractive_forward: w is null");
  const int64_t chunks = contractive_chunks(M);
  const int64_t unit_blocks = (N + UNITS_PER_BLOCK - 1) / UNITS_PER_BLOCK;
  const int64_t col_blocks = (N + 31) / 32;  // column_partials.cuh's grid, checked here before any launch
  AE_CHECK(col_blocks == 0 || chunks <= 0x7fffffff / col_blocks, "cuda contractive_forward: M=", M, ", N=", N,
           " exceeds the grid limit");
  AE_CHECK(unit_blocks <= 0x7fffffff, "cuda contractive_forward: N=", N, " exceeds the grid limit");
  launch_column_partials("contractive_partials", ContractiveStat{act}, z, M, N, workspace, stream);
  if (N > 0)
    launch("contractive_units", contractive_units_kernel<T>, dim3(static_cast<unsigned>(unit_blocks)), dim3(THREADS), 0,
           stream, w, static_cast<const T*>(workspace), chunks, N, K, s, norms);
  launch("contractive_value", contractive_value_kernel<T>, dim3(1), dim3(THREADS), 0, stream,
         static_cast<const T*>(s), static_cast<const T*>(norms), M, N, value);
}

template <typename T>
void contractive_backward_z(Act act, const T* dvalue, const T* z, const T* norms, int64_t M, int64_t N, T* dz,
                            bool accumulate, cudaStream_t stream) {
  check_dims(act, M, N, 0, "contractive_backward_z");
  if (M == 0 || N == 0) return;
  AE_CHECK(dvalue != nullptr && z != nullptr && norms != nullptr && dz != nullptr,
           "cuda contractive_backward_z: dvalue, z, norms or dz is null");
  const T inv_batch = T(1) / static_cast<T>(M);
  launch("contractive_backward_z", contractive_backward_z_kernel<T>, grid_stride::grid_for(M * N),
         dim3(grid_stride::THREADS), 0, stream, act, dvalue, z, norms, M, N, inv_batch, dz, accumulate);
}

template <typename T>
void contractive_backward_w(const T* dvalue, const T* w, const T* s, int64_t M, int64_t N, int64_t K, T* dw,
                            bool accumulate, cudaStream_t stream) {
  check_dims(Act::linear, M, N, K, "contractive_backward_w");
  if (N == 0 || K == 0) return;
  AE_CHECK(dvalue != nullptr && w != nullptr && s != nullptr && dw != nullptr,
           "cuda contractive_backward_w: dvalue, w, s or dw is null");
  const T inv_batch = M > 0 ? T(1) / static_cast<T>(M) : T(0);  // an empty batch: a zero penalty
  launch("contractive_backward_w", contractive_backward_w_kernel<T>, grid_stride::grid_for(N * K),
         dim3(grid_stride::THREADS), 0, stream, dvalue, w, s, N, K, inv_batch, dw, accumulate);
}

template void contractive_forward<float>(Act, const float*, const float*, int64_t, int64_t, int64_t, float*, float*,
                                         float*, float*, cudaStream_t);
template void contractive_backward_z<float>(Act, const float*, const float*, const float*, int64_t, int64_t, float*,
                                            bool, cudaStream_t);
template void contractive_backward_w<float>(const float*, const float*, const float*, int64_t, int64_t, int64_t, float*,
                                            bool, cudaStream_t);

}  // namespace ae::cuda
