// Launcher of the unfused matmul primitive on the GPU: C = op(A)·op(B), either operand
// transposed, overwriting or accumulating (the contract of kernels/cpu/matmul.h, its reference).
// Pointers are device memory. Throws ae::Error on bad arguments or a failed launch.
#pragma once

#include <cuda_runtime.h>

#include <cstdint>

namespace ae::cuda {

// C[M,N] = op(A)·op(B), or C += op(A)·op(B) with accumulate; op(A) [M,K] is A or the transpose of
// a [K,M] A (trans_a), op(B) [K,N] is B or the transpose of an [N,K] B (trans_b). Tightly packed
// row-major; any M, N, K ≥ 0 (K = 0: C = 0, or unchanged with accumulate). c must not alias a or b.
template <typename T>
void matmul(bool trans_a, bool trans_b, int64_t M, int64_t N, int64_t K,
            const T* a,  // [M, K], or [K, M] with trans_a
            const T* b,  // [K, N], or [N, K] with trans_b
            T* c,        // [M, N]
            bool accumulate, cudaStream_t stream);

}  // namespace ae::cuda
