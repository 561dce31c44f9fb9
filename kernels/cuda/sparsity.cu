// The unfused sparsity penalty kernels (sums in T = float unless said; no atomics):
//   partials: column_partials.cuh's, of sparsity_stat (|h| or h): the order of sparsity.cuh, which
//             dense_fwd's fused epilogue reproduces.
//   finalize: one block; thread t walks the columns t, t + 256, ..., summing each column's chunk
//             partials in chunk order (its column sum) and adding the unit's value in double; the
//             256 per-thread values then meet in a fixed shared-memory tree. The value is a scalar
//             of N terms, so one block is plenty and keeps the order independent of the grid.
//   backward: elementwise, one element per thread per step of a grid-stride loop.
#include "kernels/common/error.h"
#include "kernels/cuda/column_partials.cuh"
#include "kernels/cuda/grid_stride.cuh"
#include "kernels/cuda/launch.cuh"
#include "kernels/cuda/sparsity.cuh"

namespace ae::cuda {

namespace {

constexpr int THREADS = 256;
static_assert(SPARSITY_CHUNK_ROWS == COLUMN_CHUNK_ROWS && SPARSITY_GROUP_ROWS == COLUMN_GROUP_ROWS,
              "sparsity.cuh documents column_partials.cuh's order");

struct SparsityStat {  // column_partials.cuh's statistic
  SparsityKind kind;
  template <typename T>
  AE_HD T operator()(T h) const {
    return sparsity_stat(kind, h);
  }
};

// One block: colsum [N] from the chunk partials, value [1] = Σ_j unit value in double.
template <typename T>
__global__ void __launch_bounds__(THREADS) sparsity_finalize_kernel(const SparsityParams p,
                                                                    const T* partials,  // [chunks, N]
                                                                    int64_t chunks, int64_t N, double inv_batch,
                                                                    T* colsum,   // [N]
                                                                    T* value) {  // [1]
  __shared__ double sh[THREADS];
  const int tid = threadIdx.x;
  double acc = 0.0;
  for (int64_t j = tid; j < N; j += THREADS) {
    T s = T(0);
    for (int64_t c = 0; c < chunks; ++c) s += partials[c * N + j];
    colsum[j] = s;
    // No rows (chunks = 0): the value is 0, as the reference's (kl's log(ρ/0) is never taken).
    if (chunks > 0) acc += sparsity_unit_value(p, static_cast<double>(s), inv_batch);
  }
  sh[tid] = acc;
  __syncthreads();  // every thread's share is in place before the tree reads it
  for (int w = THREADS / 2; w > 0; w >>= 1) {
    if (tid < w) sh[tid] += sh[tid + w];
    __syncthreads();  // a level is complete before the next reads it
  }
  if (tid == 0) *value = static_cast<T>(sh[0]);  // the one rounding to T
}

template <typename T>
__global__ void __launch_bounds__(grid_stride::THREADS)
    sparsity_backward_kernel(const SparsityParams p,
                             const T* dvalue,  // [1]
                             const T* h,       // [M, N]
                             const T* colsum,  // [N]
                             int64_t M, int64_t N,
                             T inv_batch,  // 1/M rounded to T, as the reference's
                             T* dh,        // [M, N]
                             bool accumulate) {
  const T dv = *dvalue;  // read on the device: a captured graph replays with the seed of each step
  const int64_t n = M * N, stride = int64_t(gridDim.x) * blockDim.x;
  for (int64_t k = int64_t(blockIdx.x) * blockDim.x + threadIdx.x; k < n; k += stride) {
    const int64_t j = k - (k / N) * N;
    const T g = sparsity_grad(p, h[k], colsum[j], dv, inv_batch);
    dh[k] = accumulate ? __fadd_rn(dh[k], g) : g;  // no FMA: the fused dense_bwd adds g to dy alike
  }
}

void check_params(const SparsityParams& p, int64_t M, int64_t N, const char* what) {
  AE_CHECK(M >= 0 && N >= 0, "cuda ", what, ": negative dimension (M=", M, ", N=", N, ")");
  AE_CHECK(p.kind == SparsityKind::l1 || p.kind == SparsityKind::kl, "cuda ", what, ": unknown sparsity kind ",
           static_cast<int>(p.kind), "; expected l1 or kl");
  AE_CHECK(p.kind != SparsityKind::kl || (p.rho > 0 && p.rho < 1), "cuda ", what, ": kl needs 0 < rho < 1, got ",
           p.rho);
}

}  // namespace

template <typename T>
void sparsity_column_partials(const SparsityParams& p, const T* h, int64_t M, int64_t N, T* partials,
                              cudaStream_t stream) {
  check_params(p, M, N, "sparsity_column_partials");
  if (M == 0 || N == 0) return;
  AE_CHECK(h != nullptr && partials != nullptr, "cuda sparsity_column_partials: h or partials is null");
  launch_column_partials("sparsity_partials", SparsityStat{p.kind}, h, M, N, partials, stream);
}

template <typename T>
void sparsity_finalize(const SparsityParams& p, const T* partials, int64_t M, int64_t N, T* colsum, T* value,
                       cudaStream_t stream) {
  check_params(p, M, N, "sparsity_finalize");
  AE_CHECK(value != nullptr && (N == 0 || colsum != nullptr), "cuda sparsity_finalize: colsum or value is null");
  AE_CHECK(M == 0 || N == 0 || partials != nullptr, "cuda sparsity_finalize: partials is null");
  const double inv_batch = M > 0 ? 1.0 / double(M) : 0.0;  // the reference's 1/M, in double
  launch("sparsity_finalize", sparsity_finalize_kernel<T>, dim3(1), dim3(THREADS), 0, stream, p, partials,
         sparsity_chunks(M), N, inv_batch, colsum, value);
}

template <typename T>
void sparsity_forward(const SparsityParams& p, const T* h, int64_t M, int64_t N, T* colsum, T* value, T* workspace,
                      cudaStream_t stream) {
  // Everything checked before the first launch: a refused call leaves the workspace as it was.
  check_params(p, M, N, "sparsity_forward");
  AE_CHECK(value != nullptr && (N == 0 || colsum != nullptr), "cuda sparsity_forward: colsum or value is null");
  AE_CHECK(M == 0 || N == 0 || (h != nullptr && workspace != nullptr), "cuda sparsity_forward: h or the workspace (",
           sparsity_workspace_floats(M, N), " elements) is null");
  sparsity_column_partials(p, h, M, N, workspace, stream);
  sparsity_finalize(p, static_cast<const T*>(workspace), M, N, colsum, value, stream);
}

template <typename T>
void sparsity_backward(const SparsityParams& p, const T* dvalue, const T* h, const T* colsum, int64_t M, int64_t N,
                       T* dh, bool accumulate, cudaStream_t stream) {
  check_params(p, M, N, "sparsity_backward");
  if (M == 0 || N == 0) return;
  AE_CHECK(dvalue != nullptr && h != nullptr && colsum != nullptr && dh != nullptr,
           "cuda sparsity_backward: dvalue, h, colsum or dh is null");
  const T inv_batch = T(1) / static_cast<T>(M);
  launch("sparsity_backward", sparsity_backward_kernel<T>, grid_stride::grid_for(M * N), dim3(grid_stride::THREADS), 0,
         stream, p, dvalue, h, colsum, M, N, inv_batch, dh, accumulate);
}

template void sparsity_column_partials<float>(const SparsityParams&, const float*, int64_t, int64_t, float*,
                                              cudaStream_t);
template void sparsity_finalize<float>(const SparsityParams&, const float*, int64_t, int64_t, float*, float*,
                                       cudaStream_t);
template void sparsity_forward<float>(const SparsityParams&, const float*, int64_t, int64_t, float*, float*, float*,
                                      cudaStream_t);
template void sparsity_backward<float>(const SparsityParams&, const float*, const float*, const float*, int64_t,
                                       int64_t, float*, bool, cudaStream_t);

}  // namespace ae::cuda
