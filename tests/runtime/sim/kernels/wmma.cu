// Tensor-core GEMM through nvcuda::wmma: one warp per 16x16 tile of c, k in steps of the fragment's
// K. The sim test compares it bit for bit with a scalar GEMM on small-integer inputs for half, bf16
// and tf32, with b stored row- or column-major, plus an accumulator load/store round trip.
#include <cuda_bf16.h>
#include <cuda_fp16.h>
#include <mma.h>

#include "kernels/cuda/launch.cuh"
#include "tests/runtime/sim/kernels/sim_test_kernels.cuh"

namespace ae::simtest {
namespace {

namespace wmma = nvcuda::wmma;

// IN: storage type of a and b; FRAG: the fragment's input type (IN, or wmma::precision::tf32).
template <typename IN, typename FRAG, int K_STEP, typename B_LAYOUT>
__global__ void wmma_gemm_kernel(const IN* a,  // [m, k] row-major
                                 const IN* b,  // [k, n] row-major, or [n, k] when B_LAYOUT is col_major
                                 float* c,     // [m, n]
                                 int m, int n, int k) {
  const int tile_m = blockIdx.y * 16, tile_n = blockIdx.x * 16;
  wmma::fragment<wmma::matrix_a, 16, 16, K_STEP, FRAG, wmma::row_major> fa;
  wmma::fragment<wmma::matrix_b, 16, 16, K_STEP, FRAG, B_LAYOUT> fb;
  wmma::fragment<wmma::accumulator, 16, 16, K_STEP, float> acc;
  wmma::fill_fragment(acc, 0.0f);
  constexpr bool b_col = std::is_same_v<B_LAYOUT, wmma::col_major>;
  for (int k0 = 0; k0 < k; k0 += K_STEP) {
    wmma::load_matrix_sync(fa, a + tile_m * k + k0, k);
    wmma::load_matrix_sync(fb, b_col ? b + tile_n * k + k0 : b + k0 * n + tile_n, b_col ? k : n);
    if constexpr (std::is_same_v<FRAG, wmma::precision::tf32>) {
      for (int i = 0; i < fa.num_elements; ++i) fa.x[i] = wmma::__float_to_tf32(fa.x[i]);
      for (int i = 0; i < fb.num_elements; ++i) fb.x[i] = wmma::__float_to_tf32(fb.x[i]);
    }
    wmma::mma_sync(acc, fa, fb, acc);
  }
  wmma::store_matrix_sync(c + tile_m * n + tile_n, acc, n, wmma::mem_row_major);
}

__global__ void wmma_accumulator_roundtrip_kernel(const float* c_col,  // [16, 16] column-major
                                                  float* out_row) {    // [16, 16] row-major
  wmma::fragment<wmma::matrix_a, 16, 16, 16, __half, wmma::row_major> za;
  wmma::fragment<wmma::matrix_b, 16, 16, 16, __half, wmma::col_major> ones;
  wmma::fragment<wmma::accumulator, 16, 16, 16, float> acc;
  wmma::fill_fragment(za, __float2half(0.0f));
  wmma::fill_fragment(ones, __float2half(1.0f));
  wmma::load_matrix_sync(acc, c_col, 16, wmma::mem_col_major);
  wmma::mma_sync(acc, za, ones, acc);  // adds zero: checks mma keeps c when d aliases it
  for (int i = 0; i < acc.num_elements; ++i) acc.x[i] += 1.0f;
  wmma::store_matrix_sync(out_row, acc, 16, wmma::mem_row_major);
}

__global__ void tf32_round_kernel(const float* in,  // [n]
                                  float* out, int n) {  // [n]
  const int i = blockIdx.x * blockDim.x + threadIdx.x;
  if (i < n) out[i] = wmma::__float_to_tf32(in[i]);
}

template <typename IN, typename FRAG, int K_STEP>
void wmma_gemm(const IN* a, const IN* b, float* c, int m, int n, int k, bool b_col) {
  AE_CHECK(m % 16 == 0 && n % 16 == 0 && k % K_STEP == 0, "wmma_gemm test needs tile multiples");
  dim3 grid(n / 16, m / 16);
  if (b_col) {
    ae::cuda::launch("wmma_gemm<col_major>", wmma_gemm_kernel<IN, FRAG, K_STEP, wmma::col_major>, grid, dim3(32), 0,
                     nullptr, a, b, c, m, n, k);
  } else {
    ae::cuda::launch("wmma_gemm<row_major>", wmma_gemm_kernel<IN, FRAG, K_STEP, wmma::row_major>, grid, dim3(32), 0,
                     nullptr, a, b, c, m, n, k);
  }
}

}  // namespace

void wmma_gemm_half(const void* a, const void* b, float* c, int m, int n, int k, bool b_col) {
  wmma_gemm<__half, __half, 16>(static_cast<const __half*>(a), static_cast<const __half*>(b), c, m, n, k, b_col);
}
void wmma_gemm_bf16(const void* a, const void* b, float* c, int m, int n, int k, bool b_col) {
  wmma_gemm<__nv_bfloat16, __nv_bfloat16, 16>(static_cast<const __nv_bfloat16*>(a),
                                              static_cast<const __nv_bfloat16*>(b), c, m, n, k, b_col);
}
void wmma_gemm_tf32(const float* a, const float* b, float* c, int m, int n, int k, bool b_col) {
  wmma_gemm<float, wmma::precision::tf32, 8>(a, b, c, m, n, k, b_col);
}
void tf32_round(const float* in, float* out, int n) {
  AE_LAUNCH(tf32_round_kernel, dim3((n + 127) / 128), dim3(128), 0, nullptr, in, out, n);
}
void wmma_accumulator_roundtrip(const float* c_col, float* out_row) {
  AE_LAUNCH(wmma_accumulator_roundtrip_kernel, dim3(1), dim3(32), 0, nullptr, c_col, out_row);
}

}  // namespace ae::simtest
