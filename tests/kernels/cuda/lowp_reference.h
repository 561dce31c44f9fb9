// The cpu reference of the tensor-core dense kernels (kernels/cuda/dense_fwd_tc.cuh,
// dense_bwd_tc.cuh), and the host side of their storage types. The reference rounds exactly what
// the kernel rounds, with kernels/cpu/lowp_round.h (an implementation of its own, not CUDA's
// conversions), and sums the products in fp64:
//   operands: fp16/bf16 inputs are stored values already; tf32 rounds fp32 inputs (cvt.rna);
//   dz = round_t(dy·act′) in fp32, as the kernel forms it on load;
//   outputs stored in fp16/bf16 are the fp64 sum rounded to fp32 and then to the type (the kernel's
//   fp32 accumulator rounded once); fp32 outputs (tf32's, dW) stay fp32; db is the fp32 sum of the
//   rounded dz in row order, the kernel's documented order.
#pragma once

#include <cuda_bf16.h>
#include <cuda_fp16.h>

#include <cstdint>
#include <cstring>
#include <type_traits>
#include <vector>

#include "kernels/common/activation.h"
#include "kernels/cpu/lowp_round.h"

namespace ae::cudatest {

using cpu::Lowp;

// The device storage type of each Lowp (tf32: fp32 storage).
template <Lowp T>
using Storage = std::conditional_t<T == Lowp::fp16, __half, std::conditional_t<T == Lowp::bf16, __nv_bfloat16, float>>;

// Calls f(std::integral_constant<Lowp, T>{}) for the runtime t: the one place a test turns the
// case's dtype into the kernel's template argument.
template <class F>
decltype(auto) with_lowp(Lowp t, F&& f) {
  switch (t) {
    case Lowp::fp16: return f(std::integral_constant<Lowp, Lowp::fp16>{});
    case Lowp::bf16: return f(std::integral_constant<Lowp, Lowp::bf16>{});
    case Lowp::tf32: break;
  }
  return f(std::integral_constant<Lowp, Lowp::tf32>{});
}

// A value as the storage type holds it: fp16/bf16 round to nearest even, tf32's storage is fp32.
inline float stored(Lowp t, float v) { return t == Lowp::tf32 ? v : cpu::round_to(t, v); }
inline std::vector<float> stored(Lowp t, std::vector<float> v) {
  for (float& e : v) e = stored(t, e);
  return v;
}
// What the tensor cores multiply for a stored value: itself for fp16/bf16, tf32-rounded for tf32.
inline float operand(Lowp t, float v) { return cpu::round_to(t, v); }
inline std::vector<float> operands(Lowp t, std::vector<float> v) {
  for (float& e : v) e = operand(t, e);
  return v;
}

// Host values (each already representable in the type) to device storage bits and back.
template <Lowp T>
std::vector<Storage<T>> to_storage(const std::vector<float>& v) {
  std::vector<Storage<T>> out(v.size());
  for (size_t i = 0; i < v.size(); ++i) {
    if constexpr (T == Lowp::tf32) {
      out[i] = v[i];
    } else {
      const uint16_t bits = T == Lowp::fp16 ? cpu::fp16_bits(v[i]) : cpu::bf16_bits(v[i]);
      std::memcpy(&out[i], &bits, sizeof bits);
    }
  }
  return out;
}
template <Lowp T>
std::vector<float> from_storage(const std::vector<Storage<T>>& v) {
  std::vector<float> out(v.size());
  for (size_t i = 0; i < v.size(); ++i) {
    if constexpr (T == Lowp::tf32) {
      out[i] = v[i];
    } else {
      uint16_t bits;
      std::memcpy(&bits, &v[i], sizeof bits);
      out[i] = T == Lowp::fp16 ? cpu::fp16_value(bits) : cpu::bf16_value(bits);
    }
  }
  return out;
}

// y = act(x·Wᵀ + b), z = x·Wᵀ + b, both stored in t. x, w are stored values; b is fp32 or empty.
inline void lowp_dense_forward(Lowp t, const std::vector<float>& x, const std::vector<float>& w,
                               const std::vector<float>* b, Act act, int64_t M, int64_t N, int64_t K,
                               std::vector<float>& y, std::vector<float>& z) {
  const std::vector<float> xo = operands(t, x), wo = operands(t, w);
  y.assign(size_t(M * N), 0.0f), z.assign(size_t(M * N), 0.0f);
  for (int64_t m = 0; m < M; ++m)
    for (int64_t n = 0; n < N; ++n) {
      double s = 0;
      for (int64_t k = 0; k < K; ++k) s += double(xo[size_t(m * K + k)]) * double(wo[size_t(n * K + k)]);
      const float acc = float(s);
      const float v = b ? acc + (*b)[size_t(n)] : acc;  // the kernel's one fp32 add
      z[size_t(m * N + n)] = stored(t, v);
      y[size_t(m * N + n)] = stored(t, act_forward(act, v));
    }
}

// dz as the kernel forms it on load: dy·act′(aux) in fp32 (no multiply for linear), rounded to the
// operand type. aux is z when from_z, else y.
inline std::vector<float> lowp_dz(Lowp t, const std::vector<float>& dy, const std::vector<float>& aux, bool from_z,
                                  Act act) {
  std::vector<float> dz(dy.size());
  for (size_t i = 0; i < dy.size(); ++i) {
    float v = dy[i];
    if (act != Act::linear) v = v * (from_z ? act_derivative_from_z(act, aux[i]) : act_derivative_from_y(act, aux[i]));
    dz[i] = operand(t, v);
  }
  return dz;
}

// dW (+)= dzᵀ·x (fp32), db (+)= Σ_m dz (fp32, m order), dx = dz·W (stored in t). dz from lowp_dz.
// db_rows > 0: the kernel's split of the sum over m into runs of db_rows rows, each summed in fp32 in
// m order from +0, the runs' sums then added in order (dense_backward_tc_split).
inline void lowp_dense_backward(Lowp t, const std::vector<float>& dz, const std::vector<float>& x,
                                const std::vector<float>& w, int64_t M, int64_t N, int64_t K, std::vector<float>& dw,
                                std::vector<float>* db, std::vector<float>* dx, bool accumulate_dw,
                                bool accumulate_db, int64_t db_rows = 0) {
  const std::vector<float> xo = operands(t, x), wo = operands(t, w);
  for (int64_t n = 0; n < N; ++n)
    for (int64_t k = 0; k < K; ++k) {
      double s = 0;
      for (int64_t m = 0; m < M; ++m) s += double(dz[size_t(m * N + n)]) * double(xo[size_t(m * K + k)]);
      float& o = dw[size_t(n * K + k)];
      o = accumulate_dw ? o + float(s) : float(s);
    }
  if (db)
    for (int64_t n = 0; n < N; ++n) {
      const int64_t run = db_rows > 0 ? db_rows : (M > 0 ? M : 1);
      float s = 0.0f;
      for (int64_t m0 = 0; m0 < M || m0 == 0; m0 += run) {
        float part = 0.0f;
        for (int64_t m = m0; m < M && m < m0 + run; ++m) part += dz[size_t(m * N + n)];
        s = m0 == 0 ? part : s + part;
      }
      float& o = (*db)[size_t(n)];
      o = accumulate_db ? o + s : s;
    }
  if (dx)
    for (int64_t m = 0; m < M; ++m)
      for (int64_t k = 0; k < K; ++k) {
        double s = 0;
        for (int64_t n = 0; n < N; ++n) s += double(dz[size_t(m * N + n)]) * double(wo[size_t(n * K + k)]);
        (*dx)[size_t(m * K + k)] = stored(t, float(s));
      }
}

}  // namespace ae::cudatest
