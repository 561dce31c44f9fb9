// The cpu reference 2-D convolution layer, y = act(conv(x) + b), forward and backward, ordinary
// (PyTorch nn.Conv2d) and transposed (nn.ConvTranspose2d). NCHW activations; weights in PyTorch's
// layouts. float runs oneDNN convolution primitives (chosen over an im2col + GEMM lowering by
// measurement: kernels/cpu/conv.cpp); double is a plain loop reference (the fp64 gradient checks,
// and what the float path is tested against). The dense layer's contract (kernels/cpu/dense.h).
#pragma once

#include <cstdint>

#include "kernels/common/activation.h"
#include "kernels/common/conv_geometry.h"

namespace ae::cpu {

using ae::ConvGeometry;

// y = act(conv(x) + b); z, when non-null, receives the pre-activation conv(x) + b. y and z must not
// alias x, w, b or each other. Validates g. Every element of y (and z) is written.
template <typename T>
void conv2d_forward(const ConvGeometry& g,
                    const T* x,  // [batch, in_c, in_h, in_w]
                    const T* w,  // [out_c, in_c, k_h, k_w]; transposed: [in_c, out_c, k_h, k_w]
                    const T* b,  // [out_c], or nullptr for no bias
                    Act act,
                    T* y,   // [batch, out_c, out_h, out_w]
                    T* z);  // [batch, out_c, out_h, out_w] pre-activation, or nullptr when not kept

// Backward of conv2d_forward, as dense_backward:
//   dz = dy ⊙ act′ (from z when z is given, else from y — gelu needs z and throws without it),
//   db = Σ dz over batch, rows and columns (per channel, a fixed order for any thread count),
//   dW = the weight gradient of conv(x) at dz,  dx = the data gradient at dz.
// Each of dw, db and dx may be null, and that gradient is then neither computed nor written, so a
// caller can run the data gradient alone (dw = db = null) or the parameter gradients alone
// (dx = null); x is read only for dw and w only for dx, so each may be null when that one is.
// dz is scratch for the activation gradient and may alias dy (then dy is overwritten); with a
// linear act it may be null, and dy is used as dz. y may be null when z is given or act is linear.
// With accumulate_dw, dw is added to instead of overwritten, and likewise db with accumulate_db.
// dx is overwritten; it must not alias anything else. A batch of 0 writes zeros to the requested
// dw and db (or leaves them as they are when accumulating) and nothing else.
template <typename T>
void conv2d_backward(const ConvGeometry& g,
                     const T* dy,  // [batch, out_c, out_h, out_w] ∂L/∂y
                     const T* y,   // [batch, out_c, out_h, out_w] forward output, or nullptr (above)
                     const T* z,   // [batch, out_c, out_h, out_w] pre-activation, or nullptr
                     Act act,
                     const T* x,  // [batch, in_c, in_h, in_w] forward input, or nullptr when dw is
                     const T* w,  // as conv2d_forward's w, or nullptr when dx is
                     T* dz,       // [batch, out_c, out_h, out_w] scratch, may alias dy; nullptr if linear
                     T* dw,       // as w, or nullptr for no weight gradient
                     T* db,       // [out_c], or nullptr when the layer has no bias (or db is not wanted)
                     T* dx,       // [batch, in_c, in_h, in_w], or nullptr when x needs no gradient
                     bool accumulate_dw, bool accumulate_db);

}  // namespace ae::cpu
