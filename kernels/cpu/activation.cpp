// The cpu activation primitive and the one cpu loop of g ⊙ act′ (moved here from dense.cpp, which
// now calls it for its fused db pass). Loops are instantiated per activation (the switch hoisted
// out), and for float compiled for AVX-512, AVX2 and the baseline ISA (kernels/cpu/simd.h).
// Elementwise passes are split over OpenMP threads in fixed blocks: no dependence on the split.
#include "kernels/cpu/activation.h"

#include <algorithm>
#include <type_traits>

#include "kernels/common/error.h"
#include "kernels/cpu/simd.h"

namespace ae::cpu {

namespace {

// A pass over n elements runs in blocks of this many, the OpenMP unit.
constexpr int64_t BLOCK = 4096;

template <Act A, typename T>
void forward_loop(const T* x, T* y, int64_t n) {
  for (int64_t i = 0; i < n; ++i) y[i] = act_forward(A, x[i]);
}

template <typename T>
void forward_dispatch(Act act, const T* x, T* y, int64_t n) {
  switch (act) {
    case Act::linear: return forward_loop<Act::linear>(x, y, n);
    case Act::relu: return forward_loop<Act::relu>(x, y, n);
    case Act::leaky_relu: return forward_loop<Act::leaky_relu>(x, y, n);
    case Act::sigmoid: return forward_loop<Act::sigmoid>(x, y, n);
    case Act::tanh: return forward_loop<Act::tanh>(x, y, n);
    case Act::selu: return forward_loop<Act::selu>(x, y, n);
    case Act::elu: return forward_loop<Act::elu>(x, y, n);
    case Act::softplus: return forward_loop<Act::softplus>(x, y, n);
    case Act::gelu: return forward_loop<Act::gelu>(x, y, n);
  }
}

AE_CPU_SIMD_CLONES void forward_f32(Act act, const float* x, float* y, int64_t n) {
  forward_dispatch<float>(act, x, y, n);
}

template <typename T>
void forward_block(Act act, const T* x, T* y, int64_t n) {
  if constexpr (std::is_same_v<T, float>)
    forward_f32(act, x, y, n);
  else
    forward_dispatch<T>(act, x, y, n);
}

// Columns [j0, j1) of dx = dy ⊙ act′ over all M rows, with column sums when SUM.
template <Act A, bool SUM, typename T>
inline void grad_cols(const T* dy, const T* z, const T* y, int64_t M, int64_t N, int64_t j0, int64_t j1, T* dx,
                      T* col_sum) {
  const int64_t w = j1 - j0;
  for (int64_t i = 0; i < M; ++i) {
    const int64_t r = i * N + j0;
    if constexpr (A == Act::linear) {
      if (dx != dy)
        for (int64_t j = 0; j < w; ++j) dx[r + j] = dy[r + j];
      if constexpr (SUM)
        for (int64_t j = 0; j < w; ++j) col_sum[j] += dy[r + j];
    } else if (z) {
      for (int64_t j = 0; j < w; ++j) {
        const T g = dy[r + j] * act_derivative_from_z(A, z[r + j]);
        dx[r + j] = g;
        if constexpr (SUM) col_sum[j] += g;
      }
    } else {
      for (int64_t j = 0; j < w; ++j) {
        const T g = dy[r + j] * act_derivative_from_y(A, y[r + j]);
        dx[r + j] = g;
        if constexpr (SUM) col_sum[j] += g;
      }
    }
  }
}

template <Act A, typename T>
inline void grad_cols_sum_or_not(const T* dy, const T* z, const T* y, int64_t M, int64_t N, int64_t j0, int64_t j1,
                                 T* dx, T* col_sum) {
  if (col_sum)
    grad_cols<A, true>(dy, z, y, M, N, j0, j1, dx, col_sum);
  else
    grad_cols<A, false>(dy, z, y, M, N, j0, j1, dx, col_sum);
}

template <typename T>
void grad_dispatch(Act act, const T* dy, const T* z, const T* y, int64_t M, int64_t N, int64_t j0, int64_t j1,
                   T* dx, T* col_sum) {
  switch (act) {
    case Act::linear: return grad_cols_sum_or_not<Act::linear>(dy, z, y, M, N, j0, j1, dx, col_sum);
    case Act::relu: return grad_cols_sum_or_not<Act::relu>(dy, z, y, M, N, j0, j1, dx, col_sum);
    case Act::leaky_relu: return grad_cols_sum_or_not<Act::leaky_relu>(dy, z, y, M, N, j0, j1, dx, col_sum);
    case Act::sigmoid: return grad_cols_sum_or_not<Act::sigmoid>(dy, z, y, M, N, j0, j1, dx, col_sum);
    case Act::tanh: return grad_cols_sum_or_not<Act::tanh>(dy, z, y, M, N, j0, j1, dx, col_sum);
    case Act::selu: return grad_cols_sum_or_not<Act::selu>(dy, z, y, M, N, j0, j1, dx, col_sum);
    case Act::elu: return grad_cols_sum_or_not<Act::elu>(dy, z, y, M, N, j0, j1, dx, col_sum);
    case Act::softplus: return grad_cols_sum_or_not<Act::softplus>(dy, z, y, M, N, j0, j1, dx, col_sum);
    case Act::gelu: return grad_cols_sum_or_not<Act::gelu>(dy, z, y, M, N, j0, j1, dx, col_sum);
  }
}

AE_CPU_SIMD_CLONES void grad_f32(Act act, const float* dy, const float* z, const float* y, int64_t M, int64_t N,
                                 int64_t j0, int64_t j1, float* dx, float* col_sum) {
  grad_dispatch<float>(act, dy, z, y, M, N, j0, j1, dx, col_sum);
}

void check_act(const char* op, Act act, int64_t n) {
  AE_CHECK(n >= 0, op, ": negative size ", n);
  AE_CHECK(static_cast<int>(act) < ACT_COUNT, op, ": unknown activation ", static_cast<int>(act));
}

}  // namespace

template <typename T>
void activation_backward_cols(Act act, const T* dy, const T* z, const T* y, int64_t M, int64_t N, int64_t j0,
                              int64_t j1, T* dx, T* col_sum) {
  if constexpr (std::is_same_v<T, float>)
    grad_f32(act, dy, z, y, M, N, j0, j1, dx, col_sum);
  else
    grad_dispatch<T>(act, dy, z, y, M, N, j0, j1, dx, col_sum);
}

template <typename T>
void activation_forward(Act act, const T* x, T* y, int64_t n) {
  check_act("activation_forward", act, n);
  if (n == 0) return;
  AE_CHECK(x != nullptr && y != nullptr, "activation_forward(", act_name(act), "): x or y is null");
  const int64_t blocks = (n + BLOCK - 1) / BLOCK;
#pragma omp parallel for schedule(static) if (n >= PARALLEL_MIN_ELEMENTS)
  for (int64_t blk = 0; blk < blocks; ++blk) {
    const int64_t i0 = blk * BLOCK;
    forward_block<T>(act, x + i0, y + i0, std::min(n - i0, BLOCK));
  }
}

template <typename T>
void activation_backward(Act act, const T* dy, const T* z, const T* y, T* dx, int64_t n) {
  check_act("activation_backward", act, n);
  AE_CHECK(z != nullptr || !act_derivative_needs_z(act), "activation_backward: activation ", act_name(act),
           " needs the pre-activation z (its derivative is not a function of y); keep z");
  if (n == 0) return;
  AE_CHECK(dy != nullptr && dx != nullptr, "activation_backward(", act_name(act), "): dy or dx is null");
  AE_CHECK(z != nullptr || y != nullptr || act == Act::linear, "activation_backward: activation ", act_name(act),
           " needs y or z; both are null");
  // One row of n columns, in column blocks.
  const int64_t blocks = (n + BLOCK - 1) / BLOCK;
#pragma omp parallel for schedule(static) if (n >= PARALLEL_MIN_ELEMENTS)
  for (int64_t blk = 0; blk < blocks; ++blk) {
    const int64_t j0 = blk * BLOCK;
    activation_backward_cols<T>(act, dy, z, y, 1, n, j0, std::min(n, j0 + BLOCK), dx, nullptr);
  }
}

template <typename T>
void activation_second_backward(Act act, const T* dy, const T* z, T* dx, int64_t n) {
  check_act("activation_second_backward", act, n);
  if (n == 0) return;
  AE_CHECK(dy != nullptr && z != nullptr && dx != nullptr, "activation_second_backward(", act_name(act), "): dy, z or dx is null");
#pragma omp parallel for schedule(static) if (n >= PARALLEL_MIN_ELEMENTS)
  for (int64_t i = 0; i < n; ++i) dx[i] = dy[i] * act_second_derivative_from_z(act, z[i]);
}

template void activation_forward<float>(Act, const float*, float*, int64_t);
template void activation_second_backward<float>(Act, const float*, const float*, float*, int64_t);
template void activation_second_backward<double>(Act, const double*, const double*, double*, int64_t);
template void activation_forward<double>(Act, const double*, double*, int64_t);
template void activation_backward<float>(Act, const float*, const float*, const float*, float*, int64_t);
template void activation_backward<double>(Act, const double*, const double*, const double*, double*, int64_t);
template void activation_backward_cols<float>(Act, const float*, const float*, const float*, int64_t, int64_t,
                                              int64_t, int64_t, float*, float*);
template void activation_backward_cols<double>(Act, const double*, const double*, const double*, int64_t, int64_t,
                                               int64_t, int64_t, double*, double*);

}  // namespace ae::cpu
