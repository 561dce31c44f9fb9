// The cpu reference loss: forward and gradient in one pass, also writing per-sample errors
// (the anomaly score of an autoencoder). Two reductions (LossReduction, kernels/common/loss.h):
// mean, PyTorch's MSELoss()/BCELoss() default, the mean over all M·N elements, so each gradient
// element is (element gradient)/(M·N); sum, each row's sum over its N features averaged over the
// M rows (a VAE's reconstruction term), so each gradient element is (element gradient)/M.
// Deterministic for any thread count: each row's terms are summed in double over 16 interleaved
// lanes (element j into lane j mod 16, each lane in order), the lanes in a fixed tree, then the
// rows in order in double.
#pragma once

#include <cstdint>

#include "kernels/common/activation.h"
#include "kernels/common/dtype.h"
#include "kernels/common/loss.h"

namespace ae::cpu {

// Returns the loss L: Σ/(M·N) for mean, Σ/M for sum, Σ the sum of all M·N element terms.
// from_logits (bce only): pred holds logits z and the loss is BCE(σ(z), t) in the stable form;
// grad is then dL/dz = (σ(z) − t)/(M·N) (mean) or (σ(z) − t)/M (sum). The graph uses this for a
// sigmoid output layer trained with bce, so the sigmoid's derivative never multiplies a clamped
// BCE gradient.
// out_act: the activation that produced pred = out_act(z) in the layer before. When it is not
// linear, grad receives dL/dz = dL/d(pred) · out_act′(pred) (the derivative taken from pred, so
// out_act must not need z: not gelu), which saves the backward pass of that activation a separate
// sweep. Not combined with from_logits (pred is then z already).
// grad may alias pred (each element is read before it is written); per_sample and probs may not.
template <typename T>
double loss_forward_backward(Loss loss, bool from_logits,
                             const T* pred,    // [M, N] output y, or logits z when from_logits
                             const T* target,  // [M, N]
                             int64_t M, int64_t N,
                             T* grad,        // [M, N] dL/d(pred) (or /dz, see out_act), or nullptr
                             T* per_sample,  // [M] the row's mean (sum) of the element loss, or nullptr
                             T* probs,       // [M, N] σ(z), written when from_logits and non-null
                             Act out_act = Act::linear, LossReduction reduction = LossReduction::mean);

// Mixed precision: pred (and grad, which may alias it) in bf16, the target in fp32 or bf16 as the
// plan stores it, per-sample errors fp32; all arithmetic in fp32 exactly as the float version
// does on bf16(pred)'s values, each grad element rounded to bf16 once. Same sums, same order.
double loss_forward_backward_bf16(Loss loss, bool from_logits,
                                  const bfloat16* pred,  // [M, N]
                                  const void* target, DType target_type,  // [M, N] f32 or bf16
                                  int64_t M, int64_t N,
                                  bfloat16* grad,    // [M, N] or nullptr
                                  float* per_sample,  // [M] or nullptr
                                  Act out_act = Act::linear, LossReduction reduction = LossReduction::mean);

}  // namespace ae::cpu
