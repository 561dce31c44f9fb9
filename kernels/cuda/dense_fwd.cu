// The fused dense forward y = act(x·Wᵀ + b): x [M, K] and W [N, K] are both contiguous in the
// reduction dimension K, so it is gemm_tile's kernel with both operands t-contiguous and the
// bias + activation epilogue (z kept when asked). One variant, every activation (the activation is
// a uniform runtime branch in the epilogue, after the main loop).
#include "kernels/common/error.h"
#include "kernels/cuda/dense_fwd.cuh"
#include "kernels/cuda/gemm_tile.cuh"
#include "kernels/cuda/launch.cuh"
#include "kernels/cuda/sparsity.cuh"

namespace ae::cuda {

template <typename T>
void dense_forward(const T* x, const T* w, const T* b, Act act, int64_t M, int64_t N, int64_t K, T* y, T* z,
                   cudaStream_t stream, const NoiseParams& noise, const StepScalars* steps,
                   const CodePenaltyOut<T>& penalty) {
  using namespace gemm_tile;
  AE_CHECK(M >= 0 && N >= 0 && K >= 0, "cuda dense_forward: negative dimension (M=", M, ", N=", N, ", K=", K, ")");
  AE_CHECK(static_cast<int>(act) < ACT_COUNT, "cuda dense_forward: unknown activation ", static_cast<int>(act));
  const bool penalized = penalty.p.kind != SparsityKind::none;
  AE_CHECK(!penalized || sparsity_params_valid(penalty.p), "cuda dense_forward: bad sparsity penalty (kind ",
           static_cast<int>(penalty.p.kind), ", rho ", penalty.p.rho, ")");
  AE_CHECK(!penalized || (penalty.colsum && penalty.value && penalty.workspace), "cuda dense_forward: a penalty output is null");
  if (M == 0 || N == 0) {  // an empty batch still has a penalty value (0) and column sums (0)
    if (penalized) sparsity_finalize<T>(penalty.p, penalty.workspace, M, N, penalty.colsum, penalty.value, stream);
    return;
  }
  AE_CHECK(y != nullptr, "cuda dense_forward: output y is null");
  AE_CHECK(K == 0 || (x != nullptr && w != nullptr), "cuda dense_forward: x or w is null");
  AE_CHECK(static_cast<int>(noise.kind) < NOISE_KIND_COUNT, "cuda dense_forward: unknown noise kind ", static_cast<int>(noise.kind));
  AE_CHECK(noise.kind == NoiseKind::none || steps != nullptr, "cuda dense_forward: a corrupted x needs the step scalars");
  const dim3 grid = grid_for(M, N);
  AE_CHECK(grid.y <= 65535, "cuda dense_forward: N=", N, " exceeds the grid limit of ", 65535 * int64_t(BN));
  Params<T> p{};
  p.a = Operand<T>{x, K, 1, nullptr, Act::linear, false, noise, steps};  // x(m, k) = x[m·K + k]: off = m·K + k
  p.b = Operand<T>{w, K, 1, nullptr, Act::linear, false};  // W(n, k) = w[n·K + k]
  p.R = M, p.S = N, p.T_LEN = K;
  p.c = y, p.c_rs = N;
  p.bias = b, p.act = act, p.z = z;
  if (penalized) {  // the code layer of a sparse model (a one-layer encoder's may also be corrupted)
    p.colstat = penalty.p.kind;
    p.colstat_partials = penalty.workspace;
    if (noise.kind == NoiseKind::none)
      launch("dense_fwd<gemm_tile 64x64x16, code penalty column sums>",
             gemm_kernel<T, true, true, Epilogue::bias_act, false, false, LoadPenalty::none, true>, grid, dim3(THREADS), 0, stream, p);
    else
      launch("dense_fwd<gemm_tile 64x64x16, x corrupted on load, code penalty column sums>",
             gemm_kernel<T, true, true, Epilogue::bias_act, true, false, LoadPenalty::none, true>, grid, dim3(THREADS), 0, stream, p);
    sparsity_finalize<T>(penalty.p, penalty.workspace, M, N, penalty.colsum, penalty.value, stream);
    return;
  }
  if (noise.kind == NoiseKind::none)
    launch("dense_fwd<gemm_tile 64x64x16>", gemm_kernel<T, true, true, Epilogue::bias_act>, grid, dim3(THREADS), 0,
           stream, p);
  else
    launch("dense_fwd<gemm_tile 64x64x16, x corrupted on load>", gemm_kernel<T, true, true, Epilogue::bias_act, true, false>,
           grid, dim3(THREADS), 0, stream, p);
}

template void dense_forward<float>(const float*, const float*, const float*, Act, int64_t, int64_t, int64_t, float*,
                                   float*, cudaStream_t, const NoiseParams&, const StepScalars*,
                                   const CodePenaltyOut<float>&);

}  // namespace ae::cuda
