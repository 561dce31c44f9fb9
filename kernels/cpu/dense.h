// The cpu reference dense layer, y = act(x·Wᵀ + b), forward and backward. PyTorch nn.Linear
// layout: W [out=N, in=K], b [N], activations row-major [batch=M, features]. Templated on the
// element type and instantiated for float and double (double is what the fp64 gradient checks
// run). Bitwise deterministic for a given thread count: static OpenMP schedules, no atomics,
// every reduction in a fixed order (db's column sums do not even depend on the thread count).
#pragma once

#include <cstdint>

#include "kernels/common/activation.h"
#include "kernels/common/dtype.h"

namespace ae::cpu {

class PackedNtBias;  // kernels/cpu/gemm.h

// One GEMM with the bias in its epilogue (y = x·Wᵀ + b), then one pass over the output applying
// the activation. When z is non-null it receives the pre-activation and y the activation; when it is
// null only y is written. y and z must not alias x, w, b or each other. With `packed` (float only,
// for [N, K] = this w) the GEMM runs on its packed copy of W, which the caller keeps current.
template <typename T>
void dense_forward(const T* x,  // [M, K]
                   const T* w,  // [N, K]
                   const T* b,  // [N], or nullptr for no bias
                   Act act, int64_t M, int64_t N, int64_t K,
                   T* y,   // [M, N] output
                   T* z,   // [M, N] pre-activation, or nullptr when not kept
                   PackedNtBias* packed = nullptr);

// Backward of dense_forward.
//   dz = dy ⊙ act′   (from z when z is given, else from y — gelu needs z and throws without it)
//   db = column sums of dz (fixed order),  dW = dzᵀ·x,  dx = dz·W.
// dz is scratch for the activation gradient and may alias dy (then dy is overwritten). y may be
// null when z is given or act is linear. With accumulate_dw, dw is added to (dw += ...) instead
// of overwritten, and likewise db with accumulate_db: a parameter gradient another op wrote first
// (tied weights; a penalty that writes dW but not db, such as the contractive one's).
template <typename T>
void dense_backward(const T* dy,  // [M, N] gradient of the loss w.r.t. y
                    const T* y,   // [M, N] forward output, or nullptr (see above)
                    const T* z,   // [M, N] forward pre-activation, or nullptr when not kept
                    Act act,
                    const T* x,  // [M, K] forward input
                    const T* w,  // [N, K]
                    int64_t M, int64_t N, int64_t K,
                    T* dz,  // [M, N] scratch, may alias dy
                    T* dw,  // [N, K]
                    T* db,  // [N], or nullptr when the layer has no bias
                    T* dx,  // [M, K], or nullptr when the input needs no gradient
                    bool accumulate_dw, bool accumulate_db);

// Mixed precision (issue 13): the same layer with bf16 storage and fp32 accumulation, on oneDNN's
// bf16 matmul (AVX512_BF16/AMX: kernels/cpu/gemm.h's bf16_gemm_native()). x, W, y, z, dy and dx
// are bf16; b, dW and db fp32 (the master weights' gradients). Every value is computed in fp32 and
// rounded to bf16 as it is stored (nearest even, kernels/cpu/lowp_round.h): z = bf16(x·Wᵀ + b)
// with the sum in fp32, and
//   y = bf16(act(x·Wᵀ + b)) from the fp32 sum when z is null and act fuses into the GEMM
//       (gemm_bf16_fuses: relu, leaky_relu, sigmoid, tanh; linear trivially), or K = 0;
//   y = bf16(act(z)) from the rounded pre-activation otherwise (z kept, or elu/selu/softplus/gelu):
//       the GEMM stores bf16 and one pass applies act. For linear and relu the two are equal.
// Same contracts as the fp32 functions above (aliasing, z/y nullability, accumulate flags,
// determinism for a given thread count).
void dense_forward_bf16(const bfloat16* x,  // [M, K]
                        const bfloat16* w,  // [N, K]
                        const float* b,     // [N], or nullptr
                        Act act, int64_t M, int64_t N, int64_t K,
                        bfloat16* y,   // [M, N]
                        bfloat16* z);  // [M, N] pre-activation, or nullptr when not kept

// dz = bf16(dy ⊙ act′) in place of dy (dy is overwritten; act′ and the product in fp32), then from
// that stored dz: db = Σ_rows dz in fp32 (fixed order, as dense_backward: the same bits for any
// thread count), dW (+)= dzᵀ·x and dx = dz·W with fp32 accumulation; dW fp32, dx rounded to bf16.
// db sums the rounded dz the GEMMs multiply, so db and dW are the gradients of one computation.
void dense_backward_bf16(bfloat16* dy,       // [M, N] in: ∂L/∂y; out: dz
                         const bfloat16* y,  // [M, N] or nullptr (as dense_backward)
                         const bfloat16* z,  // [M, N] or nullptr
                         Act act,
                         const bfloat16* x,  // [M, K]
                         const bfloat16* w,  // [N, K]
                         int64_t M, int64_t N, int64_t K,
                         float* dw,     // [N, K]
                         float* db,     // [N], or nullptr
                         bfloat16* dx,  // [M, K], or nullptr
                         bool accumulate_dw, bool accumulate_db);

}  // namespace ae::cpu
