// Launchers of the 2-D convolution layer on CUDA, ordinary (nn.Conv2d) and transposed
// (nn.ConvTranspose2d): the contract of ae::cpu::conv2d_forward/backward (kernels/cpu/conv.h, whose
// ConvGeometry they take), plus a stream, except that the backward never materialises dz (act′ is
// applied to dy as the GEMMs load it, as dense_backward does). fp32. Pointers are device memory.
// Throws ae::Error on bad arguments or a failed launch (naming the kernel).
#pragma once

#include <cuda_runtime.h>

#include <cstdint>

#include "kernels/common/activation.h"
#include "kernels/cpu/conv.h"

namespace ae::cuda {

using cpu::ConvGeometry;

// y = act(conv(x) + b); z, when non-null, receives the pre-activation. One implicit-GEMM launch with
// the bias + activation epilogue. y and z must not alias x, w, b or each other. Validates g; every
// element of y (and z) is written. A batch of 0 writes nothing.
template <typename T>
void conv2d_forward(const ConvGeometry& g,
                    const T* x,  // [batch, in_c, in_h, in_w]
                    const T* w,  // [out_c, in_c, k_h, k_w]; transposed: [in_c, out_c, k_h, k_w]
                    const T* b,  // [out_c], or nullptr for no bias
                    Act act,
                    T* y,  // [batch, out_c, out_h, out_w]
                    T* z,  // [batch, out_c, out_h, out_w] pre-activation, or nullptr when not kept
                    cudaStream_t stream);

// Backward of conv2d_forward with dz = dy ⊙ act′ (from z when given, else from y; gelu needs z):
//   dw (+)= the weight gradient at dz, db (+)= Σ dz per channel over batch, rows, columns (a fixed
//   order: bitwise deterministic, no atomics), dx = the data gradient at dz.
// Each of dw, db and dx may be null and is then skipped (the data gradient alone: dw = db = null;
// the parameter gradients alone: dx = null); x is read only for dw, w only for dx. A Conv2d's db
// is summed in the weight pass when dw is wanted, else by a per-channel tree: the two orders may
// differ in the last bits, each is deterministic. dy is only read. accumulate_dw / accumulate_db
// add into dw / db instead of overwriting them, independently. dw, db, dx must not alias the
// inputs. A batch of 0 leaves the requested dw and db at 0 (or as they were when accumulating).
template <typename T>
void conv2d_backward(const ConvGeometry& g,
                     const T* dy,  // [batch, out_c, out_h, out_w] ∂L/∂y
                     const T* y,   // [batch, out_c, out_h, out_w] forward output, or nullptr (z given or linear)
                     const T* z,   // [batch, out_c, out_h, out_w] pre-activation, or nullptr
                     Act act,
                     const T* x,  // [batch, in_c, in_h, in_w] forward input, or nullptr when dw is
                     const T* w,  // as conv2d_forward's w, or nullptr when dx is
                     T* dw,       // as w, or nullptr for no weight gradient
                     T* db,       // [out_c], or nullptr when the layer has no bias (or db is not wanted)
                     T* dx,       // [batch, in_c, in_h, in_w], or nullptr when x needs no gradient
                     bool accumulate_dw, bool accumulate_db, cudaStream_t stream);

}  // namespace ae::cuda
