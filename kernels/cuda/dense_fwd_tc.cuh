// Launcher of the tensor-core dense forward for mixed precision: y = act(x·Wᵀ + b) with x and W in
// a low-precision storage type IN, products on the tensor cores and fp32 accumulation. IN is
// __half (fp16), __nv_bfloat16 (bf16) or float (tf32: fp32 storage, tf32 tensor-core math).
// Pointers are device memory. Throws ae::Error on bad arguments or a failed launch (naming it).
#pragma once

#include <cuda_bf16.h>
#include <cuda_fp16.h>
#include <cuda_runtime.h>

#include <cstdint>

#include "kernels/common/activation.h"
#include "kernels/cuda/tc_tile.cuh"

namespace ae::cuda {

// One kernel: gemm_wmma's GEMM (kernels/cuda/gemm_wmma.cuh) with the bias + activation epilogue,
// the activation evaluated in fp32 on v = acc + b, then z = v and y = act(v) each rounded to IN
// (to nearest even; unchanged for tf32). The bias is fp32: a master parameter is read as it is.
// Any M, N, K ≥ 0 (K = 0 gives y = act(b)); y and z must not alias x, w, b or each other. tf32
// rounds x and W to tf32 (cvt.rna, wmma::__float_to_tf32) as it stages them.
// Not yet here (fp32 dense_forward only): a corrupted input (denoising) and the sparsity penalty.
template <typename IN>
void dense_forward_tc(const IN* x,     // [M, K]
                      const IN* w,     // [N, K] the weight's compute copy
                      const float* b,  // [N], or nullptr for no bias
                      Act act, int64_t M, int64_t N, int64_t K,
                      IN* y,  // [M, N] output
                      IN* z,  // [M, N] pre-activation, or nullptr when not kept
                      cudaStream_t stream, TcTile tile = TcTile::automatic);

// Timing only (tests/kernels/cuda/timing/wmma_timing.cpp): the tf32 forward in other configurations
// of gemm_wmma's kernel than the launcher's, so one GPU run can time them side by side. r2: round 2's
// staging (tf32 rounding as operands arrive, a tail test before every MMA group); late: rounding as
// they are stored into shared memory; split: full K-steps without tail tests; deep: 256-byte
// (64-deep) K-steps. 32/64: the tile (t32, t64). M, N, K > 0.
enum class TcTf32Variant : uint8_t { r2_32, r2_64, late_32, split_32, late_split_32, late_split_64, deep_32, deep_64 };
void dense_forward_tc_tf32_variant(const float* x, const float* w, const float* b, Act act, int64_t M, int64_t N,
                                   int64_t K, float* y, float* z, cudaStream_t stream, TcTf32Variant v);

}  // namespace ae::cuda
