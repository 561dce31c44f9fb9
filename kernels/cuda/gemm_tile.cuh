// The one shared-memory tiled GEMM of ae's fp32 kernels (device code only; included by
// dense_fwd.cu and dense_bwd.cu, which instantiate gemm_kernel and own its launchers, and by
// conv.cu, whose implicit-GEMM convolutions run the same main loop with im2col operand loaders).
//
//   C(r, s) = Σ_t A(r, t) · B(s, t)        r < R, s < S, t < T_LEN
//
// A and B are strided views of row-major tensors: A(r, t) = a[r·rs + t·ts], so the same kernel is
// the forward y = x·Wᵀ (both operands contiguous in t), dW = dzᵀ·x (both contiguous in r) and
// dx = dz·W (A contiguous in t, B in r). A may carry an activation derivative applied as it is
// loaded (A(r, t) = dy · act′(y or z) at the same offset): dense backward never materialises dz.
//
// Design: 64×64 output tile per block of 256 threads, each thread a 4×4 register block; K-steps of
// 16 staged through shared memory as [t][r] (so the inner loop reads rows of the tile, the same
// for every operand layout); the next K-step's global loads are issued into registers before the
// current one is multiplied (register prefetch hides global latency behind 16·16 FMAs per thread).
// Every element is bounds-checked: any R, S, T_LEN (tails load zeros, stores are masked).
// An operand may also be the clean input of a denoising model with its corruption regenerated as
// it is loaded (kernels/common/noise.h: a pure function of seed, step and the element's offset),
// so the first layer's forward and dW never read a stored corrupted copy.
// The code layer of a sparse model adds two things (kernels/common/sparsity.h): its forward epilogue
// also sums the penalty's statistic over each tile's rows (partials per 64-row block, which
// sparsity_finalize adds up: deterministic, no atomics), and its backward's dz operand is loaded
// as (dy + the penalty's gradient at h)·act′, so the code's summed gradient is never stored.
// Epilogues: bias + activation (+ pre-activation z) for the forward, plain store or accumulate for
// the gradients; optionally Σ_t A(r, t) per row (db), summed by the blocks of the first column of
// the grid in t order, so it is deterministic and bitwise equal to a sequential row-order sum. The
// row sum has its own accumulate flag: a parameter's dW and its bias's db can have different
// earlier writers.
#pragma once

#include <cstdint>

#include "kernels/common/activation.h"
#include "kernels/common/contractive.h"
#include "kernels/common/noise.h"
#include "kernels/common/sparsity.h"
#include "kernels/common/step_scalars.h"

// The kernel's two barriers. A test build may define AE_GEMM_DROP_BARRIER to 1 or 2 to compile
// one of them out and prove the tests notice (tests/kernels/cuda/CMakeLists.txt, the barrier
// mutants); ae's own builds never define it.
#if defined(AE_GEMM_DROP_BARRIER)
#define AE_GEMM_BARRIER(n)                          \
  do {                                              \
    if constexpr ((n) != AE_GEMM_DROP_BARRIER) __syncthreads(); \
  } while (0)
#else
#define AE_GEMM_BARRIER(n) __syncthreads()
#endif

namespace ae::cuda::gemm_tile {

constexpr int BM = 64;                          // tile rows (r)
constexpr int BN = 64;                          // tile columns (s)
constexpr int BK = 16;                          // reduction step (t)
constexpr int TM = 4;                           // rows per thread
constexpr int TN = 4;                           // columns per thread
constexpr int THREADS = (BM / TM) * (BN / TN);  // 256
constexpr int PAD = 4;  // shared row padding: fewer bank conflicts on the transposed store, 16-byte rows
constexpr int LOADS = BM * BK / THREADS;  // elements of each operand a thread stages per step: 4
static_assert(BM == BN, "the loaders assume square tiles");
static_assert(LOADS * THREADS == BM * BK, "tile not evenly divided between threads");

// One operand: element (r, t) at p[r·rs + t·ts]. When act is not linear, each element is
// multiplied by act′ of aux at the same offset: from z when aux_is_z, else from y. When noise is
// set, each element is corrupt(noise, p[off], seed, step, off) with the step's seed and step from
// `steps` — p is then a whole row-major input, so off is the element's index in it.
template <typename T>
struct Operand {
  const T* p;
  int64_t rs, ts;
  const T* aux;
  Act act;
  bool aux_is_z;
  NoiseParams noise = {};
  const StepScalars* steps = nullptr;  // [1] device; read when noise is set
  // A code penalty's gradient added on load (dense_bwd's dz; p is then dy [M, N]: element (r, t)
  // belongs to unit r when pen_unit_is_r — the dW pass's dz(n, m) — else to unit t, the dx pass's
  // dz(m, n)). Read only by the instantiations with that LoadPenalty:
  //   sparsity:    dz = (dy + its gradient at h)·act′,  pen_at = h, pen_unit = the column sums
  //   contractive: dz = dy·act′ + its gradient at z,    pen_at = z, pen_unit = the row norms ‖W_j‖²
  SparsityParams pen = {};
  const T* pen_at = nullptr;      // [M, N] at p's offsets
  const T* pen_unit = nullptr;    // [N]
  const T* pen_dvalue = nullptr;  // [1] the penalty term's gradient seed
  bool pen_unit_is_r = false;
  T pen_inv_batch = T(0);         // 1/M
};

enum class LoadPenalty : uint8_t { none, sparsity, contractive };

enum class Epilogue : uint8_t {
  bias_act,  // v = acc + bias[s] (bias optional); z[r, s] = v when z given; c[r, s] = act(v)
  store,     // c[r, s] = acc, or c[r, s] += acc when accumulate
};

template <typename T>
struct Params {
  Operand<T> a, b;
  int64_t R, S, T_LEN;
  T* c;  // C(r, s) at c[r·c_rs + s]
  int64_t c_rs;
  const T* bias;    // [S] (bias_act), or nullptr
  Act act;          // bias_act
  T* z;             // [R, c_rs] pre-activation (bias_act), or nullptr
  bool accumulate;          // store: add into c
  T* row_sum;               // [R] Σ_t A(r, t), or nullptr
  bool accumulate_row_sum;  // add into row_sum (apart from c's: dW and db may differ)
  SparsityKind colstat;     // bias_act with COLSTAT: Σ over each block's rows of sparsity_stat(c)
  T* colstat_partials;      // [gridDim.x, S]: block x's sum for column s at [x·S + s]
};

// The order of the column statistic, which kernels/cuda/sparsity.cu's unfused partials follow bit
// for bit: thread (ty, tx) sums its TM rows in ascending order, then the TM-row groups of the block
// are added in ascending ty. Both sums start at 0.
static_assert(BM == 64 && TM == 4, "sparsity.cu's column partials assume 64-row blocks of 4-row groups");
static_assert(BM / TM <= BK, "the column statistic's row groups meet in the A tile");

// A loader is an operand's element function: `static constexpr bool T_CONTIG` (which register
// layout load_slice uses: with T_CONTIG, 16 neighbouring threads read 16 neighbouring t of one row;
// otherwise 64 neighbouring threads read 64 neighbouring r) and `T at(int64_t r, int64_t t) const`
// for an element in range. StridedLoader is the dense kernels' (an Operand); kernels/cuda/conv.cu
// adds the convolution's im2col gathers, which is how the one main loop below serves both.
//
// The dense operand: Operand<T> at p[r·rs + t·ts], with act′, corruption and a code penalty.
// NOISY: the operand may carry a corruption (a separate instantiation, so the GEMMs of models
// without one keep their registers: the Philox rounds and the normal draw's log/cos are not free).
template <typename T, bool T_CONTIG_, bool NOISY = false, LoadPenalty PEN = LoadPenalty::none>
struct StridedLoader {
  static constexpr bool T_CONTIG = T_CONTIG_;
  const Operand<T>& op;
  __device__ __forceinline__ T at(int64_t r, int64_t t) const {
    const int64_t off = r * op.rs + t * op.ts;
    T v = op.p[off];
    if (NOISY && op.noise.kind != NoiseKind::none)  // a uniform branch: the same for every thread
      v = T(corrupt(op.noise, float(v), op.steps->seed, uint64_t(op.steps->step), uint64_t(off)));
    // The penalties' gradients are added with __fadd_rn (never contracted into an FMA), rounded as
    // the unfused gradient op and add round them.
    if constexpr (PEN == LoadPenalty::sparsity)  // dy + dvalue·∂penalty/∂h
      v = __fadd_rn(v, sparsity_grad(op.pen, op.pen_at[off], op.pen_unit[op.pen_unit_is_r ? r : t], *op.pen_dvalue,
                                     op.pen_inv_batch));
    if (op.act != Act::linear)
      v = v * (op.aux_is_z ? act_derivative_from_z(op.act, op.aux[off]) : act_derivative_from_y(op.act, op.aux[off]));
    if constexpr (PEN == LoadPenalty::contractive)  // dy·act′ + dvalue·∂penalty/∂z
      v = __fadd_rn(v, contractive_grad_z(op.act, op.pen_at[off], op.pen_unit[op.pen_unit_is_r ? r : t],
                                          *op.pen_dvalue, op.pen_inv_batch));
    return v;
  }
};

// Stages one operand's 64×16 slice (rows r0.., steps t0..) into registers, in the loader's layout.
// Out-of-range elements are zero: any R, S, T_LEN.
template <class LOADER, typename T>
__device__ __forceinline__ void load_slice(const LOADER& ld, int64_t rows, int64_t t_len, int64_t r0, int64_t t0,
                                           int tid, T (&reg)[LOADS]) {
  constexpr bool T_CONTIG = LOADER::T_CONTIG;
#pragma unroll
  for (int i = 0; i < LOADS; ++i) {
    const int r = T_CONTIG ? tid / BK + i * (THREADS / BK) : tid % BM;
    const int t = T_CONTIG ? tid % BK : tid / BM + i * (THREADS / BM);
    T v = T(0);
    if (r0 + r < rows && t0 + t < t_len) v = ld.at(r0 + r, t0 + t);
    reg[i] = v;
  }
}

// The transposed store of load_slice's registers into a [BK][BM + PAD] shared tile.
template <bool T_CONTIG, typename T>
__device__ __forceinline__ void store_slice(T (*tile)[BM + PAD], int tid, const T (&reg)[LOADS]) {
#pragma unroll
  for (int i = 0; i < LOADS; ++i) {
    const int r = T_CONTIG ? tid / BK + i * (THREADS / BK) : tid % BM;
    const int t = T_CONTIG ? tid % BK : tid / BM + i * (THREADS / BM);
    tile[t][r] = reg[i];
  }
}

// The main loop of every tiled GEMM of ae (gemm_kernel below, the convolutions of conv.cu):
// acc (4×4 per thread, zeroed by the caller) += Σ_t A(r, t)·B(s, t) over the block's 64×64 tile
// (rows r0.., columns s0..), the reduction in K-steps of 16 staged through the shared tiles as and
// bs ([t][r], [t][s]); with sums_rows, row_acc += Σ_t A(r0 + tid, t) in t order (threads < BM).
// Both barriers of the kernels are here, so the barrier mutants cover every caller.
template <class LOADER_A, class LOADER_B, typename T>
__device__ __forceinline__ void mainloop(const LOADER_A& la, const LOADER_B& lb, int64_t R, int64_t S, int64_t T_LEN,
                                         int64_t r0, int64_t s0, int tid, T (*as)[BM + PAD], T (*bs)[BN + PAD],
                                         T (&acc)[TM][TN], bool sums_rows, T& row_acc) {
  const int tx = tid % (BN / TN), ty = tid / (BN / TN);  // this thread's 4×4 block: rows ty·4.., cols tx·4..
  T ra[LOADS], rb[LOADS];
  load_slice(la, R, T_LEN, r0, 0, tid, ra);
  load_slice(lb, S, T_LEN, s0, 0, tid, rb);
  for (int64_t t0 = 0; t0 < T_LEN; t0 += BK) {
    store_slice<LOADER_A::T_CONTIG>(as, tid, ra);
    store_slice<LOADER_B::T_CONTIG>(bs, tid, rb);
    AE_GEMM_BARRIER(1);     // the slice is complete before anyone multiplies it
    if (t0 + BK < T_LEN) {  // prefetch the next slice; its loads are in flight during the FMAs
      load_slice(la, R, T_LEN, r0, t0 + BK, tid, ra);
      load_slice(lb, S, T_LEN, s0, t0 + BK, tid, rb);
    }
#pragma unroll
    for (int t = 0; t < BK; ++t) {
      T av[TM], bv[TN];
#pragma unroll
      for (int i = 0; i < TM; ++i) av[i] = as[t][ty * TM + i];
#pragma unroll
      for (int j = 0; j < TN; ++j) bv[j] = bs[t][tx * TN + j];
#pragma unroll
      for (int i = 0; i < TM; ++i)
#pragma unroll
        for (int j = 0; j < TN; ++j) acc[i][j] += av[i] * bv[j];
    }
    if (sums_rows) {
      // Rows past T_LEN were loaded as zeros: adding +0 to a sum that started at +0 changes no bit.
#pragma unroll
      for (int t = 0; t < BK; ++t) row_acc += as[t][tid];
    }
    AE_GEMM_BARRIER(2);  // everyone is done reading the slice before the next one overwrites it
  }
}

// COLSTAT's end: each thread's per-column sums of its TM rows sit in its slots as[ty][tx·TN + j];
// the block's BM/TM row groups meet in group order and column s's partial of block x is written.
// Every thread of the block calls it (a barrier inside).
template <typename T>
__device__ __forceinline__ void colstat_finish(const Params<T>& p, T (*as)[BM + PAD], int tid, int64_t s0) {
  __syncthreads();  // every thread's slots are written
  const int64_t s = s0 + tid;
  if (tid < BN && s < p.S) {
    T sum = T(0);
#pragma unroll
    for (int g = 0; g < BM / TM; ++g) sum += as[g][tid];
    p.colstat_partials[int64_t(blockIdx.x) * p.S + s] = sum;
  }
}

// Grid: x over R in BM tiles, y over S in BN tiles (at least one, so row_sum always has its
// column of blocks). Block: THREADS threads. NOISY_A / NOISY_B: that operand may be corrupted on
// load (dense_fwd's x is A, dense_bwd's dW pass has x as B). PEN_A: A is a code layer's dy with a
// penalty's gradient added on load. COLSTAT (bias_act): the sparsity penalty's column partials.
template <typename T, bool A_T_CONTIG, bool B_T_CONTIG, Epilogue EPI, bool NOISY_A = false, bool NOISY_B = false,
          LoadPenalty PEN_A = LoadPenalty::none, bool COLSTAT = false>
__global__ void __launch_bounds__(THREADS) gemm_kernel(const Params<T> p) {
  __shared__ __align__(16) T as[BK][BM + PAD];  // A slice, [t][r]
  __shared__ __align__(16) T bs[BK][BN + PAD];  // B slice, [t][s]

  const int tid = threadIdx.x;
  const int tx = tid % (BN / TN), ty = tid / (BN / TN);  // this thread's 4×4 block: rows ty·4.., cols tx·4..
  const int64_t r0 = int64_t(blockIdx.x) * BM, s0 = int64_t(blockIdx.y) * BN;
  const bool sums_rows = p.row_sum != nullptr && blockIdx.y == 0 && tid < BM;

  T acc[TM][TN];
#pragma unroll
  for (int i = 0; i < TM; ++i)
#pragma unroll
    for (int j = 0; j < TN; ++j) acc[i][j] = T(0);
  T row_acc = T(0);  // Σ_t A(r0 + tid, t), in t order

  mainloop(StridedLoader<T, A_T_CONTIG, NOISY_A, PEN_A>{p.a}, StridedLoader<T, B_T_CONTIG, NOISY_B>{p.b}, p.R, p.S,
           p.T_LEN, r0, s0, tid, as, bs, acc, sums_rows, row_acc);

  if (sums_rows && r0 + tid < p.R) {
    T* out = p.row_sum + r0 + tid;
    *out = p.accumulate_row_sum ? *out + row_acc : row_acc;
  }
  // COLSTAT: this thread's sum of its rows per column, in its own slots of the A tile (free since
  // the main loop's last barrier; shared, not registers: the epilogue is the kernel's tightest spot).
  if constexpr (COLSTAT) {
#pragma unroll
    for (int j = 0; j < TN; ++j) as[ty][tx * TN + j] = T(0);
  }
#pragma unroll
  for (int i = 0; i < TM; ++i) {
    const int64_t r = r0 + ty * TM + i;
    if (r >= p.R) continue;
#pragma unroll
    for (int j = 0; j < TN; ++j) {
      const int64_t s = s0 + tx * TN + j;
      if (s >= p.S) continue;
      const int64_t off = r * p.c_rs + s;
      if constexpr (EPI == Epilogue::bias_act) {
        const T v = p.bias ? acc[i][j] + p.bias[s] : acc[i][j];
        if (p.z) p.z[off] = v;
        const T h = act_forward(p.act, v);
        p.c[off] = h;
        if constexpr (COLSTAT) as[ty][tx * TN + j] += sparsity_stat(p.colstat, h);
      } else {
        p.c[off] = p.accumulate ? p.c[off] + acc[i][j] : acc[i][j];
      }
    }
  }
  if constexpr (COLSTAT) colstat_finish(p, as, tid, s0);
}

// The launch grid for R×S outputs; the y extent is at least 1 (see gemm_kernel).
inline dim3 grid_for(int64_t R, int64_t S) {
  const int64_t gx = (R + BM - 1) / BM, gy = (S + BN - 1) / BN;
  return dim3(static_cast<unsigned>(gx), static_cast<unsigned>(gy > 0 ? gy : 1));
}

}  // namespace ae::cuda::gemm_tile
