// The convolution layer on CUDA as implicit GEMMs: gemm_tile's main loop (64×64 tiles, K-steps of
// 16, register prefetch, its two barriers) fed by operand loaders that gather the convolution's
// windows from NCHW tensors as they load, so no im2col matrix is ever materialised. As in
// kernels/cpu/conv.cpp, everything is three passes of one ordinary convolution src [n, cs, hs, ws]
// → dst [n, cd, hd, wd] with weight [cd, cs, kh, kw] (a Core); a tap is (c, i, j) of the window:
//   forward      dst(n,o,p)   = Σ_tap src(n, c, p·s − pad + tap·dil) · w(o, tap)
//                GEMM R = n·hd·wd positions, S = cd, T = cs·kh·kw       (A: im2col gather)
//   data grad    dsrc(n,c,q)  = Σ_(o,i,j) ddst(n, o, (q + pad − (i,j)·dil)/s) · w(o, c, i, j)
//                GEMM R = n·hs·ws positions, S = cs, T = cd·kh·kw       (A: col2im gather, the
//                quotient exact and in range, else 0)
//   weight grad  dw(o, tap)   = Σ_(n,p) ddst(n, o, p) · src(n, c, p·s − pad + tap·dil)
//                GEMM R = cd, S = cs·kh·kw, T = n·hd·wd                 (B: im2col gather, transposed)
// Conv2d is the Core x → y; ConvTranspose2d is the Core y → x (its weight is that Core's), so its
// forward is the data-gradient kernel with the bias + activation epilogue, its data gradient the
// forward kernel, its weight gradient the weight kernel with src and dst swapped: one kernel each.
// dz = dy ⊙ act′ is applied as whichever operand holds dy is loaded (never stored). db rides in the
// weight pass as gemm_tile's row sum for Conv2d (rows are its channels, summed in (n, p) order);
// for ConvTranspose2d its channels are the weight pass's column groups, so db is one small
// deterministic reduction kernel (a fixed tree per channel), which also serves a Conv2d backward
// run without dw (the passes are independent: dw, db and dx are each skipped when null).
// Why gemm_tile's main loop and not its gemm_kernel: the convolution's output is NCHW, so C(r, s)
// sits at (n·S + s)·hw + p for r = n·hw + p, not r·ld + s; the epilogue here differs only in that
// address. The loaders decode indices in 32-bit ints (the launcher checks every tensor has < 2^31
// elements), which keeps the divisions cheap and the registers few.
// Data-gradient cost: with stride s, only one tap in s² meets an output (the others load 0); it is
// the plain zero-skipping implicit GEMM, correct for every stride, not the fastest for s > 1.
// ptxas (CUDA 13.0, runtime/sim/nvcc-check.sh), registers sm_80 / sm_90, no stack, 0 spills:
//   forward (Im2col × RowMajor)             bias_act 64 / 79, store 64 / 79
//   data gradient (Col2im × WeightByInput)  bias_act 64 / 64, store 64 / 63
//   weight gradient (Channel × Im2col)      store 64 / 75;   channel_sum_kernel 28 / 28
#include <limits>

#include "kernels/common/error.h"
#include "kernels/cuda/conv.cuh"
#include "kernels/cuda/gemm_tile.cuh"
#include "kernels/cuda/launch.cuh"

namespace ae::cuda {

namespace {

using namespace gemm_tile;

// The Core on the device, 32-bit (see the file comment).
struct Core {
  int n, cs, hs, ws, cd, hd, wd, kh, kw, sh, sw, ph, pw, dh, dw;
};

// dz = v · act′(aux at the same offset) when act is not linear (a uniform branch).
template <typename T>
struct ActOnLoad {
  const T* aux;  // z or y, shaped as the operand it multiplies
  Act act;
  bool aux_is_z;
  __device__ __forceinline__ T apply(T v, int64_t off) const {
    if (act != Act::linear)
      v = v * (aux_is_z ? act_derivative_from_z(act, aux[off]) : act_derivative_from_y(act, aux[off]));
    return v;
  }
};

// src seen through the windows: element (position, tap) with position = (n, oh, ow) of dst and
// tap = (c, i, j); 0 in the padding. POS_IS_R: the position is the row (forward A), else the
// reduction index (weight-gradient B). Either way neighbouring threads take neighbouring positions.
template <typename T, bool POS_IS_R>
struct Im2colLoader {
  static constexpr bool T_CONTIG = !POS_IS_R;
  const T* src;  // [n, cs, hs, ws]
  Core g;
  ActOnLoad<T> dz;
  __device__ __forceinline__ T at(int64_t r, int64_t t) const {
    const int pos = int(POS_IS_R ? r : t), tap = int(POS_IS_R ? t : r);
    const int kk = g.kh * g.kw, c = tap / kk, ij = tap - c * kk, i = ij / g.kw, j = ij - i * g.kw;
    const int hw = g.hd * g.wd, n = pos / hw, q = pos - n * hw, oh = q / g.wd, ow = q - oh * g.wd;
    const int ih = oh * g.sh - g.ph + i * g.dh, iw = ow * g.sw - g.pw + j * g.dw;
    if (ih < 0 || ih >= g.hs || iw < 0 || iw >= g.ws) return T(0);
    const int64_t off = (int64_t(n) * g.cs + c) * (int64_t(g.hs) * g.ws) + ih * g.ws + iw;
    return dz.apply(src[off], off);
  }
};

// ddst gathered onto src positions (data gradient A): element (q = (n, ih, iw) of src,
// (o, i, j)) is ddst(n, o, oh, ow) when ih = oh·sh − ph + i·dh for an oh in range (likewise w).
template <typename T>
struct Col2imLoader {
  static constexpr bool T_CONTIG = false;
  const T* ddst;  // [n, cd, hd, wd]
  Core g;
  ActOnLoad<T> dz;
  __device__ __forceinline__ T at(int64_t r, int64_t t) const {
    const int kk = g.kh * g.kw, o = int(t) / kk, ij = int(t) - o * kk, i = ij / g.kw, j = ij - i * g.kw;
    const int hw = g.hs * g.ws, n = int(r) / hw, q = int(r) - n * hw, ih = q / g.ws, iw = q - ih * g.ws;
    const int ohs = ih + g.ph - i * g.dh, ows = iw + g.pw - j * g.dw;  // oh·sh, ow·sw when a tap meets
    if (ohs < 0 || ows < 0) return T(0);
    const int oh = ohs / g.sh, ow = ows / g.sw;
    if (oh * g.sh != ohs || ow * g.sw != ows || oh >= g.hd || ow >= g.wd) return T(0);
    const int64_t off = (int64_t(n) * g.cd + o) * (int64_t(g.hd) * g.wd) + oh * g.wd + ow;
    return dz.apply(ddst[off], off);
  }
};

// A row-major matrix: element (r, t) at p[r·ld + t] (the forward's weight, (o, tap)).
template <typename T>
struct RowMajorLoader {
  static constexpr bool T_CONTIG = true;
  const T* p;
  int64_t ld;
  __device__ __forceinline__ T at(int64_t r, int64_t t) const { return p[r * ld + t]; }
};

// The weight read as (c, (o, i, j)) for the data gradient: w[(o·cs + c)·kk + ij].
template <typename T>
struct WeightByInputLoader {
  static constexpr bool T_CONTIG = true;
  const T* w;  // [cd, cs, kh, kw]
  int cs, kk;
  __device__ __forceinline__ T at(int64_t r, int64_t t) const {
    const int o = int(t) / kk, ij = int(t) - o * kk;
    return w[(int64_t(o) * cs + r) * kk + ij];
  }
};

// An NCHW tensor read as (channel, (n, p)) (the weight gradient's ddst): element at (n·C + r)·hw + p.
template <typename T>
struct ChannelLoader {
  static constexpr bool T_CONTIG = true;
  const T* p;  // [n, C, hw]
  int C, hw;
  ActOnLoad<T> dz;
  __device__ __forceinline__ T at(int64_t r, int64_t t) const {
    const int n = int(t) / hw, q = int(t) - n * hw;
    const int64_t off = (int64_t(n) * C + r) * hw + q;
    return dz.apply(p[off], off);
  }
};

template <typename T, class LA, class LB>
struct ConvParams {
  LA a;
  LB b;
  int64_t R, S, T_LEN;
  T* c;                     // NCHW_OUT: C(r, s) at (n·S + s)·out_hw + p for r = n·out_hw + p; else r·S + s
  int out_hw;               // NCHW_OUT
  const T* bias;            // [S] (bias_act), or nullptr
  Act act;                  // bias_act
  T* z;                     // shaped as c (bias_act), or nullptr
  bool accumulate;          // store: add into c
  T* row_sum;               // [R] Σ_t A(r, t) (Conv2d's db), or nullptr
  bool accumulate_row_sum;
};

// gemm_tile's main loop, then the epilogue at the convolution's output addresses. Grid and block
// as gemm_tile::gemm_kernel's (grid_for(R, S), THREADS).
template <typename T, class LA, class LB, Epilogue EPI, bool NCHW_OUT>
__global__ void __launch_bounds__(THREADS) conv_gemm_kernel(const ConvParams<T, LA, LB> p) {
  __shared__ __align__(16) T as[BK][BM + PAD];  // A slice, [t][r]
  __shared__ __align__(16) T bs[BK][BN + PAD];  // B slice, [t][s]
  const int tid = threadIdx.x;
  const int tx = tid % (BN / TN), ty = tid / (BN / TN);
  const int64_t r0 = int64_t(blockIdx.x) * BM, s0 = int64_t(blockIdx.y) * BN;
  const bool sums_rows = p.row_sum != nullptr && blockIdx.y == 0 && tid < BM;

  T acc[TM][TN];
#pragma unroll
  for (int i = 0; i < TM; ++i)
#pragma unroll
    for (int j = 0; j < TN; ++j) acc[i][j] = T(0);
  T row_acc = T(0);
  mainloop(p.a, p.b, p.R, p.S, p.T_LEN, r0, s0, tid, as, bs, acc, sums_rows, row_acc);

  if (sums_rows && r0 + tid < p.R) {
    T* out = p.row_sum + r0 + tid;
    *out = p.accumulate_row_sum ? *out + row_acc : row_acc;
  }
#pragma unroll
  for (int i = 0; i < TM; ++i) {
    const int64_t r = r0 + ty * TM + i;
    if (r >= p.R) continue;
    // Row r's first element and the step between columns: NCHW puts the channels hw apart.
    int64_t base = r * p.S, step = 1;
    if constexpr (NCHW_OUT) {
      const int64_t n = r / p.out_hw;
      base = n * p.S * p.out_hw + (r - n * p.out_hw), step = p.out_hw;
    }
#pragma unroll
    for (int j = 0; j < TN; ++j) {
      const int64_t s = s0 + tx * TN + j;
      if (s >= p.S) continue;
      const int64_t off = base + s * step;
      if constexpr (EPI == Epilogue::bias_act) {
        const T v = p.bias ? acc[i][j] + p.bias[s] : acc[i][j];
        if (p.z) p.z[off] = v;
        p.c[off] = act_forward(p.act, v);
      } else {
        p.c[off] = p.accumulate ? p.c[off] + acc[i][j] : acc[i][j];
      }
    }
  }
}

constexpr int SUM_THREADS = 256;

// db[c] (+)= Σ_(n,p) dz[n, c, p] for ConvTranspose2d: one block per channel; thread k sums the
// elements k, k + 256, … in order, then a fixed halving tree in shared memory: the same bits for
// every schedule.
template <typename T>
__global__ void __launch_bounds__(SUM_THREADS) channel_sum_kernel(const T* dy,  // [n, C, hw]
                                                                  ActOnLoad<T> dz, int64_t n, int C, int64_t hw,
                                                                  T* db,  // [C]
                                                                  bool accumulate) {
  __shared__ T part[SUM_THREADS];
  const int c = blockIdx.x, tid = threadIdx.x;
  T sum = T(0);
  for (int64_t e = tid; e < n * hw; e += SUM_THREADS) {
    const int64_t b = e / hw, off = (b * C + c) * hw + (e - b * hw);
    sum += dz.apply(dy[off], off);
  }
  part[tid] = sum;
  __syncthreads();  // every partial is written before the tree reads it
  for (int half = SUM_THREADS / 2; half > 0; half /= 2) {
    if (tid < half) part[tid] += part[tid + half];
    __syncthreads();  // this level is complete before the next reads it
  }
  if (tid == 0) db[c] = accumulate ? db[c] + part[0] : part[0];
}

Core core_of(const ConvGeometry& g) {
  const int oh = int(g.out_h()), ow = int(g.out_w());
  const int n = int(g.batch), ic = int(g.in_c), ih = int(g.in_h), iw = int(g.in_w), oc = int(g.out_c);
  const int kh = int(g.k_h), kw = int(g.k_w), sh = int(g.stride_h), sw = int(g.stride_w);
  const int ph = int(g.pad_h), pw = int(g.pad_w), dh = int(g.dil_h), dw = int(g.dil_w);
  if (!g.transposed) return Core{n, ic, ih, iw, oc, oh, ow, kh, kw, sh, sw, ph, pw, dh, dw};
  return Core{n, oc, oh, ow, ic, ih, iw, kh, kw, sh, sw, ph, pw, dh, dw};
}

// Validates g and that the 32-bit decoding of the loaders holds: every tensor and GEMM extent
// below 2^31 elements.
void check_geometry(const char* fn, const ConvGeometry& g) {
  g.validate();
  constexpr int64_t MAX = std::numeric_limits<int32_t>::max();
  const int64_t kk = g.k_h * g.k_w;
  AE_CHECK(g.x_size() <= MAX && g.y_size() <= MAX && g.w_size() <= MAX && g.in_c * kk <= MAX && g.out_c * kk <= MAX,
           "cuda ", fn, ": input [", g.batch, ",", g.in_c, ",", g.in_h, ",", g.in_w, "] → output [", g.batch, ",",
           g.out_c, ",", g.out_h(), ",", g.out_w(), "] has a tensor of 2^31 elements or more; split the batch");
}

template <typename T, Epilogue EPI, bool NCHW_OUT, class LA, class LB>
void launch_gemm(const char* name, const ConvParams<T, LA, LB>& p, cudaStream_t stream) {
  const dim3 grid = grid_for(p.R, p.S);
  AE_CHECK(grid.y <= 65535, "cuda ", name, ": ", p.S, " GEMM columns exceed the grid limit of ", 65535 * int64_t(BN));
  launch(name, conv_gemm_kernel<T, LA, LB, EPI, NCHW_OUT>, grid, dim3(THREADS), 0, stream, p);
}

// The Core's forward: dst = conv(src, w), then bias + act (z kept) or a plain store.
template <typename T, Epilogue EPI>
void pass_forward(const char* name, const Core& c, const T* src, ActOnLoad<T> src_dz, const T* w, T* dst, const T* bias,
                  Act act, T* z, cudaStream_t stream) {
  ConvParams<T, Im2colLoader<T, true>, RowMajorLoader<T>> p{};
  p.a = {src, c, src_dz};
  p.T_LEN = int64_t(c.cs) * c.kh * c.kw;
  p.b = {w, p.T_LEN};
  p.R = int64_t(c.n) * c.hd * c.wd, p.S = c.cd;
  p.c = dst, p.out_hw = c.hd * c.wd;
  p.bias = bias, p.act = act, p.z = z;
  launch_gemm<T, EPI, true>(name, p, stream);
}

// The Core's data gradient: dsrc = conv's transpose at ddst, then bias + act (z kept) or a store.
template <typename T, Epilogue EPI>
void pass_backward_data(const char* name, const Core& c, const T* ddst, ActOnLoad<T> ddst_dz, const T* w, T* dsrc,
                        const T* bias, Act act, T* z, cudaStream_t stream) {
  ConvParams<T, Col2imLoader<T>, WeightByInputLoader<T>> p{};
  p.a = {ddst, c, ddst_dz};
  p.b = {w, c.cs, c.kh * c.kw};
  p.R = int64_t(c.n) * c.hs * c.ws, p.S = c.cs, p.T_LEN = int64_t(c.cd) * c.kh * c.kw;
  p.c = dsrc, p.out_hw = c.hs * c.ws;
  p.bias = bias, p.act = act, p.z = z;
  launch_gemm<T, EPI, true>(name, p, stream);
}

// The Core's weight gradient: dw (+)= Σ_(n,p) ddst ⊗ im2col(src); row_sum (Conv2d's db) rides along.
template <typename T>
void pass_backward_weights(const Core& c, const T* src, ActOnLoad<T> src_dz, const T* ddst, ActOnLoad<T> ddst_dz,
                           T* dw, bool accumulate, T* row_sum, bool accumulate_row_sum, cudaStream_t stream) {
  ConvParams<T, ChannelLoader<T>, Im2colLoader<T, false>> p{};
  p.a = {ddst, c.cd, c.hd * c.wd, ddst_dz};
  p.b = {src, c, src_dz};
  p.R = c.cd, p.S = int64_t(c.cs) * c.kh * c.kw, p.T_LEN = int64_t(c.n) * c.hd * c.wd;
  p.c = dw, p.accumulate = accumulate;
  p.row_sum = row_sum, p.accumulate_row_sum = accumulate_row_sum;
  launch_gemm<T, Epilogue::store, false>("conv2d_bwd_weights<gemm_tile 64x64x16, im2col>", p, stream);
}

// db on its own kernel: always for ConvTranspose2d (its channels are column groups of the weight
// pass), and for Conv2d when no weight pass runs to carry it as its row sum. A batch of 0 sums
// nothing: db gets 0 (or keeps its value).
template <typename T>
void launch_channel_sums(const ConvGeometry& g, const T* dy, ActOnLoad<T> dz, T* db, bool accumulate,
                         cudaStream_t stream) {
  launch(g.transposed ? "conv_transpose2d_bwd_bias<channel sums>" : "conv2d_bwd_bias<channel sums>",
         channel_sum_kernel<T>, dim3(unsigned(g.out_c)), dim3(SUM_THREADS), 0, stream, dy, dz, g.batch, int(g.out_c),
         g.out_h() * g.out_w(), db, accumulate);
}

}  // namespace

template <typename T>
void conv2d_forward(const ConvGeometry& g, const T* x, const T* w, const T* b, Act act, T* y, T* z,
                    cudaStream_t stream) {
  check_geometry("conv2d_forward", g);
  AE_CHECK(static_cast<int>(act) < ACT_COUNT, "cuda conv2d_forward: unknown activation ", static_cast<int>(act));
  AE_CHECK(y != nullptr, "cuda conv2d_forward: output y is null");
  if (g.batch == 0) return;
  AE_CHECK(x != nullptr && w != nullptr, "cuda conv2d_forward: x or w is null");
  const Core c = core_of(g);
  const ActOnLoad<T> plain{nullptr, Act::linear, false};
  if (!g.transposed)
    pass_forward<T, Epilogue::bias_act>("conv2d_fwd<gemm_tile 64x64x16, im2col, bias+act>", c, x, plain, w, y, b, act,
                                        z, stream);
  else
    pass_backward_data<T, Epilogue::bias_act>("conv_transpose2d_fwd<gemm_tile 64x64x16, col2im, bias+act>", c, x,
                                              plain, w, y, b, act, z, stream);
}

template <typename T>
void conv2d_backward(const ConvGeometry& g, const T* dy, const T* y, const T* z, Act act, const T* x, const T* w,
                     T* dw, T* db, T* dx, bool accumulate_dw, bool accumulate_db, cudaStream_t stream) {
  check_geometry("conv2d_backward", g);
  AE_CHECK(static_cast<int>(act) < ACT_COUNT, "cuda conv2d_backward: unknown activation ", static_cast<int>(act));
  AE_CHECK(g.batch == 0 || dw == nullptr || x != nullptr,
           "cuda conv2d_backward: x is null but dw is wanted (the weight gradient reads x)");
  AE_CHECK(g.batch == 0 || dx == nullptr || w != nullptr,
           "cuda conv2d_backward: w is null but dx is wanted (the data gradient reads w)");
  AE_CHECK(z != nullptr || !act_derivative_needs_z(act), "cuda conv2d_backward: activation ", act_name(act),
           " needs the pre-activation z (its derivative is not a function of y); keep z");
  AE_CHECK(z != nullptr || y != nullptr || act == Act::linear, "cuda conv2d_backward: activation ", act_name(act),
           " needs y or z; both are null");
  AE_CHECK(g.batch == 0 || dy != nullptr, "cuda conv2d_backward: dy is null");
  const Core c = core_of(g);
  // dz(off) = dy[off]·act′(aux[off]); linear reads no aux.
  const ActOnLoad<T> dz{act == Act::linear ? nullptr : (z ? z : y), act, z != nullptr};
  const ActOnLoad<T> plain{nullptr, Act::linear, false};
  if (!g.transposed) {
    // Conv2d: the Core is x → y; dy is its ddst. A batch of 0 runs the weight pass with T = 0: the
    // sums are empty, dw and db get 0 (or keep their value).
    if (dw) pass_backward_weights<T>(c, x, plain, dy, dz, dw, accumulate_dw, db, accumulate_db, stream);
    else if (db) launch_channel_sums(g, dy, dz, db, accumulate_db, stream);
    if (dx && g.batch > 0)
      pass_backward_data<T, Epilogue::store>("conv2d_bwd_data<gemm_tile 64x64x16, col2im, act' on load>", c, dy, dz,
                                             w, dx, nullptr, Act::linear, nullptr, stream);
    return;
  }
  // ConvTranspose2d: the Core is y → x; dy is its src.
  if (dw) pass_backward_weights<T>(c, dy, dz, x, plain, dw, accumulate_dw, nullptr, false, stream);
  if (db) launch_channel_sums(g, dy, dz, db, accumulate_db, stream);
  if (dx && g.batch > 0)
    pass_forward<T, Epilogue::store>("conv_transpose2d_bwd_data<gemm_tile 64x64x16, im2col, act' on load>", c, dy, dz,
                                     w, dx, nullptr, Act::linear, nullptr, stream);
}

template void conv2d_forward<float>(const ConvGeometry&, const float*, const float*, const float*, Act, float*, float*,
                                    cudaStream_t);
template void conv2d_backward<float>(const ConvGeometry&, const float*, const float*, const float*, Act, const float*,
                                     const float*, float*, float*, float*, bool, bool, cudaStream_t);

}  // namespace ae::cuda
