// The cpu reference of the unfused matmul primitive: C = op(A)·op(B), with either operand
// transposed, overwriting or accumulating into C. The graph lowers a linear node and every matmul
// gradient (dA = dC·op(B)ᵀ, dB = op(A)ᵀ·dC, as matmuls with the transpose flags flipped) to this
// when no fusion rule takes it. One GEMM call through kernels/cpu/gemm.h.
#pragma once

#include <cstdint>

namespace ae::cpu {

// C[M,N] = op(A)·op(B), or C += op(A)·op(B) with accumulate. op(A) is [M,K]: A itself, or Aᵀ of a
// [K,M] A with trans_a; op(B) is [K,N]: B itself, or Bᵀ of an [N,K] B with trans_b. All tightly
// packed row-major. Any M, N, K ≥ 0: K = 0 gives C = 0 (or leaves it with accumulate). c must not
// alias a or b. Without accumulate C is not read. Bitwise reproducible for a given gemm_threads().
template <typename T>
void matmul(bool trans_a, bool trans_b, int64_t M, int64_t N, int64_t K,
            const T* a,  // [M, K], or [K, M] with trans_a
            const T* b,  // [K, N], or [N, K] with trans_b
            T* c,        // [M, N]
            bool accumulate);

}  // namespace ae::cpu
