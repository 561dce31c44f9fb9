// The tensor-core dense forward y = act(x·Wᵀ + b) of mixed precision: x [M, K] and W [N, K] are
// both contiguous in the reduction dimension K, so it is gemm_wmma's kernel with both operands
// t-contiguous and the bias + activation epilogue (z kept when asked). Variants: the storage type
// (fp16, bf16, tf32 on fp32) × the output tile (64×64, or 32×32 for grids that would not fill the
// device; kernels/cuda/tc_tile.cuh); every activation is a uniform runtime branch in the epilogue.
#include <string>

#include "kernels/common/error.h"
#include "kernels/cuda/dense_fwd_tc.cuh"
#include "kernels/cuda/gemm_wmma.cuh"
#include "kernels/cuda/launch.cuh"

namespace ae::cuda {

template <typename IN>
void dense_forward_tc(const IN* x, const IN* w, const float* b, Act act, int64_t M, int64_t N, int64_t K, IN* y,
                      IN* z, cudaStream_t stream, TcTile tile) {
  using namespace gemm_wmma;
  AE_CHECK(M >= 0 && N >= 0 && K >= 0, "cuda dense_forward_tc: negative dimension (M=", M, ", N=", N, ", K=", K, ")");
  AE_CHECK(static_cast<int>(act) < ACT_COUNT, "cuda dense_forward_tc: unknown activation ", static_cast<int>(act));
  if (M == 0 || N == 0) return;
  AE_CHECK(y != nullptr, "cuda dense_forward_tc: output y is null");
  AE_CHECK(K == 0 || (x != nullptr && w != nullptr), "cuda dense_forward_tc: x or w is null");
  const int edge = tile_edge(tile, M, N);
  const dim3 grid = grid_for(M, N, edge, edge);
  AE_CHECK(grid.y <= 65535, "cuda dense_forward_tc: N=", N, " exceeds the grid limit of ", 65535 * int64_t(edge));
  Params<IN, IN> p{};
  p.a = Operand<IN>{x, K, 1, nullptr, Act::linear, false};  // x(m, k) = x[m·K + k]
  p.b = Operand<IN>{w, K, 1, nullptr, Act::linear, false};  // W(n, k) = w[n·K + k]
  p.R = M, p.S = N, p.T_LEN = K;
  p.c = y, p.c_rs = N;
  p.bias = b, p.act = act, p.z = z;
  const std::string name = std::string("dense_fwd_tc<") + type_name<IN>() + ", wmma " + std::to_string(edge) + "x" +
                           std::to_string(edge) + "x" + std::to_string(BK<IN>) + ">";
  if (edge == 64)
    launch(name.c_str(), wmma_gemm_kernel<IN, IN, 64, 64, true, true, Epilogue::bias_act, false>, grid, dim3(Tile<64, 64>::THREADS), 0,
           stream, p);
  else
    launch(name.c_str(), wmma_gemm_kernel<IN, IN, 32, 32, true, true, Epilogue::bias_act, false>, grid, dim3(Tile<32, 32>::THREADS), 0,
           stream, p);
}

#define AE_DENSE_FWD_TC(IN)                                                                                    \
  template void dense_forward_tc<IN>(const IN*, const IN*, const float*, Act, int64_t, int64_t, int64_t, IN*, IN*, \
                                     cudaStream_t, TcTile);
AE_DENSE_FWD_TC(__half)
AE_DENSE_FWD_TC(__nv_bfloat16)
AE_DENSE_FWD_TC(float)
#undef AE_DENSE_FWD_TC

}  // namespace ae::cuda
