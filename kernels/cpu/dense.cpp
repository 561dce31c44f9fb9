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
#include "kernels/cpu/dense.h"

#include <omp.h>

#include <algorithm>
#include <cstring>
#include <type_traits>

#include "kernels/common/error.h"
#include "kernels/cpu/activation.h"
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
