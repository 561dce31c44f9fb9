// The fused dense backward: two launches of gemm_tile's kernel, both applying act′ to dy while
// loading it (A(r, t) = dy · act′(y or z) at the same offset), so dz is never written or re-read.
//   dW [N, K] = dzᵀ·x: R = N, S = K, reduced over M; both operands contiguous in r (dz rows are
//               [N], x rows [K]); db = Σ_m dz rides in the same pass (the grid's first column of
//               blocks sums its 64 rows of dz from shared memory, in m order: no atomics).
//   dx [M, K] = dz·W:  R = M, S = K, reduced over N; dz contiguous in t, W(k, n) contiguous in r.
// Why act′ on load rather than an elementwise pass first: the pass would write and re-read M·N
// values and could not run in place of dy; recomputing act′ per load costs a few flops per
// element against the 2·K FMAs each dz element feeds (the y-form is a compare or a multiply).
#include "kernels/common/error.h"
#include "kernels/cuda/dense_bwd.cuh"
#include "kernels/cuda/gemm_tile.cuh"
#include "kernels/cuda/launch.cuh"

namespace ae::cuda {

template <typename T>
void dense_backward(const T* dy, const T* y, const T* z, Act act, const T* x, const T* w, int64_t M, int64_t N,
                    int64_t K, T* dw, T* db, T* dx, bool accumulate_dw, bool accumulate_db, cudaStream_t stream,
                    const NoiseParams& noise, const StepScalars* steps, const CodePenaltyIn<T>& penalty) {
  using namespace gemm_tile;
  AE_CHECK(M >= 0 && N >= 0 && K >= 0, "cuda dense_backward: negative dimension (M=", M, ", N=", N, ", K=", K, ")");
  AE_CHECK(static_cast<int>(act) < ACT_COUNT, "cuda dense_backward: unknown activation ", static_cast<int>(act));
  AE_CHECK(z != nullptr || !act_derivative_needs_z(act), "cuda dense_backward: activation ", act_name(act),
           " needs the pre-activation z (its derivative is not a function of y); keep z");
  AE_CHECK(z != nullptr || y != nullptr || act == Act::linear, "cuda dense_backward: activation ", act_name(act),
           " needs y or z; both are null");
  AE_CHECK(N == 0 || K == 0 || dw != nullptr, "cuda dense_backward: dw is null");
  AE_CHECK(static_cast<int>(noise.kind) < NOISE_KIND_COUNT, "cuda dense_backward: unknown noise kind ", static_cast<int>(noise.kind));
  AE_CHECK(noise.kind == NoiseKind::none || steps != nullptr, "cuda dense_backward: a corrupted x needs the step scalars");
  const bool nonempty = M > 0 && N > 0;
  AE_CHECK(!nonempty || dy != nullptr, "cuda dense_backward: dy is null");
  AE_CHECK(!nonempty || K == 0 || (x != nullptr && w != nullptr), "cuda dense_backward: x or w is null");
  // dz(m, n) = dy[m·N + n] · act′(aux[m·N + n]); the linear case reads no aux.
  const bool from_z = z != nullptr;
  const T* aux = act == Act::linear ? nullptr : (from_z ? z : y);
  const bool penalized = penalty.p.kind != SparsityKind::none;
  AE_CHECK(!penalized || !nonempty || (penalty.h && penalty.colsum && penalty.dvalue),
           "cuda dense_backward: a code penalty needs h, its column sums and dvalue");
  auto with_penalty = [&](Operand<T> dz) {  // dz(·) = (dy + the penalty's gradient)·act′ at the same offset
    if (!penalized) return dz;
    dz.pen = penalty.p;
    dz.pen_h = penalty.h, dz.pen_colsum = penalty.colsum, dz.pen_dvalue = penalty.dvalue;
    dz.pen_cols = N;
    dz.pen_inv_batch = T(1) / T(M);
    return dz;
  };

  // dW and db: a grid of N/64 × max(1, K/64) blocks (the first column also sums db; with K = 0
  // there is no dW but db is still due).
  if (N > 0 && (K > 0 || db)) {
    const dim3 grid = grid_for(N, K);
    AE_CHECK(grid.y <= 65535, "cuda dense_backward: K=", K, " exceeds the grid limit of ", 65535 * int64_t(BN));
    Params<T> p{};
    p.a = with_penalty(Operand<T>{dy, 1, N, aux, act, from_z});  // dz(n, m) = dz[m·N + n]
    p.b = Operand<T>{x, 1, K, nullptr, Act::linear, false, noise, steps};  // x(k, m) = x[m·K + k]: off = m·K + k
    p.R = N, p.S = K, p.T_LEN = M;
    p.c = dw, p.c_rs = K;
    p.accumulate = accumulate_dw;
    p.row_sum = db;
    p.accumulate_row_sum = accumulate_db;
    const bool noisy = noise.kind != NoiseKind::none;
    if (!noisy && !penalized)
      launch("dense_bwd_dw_db<gemm_tile 64x64x16>", gemm_kernel<T, false, false, Epilogue::store>, grid, dim3(THREADS), 0,
             stream, p);
    else if (!penalized)
      launch("dense_bwd_dw_db<gemm_tile 64x64x16, x corrupted on load>",
             gemm_kernel<T, false, false, Epilogue::store, false, true>, grid, dim3(THREADS), 0, stream, p);
    else if (!noisy)
      launch("dense_bwd_dw_db<gemm_tile 64x64x16, code penalty on dy's load>",
             gemm_kernel<T, false, false, Epilogue::store, false, false, true>, grid, dim3(THREADS), 0, stream, p);
    else
      launch("dense_bwd_dw_db<gemm_tile 64x64x16, x corrupted on load, code penalty on dy's load>",
             gemm_kernel<T, false, false, Epilogue::store, false, true, true>, grid, dim3(THREADS), 0, stream, p);
  }
  // dx = dz·W; with N = 0 the loop is empty and dx is zero, as an empty sum is.
  if (dx && M > 0 && K > 0) {
    const dim3 grid = grid_for(M, K);
    AE_CHECK(grid.y <= 65535, "cuda dense_backward: K=", K, " exceeds the grid limit of ", 65535 * int64_t(BN));
    Params<T> p{};
    p.a = with_penalty(Operand<T>{dy, N, 1, aux, act, from_z});  // dz(m, n) = dz[m·N + n]
    p.b = Operand<T>{w, 1, K, nullptr, Act::linear, false};      // W(k, n) = w[n·K + k]
    p.R = M, p.S = K, p.T_LEN = N;
    p.c = dx, p.c_rs = K;
    if (!penalized)
      launch("dense_bwd_dx<gemm_tile 64x64x16>", gemm_kernel<T, true, false, Epilogue::store>, grid, dim3(THREADS), 0,
             stream, p);
    else
      launch("dense_bwd_dx<gemm_tile 64x64x16, code penalty on dy's load>",
             gemm_kernel<T, true, false, Epilogue::store, false, false, true>, grid, dim3(THREADS), 0, stream, p);
  }
}

template void dense_backward<float>(const float*, const float*, const float*, Act, const float*, const float*, int64_t,
                                    int64_t, int64_t, float*, float*, float*, bool, bool, cudaStream_t,
                                    const NoiseParams&, const StepScalars*, const CodePenaltyIn<float>&);

}  // namespace ae::cuda
