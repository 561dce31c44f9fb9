// Launcher of the loss forward + gradient on CUDA: mse, bce, bce from logits, with the output
// activation's derivative folded in. Same contract and reduction order as
// ae::cpu::loss_forward_backward (kernels/cpu/loss.h), so the mean is deterministic and, with the
// same math library, bitwise equal to the cpu reference. Pointers are device memory. Throws
// ae::Error on bad arguments or a failed launch (naming the kernel).
#pragma once

#include <cuda_runtime.h>

#include <cstdint>

#include "kernels/common/activation.h"
#include "kernels/common/loss.h"

namespace ae::cuda {

// Two kernels: one pass over the elements (terms, gradients, σ(z), per-row sums in double), then
// one thread sums the M row sums in row order and writes loss = Σ/(M·N) (mean) or Σ/M (sum). Nothing is returned to
// the host: the loss stays on the device (CUDA-graph friendly). M = 0 or N = 0 writes loss 0 and
// per-sample 0. grad may alias pred; per_sample, probs, loss and row_sums may not alias anything.
template <typename T>
void loss_forward_backward(Loss loss, bool from_logits,
                           const T* pred,    // [M, N] output y, or logits z when from_logits
                           const T* target,  // [M, N]
                           int64_t M, int64_t N,
                           T* grad,           // [M, N] dL/d(pred) (or /dz with out_act), or nullptr
                           T* per_sample,     // [M] the row's mean (sum) of the element loss, or nullptr
                           T* probs,          // [M, N] σ(z), written when from_logits and non-null
                           Act out_act,       // activation whose derivative (from pred) multiplies grad
                           T* loss_out,       // [1] the loss L
                           double* row_sums,  // [M] workspace (loss_workspace_elements(M) doubles)
                           cudaStream_t stream, LossReduction reduction = LossReduction::mean);

// Doubles of workspace loss_forward_backward needs for M rows.
inline int64_t loss_workspace_elements(int64_t M) {
  return M > 0 ? M : 1;
}

}  // namespace ae::cuda
