// The VAE code layer's kernels (fp32 storage, sums in double; no atomics):
//   reparam_rows: one warp per row, 8 rows per 256-thread block. Lane l walks the units j ≡ l
//                 (mod 32) in order: draws ε, writes z, adds the unit's KL term in double; the 32
//                 lane sums then meet in the tree of vae.h (shuffles down by 16, 8, 4, 2, 1, full
//                 mask), which is the cpu reference's order, so KL_m matches it bit for bit under
//                 one libm. Neighbouring lanes touch neighbouring μ, ℓ and z: coalesced.
//   reparam_mean: one thread adds the M rounded rows in row order in double (the reference's
//                 order; M is a batch, microseconds) and writes the mean.
//   reparam_backward: elementwise over the M·N (μ, ℓ) pairs in a grid-stride loop; a pair draws its
//                 ε once and writes both of its dh elements.
#include "kernels/common/error.h"
#include "kernels/cuda/elementwise.cuh"
#include "kernels/cuda/grid_stride.cuh"
#include "kernels/cuda/launch.cuh"
#include "kernels/cuda/vae.cuh"

namespace ae::cuda {

namespace {

constexpr int WARP = 32;
constexpr int ROWS_PER_BLOCK = 8;
constexpr int THREADS = WARP * ROWS_PER_BLOCK;
constexpr unsigned FULL_MASK = 0xffffffffu;
static_assert(VAE_KL_LANES == WARP, "vae.h's lane order is one warp's lanes");

__global__ void __launch_bounds__(THREADS) reparam_rows_kernel(const VaeParams p,
                                                               const StepScalars* steps,  // [1]
                                                               const float* h,            // [M, 2N]
                                                               int64_t M, int64_t N,
                                                               float* z,     // [M, N]
                                                               float* kl) {  // [M]
  const int lane = threadIdx.x % WARP;
  const int64_t m = int64_t(blockIdx.x) * ROWS_PER_BLOCK + threadIdx.x / WARP;
  double sum = 0.0;
  if (m < M) {  // no early return: every lane of the warp takes part in the shuffles below
    // The step block is read on the device, and only when ε is drawn (mean mode may pass none).
    uint64_t seed = 0, step = 0, row = 0;
    if (p.sample) seed = steps->seed, step = uint64_t(steps->step), row = steps->row_offset + uint64_t(m);
    const float* mu = h + m * 2 * N;  // [N], then ℓ [N]
    const float* logvar = mu + N;
    float* zm = z + m * N;
    for (int64_t j = lane; j < N; j += WARP) {
      const float u = mu[j], l = logvar[j];
      float eps = 0.0f, zj = u;  // mean mode: ε = 0, z = μ exactly
      if (p.sample) {
        eps = vae_eps(seed, step, row, j, N);
        zj = vae_z(u, vae_sigma(l), eps);
      }
      zm[j] = zj;
      sum += p.sampled_kl ? vae_sampled_kl_unit(zj, eps, l) : vae_kl_unit(u, l);
    }
  }
  // vae.h's tree: lane l < w takes lane l + w's sum; lane 0 ends with the row's.
  for (int w = WARP / 2; w >= 1; w /= 2) sum += __shfl_down_sync(FULL_MASK, sum, w);
  if (lane == 0 && m < M) kl[m] = static_cast<float>(vae_kl_row(sum, p.sampled_kl));
}

// One thread: the rows in row order, then the mean.
__global__ void reparam_mean_kernel(const float* kl,  // [M]
                                    int64_t M,
                                    float* value) {  // [1]
  double total = 0.0;
  for (int64_t m = 0; m < M; ++m) total += static_cast<double>(kl[m]);
  *value = static_cast<float>(total / static_cast<double>(M));
}

__global__ void __launch_bounds__(grid_stride::THREADS) reparam_backward_kernel(const StepScalars* steps,  // [1]
                                                                                const float* dz,  // [M, N] or nullptr
                                                                                const float* h,   // [M, 2N]
                                                                                const float* dvalue,  // [1] or nullptr
                                                                                int64_t M, int64_t N,
                                                                                float* dh,  // [M, 2N]
                                                                                bool accumulate) {
  // Read on the device: a captured graph replays with each step's seed and term weight.
  const float c = dvalue != nullptr ? vae_kl_seed(*dvalue, M) : 0.0f;
  uint64_t seed = 0, step = 0, row_offset = 0;
  if (dz != nullptr) seed = steps->seed, step = uint64_t(steps->step), row_offset = steps->row_offset;
  const int64_t n = M * N, stride = int64_t(gridDim.x) * blockDim.x;
  for (int64_t k = int64_t(blockIdx.x) * blockDim.x + threadIdx.x; k < n; k += stride) {
    const int64_t m = k / N, j = k - m * N;
    const int64_t im = m * 2 * N + j, il = im + N;  // μ_mj and ℓ_mj in h and dh
    const float mu = h[im], logvar = h[il];
    // No dz: nothing flows through z, so ε is not drawn and σ plays no part (0, not 0·∞).
    float g = 0.0f, eps = 0.0f, sigma = 0.0f;
    if (dz != nullptr) {
      g = dz[k];
      eps = vae_eps(seed, step, row_offset + uint64_t(m), j, N);
      sigma = vae_sigma(logvar);
    }
    const float d_mu = vae_grad_mu(g, mu, c), d_logvar = vae_grad_logvar(g, eps, sigma, logvar, c);
    dh[im] = accumulate ? dh[im] + d_mu : d_mu;
    dh[il] = accumulate ? dh[il] + d_logvar : d_logvar;
  }
}

void check_shape(int64_t M, int64_t N, const char* what) {
  AE_CHECK(M >= 0 && N >= 1, "cuda ", what, ": need M >= 0 rows and N >= 1 code units, got M=", M, ", N=", N);
}

}  // namespace

void reparam_forward(const VaeParams& p, const StepScalars* steps, const float* h, int64_t M, int64_t N, float* z,
                     float* kl, float* value, cudaStream_t stream) {
  check_shape(M, N, "reparam_forward");
  if (M == 0) {  // the reference's convention: no rows, mean KL 0
    if (value != nullptr) fill<float>(value, 0.0f, 1, stream);
    return;
  }
  AE_CHECK(h != nullptr && z != nullptr && kl != nullptr, "cuda reparam_forward: h, z or kl is null");
  AE_CHECK(!p.sample || steps != nullptr,
           "cuda reparam_forward: sampling needs the step scalars (seed, step, "
           "row_offset); steps is null");
  const int64_t blocks = (M + ROWS_PER_BLOCK - 1) / ROWS_PER_BLOCK;
  AE_CHECK(blocks <= 0x7fffffff, "cuda reparam_forward: M=", M, " exceeds the grid limit");
  launch("reparam_rows", reparam_rows_kernel, dim3(static_cast<unsigned>(blocks)), dim3(THREADS), 0, stream, p, steps,
         h, M, N, z, kl);
  if (value != nullptr)
    launch("reparam_mean", reparam_mean_kernel, dim3(1), dim3(1), 0, stream, static_cast<const float*>(kl), M, value);
}

void reparam_backward(const VaeParams& p, const StepScalars* steps, const float* dz, const float* h,
                      const float* dvalue, int64_t M, int64_t N, float* dh, bool accumulate, cudaStream_t stream) {
  check_shape(M, N, "reparam_backward");
  AE_CHECK(p.sample && !p.sampled_kl,
           "cuda reparam_backward: only the sampling op with the closed-form KL has a "
           "gradient (got sample=",
           p.sample, ", sampled_kl=", p.sampled_kl,
           "); the mean code and the sampled KL "
           "are forward-only");
  if (M == 0) return;
  AE_CHECK(h != nullptr && dh != nullptr, "cuda reparam_backward: h or dh is null");
  AE_CHECK(dz == nullptr || steps != nullptr,
           "cuda reparam_backward: a gradient through z needs the step scalars "
           "(its ε); steps is null");
  launch("reparam_backward", reparam_backward_kernel, grid_stride::grid_for(M * N), dim3(grid_stride::THREADS), 0,
         stream, steps, dz, h, dvalue, M, N, dh, accumulate);
}

}  // namespace ae::cuda
