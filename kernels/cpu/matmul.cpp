// The cpu matmul primitive: argument checks, the empty cases, then one ae::cpu::gemm call whose
// leading dimensions follow from the transpose flags (tightly packed operands) and whose beta is
// 1 when accumulating, 0 otherwise (BLAS: C is then not read).
#include "kernels/cpu/matmul.h"

#include <algorithm>

#include "kernels/common/error.h"
#include "kernels/cpu/gemm.h"

namespace ae::cpu {

template <typename T>
void matmul(bool trans_a, bool trans_b, int64_t M, int64_t N, int64_t K, const T* a, const T* b, T* c,
            bool accumulate) {
  AE_CHECK(M >= 0 && N >= 0 && K >= 0, "matmul: negative dimension (M=", M, ", N=", N, ", K=", K, ")");
  if (M == 0 || N == 0) return;
  AE_CHECK(c != nullptr, "matmul: output c is null");
  if (K == 0) {
    // An empty product; do not rely on the GEMM's K = 0 convention.
    if (!accumulate) std::fill(c, c + M * N, T(0));
    return;
  }
  AE_CHECK(a != nullptr && b != nullptr, "matmul: a or b is null");
  const int64_t lda = trans_a ? M : K;  // A is [K, M] or [M, K]
  const int64_t ldb = trans_b ? K : N;  // B is [N, K] or [K, N]
  gemm<T>(trans_a, trans_b, M, N, K, T(1), a, lda, b, ldb, accumulate ? T(1) : T(0), c, N);
}

template void matmul<float>(bool, bool, int64_t, int64_t, int64_t, const float*, const float*, float*, bool);
template void matmul<double>(bool, bool, int64_t, int64_t, int64_t, const double*, const double*, double*, bool);

}  // namespace ae::cpu
