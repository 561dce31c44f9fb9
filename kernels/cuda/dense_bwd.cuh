// Launcher of the fused dense backward on CUDA. Same contract as ae::cpu::dense_backward
// (kernels/cpu/dense.h) except that dz is never materialised: act′ is applied to dy as each GEMM
// loads it, so dy is only read (the Plan's "dz in place of dy" needs no write). Pointers are
// device memory. Throws ae::Error on bad arguments or a failed launch (naming the kernel).
#pragma once

#include <cuda_runtime.h>

#include <cstdint>

#include "kernels/common/activation.h"
#include "kernels/common/noise.h"
#include "kernels/common/sparsity.h"
#include "kernels/common/step_scalars.h"

namespace ae::cuda {

// A penalty on the code layer whose gradient is added as dy is loaded, so the code's summed
// gradient is never stored:
//   sparsity (p.kind set; kernels/common/sparsity.h):   dz = (dy + dvalue·∂penalty/∂h)·act′
//     at = h, the layer's output; unit = its column sums (dense_forward's)
//   contractive (a one-layer encoder; kernels/common/contractive.h):  dz = dy·act′ + dvalue·∂penalty/∂z
//     at = z, the pre-activation; unit = the row norms ‖W_j‖² (contractive_forward's)
template <typename T>
struct CodePenaltyIn {
  SparsityParams p;              // sparsity; kind none: no sparsity penalty
  const T* at = nullptr;         // [M, N]
  const T* unit = nullptr;       // [N]
  const T* dvalue = nullptr;     // [1] the penalty term's gradient seed
  bool contractive = false;      // the contractive penalty instead (p.kind must be none)
};

//   dz = dy ⊙ act′  (from z when z is given, else from y; gelu needs z)
//   dW (+)= dzᵀ·x,  db (+)= column sums of dz (row order, bitwise deterministic),  dx = dz·W
// Two kernels: dW with db in the same pass, then dx (skipped when dx is null). accumulate_dw adds
// into dw instead of overwriting it, accumulate_db likewise into db: the two are independent (a
// tied or penalised weight's gradient has an earlier writer while its bias's may not). dw, db, dx
// must not alias the inputs.
// With a noise kind, x is a denoising model's clean input and dW reads corrupt(x), regenerated as
// in the forward (dense_fwd.cuh) from the same step scalars, so it is the forward's x̃ bit for bit.
template <typename T>
void dense_backward(const T* dy,  // [M, N] gradient of the loss w.r.t. y
                    const T* y,   // [M, N] forward output, or nullptr (z given, or act linear)
                    const T* z,   // [M, N] forward pre-activation, or nullptr when not kept
                    Act act,
                    const T* x,  // [M, K] forward input
                    const T* w,  // [N, K]
                    int64_t M, int64_t N, int64_t K,
                    T* dw,  // [N, K]
                    T* db,  // [N], or nullptr when the layer has no bias
                    T* dx,  // [M, K], or nullptr when the input needs no gradient (first layer)
                    bool accumulate_dw, bool accumulate_db, cudaStream_t stream, const NoiseParams& noise = {},
                    const StepScalars* steps = nullptr,  // [1] device, when noise is set
                    const CodePenaltyIn<T>& penalty = {});

}  // namespace ae::cuda
