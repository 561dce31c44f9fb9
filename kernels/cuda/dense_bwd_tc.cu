// The tensor-core dense backward of mixed precision: gemm_wmma's kernel for dW and dx, both
// applying act′ to dy in fp32 while loading it and rounding the product to the fragment type, so
// dz is never written or re-read (as the fp32 dense_bwd.cu, whose layout notes apply):
//   dW [N, K] = dzᵀ·x (fp32 out): R = N, S = K, reduced over M; both operands contiguous in r;
//               db = Σ_m dz rides in the same pass (the grid's first column of blocks sums its
//               rows of the staged dz in m order: no atomics). The reduction over the batch M is
//               split along the grid's z when N×K alone has too few blocks to fill the device
//               (a 256×32 dW at batch 4096: 8 blocks walking 64 K-steps each): each split writes
//               fp32 partials of dW and db to the caller's workspace, and split_sum_kernel adds
//               them in split order, a fixed order, so the result does not depend on timing.
//   dx [M, K] = dz·W (IN out):    R = M, S = K, reduced over N; dz contiguous in t, W(k, n) in r.
// Variants: the storage type (fp16, bf16, tf32 on fp32) × the output tile (kernels/cuda/tc_tile.cuh).
#include <algorithm>
#include <string>

#include "kernels/common/error.h"
#include "kernels/cuda/dense_bwd_tc.cuh"
#include "kernels/cuda/gemm_wmma.cuh"
#include "kernels/cuda/grid_stride.cuh"
#include "kernels/cuda/launch.cuh"

namespace ae::cuda {

namespace {

constexpr int64_t MIN_SPLIT_ROWS = 128;  // a split is at least 2 K-steps (fp16/bf16), 4 (tf32) deep
constexpr int64_t SPLIT_ROW_GRAIN = 64;  // automatic splits start on a K-step of every type
constexpr int MAX_SPLITS = 64;           // bounds the workspace: 64 × (N·K + N) floats
constexpr int MAX_FORCED_SPLITS = 65535;  // the grid's z limit

// The dW partials' offset of the db partials in the workspace, in floats: 256-byte aligned.
int64_t db_part_offset(int splits, int64_t N, int64_t K) {
  return (int64_t(splits) * N * K + 63) / 64 * 64;
}

// out[i] (+)= Σ_z part[z·n + i] for i < n, added in z order starting from part[i] (split 0), for dW
// (n_dw elements) and db (n_db) in one grid-stride pass; one thread per output element reads its
// column of partials, neighbouring threads neighbouring addresses.
__global__ void split_sum_kernel(const float* part_dw,  // [splits, n_dw]
                                 const float* part_db,  // [splits, n_db]
                                 int splits, int64_t n_dw, int64_t n_db,
                                 float* dw,  // [n_dw]
                                 float* db,  // [n_db], or nullptr (n_db = 0)
                                 bool accumulate_dw, bool accumulate_db) {
  const int64_t n = n_dw + n_db, stride = int64_t(gridDim.x) * blockDim.x;
  for (int64_t i = int64_t(blockIdx.x) * blockDim.x + threadIdx.x; i < n; i += stride) {
    const bool is_dw = i < n_dw;
    const int64_t e = is_dw ? i : i - n_dw, step = is_dw ? n_dw : n_db;
    const float* src = (is_dw ? part_dw : part_db) + e;
    float s = src[0];
    for (int z = 1; z < splits; ++z) s += src[z * step];
    float* out = (is_dw ? dw : db) + e;
    *out = (is_dw ? accumulate_dw : accumulate_db) ? *out + s : s;
  }
}

int64_t blocks_of(int64_t N, int64_t K, TcTile tile) {
  return std::max<int64_t>(1, gemm_wmma::blocks_of(N, K, tile));  // N = 0: no blocks, nothing to split
}

}  // namespace

TcDwSplit dense_backward_tc_split(int64_t M, int64_t N, int64_t K, TcTile tile, int splits) {
  AE_CHECK(M >= 0 && N >= 0 && K >= 0, "cuda dense_backward_tc: negative dimension (M=", M, ", N=", N, ", K=", K, ")");
  AE_CHECK(splits >= 0 && splits <= MAX_FORCED_SPLITS, "cuda dense_backward_tc: splits=", splits,
           " is out of range; expected 0 (automatic) to ", MAX_FORCED_SPLITS);
  if (splits > 0)
    return TcDwSplit{splits, std::max<int64_t>(1, (M + splits - 1) / splits), gemm_wmma::pick_tile(tile, N, K)};
  const int sms = gemm_wmma::device_sms();
  const int64_t most = std::clamp<int64_t>(M / MIN_SPLIT_ROWS, 1, MAX_SPLITS);
  if (tile == TcTile::automatic)  // 64×64 when its grid, split, fills the device (128×64 measured slower)
    tile = blocks_of(N, K, TcTile::t64) * most >= sms ? TcTile::t64 : TcTile::t32;
  const int64_t blocks = blocks_of(N, K, tile);
  const int64_t want = std::clamp<int64_t>((2 * sms + blocks - 1) / blocks, 1, most);  // ~2 blocks per SM
  if (want <= 1) return TcDwSplit{1, M, tile};
  const int64_t rows = ((M + want - 1) / want + SPLIT_ROW_GRAIN - 1) / SPLIT_ROW_GRAIN * SPLIT_ROW_GRAIN;
  return TcDwSplit{int((M + rows - 1) / rows), rows, tile};
}

size_t dense_backward_tc_workspace_bytes(int64_t M, int64_t N, int64_t K, TcTile tile, int splits) {
  const TcDwSplit s = dense_backward_tc_split(M, N, K, tile, splits);
  if (s.splits <= 1 || N == 0) return 0;
  return size_t(db_part_offset(s.splits, N, K) + int64_t(s.splits) * N) * sizeof(float);
}

size_t dense_backward_tc_workspace_bound(int64_t max_M, int64_t N, int64_t K) {
  // An automatic split never exceeds most(M) = clamp(M / MIN_SPLIT_ROWS, 1, MAX_SPLITS), which
  // grows with M; the split of a smaller M can still be more ways than max_M's (rows are rounded
  // to the grain before dividing), so size for the bound, not for max_M's own split.
  const int most = int(std::clamp<int64_t>(max_M / MIN_SPLIT_ROWS, 1, MAX_SPLITS));
  if (most <= 1 || N == 0) return 0;
  return size_t(db_part_offset(most, N, K) + int64_t(most) * N) * sizeof(float);
}

template <typename IN>
void dense_backward_tc(const IN* dy, const IN* y, const IN* z, Act act, const IN* x, const IN* w, int64_t M,
                       int64_t N, int64_t K, float* dw, float* db, IN* dx, bool accumulate_dw, bool accumulate_db,
                       cudaStream_t stream, void* workspace, size_t workspace_bytes, TcTile tile, int splits) {
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

  // dW and db: a grid over N × max(1, K) × splits (the first column also sums db; with K = 0 there
  // is no dW but db is still due).
  if (N > 0 && (K > 0 || db)) {
    const TcDwSplit sp = dense_backward_tc_split(M, N, K, tile, splits);
    const size_t need = dense_backward_tc_workspace_bytes(M, N, K, tile, splits);
    AE_CHECK(workspace_bytes >= need && (need == 0 || workspace != nullptr), "cuda dense_backward_tc: the workspace has ",
             workspace_bytes, " bytes, M=", M, " N=", N, " K=", K, " split ", sp.splits,
             " ways needs ", need, " (dense_backward_tc_workspace_bytes)");
    AE_CHECK(need == 0 || reinterpret_cast<uintptr_t>(workspace) % 16 == 0,
             "cuda dense_backward_tc: the workspace must be 16-byte aligned");
    Params<IN, float> p{};
    p.a = Operand<IN>{dy, 1, N, aux, act, from_z};            // dz(n, m) = dz[m·N + n]
    p.b = Operand<IN>{x, 1, K, nullptr, Act::linear, false};  // x(k, m) = x[m·K + k]
    p.R = N, p.S = K, p.T_LEN = M;
    p.c = dw, p.c_rs = K;
    p.accumulate = accumulate_dw;
    p.row_sum = db;
    p.accumulate_row_sum = accumulate_db;
    if (sp.splits > 1) {  // partials into the workspace, no accumulation there
      float* const part = static_cast<float*>(workspace);
      const int64_t db_off = db_part_offset(sp.splits, N, K);
      p.c = part, p.c_split = N * K, p.accumulate = false;
      p.row_sum = db ? part + db_off : nullptr, p.row_sum_split = N, p.accumulate_row_sum = false;
      p.t_split = sp.rows;
    }
    launch_tile<IN, float, false, false, Epilogue::store, true>("dense_bwd_tc_dw_db", sp.tile, N, K,
                                                                 static_cast<unsigned>(sp.splits), stream, p);
    if (sp.splits > 1) {
      const float* part = static_cast<const float*>(workspace);
      const int64_t n_db = db ? N : 0;
      launch("dense_bwd_tc_split_sum", split_sum_kernel, grid_stride::grid_for(N * K + n_db),
             dim3(grid_stride::THREADS), 0, stream, part, part + db_part_offset(sp.splits, N, K), sp.splits, N * K,
             n_db, dw, db, accumulate_dw, accumulate_db);
    }
  }
  // dx = dz·W; with N = 0 the loop is empty and dx is zero, as an empty sum is.
  if (dx && M > 0 && K > 0) {
    Params<IN, IN> p{};
    p.a = Operand<IN>{dy, N, 1, aux, act, from_z};            // dz(m, n) = dz[m·N + n]
    p.b = Operand<IN>{w, 1, K, nullptr, Act::linear, false};  // W(k, n) = w[n·K + k]
    p.R = M, p.S = K, p.T_LEN = N;
    p.c = dx, p.c_rs = K;
    launch_tile<IN, IN, true, false, Epilogue::store, true>("dense_bwd_tc_dx", pick_tile(tile, M, K), M, K, 1, stream,
                                                            p);
  }
}

#define AE_DENSE_BWD_TC(IN)                                                                                         \
  template void dense_backward_tc<IN>(const IN*, const IN*, const IN*, Act, const IN*, const IN*, int64_t, int64_t, \
                                      int64_t, float*, float*, IN*, bool, bool, cudaStream_t, void*, size_t, TcTile,  \
                                      int);
AE_DENSE_BWD_TC(__half)
AE_DENSE_BWD_TC(__nv_bfloat16)
AE_DENSE_BWD_TC(float)
#undef AE_DENSE_BWD_TC

}  // namespace ae::cuda
