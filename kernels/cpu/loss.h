// The cpu reference loss: forward and gradient in one pass, also writing per-sample errors
// (the anomaly score of an autoencoder). Reduction as PyTorch's MSELoss()/BCELoss() defaults:
// the mean over all M·N elements, so each gradient element is (element gradient)/(M·N).
// Deterministic: each row is summed in order in double, then the rows in order in double.
#pragma once

#include <cstdint>

#include "kernels/common/loss.h"

namespace ae::cpu {

// Returns the mean loss over all M·N elements.
// from_logits (bce only): pred holds logits z and the loss is BCE(σ(z), t) in the stable form;
// grad is then d(mean loss)/dz = (σ(z) − t)/(M·N). The graph uses this for a sigmoid output layer
// trained with bce, so the sigmoid's derivative never multiplies a clamped BCE gradient.
// grad may alias pred (each element is read before it is written); per_sample and probs may not.
template <typename T>
double loss_forward_backward(Loss loss, bool from_logits,
                             const T* pred,    // [M, N] output y, or logits z when from_logits
                             const T* target,  // [M, N]
                             int64_t M, int64_t N,
                             T* grad,        // [M, N] d(mean loss)/d(pred), or nullptr
                             T* per_sample,  // [M] mean over the N features of the element loss, or nullptr
                             T* probs);      // [M, N] σ(z), written when from_logits and non-null

}  // namespace ae::cpu
