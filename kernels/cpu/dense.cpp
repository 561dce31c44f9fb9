// The cpu reference dense layer: GEMMs through kernels/cpu/gemm.h, the elementwise parts
// (bias + activation forward, act′ + bias gradient backward) as plain OpenMP loops.
#include "kernels/cpu/dense.h"

#include <algorithm>

#include "kernels/common/error.h"
#include "kernels/cpu/gemm.h"

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

}  // namespace

template <typename T>
void dense_forward(const T* x, const T* w, const T* b, Act act, int64_t M, int64_t N, int64_t K,
                   T* y, T* z) {
  check_dims("dense_forward", M, N, K);
  AE_CHECK(y != nullptr, "dense_forward: output y is null");
  if (M == 0 || N == 0) return;
  AE_CHECK(x != nullptr && w != nullptr, "dense_forward: x or w is null");
  if (K == 0)
    fill_zero(y, M * N);  // an empty product; do not rely on the GEMM's K = 0 convention
  else
    gemm<T>(false, true, M, N, K, T(1), x, K, w, K, T(0), y, N);  // y = x·Wᵀ

  // Bias + activation in one pass over y.
#pragma omp parallel for schedule(static)
  for (int64_t i = 0; i < M; ++i) {
    T* yr = y + i * N;
    T* zr = z ? z + i * N : nullptr;
    for (int64_t j = 0; j < N; ++j) {
      T pre = b ? yr[j] + b[j] : yr[j];
      if (zr) zr[j] = pre;
      yr[j] = act_forward(act, pre);
    }
  }
}

template <typename T>
void dense_backward(const T* dy, const T* y, const T* z, Act act, const T* x, const T* w, int64_t M,
                    int64_t N, int64_t K, T* dz, T* dw, T* db, T* dx, bool accumulate_params) {
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
#pragma omp parallel for schedule(static)
  for (int64_t blk = 0; blk < blocks; ++blk) {
    const int64_t j0 = blk * DB_BLOCK, j1 = std::min(N, j0 + DB_BLOCK);
    T acc[DB_BLOCK] = {};
    for (int64_t i = 0; i < M; ++i) {
      const int64_t r = i * N;
      for (int64_t j = j0; j < j1; ++j) {
        T d;
        if (act == Act::linear)
          d = T(1);
        else if (z)
          d = act_derivative_from_z(act, z[r + j]);
        else
          d = act_derivative_from_y(act, y[r + j]);
        T g = dy[r + j] * d;
        dz[r + j] = g;
        acc[j - j0] += g;
      }
    }
    if (db)
      for (int64_t j = j0; j < j1; ++j) db[j] = accumulate_params ? db[j] + acc[j - j0] : acc[j - j0];
  }

  // dW[N,K] (+)= dzᵀ·x; inner dimension M. An empty batch contributes nothing.
  if (N > 0 && K > 0) {
    if (M > 0)
      gemm<T>(true, false, N, K, M, T(1), dz, N, x, K, accumulate_params ? T(1) : T(0), dw, K);
    else if (!accumulate_params)
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
                                   int64_t, float*, float*);
template void dense_forward<double>(const double*, const double*, const double*, Act, int64_t,
                                    int64_t, int64_t, double*, double*);
template void dense_backward<float>(const float*, const float*, const float*, Act, const float*,
                                    const float*, int64_t, int64_t, int64_t, float*, float*, float*,
                                    float*, bool);
template void dense_backward<double>(const double*, const double*, const double*, Act, const double*,
                                     const double*, int64_t, int64_t, int64_t, double*, double*,
                                     double*, double*, bool);

}  // namespace ae::cpu
