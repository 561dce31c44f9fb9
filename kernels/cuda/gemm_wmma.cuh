// The tensor-core tiled GEMM of ae's mixed-precision dense kernels (device code only; included by
// dense_fwd_tc.cu and dense_bwd_tc.cu, which instantiate it and own its launchers). The
// nvcuda::wmma sibling of gemm_tile.cuh, with the same operand views and epilogues:
//
//   C(r, s) = Σ_t A(r, t) · B(s, t)        r < R, s < S, t < T_LEN,   A(r, t) = a[r·rs + t·ts]
//
// IN is the operands' storage type: __half, __nv_bfloat16, or float for tf32 tensor-core math on
// fp32 storage. Products are formed by the tensor cores from IN operands and accumulated in fp32.
// A may carry an activation derivative applied as it is loaded (A = dy·act′(y or z), computed in
// fp32 and then rounded to IN, or to tf32, before the multiply: dense backward never stores dz).
//
// Design: a BM×BN output tile per block, each warp a WM×WN part of it in 16×16 accumulator
// fragments (Tile: 32×32 of 4 warps of 16×16, 64×64 of 8 warps of 32×16 or 4 of 32×32, 128×64 of
// 8 warps of 32×32; Config sets each tile's configuration per storage type). K-steps of
// STEP_BYTES = 128 bytes of each operand row (64 steps of fp16/bf16, 32 of tf32's fp32) are staged
// through shared memory in each operand's own contiguity, so the global loads stay coalesced and
// wmma reads the tile row- or column-major to match: a t-contiguous operand is held as [r][t], the
// other as [t][r]. Staging moves 16-byte vectors where the shape and alignment allow, else
// bounds-checked elements (tails load zeros), rounded to the fragment type by the time they reach
// shared memory (tf32: as they are stored there, after the MMAs of the step before), so the
// fragments need no conversion. Two shared buffers alternate: the next K-step's global loads are
// issued into registers before the current one is multiplied and stored into the other buffer
// after it, one barrier per K-step. The reduction may be split over the grid's z (Params::t_split),
// each split writing its own partial: dense backward's dW over a large batch.
// Epilogue: the accumulators go through shared memory (wmma's fragment layout is unspecified), then
// every thread finishes whole rows of the tile with coalesced, masked stores:
//   bias_act: v = acc + bias[s] (fp32 bias); z = v and c = act(v), each rounded to OUT;
//   store:    c = acc, or c += acc (accumulate), in OUT.
// Row sums (db): Σ_t A(r, t) of the staged, rounded A (what the tensor cores multiplied), summed
// in fp32 in t order by the first column of blocks: deterministic, no atomics, bit-equal to a
// sequential row-order sum over the block's split.
#pragma once

#include <cuda_bf16.h>
#include <cuda_fp16.h>
#include <mma.h>

#include <atomic>
#include <cstdint>
#include <cstring>
#include <string>
#include <type_traits>

#include "kernels/common/activation.h"
#include "kernels/common/error.h"
#include "kernels/cuda/launch.cuh"
#include "kernels/cuda/lowp_value.cuh"  // store_as, load_as_float
#include "kernels/cuda/tc_tile.cuh"

// The kernel's three barriers. A test build may define AE_WMMA_BARRIER_MUTANT to make each one
// skippable at run time, by the number in AE_WMMA_DROP_BARRIER (tests/kernels/cuda/CMakeLists.txt's
// wmma barrier mutant proves the tests notice each missing one); ae's own builds never define it.
#if defined(AE_WMMA_BARRIER_MUTANT)
#include <cstdlib>
namespace ae::cuda::gemm_wmma {
inline int dropped_barrier() {
  static const int n = [] {
    const char* e = std::getenv("AE_WMMA_DROP_BARRIER");
    return e ? std::atoi(e) : 0;
  }();
  return n;
}
}  // namespace ae::cuda::gemm_wmma
#define AE_WMMA_BARRIER(n)                                                \
  do {                                                                    \
    if ((n) != ::ae::cuda::gemm_wmma::dropped_barrier()) __syncthreads(); \
  } while (0)
#else
#define AE_WMMA_BARRIER(n) __syncthreads()
#endif

namespace ae::cuda::gemm_wmma {

namespace wmma = nvcuda::wmma;

// The block's configuration. A BM×BN output tile of warps holding WM×WN outputs each (16×16
// accumulator fragments): 32×32 = 4 warps of 16×16, 64×64 = 8 warps of 32×16 or 4 of 32×32, 128×64 =
// 8 warps of 32×32 (more outputs per warp: fewer shared-memory fragment loads per MMA). STEP_BYTES:
// the reduction step (t) staged per barrier interval, in bytes of each operand row: 128 is 64
// steps of fp16/bf16 (four m16n16k16 MMAs per fragment between barriers) and 32 of tf32's fp32
// (four m16n16k8); 256 doubles both. LATE_ROUND (tf32 only): fp32 operands are rounded to tf32 as
// they are stored into shared memory, after the MMAs of the step before, rather than as they arrive
// from global memory, so no instruction waits on the prefetch before those MMAs (a conversion right
// after a load stalls the warp until the load completes). TAIL_SPLIT: a full K-step runs its MMAs
// without the per-fragment tail test (one uniform branch per step picks the path).
template <int BM_, int BN_, int WM_, int WN_, int STEP_BYTES_ = 128, bool LATE_ROUND_ = true, bool TAIL_SPLIT_ = true>
struct Tile {
  static constexpr int BM = BM_, BN = BN_, WM = WM_, WN = WN_;
  static constexpr int WARPS_M = BM / WM, WARPS_N = BN / WN;
  static constexpr int THREADS = 32 * WARPS_M * WARPS_N;
  static constexpr int STEP_BYTES = STEP_BYTES_;
  static constexpr bool LATE_ROUND = LATE_ROUND_, TAIL_SPLIT = TAIL_SPLIT_;
  static_assert(BM % WM == 0 && BN % WN == 0 && WM % 16 == 0 && WN % 16 == 0, "warps must tile the block");
};
// The reduction step of a tile configuration for storage type IN, in elements.
template <typename IN, class TILE>
constexpr int BK = TILE::STEP_BYTES / int(sizeof(IN));

// Per storage type: the fragment's input type and depth (m16n16k16 for half/bf16, m16n16k8 for
// tf32), and the conversions. to_operand rounds an fp32 value to what the tensor cores multiply.
template <typename IN>
struct Type;
template <>
struct Type<__half> {
  using frag = __half;
  static constexpr int FK = 16;
  static __device__ __forceinline__ float to_float(__half v) { return __half2float(v); }
  static __device__ __forceinline__ __half to_operand(float v) { return __float2half_rn(v); }
};
template <>
struct Type<__nv_bfloat16> {
  using frag = __nv_bfloat16;
  static constexpr int FK = 16;
  static __device__ __forceinline__ float to_float(__nv_bfloat16 v) { return __bfloat162float(v); }
  static __device__ __forceinline__ __nv_bfloat16 to_operand(float v) { return __float2bfloat16_rn(v); }
};
template <>
struct Type<float> {  // tf32 tensor-core math on fp32 storage
  using frag = wmma::precision::tf32;
  static constexpr int FK = 8;
  static __device__ __forceinline__ float to_float(float v) { return v; }
  static __device__ __forceinline__ float to_operand(float v) { return wmma::__float_to_tf32(v); }
};

// One operand: element (r, t) at p[r·rs + t·ts]. When act is not linear, each element is multiplied
// (in fp32) by act′ of aux at the same offset: from z when aux_is_z, else from y.
template <typename IN>
struct Operand {
  const IN* p;
  int64_t rs, ts;
  const IN* aux;
  Act act;
  bool aux_is_z;
};

enum class Epilogue : uint8_t {
  bias_act,  // v = acc + bias[s] (bias optional); z[r, s] = v when z given; c[r, s] = act(v)
  store,     // c[r, s] = acc, or c[r, s] += acc when accumulate
};

template <typename IN, typename OUT>
struct Params {
  Operand<IN> a, b;
  int64_t R, S, T_LEN;
  OUT* c;  // C(r, s) at c[r·c_rs + s]
  int64_t c_rs;
  const float* bias;        // [S] (bias_act), or nullptr
  Act act;                  // bias_act
  OUT* z;                   // [R, c_rs] pre-activation (bias_act), or nullptr
  bool accumulate;          // store: add into c
  float* row_sum;           // [R] Σ_t A(r, t), or nullptr
  bool accumulate_row_sum;  // add into row_sum
  // Split of the reduction over the grid's z (dense backward's dW over the batch): block z sums
  // t in [z·t_split, min((z + 1)·t_split, T_LEN)) (possibly empty: zeros) into its own partial,
  // c + z·c_split and row_sum + z·row_sum_split. t_split = 0: one split, the whole of t.
  int64_t t_split, c_split, row_sum_split;
};

// The factor an operand element is multiplied by as it is loaded: none, or act′ of aux at the same
// offset for a compile-time activation (so each unrolled load holds one activation's math only).
struct NoFactor {};
template <Act A, bool FROM_Z>
struct Derivative {
  __device__ __forceinline__ float operator()(float aux) const {
    return FROM_Z ? act_derivative_from_z(A, aux) : act_derivative_from_y(A, aux);
  }
};

// One operand's ROWS×BK slice (rows r0.., steps t0.. below t_end): load stages it into registers,
// as fragment operands, store puts them into shared memory. Each thread moves 16-byte vectors of V
// neighbouring elements along the operand's contiguous dimension (t when T_CONTIG, else r), and
// neighbouring threads move neighbouring vectors, so a warp reads 512 contiguous bytes where the
// shape allows. A vector wholly in range, at unit stride, whose address (and aux's) is 16-byte
// aligned is one 16-byte load; any other (tails, an odd leading dimension, an unaligned base) is
// loaded element by element, bounds-checked, with zeros outside: the result is the same either way.
// T_CONTIG: the tile is [r][t]; otherwise [t][r]. Tile rows are padded by 16 bytes (wmma's ldm must
// be a multiple of 16 bytes; the pad also staggers banks), so every fragment pointer lands on 32
// bytes and every vector on 16. ACT: the operand may carry op.act′ (dense backward's dz); the
// activation is dispatched once per slice, outside the unrolled loads.
template <typename IN, int ROWS, bool T_CONTIG, bool ACT, int THREADS, int K_STEP, bool LATE_ROUND>
struct Slice {
  // tf32 with LATE_ROUND: registers hold fp32 (products with act′ included), rounded by store.
  static constexpr bool ROUND_AT_STORE = std::is_same_v<IN, float> && LATE_ROUND;
  static constexpr int V = 16 / int(sizeof(IN));  // elements per vector
  static constexpr int LD = T_CONTIG ? K_STEP + V : ROWS + V;  // leading dimension of the tile
  static constexpr int ELEMS = T_CONTIG ? ROWS * LD : K_STEP * LD;
  static constexpr int VPL = (T_CONTIG ? K_STEP : ROWS) / V;  // vectors per line of the contiguous dim
  static constexpr int VECS = ROWS * K_STEP / (V * THREADS);  // vectors per thread
  static_assert(VECS >= 1 && VECS * V * THREADS == ROWS * K_STEP && (T_CONTIG ? K_STEP : ROWS) % V == 0,
                "the slice is not evenly divided between the threads");
  // Vector i of thread tid: the row and step of its first element in the slice.
  __device__ __forceinline__ static int row(int tid, int i) {
    const int j = tid + i * THREADS;
    return T_CONTIG ? j / VPL : (j % VPL) * V;
  }
  __device__ __forceinline__ static int step(int tid, int i) {
    const int j = tid + i * THREADS;
    return T_CONTIG ? (j % VPL) * V : j / VPL;
  }
  __device__ __forceinline__ static bool aligned16(const IN* base, int64_t off) {
    return ((reinterpret_cast<uintptr_t>(base) + uintptr_t(off) * sizeof(IN)) & 15u) == 0;
  }
  template <class FACTOR>
  __device__ __forceinline__ static void load_with(const Operand<IN>& op, int64_t rows, int64_t t_end, int64_t r0,
                                                   int64_t t0, int tid, uint4 (&reg)[VECS], FACTOR factor) {
    constexpr bool HAS_FACTOR = !std::is_same_v<FACTOR, NoFactor>;
    // Raw storage needs no conversion when it is already the fragment type and nothing multiplies it.
    constexpr bool RAW = !HAS_FACTOR && (!std::is_same_v<IN, float> || ROUND_AT_STORE);
    const int64_t cs = T_CONTIG ? op.ts : op.rs;  // stride along the vector
#pragma unroll
    for (int i = 0; i < VECS; ++i) {
      const int64_t rg = r0 + row(tid, i), tg = t0 + step(tid, i);
      const int64_t off = rg * op.rs + tg * op.ts;
      // How many of the vector's V elements are in range (they are a prefix of it).
      const int64_t room = T_CONTIG ? (rg < rows ? t_end - tg : 0) : (tg < t_end ? rows - rg : 0);
      // Every path ends in the one store to reg[i] below. An early `reg[i] = u; continue;` for raw
      // vectors was miscompiled by GCC 12.2 at -O2 with -fsanitize=address,undefined
      // -fno-sanitize-recover (the sim-asan build): VRP folded the in-loop prefetch's index so
      // that vector 0 was stored into reg[1], and a tail K-step multiplied stale rows.
      IN e[V], a[V];
      if (room >= V && cs == 1 && aligned16(op.p, off) && (!HAS_FACTOR || aligned16(op.aux, off))) {
        const uint4 u = *reinterpret_cast<const uint4*>(op.p + off);
        memcpy(static_cast<void*>(e), &u, sizeof u);
        if constexpr (HAS_FACTOR) {
          const uint4 w = *reinterpret_cast<const uint4*>(op.aux + off);
          memcpy(static_cast<void*>(a), &w, sizeof w);
        }
      } else {
#pragma unroll
        for (int q = 0; q < V; ++q) {
          e[q] = Type<IN>::to_operand(0.0f);
          if (q < room) {
            e[q] = op.p[off + q * cs];
            if constexpr (HAS_FACTOR) a[q] = op.aux[off + q * cs];
          } else if constexpr (HAS_FACTOR) {
            a[q] = e[q];
          }
        }
      }
      if constexpr (!RAW) {
#pragma unroll
        for (int q = 0; q < V; ++q) {
          float v = Type<IN>::to_float(e[q]);
          if constexpr (HAS_FACTOR) v = v * factor(Type<IN>::to_float(a[q]));
          if constexpr (ROUND_AT_STORE) e[q] = v;  // IN is float here
          else e[q] = Type<IN>::to_operand(v);
        }
      }
      memcpy(&reg[i], e, sizeof e);
    }
  }
  template <Act A>
  __device__ __forceinline__ static void load_act(const Operand<IN>& op, int64_t rows, int64_t t_end, int64_t r0,
                                                  int64_t t0, int tid, uint4 (&reg)[VECS]) {
    if (op.aux_is_z) load_with(op, rows, t_end, r0, t0, tid, reg, Derivative<A, true>{});
    else load_with(op, rows, t_end, r0, t0, tid, reg, Derivative<A, false>{});
  }
  __device__ __forceinline__ static void load(const Operand<IN>& op, int64_t rows, int64_t t_end, int64_t r0,
                                              int64_t t0, int tid, uint4 (&reg)[VECS]) {
    if constexpr (ACT) {
      switch (op.act) {  // a uniform branch: the same for every thread
        case Act::linear: break;
        case Act::relu: return load_act<Act::relu>(op, rows, t_end, r0, t0, tid, reg);
        case Act::leaky_relu: return load_act<Act::leaky_relu>(op, rows, t_end, r0, t0, tid, reg);
        case Act::sigmoid: return load_act<Act::sigmoid>(op, rows, t_end, r0, t0, tid, reg);
        case Act::tanh: return load_act<Act::tanh>(op, rows, t_end, r0, t0, tid, reg);
        case Act::selu: return load_act<Act::selu>(op, rows, t_end, r0, t0, tid, reg);
        case Act::elu: return load_act<Act::elu>(op, rows, t_end, r0, t0, tid, reg);
        case Act::softplus: return load_act<Act::softplus>(op, rows, t_end, r0, t0, tid, reg);
        case Act::gelu: return load_act<Act::gelu>(op, rows, t_end, r0, t0, tid, reg);
      }
    }
    load_with(op, rows, t_end, r0, t0, tid, reg, NoFactor{});
  }
  // The store of load's registers into the tile: one 16-byte store per vector (tf32 with
  // ROUND_AT_STORE rounds its four floats first; rounding a value already tf32 leaves it unchanged).
  __device__ __forceinline__ static void store(IN* tile, int tid, const uint4 (&reg)[VECS]) {
#pragma unroll
    for (int i = 0; i < VECS; ++i) {
      const int r = row(tid, i), t = step(tid, i);
      uint4 u = reg[i];
      if constexpr (ROUND_AT_STORE) {
        float f[4];
        memcpy(f, &u, sizeof u);
#pragma unroll
        for (int q = 0; q < 4; ++q) f[q] = Type<float>::to_operand(f[q]);
        memcpy(&u, f, sizeof u);
      }
      *reinterpret_cast<uint4*>(tile + (T_CONTIG ? r * LD + t : t * LD + r)) = u;
    }
  }
};

// The shared memory of one kernel configuration: two buffers of the staged A and B slices (K-step i
// in buffer i % 2), later reused for the fp32 accumulator tile [BM][LDC]. Up to 48 KB it is static
// shared memory; beyond (128×64 tiles, 256-byte steps of 64×64) dynamic, which launch_gemm opts in.
template <typename IN, class TILE, bool A_T_CONTIG, bool B_T_CONTIG, bool A_ACT>
struct Smem {
  using SA = Slice<IN, TILE::BM, A_T_CONTIG, A_ACT, TILE::THREADS, BK<IN, TILE>, TILE::LATE_ROUND>;
  using SB = Slice<IN, TILE::BN, B_T_CONTIG, false, TILE::THREADS, BK<IN, TILE>, TILE::LATE_ROUND>;
  static constexpr int LDC = TILE::BN + 4;
  static constexpr int BUF = SA::ELEMS + SB::ELEMS;  // elements of one buffer: a multiple of 32 bytes
  static constexpr int OP_BYTES = int(sizeof(IN)) * BUF, ACC_BYTES = int(sizeof(float)) * TILE::BM * LDC;
  static constexpr int BYTES = 2 * OP_BYTES > ACC_BYTES ? 2 * OP_BYTES : ACC_BYTES;
  static constexpr bool DYNAMIC = BYTES > 48 * 1024;
};

// Grid: x over R in BM tiles, y over S in BN tiles (at least one, so row_sum always has its column
// of blocks), z over the splits of t. Block: TILE::THREADS threads; Smem::BYTES of dynamic shared
// memory when Smem::DYNAMIC (launch_gemm does both). OUT: the output's storage type (IN for
// activations and dx, float for dW). A_ACT: A carries p.a.act′ (dense backward; the forward's
// operands never do).
template <typename IN, typename OUT, class TILE, bool A_T_CONTIG, bool B_T_CONTIG, Epilogue EPI, bool A_ACT>
__global__ void __launch_bounds__(TILE::THREADS, 1) wmma_gemm_kernel(const Params<IN, OUT> p) {
  constexpr int THREADS = TILE::THREADS, BM = TILE::BM, BN = TILE::BN;
  using SM = Smem<IN, TILE, A_T_CONTIG, B_T_CONTIG, A_ACT>;
  using SA = typename SM::SA;
  using SB = typename SM::SB;
  using Frag = typename Type<IN>::frag;
  constexpr int FK = Type<IN>::FK;
  constexpr int LDA = SA::LD, LDB = SB::LD, LDC = SM::LDC;
  constexpr int WM = TILE::WM, WN = TILE::WN;  // one warp's tile
  constexpr int FM = WM / 16, FN = WN / 16;    // its accumulator fragments
  constexpr int K_STEP = BK<IN, TILE>;
  static_assert(K_STEP % FK == 0, "tile shape and fragment shape disagree");
  static_assert(SA::ELEMS * sizeof(IN) % 32 == 0, "B's tile must start 32-byte aligned, as wmma requires");
  static_assert(THREADS >= BM, "the row sums take one thread per tile row");
  // A(r, t) is matrix_a's (row r, col t): row-major in [r][t], column-major in [t][r]. B(s, t) is
  // matrix_b's (row t, col s): column-major in [s][t], row-major in [t][s].
  using LayoutA = std::conditional_t<A_T_CONTIG, wmma::row_major, wmma::col_major>;
  using LayoutB = std::conditional_t<B_T_CONTIG, wmma::col_major, wmma::row_major>;

  constexpr int BUF = SM::BUF;
  unsigned char* smem;
  if constexpr (SM::DYNAMIC) {
    smem = dynamic_shared<unsigned char>();
  } else {
    __shared__ __align__(128) unsigned char smem_static[SM::DYNAMIC ? 1 : SM::BYTES];
    smem = smem_static;
  }
  IN* const ops = reinterpret_cast<IN*>(smem);  // A at ops + buf·BUF, B at ops + buf·BUF + SA::ELEMS
  float* const cs = reinterpret_cast<float*>(smem);

  const int tid = threadIdx.x, warp = tid / 32;
  const int wr = (warp / TILE::WARPS_N) * WM;  // this warp's tile: rows wr.., columns ws..
  const int ws = (warp % TILE::WARPS_N) * WN;
  const int64_t r0 = int64_t(blockIdx.x) * BM, s0 = int64_t(blockIdx.y) * BN;
  // This block's split of the reduction (see Params) and where its partial goes.
  const int64_t t_begin = p.t_split > 0 ? int64_t(blockIdx.z) * p.t_split : 0;
  const int64_t t_end = p.t_split > 0 && t_begin + p.t_split < p.T_LEN ? t_begin + p.t_split : p.T_LEN;
  OUT* const c = p.c + int64_t(blockIdx.z) * p.c_split;
  float* const row_sum = p.row_sum ? p.row_sum + int64_t(blockIdx.z) * p.row_sum_split : nullptr;
  const bool sums_rows = row_sum != nullptr && blockIdx.y == 0 && tid < BM;

  wmma::fragment<wmma::accumulator, 16, 16, FK, float> acc[FM][FN];
#pragma unroll
  for (int i = 0; i < FM; ++i)
#pragma unroll
    for (int j = 0; j < FN; ++j) wmma::fill_fragment(acc[i][j], 0.0f);
  float row_acc = 0.0f;  // Σ_t A(r0 + tid, t), in t order

  // Software pipeline, one barrier per K-step: the next slice's global loads are issued into
  // registers before the current one is multiplied, and stored into the other buffer after it, which
  // no warp reads until the barrier (its last readers finished before the previous barrier).
  uint4 ra[SA::VECS], rb[SB::VECS];
  SA::load(p.a, p.R, t_end, r0, t_begin, tid, ra);
  SB::load(p.b, p.S, t_end, s0, t_begin, tid, rb);
  SA::store(ops, tid, ra);
  SB::store(ops + SA::ELEMS, tid, rb);
  AE_WMMA_BARRIER(1);  // the first slice is complete before any warp loads fragments from it
  int buf = 0;
  for (int64_t t0 = t_begin; t0 < t_end; t0 += K_STEP, buf ^= 1) {
    const bool more = t0 + K_STEP < t_end;
    if (more) {  // prefetch the next slice; its loads are in flight during the MMAs
      SA::load(p.a, p.R, t_end, r0, t0 + K_STEP, tid, ra);
      SB::load(p.b, p.S, t_end, s0, t0 + K_STEP, tid, rb);
    }
    const IN* const as = ops + buf * BUF;
    const IN* const bs = as + SA::ELEMS;
    // The MMAs of the step's k-th FK-deep slice for each of the warp's fragments.
    auto mmas = [&](int k) {
      wmma::fragment<wmma::matrix_a, 16, 16, FK, Frag, LayoutA> fa[FM];
      wmma::fragment<wmma::matrix_b, 16, 16, FK, Frag, LayoutB> fb[FN];
#pragma unroll
      for (int i = 0; i < FM; ++i) {
        const int r = wr + 16 * i;
        wmma::load_matrix_sync(fa[i], as + (A_T_CONTIG ? r * LDA + k : k * LDA + r), LDA);
      }
#pragma unroll
      for (int j = 0; j < FN; ++j) {
        const int s = ws + 16 * j;
        wmma::load_matrix_sync(fb[j], bs + (B_T_CONTIG ? s * LDB + k : k * LDB + s), LDB);
      }
#pragma unroll
      for (int i = 0; i < FM; ++i)
#pragma unroll
        for (int j = 0; j < FN; ++j) wmma::mma_sync(acc[i][j], fa[i], fb[j], acc[i][j]);
    };
    if (TILE::TAIL_SPLIT && t_end - t0 >= K_STEP) {  // a full step (uniform branch)
#pragma unroll
      for (int k = 0; k < K_STEP; k += FK) mmas(k);
    } else {
#pragma unroll
      for (int k = 0; k < K_STEP; k += FK) {
        if (t0 + k >= t_end) break;  // a tail step: what is left was staged as zeros (uniform branch)
        mmas(k);
      }
    }
    if (sums_rows) {
      // Steps past t_end were staged as zeros: adding +0 to a sum that started at +0 changes no bit.
#pragma unroll 8
      for (int t = 0; t < K_STEP; ++t)
        row_acc += Type<IN>::to_float(as[A_T_CONTIG ? tid * LDA + t : t * LDA + tid]);
    }
    if (more) {
      IN* const next = ops + (buf ^ 1) * BUF;
      SA::store(next, tid, ra);
      SB::store(next + SA::ELEMS, tid, rb);
    }
    // The next slice is complete before any warp loads it, and every warp is done with this one
    // before the step after next overwrites it (or, after the last step, cs does).
    AE_WMMA_BARRIER(2);
  }

  if (sums_rows && r0 + tid < p.R) {
    float* out = row_sum + r0 + tid;
    *out = p.accumulate_row_sum ? *out + row_acc : row_acc;
  }
#pragma unroll
  for (int i = 0; i < FM; ++i)
#pragma unroll
    for (int j = 0; j < FN; ++j)
      wmma::store_matrix_sync(cs + (wr + 16 * i) * LDC + ws + 16 * j, acc[i][j], LDC, wmma::mem_row_major);
  AE_WMMA_BARRIER(3);  // the whole tile is in cs before threads read other warps' elements

  // Thread tid finishes columns tid % BN of rows tid / BN, + THREADS / BN, ...: coalesced in s.
  static_assert(THREADS % BN == 0, "epilogue rows");
  const int s = tid % BN;
  const int64_t sg = s0 + s;
  if (sg >= p.S) return;  // no barrier follows
  const bool has_bias = EPI == Epilogue::bias_act && p.bias != nullptr;
  const float bias = has_bias ? p.bias[sg] : 0.0f;
#pragma unroll 4
  for (int r = tid / BN; r < BM; r += THREADS / BN) {
    const int64_t rg = r0 + r;
    if (rg >= p.R) break;
    const int64_t off = rg * p.c_rs + sg;
    const float a = cs[r * LDC + s];
    if constexpr (EPI == Epilogue::bias_act) {
      const float v = has_bias ? a + bias : a;  // no bias: acc unchanged (−0 stays −0, as gemm_tile)
      if (p.z) p.z[off] = store_as<OUT>(v);
      c[off] = store_as<OUT>(act_forward(p.act, v));
    } else {
      c[off] = store_as<OUT>(p.accumulate ? load_as_float(c[off]) + a : a);
    }
  }
}

// The launch grid for R×S outputs in bm×bn tiles; the y extent is at least 1 (see wmma_gemm_kernel).
inline dim3 grid_for(int64_t R, int64_t S, int bm, int bn) {
  const int64_t gx = (R + bm - 1) / bm, gy = (S + bn - 1) / bn;
  return dim3(static_cast<unsigned>(gx), static_cast<unsigned>(gy > 0 ? gy : 1));
}

inline int device_sms() {
  int dev = 0, sms = 0;
  AE_CUDA_CHECK(cudaGetDevice(&dev));
  AE_CUDA_CHECK(cudaDeviceGetAttribute(&sms, cudaDevAttrMultiProcessorCount, dev));
  return sms > 0 ? sms : 1;
}

// A concrete tile's output rows and columns per block.
inline int tile_rows(TcTile t) { return t == TcTile::t32 ? 32 : t == TcTile::t128 ? 128 : 64; }
inline int tile_cols(TcTile t) { return t == TcTile::t32 ? 32 : 64; }
inline int64_t blocks_of(int64_t R, int64_t S, TcTile t) {
  const dim3 g = grid_for(R, S, tile_rows(t), tile_cols(t));
  return int64_t(g.x) * g.y;
}

// The tile `tile` asks for, for R×S outputs: a named one as it is; automatic (tc_tile.cuh) a 64×64
// tile when that grid has a block per SM of the current device, else 32×32. wide_warps: the 64×64
// tile of 4 warps of 32×32 (the tf32 forward, where it measured 1.1-1.3x faster than 8 warps of
// 32×16 at batch 4096; fp16/bf16 and the backward measured no gain, or a loss).
inline TcTile pick_tile(TcTile tile, int64_t R, int64_t S, bool wide_warps = false) {
  if (tile != TcTile::automatic) return tile;
  if (blocks_of(R, S, TcTile::t64) >= device_sms()) return wide_warps ? TcTile::t64_w4 : TcTile::t64;
  return TcTile::t32;
}

// The storage type's name in kernel names and messages.
template <typename IN>
constexpr const char* type_name() {
  if constexpr (std::is_same_v<IN, __half>) return "fp16";
  else if constexpr (std::is_same_v<IN, __nv_bfloat16>) return "bf16";
  else return "tf32";
}

// The configuration of each concrete tile per storage type, as the H200 measured them (bench/gpu/
// README.md, round 3): tf32 rounds late and runs full K-steps without tail tests (round 2's early
// rounding made every prefetch wait before the MMAs: 1.5-1.9x slower); fp16/bf16 keep the per-MMA
// tail test, since the split loop's extra registers (bf16 64×64: 130 against 128) cost the second
// resident block per SM.
template <typename IN, TcTile T>
struct Config;
template <typename IN>
struct Config<IN, TcTile::t32> {
  using type = Tile<32, 32, 16, 16, 128, true, std::is_same_v<IN, float>>;
};
template <typename IN>
struct Config<IN, TcTile::t64> {
  using type = Tile<64, 64, 32, 16, 128, true, std::is_same_v<IN, float>>;
};
template <typename IN>
struct Config<IN, TcTile::t64_w4> {
  using type = Tile<64, 64, 32, 32, 128, true, std::is_same_v<IN, float>>;
};
template <typename IN>
struct Config<IN, TcTile::t128> {
  using type = Tile<128, 64, 32, 32, 128, true, std::is_same_v<IN, float>>;
};

// Launches wmma_gemm_kernel in configuration TILE over `grid`, named what<type, wmma BMxBNxBK
// wWMxWN>; a configuration over 48 KB of shared memory opts in to it once per device.
template <typename IN, typename OUT, class TILE, bool A_T_CONTIG, bool B_T_CONTIG, Epilogue EPI, bool A_ACT>
void launch_gemm(const char* what, dim3 grid, cudaStream_t stream, const Params<IN, OUT>& p) {
  using SM = Smem<IN, TILE, A_T_CONTIG, B_T_CONTIG, A_ACT>;
  auto* const kernel = wmma_gemm_kernel<IN, OUT, TILE, A_T_CONTIG, B_T_CONTIG, EPI, A_ACT>;
  if constexpr (SM::DYNAMIC) {
    static std::atomic<uint64_t> opted{0};  // one bit per device id below 64
    int dev = 0;
    AE_CUDA_CHECK(cudaGetDevice(&dev));
    const uint64_t bit = dev < 64 ? uint64_t(1) << dev : 0;
    if (!bit || !(opted.load() & bit)) {
      AE_CUDA_CHECK(cudaFuncSetAttribute(reinterpret_cast<const void*>(kernel),
                                         cudaFuncAttributeMaxDynamicSharedMemorySize, SM::BYTES));
      opted.fetch_or(bit);
    }
  }
  const std::string name = std::string(what) + "<" + type_name<IN>() + ", wmma " + std::to_string(TILE::BM) + "x" +
                           std::to_string(TILE::BN) + "x" + std::to_string(BK<IN, TILE>) + " w" +
                           std::to_string(TILE::WM) + "x" + std::to_string(TILE::WN) + ">";
  launch(name.c_str(), kernel, grid, dim3(TILE::THREADS), SM::DYNAMIC ? size_t(SM::BYTES) : size_t(0), stream, p);
}

// launch_gemm with the configuration of a concrete tile (not automatic): R×S outputs, `splits`
// along z. Checks the grid's y limit (S / tile columns).
template <typename IN, typename OUT, bool A_T_CONTIG, bool B_T_CONTIG, Epilogue EPI, bool A_ACT>
void launch_tile(const char* what, TcTile tile, int64_t R, int64_t S, unsigned splits, cudaStream_t stream,
                 const Params<IN, OUT>& p) {
  dim3 grid = grid_for(R, S, tile_rows(tile), tile_cols(tile));
  AE_CHECK(grid.y <= 65535, "cuda ", what, ": ", S, " columns exceed the grid limit of ",
           65535 * int64_t(tile_cols(tile)));
  grid.z = splits;
  switch (tile) {
    case TcTile::t32:
      return launch_gemm<IN, OUT, typename Config<IN, TcTile::t32>::type, A_T_CONTIG, B_T_CONTIG, EPI, A_ACT>(what, grid, stream, p);
    case TcTile::t64:
      return launch_gemm<IN, OUT, typename Config<IN, TcTile::t64>::type, A_T_CONTIG, B_T_CONTIG, EPI, A_ACT>(what, grid, stream, p);
    case TcTile::t64_w4:
      return launch_gemm<IN, OUT, typename Config<IN, TcTile::t64_w4>::type, A_T_CONTIG, B_T_CONTIG, EPI, A_ACT>(what, grid, stream,
                                                                                                   p);
    case TcTile::t128:
      return launch_gemm<IN, OUT, typename Config<IN, TcTile::t128>::type, A_T_CONTIG, B_T_CONTIG, EPI, A_ACT>(what, grid, stream, p);
    case TcTile::automatic: break;
  }
  AE_CHECK(false, "cuda ", what, ": launch_tile needs a concrete tile (pick_tile first)");
}

}  // namespace ae::cuda::gemm_wmma
