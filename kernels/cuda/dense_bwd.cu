// The fused dense backward: two launches of gemm_tile's kernel, both applying act′ to dy while
// loading it (A(r, t) = dy · act′(y or z) at the same offset), so dz is never written or re-read.
//   dW [N, K] = dzᵀ·x: R = N, S = K, reduced over M; both operands contiguous in r (dz rows are
//               [N], x rows [K]); db = Σ_m dz rides in the same pass (the grid's first column of
//               blocks sums its 64 rows of dz from shared memory, in m order: no atomics).
//   dx [M, K] = dz·W:  R = M, S = K, reduced over N; dz contiguous in t, W(k, n) contiguous in r.
// Why act′ on load rather than an elementwise pass first: the pass would write and re-read M·N
// values and could not run in place of dy; recomputing act′ per load costs a few flops per
// element against the 2·K FMAs each dz element feeds (the y-form is a compare or a multiply).
#include <string>

#include "kernels/common/error.h"
#include "kernels/cuda/dense_bwd.cuh"
#include "kernels/cuda/gemm_tile.cuh"
#include "kernels/cuda/launch.cuh"

namespace ae::cuda {

namespace {
// One pass of gemm_tile's kernel with A's penalty (if any) and B's corruption (if any) chosen at
// compile time: the plain GEMMs keep their registers.
template <typename T, bool A_T_CONTIG, bool B_T_CONTIG, bool NOISY_B>
void launch_pass(gemm_tile::LoadPenalty pen, const char* what, dim3 grid, cudaStream_t stream,
                 const gemm_tile::Params<T>& p) {
  using namespace gemm_tile;
  const std::string name = std::string(what) + "<gemm_tile 64x64x16" + (NOISY_B ? ", x corrupted on load" : "") +
                           (pen == LoadPenalty::sparsity      ? ", sparsity gradient on dy's load"
                            : pen == LoadPenalty::contractive ? ", contractive gradient on dz's load"
                                                              : "") + ">";
  switch (pen) {
    case LoadPenalty::none:
      return launch(name.c_str(), gemm_kernel<T, A_T_CONTIG, B_T_CONTIG, Epilogue::store, false, NOISY_B>, grid,
                    dim3(THREADS), 0, stream, p);
    case LoadPenalty::sparsity:
      return launch(name.c_str(),
                    gemm_kernel<T, A_T_CONTIG, B_T_CONTIG, Epilogue::store, false, NOISY_B, LoadPenalty::sparsity>, grid,
                    dim3(THREADS), 0, stream, p);
    case LoadPenalty::contractive:
      return launch(name.c_str(),
                    gemm_kernel<T, A_T_CONTIG, B_T_CONTIG, Epilogue::store, false, NOISY_B, LoadPenalty::contractive>,
                    grid, dim3(THREADS), 0, stream, p);
  }
}
}  // namespace

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
  const LoadPenalty pen = penalty.contractive ? LoadPenalty::contractive
                          : penalty.p.kind != SparsityKind::none ? LoadPenalty::sparsity : LoadPenalty::none;
  AE_CHECK(pen != LoadPenalty::sparsity || sparsity_params_valid(penalty.p), "cuda dense_backward: bad sparsity penalty (kind ",
           static_cast<int>(penalty.p.kind), ", rho ", penalty.p.rho, ")");
  AE_CHECK(!(penalty.contractive && penalty.p.kind != SparsityKind::none),
           "cuda dense_backward: a sparsity and a contractive penalty on one load are not built");
  AE_CHECK(pen == LoadPenalty::none || !nonempty || (penalty.at && penalty.unit && penalty.dvalue),
           "cuda dense_backward: a code penalty needs its tensor, its per-unit vector and dvalue");
  auto with_penalty = [&](Operand<T> dz, bool unit_is_r) {  // dz(·) with the penalty's gradient at the same offset
    if (pen == LoadPenalty::none) return dz;
    dz.pen = penalty.p;
    dz.pen_at = penalty.at, dz.pen_unit = penalty.unit, dz.pen_dvalue = penalty.dvalue;
    dz.pen_unit_is_r = unit_is_r;
    dz.pen_inv_batch = T(1) / T(M);
    return dz;
  };

  // dW and db: a grid of N/64 × max(1, K/64) blocks (the first column also sums db; with K = 0
  // there is no dW but db is still due).
  if (N > 0 && (K > 0 || db)) {
    const dim3 grid = grid_for(N, K);
    AE_CHECK(grid.y <= 65535, "cuda dense_backward: K=", K, " exceeds the grid limit of ", 65535 * int64_t(BN));
    Params<T> p{};
    p.a = with_penalty(Operand<T>{dy, 1, N, aux, act, from_z}, true);  // dz(n, m) = dz[m·N + n]: unit n = r
    p.b = Operand<T>{x, 1, K, nullptr, Act::linear, false, noise, steps};  // x(k, m) = x[m·K + k]: off = m·K + k
    p.R = N, p.S = K, p.T_LEN = M;
    p.c = dw, p.c_rs = K;
    p.accumulate = accumulate_dw;
    p.row_sum = db;
    p.accumulate_row_sum = accumulate_db;
    if (noise.kind == NoiseKind::none) launch_pass<T, false, false, false>(pen, "dense_bwd_dw_db", grid, stream, p);
    else launch_pass<T, false, false, true>(pen, "dense_bwd_dw_db", grid, stream, p);
  }
  // dx = dz·W; with N = 0 the loop is empty and dx is zero, as an empty sum is.
  if (dx && M > 0 && K > 0) {
    const dim3 grid = grid_for(M, K);
    AE_CHECK(grid.y <= 65535, "cuda dense_backward: K=", K, " exceeds the grid limit of ", 65535 * int64_t(BN));
    Params<T> p{};
    p.a = with_penalty(Operand<T>{dy, N, 1, aux, act, from_z}, false);  // dz(m, n) = dz[m·N + n]: unit n = t
    p.b = Operand<T>{w, 1, K, nullptr, Act::linear, false};      // W(k, n) = w[n·K + k]
    p.R = M, p.S = K, p.T_LEN = N;
    p.c = dx, p.c_rs = K;
    launch_pass<T, true, false, false>(pen, "dense_bwd_dx", grid, stream, p);
  }
}

template void dense_backward<float>(const float*, const float*, const float*, Act, const float*, const float*, int64_t,
                                    int64_t, int64_t, float*, float*, float*, bool, bool, cudaStream_t,
                                    const NoiseParams&, const StepScalars*, const CodePenaltyIn<float>&);

}  // namespace ae::cuda
