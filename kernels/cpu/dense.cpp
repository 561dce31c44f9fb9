// The cpu dense layer: GEMMs through kernels/cpu/gemm.h (the forward's bias rides in the GEMM's
// epilogue), the elementwise parts (activation forward, act′ + bias gradient backward) as loops
// over row blocks; act′ through kernels/cpu/activation.h's loop, the one cpu g ⊙ act′.
//
// The elementwise loops are instantiated per activation (the switch is hoisted out of the loop)
// so the compiler vectorizes them, and for float they are compiled for AVX-512, AVX2 and the
// baseline ISA, picked once at load time from cpuid (ae's baseline build is plain x86-64). The
// float sigmoid uses a vectorizable exp (below) instead of libm's scalar expf: the forward of the
// 784-wide sigmoid output layer was a third of the layer's time with expf. double (what the fp64
// gradient checks run) keeps the shared math of kernels/common/activation.h as it is.
//
// Mixed precision (dense_forward_bf16/dense_backward_bf16): the GEMMs are gemm_bf16 (oneDNN bf16
// matmuls, fp32 accumulation; the forward's bias and, when it fuses exactly and z is not kept,
// its activation in the epilogue). The elementwise loops read bf16 (a 16-bit shift), compute in
// fp32 with the very operations of the float loops here (so a value differs from the float
// kernel's on the same bf16 inputs only by its final rounding) and store bf16 with bf16_elem.h's
// branch-free rounding; they are cloned per ISA like the float ones.
#include "kernels/cpu/dense.h"

#include <omp.h>

#include <algorithm>
#include <cstring>
#include <type_traits>
#include <vector>

#include "kernels/common/error.h"
#include "kernels/cpu/activation.h"
#include "kernels/cpu/bf16_elem.h"
#include "kernels/cpu/gemm.h"
#include "kernels/cpu/simd.h"


namespace ae::cpu {

namespace {

// db's column sums run over blocks of this many columns: each block belongs to one thread,
// which walks the rows in order, so every sum has the same order for any thread count while
// the inner loop still reads contiguous memory.
constexpr int64_t DB_BLOCK = 32;


void check_dims(const char* op, int64_t M, int64_t N, int64_t K) {
  AE_CHECK(M >= 0 && N >= 0 && K >= 0, op, ": negative dimension (M=", M, ", N=", N, ", K=", K, ")");
}

template <typename T>
void fill_zero(T* p, int64_t n) {
  std::fill(p, p + n, T(0));
}

// e^x for float, written so it vectorizes: x = n·ln2 + r with |r| ≤ ln2/2 (ln2 split in two parts
// for an exact reduction), e^r from a degree-6 polynomial (Cephes' expf coefficients), 2^n built in
// the exponent bits. Relative error ≤ 2 ulp over the clamped range; x below −87.3 gives ~1e-38
// (not 0), above 88.7 gives ~3e38 (not inf), so 1/(1 + e^−z) still saturates to 0 and 1. A NaN
// stays NaN (the clamps compare false and NaN flows through the polynomial).
inline float exp_vectorizable(float x) {
  x = x < -87.3f ? -87.3f : x;
  x = x > 88.7f ? 88.7f : x;
  const float n = (x * 1.44269504088896341f + 12582912.0f) - 12582912.0f;  // round(x/ln2), |x/ln2| < 2^22
  float r = x - n * 0.693359375f;
  r = r - n * -2.12194440e-4f;
  float p = 1.9875691500e-4f;
  p = p * r + 1.3981999507e-3f;
  p = p * r + 8.3334519073e-3f;
  p = p * r + 4.1665795894e-2f;
  p = p * r + 1.6666665459e-1f;
  p = p * r + 5.0000001201e-1f;
  p = p * r * r + r + 1.0f;
  const int32_t bits = (static_cast<int32_t>(n) + 127) << 23;
  float scale;
  std::memcpy(&scale, &bits, sizeof scale);
  return p * scale;
}

// act(z) with the activation fixed at compile time; float sigmoid takes the vectorizable exp.
template <Act A, typename T>
inline T act_fwd(T z) {
  if constexpr (A == Act::sigmoid && std::is_same_v<T, float>)
    return 1.0f / (1.0f + exp_vectorizable(-z));
  else
    return act_forward(A, z);
}

// Rows [r0, r1) of y = act(y + b), keeping z = y + b when z is non-null.
template <Act A, typename T>
inline void bias_act_rows(const T* b, int64_t r0, int64_t r1, int64_t N, T* y, T* z) {
  for (int64_t i = r0; i < r1; ++i) {
    T* yr = y + i * N;  // [N]
    if (z) {
      T* zr = z + i * N;  // [N]
      for (int64_t j = 0; j < N; ++j) {
        const T pre = b ? yr[j] + b[j] : yr[j];
        zr[j] = pre;
        yr[j] = act_fwd<A>(pre);
      }
    } else if (b) {
      for (int64_t j = 0; j < N; ++j) yr[j] = act_fwd<A>(yr[j] + b[j]);
    } else if (A != Act::linear) {
      for (int64_t j = 0; j < N; ++j) yr[j] = act_fwd<A>(yr[j]);
    }
  }
}

template <typename T>
void bias_act_dispatch(Act act, const T* b, int64_t r0, int64_t r1, int64_t N, T* y, T* z) {
  switch (act) {
    case Act::linear: return bias_act_rows<Act::linear>(b, r0, r1, N, y, z);
    case Act::relu: return bias_act_rows<Act::relu>(b, r0, r1, N, y, z);
    case Act::leaky_relu: return bias_act_rows<Act::leaky_relu>(b, r0, r1, N, y, z);
    case Act::sigmoid: return bias_act_rows<Act::sigmoid>(b, r0, r1, N, y, z);
    case Act::tanh: return bias_act_rows<Act::tanh>(b, r0, r1, N, y, z);
    case Act::selu: return bias_act_rows<Act::selu>(b, r0, r1, N, y, z);
    case Act::elu: return bias_act_rows<Act::elu>(b, r0, r1, N, y, z);
    case Act::softplus: return bias_act_rows<Act::softplus>(b, r0, r1, N, y, z);
    case Act::gelu: return bias_act_rows<Act::gelu>(b, r0, r1, N, y, z);
  }
}

AE_CPU_SIMD_CLONES void bias_act_f32(Act act, const float* b, int64_t r0, int64_t r1, int64_t N, float* y,
                                     float* z) {
  bias_act_dispatch<float>(act, b, r0, r1, N, y, z);
}

template <typename T>
void bias_act(Act act, const T* b, int64_t r0, int64_t r1, int64_t N, T* y, T* z) {
  if constexpr (std::is_same_v<T, float>)
    bias_act_f32(act, b, r0, r1, N, y, z);
  else
    bias_act_dispatch<T>(act, b, r0, r1, N, y, z);
}

// ---- bf16 storage ----

// y = bf16(act(float(z))) over n elements; y may be z (in place).
template <Act A>
inline void act_bf16_loop(const bfloat16* z, bfloat16* y, int64_t n) {
  for (int64_t i = 0; i < n; ++i) store_value(y[i], act_fwd<A>(load_value(z[i])));
}

AE_CPU_SIMD_CLONES void act_bf16(Act act, const bfloat16* z, bfloat16* y, int64_t n) {
  switch (act) {
    case Act::linear: return act_bf16_loop<Act::linear>(z, y, n);
    case Act::relu: return act_bf16_loop<Act::relu>(z, y, n);
    case Act::leaky_relu: return act_bf16_loop<Act::leaky_relu>(z, y, n);
    case Act::sigmoid: return act_bf16_loop<Act::sigmoid>(z, y, n);
    case Act::tanh: return act_bf16_loop<Act::tanh>(z, y, n);
    case Act::selu: return act_bf16_loop<Act::selu>(z, y, n);
    case Act::elu: return act_bf16_loop<Act::elu>(z, y, n);
    case Act::softplus: return act_bf16_loop<Act::softplus>(z, y, n);
    case Act::gelu: return act_bf16_loop<Act::gelu>(z, y, n);
  }
}

// Columns [j0, j0 + w) of dz = bf16(dy ⊙ act′) in place over all M rows, act′ from z (FROM_Z) or
// y (src), and acc[j] += the stored dz in row order. g is computed as activation_backward_cols<float>
// computes it. W: the width at compile time (a full DB_BLOCK, the common case), 0: runtime w.
template <Act A, bool FROM_Z, int64_t W>
inline void grad_cols_bf16(bfloat16* dy, const bfloat16* src, int64_t M, int64_t N, int64_t j0, int64_t w,
                           float* acc) {
  if constexpr (W > 0) w = W;
  for (int64_t i = 0; i < M; ++i) {
    bfloat16* g = dy + i * N + j0;         // [w]
    const bfloat16* s = src + i * N + j0;  // [w]; unread for linear
    for (int64_t j = 0; j < w; ++j) {
      if constexpr (A == Act::linear) {
        acc[j] += load_value(g[j]);
      } else {
        const float v = load_value(s[j]);
        const float d = FROM_Z ? act_derivative_from_z(A, v) : act_derivative_from_y(A, v);
        bfloat16 r;
        store_value(r, load_value(g[j]) * d);
        g[j] = r;
        acc[j] += load_value(r);
      }
    }
  }
}

template <Act A, bool FROM_Z>
inline void grad_cols_bf16_width(bfloat16* dy, const bfloat16* src, int64_t M, int64_t N, int64_t j0, int64_t w,
                                 float* acc) {
  if (w == DB_BLOCK)
    grad_cols_bf16<A, FROM_Z, DB_BLOCK>(dy, src, M, N, j0, w, acc);
  else
    grad_cols_bf16<A, FROM_Z, 0>(dy, src, M, N, j0, w, acc);
}

template <Act A>
inline void grad_cols_bf16_src(bfloat16* dy, const bfloat16* z, const bfloat16* y, int64_t M, int64_t N, int64_t j0,
                               int64_t w, float* acc) {
  if (z)
    grad_cols_bf16_width<A, true>(dy, z, M, N, j0, w, acc);
  else
    grad_cols_bf16_width<A, false>(dy, y, M, N, j0, w, acc);
}

AE_CPU_SIMD_CLONES void grad_bf16(Act act, bfloat16* dy, const bfloat16* z, const bfloat16* y, int64_t M, int64_t N,
                                  int64_t j0, int64_t w, float* acc) {
  switch (act) {
    case Act::linear: return grad_cols_bf16_src<Act::linear>(dy, z, y, M, N, j0, w, acc);
    case Act::relu: return grad_cols_bf16_src<Act::relu>(dy, z, y, M, N, j0, w, acc);
    case Act::leaky_relu: return grad_cols_bf16_src<Act::leaky_relu>(dy, z, y, M, N, j0, w, acc);
    case Act::sigmoid: return grad_cols_bf16_src<Act::sigmoid>(dy, z, y, M, N, j0, w, acc);
    case Act::tanh: return grad_cols_bf16_src<Act::tanh>(dy, z, y, M, N, j0, w, acc);
    case Act::selu: return grad_cols_bf16_src<Act::selu>(dy, z, y, M, N, j0, w, acc);
    case Act::elu: return grad_cols_bf16_src<Act::elu>(dy, z, y, M, N, j0, w, acc);
    case Act::softplus: return grad_cols_bf16_src<Act::softplus>(dy, z, y, M, N, j0, w, acc);
    case Act::gelu: return grad_cols_bf16_src<Act::gelu>(dy, z, y, M, N, j0, w, acc);
  }
}

}  // namespace

template <typename T>
void dense_forward(const T* x, const T* w, const T* b, Act act, int64_t M, int64_t N, int64_t K,
                   T* y, T* z, PackedNtBias* packed) {
  check_dims("dense_forward", M, N, K);
  AE_CHECK(y != nullptr, "dense_forward: output y is null");
  if (M == 0 || N == 0) return;
  AE_CHECK(x != nullptr && w != nullptr, "dense_forward: x or w is null");
  if (K == 0) {
    // An empty product; do not rely on the GEMM's K = 0 convention.
    fill_zero(y, M * N);
  } else {
    // y = x·Wᵀ + b, the bias in the GEMM's epilogue
    if constexpr (std::is_same_v<T, float>) {
      if (packed) packed->run(M, x, w, b, y);
      else gemm_nt_bias<T>(M, N, K, x, w, b, y);
    } else {
      gemm_nt_bias<T>(M, N, K, x, w, b, y);
    }
    b = nullptr;
  }
  if (act == Act::linear && z == nullptr && b == nullptr) return;

  // (Bias +) activation in one pass over y, rows split between threads.
  for_slices(M, M * N, [&](int64_t r0, int64_t r1) { bias_act<T>(act, b, r0, r1, N, y, z); });
}

template <typename T>
void dense_backward(const T* dy, const T* y, const T* z, Act act, const T* x, const T* w, int64_t M,
                    int64_t N, int64_t K, T* dz, T* dw, T* db, T* dx, bool accumulate_dw, bool accumulate_db) {
  check_dims("dense_backward", M, N, K);
  AE_CHECK(dy != nullptr && dz != nullptr && dw != nullptr, "dense_backward: dy, dz or dw is null");
  AE_CHECK(x != nullptr && w != nullptr, "dense_backward: x or w is null");
  AE_CHECK(z != nullptr || !act_derivative_needs_z(act), "dense_backward: activation ",
           act_name(act), " needs the pre-activation z (its derivative is not a function of y); keep z");
  AE_CHECK(z != nullptr || y != nullptr || act == Act::linear,
           "dense_backward: activation ", act_name(act), " needs y or z; both are null");

  // dz = dy ⊙ act′ and db = Σ_rows dz, in one pass. Column blocks are the parallel unit so that
  // each db[j] is summed by one thread in row order (deterministic for any thread count).
  const int64_t blocks = (N + DB_BLOCK - 1) / DB_BLOCK;
  for_slices(blocks, M * N, [&](int64_t b0, int64_t b1) {
    for (int64_t blk = b0; blk < b1; ++blk) {
      const int64_t j0 = blk * DB_BLOCK, j1 = std::min(N, j0 + DB_BLOCK);
      T acc[DB_BLOCK] = {};
      activation_backward_cols<T>(act, dy, z, y, M, N, j0, j1, dz, acc);  // the one g ⊙ act′ loop
      if (db)
        for (int64_t j = j0; j < j1; ++j) db[j] = accumulate_db ? db[j] + acc[j - j0] : acc[j - j0];
    }
  });

  // dW[N,K] (+)= dzᵀ·x; inner dimension M. An empty batch contributes nothing.
  if (N > 0 && K > 0) {
    if (M > 0)
      gemm<T>(true, false, N, K, M, T(1), dz, N, x, K, accumulate_dw ? T(1) : T(0), dw, K);
    else if (!accumulate_dw)
      fill_zero(dw, N * K);
  }

  // dx[M,K] = dz·W; inner dimension N.
  if (dx && M > 0 && K > 0) {
    if (N > 0)
      gemm<T>(false, false, M, K, N, T(1), dz, N, w, K, T(0), dx, K);
    else
      fill_zero(dx, M * K);
  }
}

void dense_forward_bf16(const bfloat16* x, const bfloat16* w, const float* b, Act act, int64_t M, int64_t N,
                        int64_t K, bfloat16* y, bfloat16* z) {
  check_dims("dense_forward_bf16", M, N, K);
  AE_CHECK(y != nullptr, "dense_forward_bf16: output y is null");
  AE_CHECK(static_cast<int>(act) < ACT_COUNT, "dense_forward_bf16: unknown activation ", static_cast<int>(act));
  if (M == 0 || N == 0) return;
  AE_CHECK(x != nullptr && w != nullptr, "dense_forward_bf16: x or w is null");
  if (K == 0) {
    // An empty product: every row is act(b) (or act(0)), computed once in fp32 and rounded.
    std::vector<float> yr(static_cast<size_t>(N), 0.0f), zr(static_cast<size_t>(N));
    bias_act<float>(act, b, 0, 1, N, yr.data(), zr.data());
    for (int64_t i = 0; i < M; ++i)
      for (int64_t j = 0; j < N; ++j) {
        store_value(y[i * N + j], yr[j]);
        if (z) store_value(z[i * N + j], zr[j]);
      }
    return;
  }
  // Fused: y = bf16(act(x·Wᵀ + b)) straight from the GEMM. Otherwise the GEMM writes the rounded
  // pre-activation (into z, or into y when z is not kept) and one pass applies act to it.
  const bool fused = z == nullptr && gemm_bf16_fuses(act);
  bfloat16* pre = z ? z : y;
  gemm_bf16(false, true, M, N, K, x, w, b, fused ? act : Act::linear, false, pre, DType::bf16);
  if (fused || (act == Act::linear && !z)) return;
  if (act == Act::linear) {
    std::memcpy(y, z, static_cast<size_t>(M * N) * sizeof(bfloat16));
    return;
  }
  for_slices(M, M * N, [&](int64_t r0, int64_t r1) { act_bf16(act, pre + r0 * N, y + r0 * N, (r1 - r0) * N); });
}

void dense_backward_bf16(bfloat16* dy, const bfloat16* y, const bfloat16* z, Act act, const bfloat16* x,
                         const bfloat16* w, int64_t M, int64_t N, int64_t K, float* dw, float* db, bfloat16* dx,
                         bool accumulate_dw, bool accumulate_db) {
  check_dims("dense_backward_bf16", M, N, K);
  AE_CHECK(static_cast<int>(act) < ACT_COUNT, "dense_backward_bf16: unknown activation ", static_cast<int>(act));
  AE_CHECK(dy != nullptr && dw != nullptr, "dense_backward_bf16: dy or dw is null");
  AE_CHECK(x != nullptr && w != nullptr, "dense_backward_bf16: x or w is null");
  AE_CHECK(z != nullptr || !act_derivative_needs_z(act), "dense_backward_bf16: activation ", act_name(act),
           " needs the pre-activation z (its derivative is not a function of y); keep z");
  AE_CHECK(z != nullptr || y != nullptr || act == Act::linear, "dense_backward_bf16: activation ", act_name(act),
           " needs y or z; both are null");

  // dz = bf16(dy ⊙ act′) in place and db = Σ_rows dz, in one pass over column blocks, as the
  // float kernel does (each db[j] summed by one thread in row order, for any thread count).
  if (act != Act::linear || db) {
    const int64_t blocks = (N + DB_BLOCK - 1) / DB_BLOCK;
    for_slices(blocks, M * N, [&](int64_t b0, int64_t b1) {
      for (int64_t blk = b0; blk < b1; ++blk) {
        const int64_t j0 = blk * DB_BLOCK, j1 = std::min(N, j0 + DB_BLOCK);
        float acc[DB_BLOCK] = {};
        grad_bf16(act, dy, z, y, M, N, j0, j1 - j0, acc);
        if (db)
          for (int64_t j = j0; j < j1; ++j) db[j] = accumulate_db ? db[j] + acc[j - j0] : acc[j - j0];
      }
    });
  }

  // dW[N,K] (+)= dzᵀ·x (dz [M,N] read transposed), fp32; an empty batch contributes nothing.
  if (N > 0 && K > 0) {
    if (M > 0)
      gemm_bf16(true, false, N, K, M, dy, x, nullptr, Act::linear, accumulate_dw, dw, DType::f32);
    else if (!accumulate_dw)
      fill_zero(dw, N * K);
  }

  // dx[M,K] = dz·W, rounded to bf16.
  if (dx && M > 0 && K > 0) {
    if (N > 0)
      gemm_bf16(false, false, M, K, N, dy, w, nullptr, Act::linear, false, dx, DType::bf16);
    else
      std::fill(dx, dx + M * K, bfloat16{0});
  }
}

template void dense_forward<float>(const float*, const float*, const float*, Act, int64_t, int64_t,
                                   int64_t, float*, float*, PackedNtBias*);
template void dense_forward<double>(const double*, const double*, const double*, Act, int64_t,
                                    int64_t, int64_t, double*, double*, PackedNtBias*);
template void dense_backward<float>(const float*, const float*, const float*, Act, const float*,
                                    const float*, int64_t, int64_t, int64_t, float*, float*, float*,
                                    float*, bool, bool);
template void dense_backward<double>(const double*, const double*, const double*, Act, const double*,
                                     const double*, int64_t, int64_t, int64_t, double*, double*,
                                     double*, double*, bool, bool);

}  // namespace ae::cpu
