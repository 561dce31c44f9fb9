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

}  // namespace ae::cuda
