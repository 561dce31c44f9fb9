// The unfused matmul primitive: gemm_tile's kernel (kernels/cuda/gemm_tile.cuh) with its plain
// store/accumulate epilogue, C(r, s) = Σ_t A(r, t)·B(s, t) with r = m, s = n, t = k. The transpose
// flags only change the operands' strided views, and so which of the kernel's four t-contiguity
// instances runs: A is t-contiguous untransposed ([M, K]), B when transposed ([N, K]).
#include "kernels/common/error.h"
#include "kernels/cuda/gemm_tile.cuh"
#include "kernels/cuda/launch.cuh"
#include "kernels/cuda/matmul.cuh"

namespace ae::cuda {

template <typename T>
void matmul(bool trans_a, bool trans_b, int64_t M, int64_t N, int64_t K, const T* a, const T* b, T* c, bool accumulate,
            cudaStream_t stream) {
  using namespace gemm_tile;
  AE_CHECK(M >= 0 && N >= 0 && K >= 0, "cuda matmul: negative dimension (M=", M, ", N=", N, ", K=", K, ")");
  if (M == 0 || N == 0) return;
  AE_CHECK(c != nullptr, "cuda matmul: output c is null");
  AE_CHECK(K == 0 || (a != nullptr && b != nullptr), "cuda matmul: a or b is null");
  const dim3 grid = grid_for(M, N);
  AE_CHECK(grid.y <= 65535, "cuda matmul: N=", N, " exceeds the grid limit of ", 65535 * int64_t(BN));
  Params<T> p{};
  // With K = 0 the main loop never runs and the epilogue stores zeros (or adds them).
  p.a = trans_a ? Operand<T>{a, 1, M, nullptr, Act::linear, false}   // A(m, k) = a[k·M + m]
                : Operand<T>{a, K, 1, nullptr, Act::linear, false};  // A(m, k) = a[m·K + k]
  p.b = trans_b ? Operand<T>{b, K, 1, nullptr, Act::linear, false}   // B(n, k) = b[n·K + k]
                : Operand<T>{b, 1, N, nullptr, Act::linear, false};  // B(n, k) = b[k·N + n]
  p.R = M, p.S = N, p.T_LEN = K;
  p.c = c, p.c_rs = N;
  p.accumulate = accumulate;
  const dim3 block(THREADS);
  if (!trans_a && trans_b)
    launch("matmul_nt<gemm_tile 64x64x16>", gemm_kernel<T, true, true, Epilogue::store>, grid, block, 0, stream, p);
  else if (!trans_a && !trans_b)
    launch("matmul_nn<gemm_tile 64x64x16>", gemm_kernel<T, true, false, Epilogue::store>, grid, block, 0, stream, p);
  else if (trans_a && trans_b)
    launch("matmul_tt<gemm_tile 64x64x16>", gemm_kernel<T, false, true, Epilogue::store>, grid, block, 0, stream, p);
  else
    launch("matmul_tn<gemm_tile 64x64x16>", gemm_kernel<T, false, false, Epilogue::store>, grid, block, 0, stream, p);
}

template void matmul<float>(bool, bool, int64_t, int64_t, int64_t, const float*, const float*, float*, bool,
                            cudaStream_t);

}  // namespace ae::cuda
