// The tensor-core dense backward of mixed precision: two launches of gemm_wmma's kernel, both
// applying act′ to dy in fp32 while loading it and rounding the product to the fragment type, so
// dz is never written or re-read (as the fp32 dense_bwd.cu, whose layout notes apply):
//   dW [N, K] = dzᵀ·x (fp32 out): R = N, S = K, reduced over M; both operands contiguous in r;
//               db = Σ_m dz rides in the same pass (the grid's first column of blocks sums its
//               rows of the staged dz in m order: no atomics)
//   dx [M, K] = dz·W (IN out):    R = M, S = K, reduced over N; dz contiguous in t, W(k, n) in r.
// Variants: the storage type (fp16, bf16, tf32 on fp32) × the output tile (kernels/cuda/tc_tile.cuh).
#include <string>

#include "kernels/common/error.h"
#include "kernels/cuda/dense_bwd_tc.cuh"
#include "kernels/cuda/gemm_wmma.cuh"
#include "kernels/cuda/launch.cuh"

namespace ae::cuda {

namespace {
// One pass in the tile `edge` (64 or 32).
template <typename IN, typename OUT, bool A_T_CONTIG, bool B_T_CONTIG>
void launch_pass(const char* what, int edge, dim3 grid, cudaStream_t stream, const gemm_wmma::Params<IN, OUT>& p) {
  using namespace gemm_wmma;
  const std::string name = std::string(what) + "<" + type_name<IN>() + ", wmma " + std::to_string(edge) + "x" +
                           std::to_string(edge) + "x" + std::to_string(BK<IN>) + ">";
  if (edge == 64)
    launch(name.c_str(), wmma_gemm_kernel<IN, OUT, 64, 64, A_T_CONTIG, B_T_CONTIG, Epilogue::store, true>, grid,
           dim3(Tile<64, 64>::THREADS), 0, stream, p);
  else
    launch(name.c_str(), wmma_gemm_kernel<IN, OUT, 32, 32, A_T_CONTIG, B_T_CONTIG, Epilogue::store, true>, grid,
           dim3(Tile<32, 32>::THREADS), 0, stream, p);
}
}  // namespace

template <typename IN>
void dense_backward_tc(const IN* dy, const IN* y, const IN* z, Act act, const IN* x, const IN* w, int64_t M,
                       int64_t N, int64_t K, float* dw, float* db, IN* dx, bool accumulate_dw, bool accumulate_db,
                       cudaStream_t stream, TcTile tile) {
  using namespace gemm_wmma;
  AE_CHECK(M >= 0 && N >= 0 && K >= 0, "cuda dense_backward_tc: negative dimension (M=", M, ", N=", N, ", K=", K, ")");
  AE_CHECK(static_cast<int>(act) < ACT_COUNT, "cuda dense_backward_tc: unknown activation ", static_cast<int>(act));
  AE_CHECK(z != nullptr || !act_derivative_needs_z(act), "cuda dense_backward_tc: activation ", act_name(act),
           " needs the pre-activation z (its derivative is not a function of y); keep z");
  AE_CHECK(z != nullptr || y != nullptr || act == Act::linear, "cuda dense_backward_tc: activation ", act_name(act),
           " needs y or z; both are null");
  AE_CHECK(N == 0 || K == 0 || dw != nullptr, "cuda dense_backward_tc: dw is null");
  const bool nonempty = M > 0 && N > 0;
  AE_CHECK(!nonempty || dy != nullptr, "cuda dense_backward_tc: dy is null");
  AE_CHECK(!nonempty || K == 0 || (x != nullptr && w != nullptr), "cuda dense_backward_tc: x or w is null");
  // dz(m, n) = dy[m·N + n] · act′(aux[m·N + n]); the linear case reads no aux.
  const bool from_z = z != nullptr;
  const IN* aux = act == Act::linear ? nullptr : (from_z ? z : y);

  // dW and db: a grid over N × max(1, K) (the first column also sums db; with K = 0 there is no dW
  // but db is still due).
  if (N > 0 && (K > 0 || db)) {
    const int edge = tile_edge(tile, N, K);
    const dim3 grid = grid_for(N, K, edge, edge);
    AE_CHECK(grid.y <= 65535, "cuda dense_backward_tc: K=", K, " exceeds the grid limit of ", 65535 * int64_t(edge));
    Params<IN, float> p{};
    p.a = Operand<IN>{dy, 1, N, aux, act, from_z};              // dz(n, m) = dz[m·N + n]
    p.b = Operand<IN>{x, 1, K, nullptr, Act::linear, false};    // x(k, m) = x[m·K + k]
    p.R = N, p.S = K, p.T_LEN = M;
    p.c = dw, p.c_rs = K;
    p.accumulate = accumulate_dw;
    p.row_sum = db;
    p.accumulate_row_sum = accumulate_db;
    launch_pass<IN, float, false, false>("dense_bwd_tc_dw_db", edge, grid, stream, p);
  }
  // dx = dz·W; with N = 0 the loop is empty and dx is zero, as an empty sum is.
  if (dx && M > 0 && K > 0) {
    const int edge = tile_edge(tile, M, K);
    const dim3 grid = grid_for(M, K, edge, edge);
    AE_CHECK(grid.y <= 65535, "cuda dense_backward_tc: K=", K, " exceeds the grid limit of ", 65535 * int64_t(edge));
    Params<IN, IN> p{};
    p.a = Operand<IN>{dy, N, 1, aux, act, from_z};            // dz(m, n) = dz[m·N + n]
    p.b = Operand<IN>{w, 1, K, nullptr, Act::linear, false};  // W(k, n) = w[n·K + k]
    p.R = M, p.S = K, p.T_LEN = N;
    p.c = dx, p.c_rs = K;
    launch_pass<IN, IN, true, false>("dense_bwd_tc_dx", edge, grid, stream, p);
  }
}

#define AE_DENSE_BWD_TC(IN)                                                                                       \
  template void dense_backward_tc<IN>(const IN*, const IN*, const IN*, Act, const IN*, const IN*, int64_t, int64_t, \
                                      int64_t, float*, float*, IN*, bool, bool, cudaStream_t, TcTile);
AE_DENSE_BWD_TC(__half)
AE_DENSE_BWD_TC(__nv_bfloat16)
AE_DENSE_BWD_TC(float)
#undef AE_DENSE_BWD_TC

}  // namespace ae::cuda
