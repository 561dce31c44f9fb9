// Launchers of the loss forward + gradient on CUDA: mse, bce, bce from logits, with the output
// activation's derivative folded in; in fp32, or with pred and grad in bf16/fp16 (mixed precision,
// with an optional loss scale). Same contract and reduction order as ae::cpu::loss_forward_backward
// (kernels/cpu/loss.h), so the mean is deterministic and, with the same math library, bitwise equal
// to the cpu reference. Pointers are device memory. Throws ae::Error on bad arguments or a failed
// launch (naming the kernel).
#pragma once

#include <cuda_bf16.h>
#include <cuda_fp16.h>
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

// Mixed precision, the counterpart of ae::cpu::loss_forward_backward_bf16: pred (and grad, which
// may alias it) in IN = __nv_bfloat16 or __half, the target in fp32 or IN (TGT), per-sample errors
// and the loss in fp32. The arithmetic is the fp32 launcher's, on the widened pred and target, with
// the same sums in the same order; each gradient element is rounded to IN once. So, on one libm,
// the bf16 results are bit-equal to the cpu bf16 loss, and the fp16 ones to the cpu fp32 loss on
// the fp16 values with each gradient element rounded by fp16_bits (kernels/cpu/lowp_round.h).
// grad_scale: fp16 dynamic loss scaling. Each fp32 gradient element is multiplied by *grad_scale
// (a power of two, read on the device when the kernel runs, so a captured CUDA graph uses each
// step's value) before it is rounded to IN; nullptr scales by 1. The loss and per-sample errors are
// never scaled. No σ(z) output (probs), as the cpu bf16 loss has none.
// Instantiated for (IN, TGT) = (bf16, float), (bf16, bf16), (half, float), (half, half).
template <typename IN, typename TGT>
void loss_forward_backward_lowp(Loss loss, bool from_logits,
                                const IN* pred,     // [M, N] output y, or logits z when from_logits
                                const TGT* target,  // [M, N]
                                int64_t M, int64_t N,
                                IN* grad,           // [M, N] dL/d(pred) (or /dz with out_act) · scale, or nullptr
                                float* per_sample,  // [M] the row's mean (sum) of the element loss, or nullptr
                                Act out_act,        // activation whose derivative (from pred) multiplies grad
                                float* loss_out,    // [1] the loss L
                                double* row_sums,   // [M] workspace (loss_workspace_elements(M) doubles)
                                cudaStream_t stream, LossReduction reduction = LossReduction::mean,
                                const float* grad_scale = nullptr);  // [1] device, or nullptr

// Doubles of workspace either launcher needs for M rows.
inline int64_t loss_workspace_elements(int64_t M) {
  return M > 0 ? M : 1;
}

}  // namespace ae::cuda
