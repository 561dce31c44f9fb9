// The cpu backend's one GEMM entry point. Every matrix product of the cpu reference path (dense
// forward, dW, dX) goes through ae::cpu::gemm, so the library behind it (chosen by measurement in
// bench/gemm, linked through cmake/AeBlas.cmake) can change without touching any kernel.
#pragma once

#include <cstdint>
#include <memory>
#include <string>

#include "kernels/common/activation.h"
#include "kernels/common/dtype.h"

namespace ae::cpu {

// C[M,N] = alpha · op(A) · op(B) + beta · C, all row-major.
//   op(A) is [M,K]: A is [M,K] (lda ≥ K), or with trans_a A is [K,M] (lda ≥ M).
//   op(B) is [K,N]: B is [K,N] (ldb ≥ N), or with trans_b B is [N,K] (ldb ≥ K).
//   C is [M,N] with ldc ≥ N.
// BLAS conventions: with beta == 0, C is not read (NaN/garbage there is overwritten); M, N or K
// may be 0 (K == 0 or alpha == 0 only scales C by beta). Bad sizes or strides throw ae::Error.
// Results are bitwise reproducible for a given gemm_threads(); a call made from inside an OpenMP
// parallel region runs on that one thread (as with 1 thread).
// float is the fast path; double is a plain reference loop for fp64 gradient checks.
template <typename T>
void gemm(bool trans_a, bool trans_b, int64_t M, int64_t N, int64_t K, T alpha,
          const T* A,  // [M,K], or [K,M] with trans_a; row stride lda
          int64_t lda,
          const T* B,  // [K,N], or [N,K] with trans_b; row stride ldb
          int64_t ldb, T beta,
          T* C,  // [M,N]; row stride ldc
          int64_t ldc);

// Instantiated in gemm.cpp for T = float and T = double only.

// y[M,N] = x·Wᵀ + b, the dense layer's forward product, with the bias added in the GEMM's
// epilogue (b may be null: no bias). All operands tightly packed row-major. For float this is a
// oneDNN matmul primitive: its brgemm kernels run these NT shapes 10–15% faster than sgemm on 2
// threads (bench/peers/README.md); primitives are created once per (M, N, K, bias, threads) and
// cached. Bitwise reproducible for a given gemm_threads(), like gemm(). double: gemm() + bias.
template <typename T>
void gemm_nt_bias(int64_t M, int64_t N, int64_t K,
                  const T* x,  // [M,K]
                  const T* w,  // [N,K]
                  const T* b,  // [N], or nullptr
                  T* y);       // [M,N]

// gemm_nt_bias<float> for one weight matrix that many calls read unchanged — the forward-only
// plans a model keeps and runs again and again. W is packed once into the blocked layout the
// oneDNN matmul kernel reads, and the primitive (per M and thread count), its memory objects and
// a stream are kept, so a call runs the product and nothing else. gemm_nt_bias re-blocks all of W
// on every call: for one row of the default model's first layer (N=256, K=784) that copy is most
// of the time (6 µs packed against 19 µs on a Zen 5 core). Bitwise reproducible for a given thread
// count, like gemm_nt_bias, though not necessarily its bits. One per caller: not thread-safe.
class PackedNtBias {
 public:
  PackedNtBias(int64_t N, int64_t K);
  ~PackedNtBias();
  PackedNtBias(const PackedNtBias&) = delete;
  PackedNtBias& operator=(const PackedNtBias&) = delete;
  // W's values changed: the next run() packs again from its `w`.
  void invalidate();
  // y[M,N] = x·Wᵀ + b, b may be null; w ([N,K]) is read only when (re)packing. Each weight layout
  // oneDNN chooses (by M and thread count; usually one for all) is packed once per invalidate().
  void run(int64_t M, const float* x, const float* w, const float* b, float* y);
  int64_t packs() const;  // how many times W was packed (tests)

 private:
  struct Impl;
  std::unique_ptr<Impl> m;
};

// Threads the GEMMs called from this thread use from now on (≥ 1; 0 unsets). Each application
// thread has its own setting, so threads running different models never change each other's
// count (nor their bits). Unset, a thread's OpenMP setting (omp_get_max_threads(): OMP_NUM_THREADS,
// else the number of cores). GEMM threads are OpenMP threads of the same runtime ae's elementwise
// loops use, so the two never oversubscribe the cores. Returns the previous setting (0: unset).
int set_gemm_threads(int threads);
int gemm_threads();

// Whether oneDNN runs bf16 matmuls natively here (AVX512_BF16 or AMX: its effective max ISA is
// avx512_core_bf16 or above). Without them oneDNN 2.6 emulates bf16 2.8× slower than fp32
// (bench/gemm/README.md), so ae refuses bf16 on such a CPU; bf16_gemm_support() says why in one
// line ("bf16 needs AVX512_BF16 or AMX; this CPU's oneDNN ISA is avx512_core_vnni").
bool bf16_gemm_native();
std::string bf16_gemm_support();

// The GEMMs of mixed precision (issue 13): C[M,N] (+)= op(A)·op(B) (+ bias), then act, with bf16
// A and B, fp32 accumulation, C fp32 or bf16 (rounded once, nearest even). All operands tightly
// packed row-major: op(A) [M,K] is A [M,K], or with trans_a A [K,M]; op(B) [K,N] is B [K,N], or with
// trans_b B [N,K] (W for the forward x·Wᵀ). bias: fp32 [N] or null. act: linear, or one that
// gemm_bf16_fuses() (an exact oneDNN eltwise post-op on the fp32 sum). accumulate: C += the product
// (a oneDNN sum post-op; C read in its own type). K must be ≥ 1 (the callers own the empty
// product). A oneDNN matmul primitive per shape, flags and gemm_threads(), cached as gemm_nt_bias's
// are; bitwise reproducible for a given thread count. Natively fast only where bf16_gemm_native().
void gemm_bf16(bool trans_a, bool trans_b, int64_t M, int64_t N, int64_t K,
               const bfloat16* A,  // [M,K], or [K,M] with trans_a
               const bfloat16* B,  // [K,N], or [N,K] with trans_b
               const float* bias,  // [N], or nullptr
               Act act, bool accumulate,
               void* C,  // [M,N] of c_type
               DType c_type);
// Whether act runs as gemm_bf16's post-op: relu, leaky_relu, sigmoid, tanh (linear needs none).
bool gemm_bf16_fuses(Act act);

// What runs the GEMMs, e.g. "oneDNN 2.6.3 sgemm + matmul for x·Wᵀ+b (avx512_core kernels, CPU max ISA
// avx512_core_bf16), OpenMP, 2 threads"; shown by `ae bench` and in logs.
std::string gemm_library();

}  // namespace ae::cpu
