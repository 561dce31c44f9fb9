// Launcher of the fused dense forward on CUDA: y = act(x·Wᵀ + b), optionally keeping the
// pre-activation z. Same contract as ae::cpu::dense_forward (kernels/cpu/dense.h), plus a stream.
// Pointers are device memory. Throws ae::Error on bad arguments or a failed launch (naming the kernel).
#pragma once

#include <cuda_runtime.h>

#include <cstdint>

#include "kernels/common/activation.h"
#include "kernels/common/noise.h"
#include "kernels/common/sparsity.h"
#include "kernels/common/step_scalars.h"

namespace ae::cuda {

// A sparsity penalty on the layer's output (the code; kernels/common/sparsity.h): the epilogue sums
// its statistic per 64-row block into `workspace`, then sparsity_finalize (kernels/cuda/sparsity.cuh)
// writes the column sums and the value, in the order of the unfused sparsity op, bit for bit.
template <typename T>
struct CodePenaltyOut {
  SparsityParams p;           // kind none: no penalty
  T* colsum = nullptr;        // [N]
  T* value = nullptr;         // [1]
  T* workspace = nullptr;     // [sparsity_workspace_floats(M, N)]
};

// One kernel: the tiled GEMM of kernels/cuda/gemm_tile.cuh with the bias + activation epilogue.
// Any M, N, K ≥ 0 (K = 0 gives y = act(b)); y and z must not alias x, w, b or each other.
// With a noise kind, x is a denoising model's clean input and the GEMM reads corrupt(x) instead,
// regenerated element by element from the step's (seed, step) in `steps` (kernels/common/noise.h).
template <typename T>
void dense_forward(const T* x,  // [M, K]
                   const T* w,  // [N, K]
                   const T* b,  // [N], or nullptr for no bias
                   Act act, int64_t M, int64_t N, int64_t K,
                   T* y,  // [M, N] output
                   T* z,  // [M, N] pre-activation, or nullptr when not kept
                   cudaStream_t stream, const NoiseParams& noise = {},
                   const StepScalars* steps = nullptr,  // [1] device, when noise is set
                   const CodePenaltyOut<T>& penalty = {});

}  // namespace ae::cuda
