// The tensor-core dense forward y = act(x·Wᵀ + b) of mixed precision: x [M, K] and W [N, K] are
// both contiguous in the reduction dimension K, so it is gemm_wmma's kernel with both operands
// t-contiguous and the bias + activation epilogue (z kept when asked). Variants: the storage type
// (fp16, bf16, tf32 on fp32) × the output tile (kernels/cuda/tc_tile.cuh: 128×64, 64×64 in 8 or 4
// warps, 32×32 for grids that would not fill the device); every activation is a uniform runtime
// branch in the epilogue. dense_forward_tc_tf32_variant: alternative tf32 configurations, timed side
// by side with the chosen one by tests/kernels/cuda/timing (the round-3 tf32 investigation).
#include <string>

#include "kernels/common/error.h"
#include "kernels/cuda/dense_fwd_tc.cuh"
#include "kernels/cuda/gemm_wmma.cuh"
#include "kernels/cuda/launch.cuh"

namespace ae::cuda {

namespace {
// x(m, k) = x[m·K + k], W(n, k) = w[n·K + k]: both contiguous in the reduction.
template <typename IN>
gemm_wmma::Params<IN, IN> forward_params(const IN* x, const IN* w, const float* b, Act act, int64_t M, int64_t N,
                                         int64_t K, IN* y, IN* z) {
  gemm_wmma::Params<IN, IN> p{};
  p.a = gemm_wmma::Operand<IN>{x, K, 1, nullptr, Act::linear, false};
  p.b = gemm_wmma::Operand<IN>{w, K, 1, nullptr, Act::linear, false};
  p.R = M, p.S = N, p.T_LEN = K;
  p.c = y, p.c_rs = N;
  p.bias = b, p.act = act, p.z = z;
  return p;
}
}  // namespace

template <typename IN>
void dense_forward_tc(const IN* x, const IN* w, const float* b, Act act, int64_t M, int64_t N, int64_t K, IN* y,
                      IN* z, cudaStream_t stream, TcTile tile) {
  using namespace gemm_wmma;
  AE_CHECK(M >= 0 && N >= 0 && K >= 0, "cuda dense_forward_tc: negative dimension (M=", M, ", N=", N, ", K=", K, ")");
  AE_CHECK(static_cast<int>(act) < ACT_COUNT, "cuda dense_forward_tc: unknown activation ", static_cast<int>(act));
  if (M == 0 || N == 0) return;
  AE_CHECK(y != nullptr, "cuda dense_forward_tc: output y is null");
  AE_CHECK(K == 0 || (x != nullptr && w != nullptr), "cuda dense_forward_tc: x or w is null");
  launch_tile<IN, IN, true, true, Epilogue::bias_act, false>("dense_fwd_tc", pick_tile(tile, M, N, std::is_same_v<IN, float>), M, N, 1, stream,
                                                            forward_params(x, w, b, act, M, N, K, y, z));
}

namespace {
// The tf32 forward in configuration TILE (timing only).
template <class TILE>
void tf32_forward_as(const float* x, const float* w, const float* b, Act act, int64_t M, int64_t N, int64_t K,
                     float* y, float* z, cudaStream_t stream) {
  using namespace gemm_wmma;
  const dim3 grid = grid_for(M, N, TILE::BM, TILE::BN);
  launch_gemm<float, float, TILE, true, true, Epilogue::bias_act, false>("dense_fwd_tc_variant", grid, stream,
                                                                        forward_params(x, w, b, act, M, N, K, y, z));
}
}  // namespace

void dense_forward_tc_tf32_variant(const float* x, const float* w, const float* b, Act act, int64_t M, int64_t N,
                                   int64_t K, float* y, float* z, cudaStream_t stream, TcTf32Variant v) {
  using gemm_wmma::Tile;
  AE_CHECK(M > 0 && N > 0 && K > 0 && x && w && y, "cuda dense_forward_tc_tf32_variant: a non-empty problem only");
  switch (v) {  // <BM, BN, WM, WN, STEP_BYTES, LATE_ROUND, TAIL_SPLIT>
    case TcTf32Variant::r2_32: return tf32_forward_as<Tile<32, 32, 16, 16, 128, false, false>>(x, w, b, act, M, N, K, y, z, stream);
    case TcTf32Variant::r2_64: return tf32_forward_as<Tile<64, 64, 32, 16, 128, false, false>>(x, w, b, act, M, N, K, y, z, stream);
    case TcTf32Variant::late_32: return tf32_forward_as<Tile<32, 32, 16, 16, 128, true, false>>(x, w, b, act, M, N, K, y, z, stream);
    case TcTf32Variant::split_32: return tf32_forward_as<Tile<32, 32, 16, 16, 128, false, true>>(x, w, b, act, M, N, K, y, z, stream);
    case TcTf32Variant::late_split_32: return tf32_forward_as<Tile<32, 32, 16, 16, 128, true, true>>(x, w, b, act, M, N, K, y, z, stream);
    case TcTf32Variant::late_split_64: return tf32_forward_as<Tile<64, 64, 32, 16, 128, true, true>>(x, w, b, act, M, N, K, y, z, stream);
    case TcTf32Variant::deep_32: return tf32_forward_as<Tile<32, 32, 16, 16, 256, true, true>>(x, w, b, act, M, N, K, y, z, stream);
    case TcTf32Variant::deep_64: return tf32_forward_as<Tile<64, 64, 32, 16, 256, true, true>>(x, w, b, act, M, N, K, y, z, stream);
  }
  AE_CHECK(false, "cuda dense_forward_tc_tf32_variant: unknown variant ", int(v));
}

#define AE_DENSE_FWD_TC(IN)                                                                                    \
  template void dense_forward_tc<IN>(const IN*, const IN*, const float*, Act, int64_t, int64_t, int64_t, IN*, IN*, \
                                     cudaStream_t, TcTile);
AE_DENSE_FWD_TC(__half)
AE_DENSE_FWD_TC(__nv_bfloat16)
AE_DENSE_FWD_TC(float)
#undef AE_DENSE_FWD_TC

}  // namespace ae::cuda
