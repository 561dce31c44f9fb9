// The cpu reference of a one-layer encoder's contractive penalty in closed form
// (kernels/common/contractive.h): the forward (s, the row norms n, the value) and the two gradients.
// Templated on the element type (float, and double for the fp64 gradient checks); sums in double,
// in a fixed order.
#pragma once

#include <cstdint>

#include "kernels/common/contractive.h"

namespace ae::cpu {

// s_j = Σ_m a′(z_mj)², n_j = Σ_k W_jk², value = (1/M) Σ_j s_j n_j.
template <typename T>
void contractive_forward(Act act,
                         const T* z,  // [M, N] the code layer's pre-activation
                         const T* w,  // [N, K] its weight
                         int64_t M, int64_t N, int64_t K,
                         T* s,       // [N] out
                         T* norms,   // [N] out
                         T* value);  // [1] out

// dz (+)= dvalue[0]·∂value/∂z, elementwise.
template <typename T>
void contractive_backward_z(Act act, const T* dvalue,  // [1]
                            const T* z,                // [M, N]
                            const T* norms,            // [N]
                            int64_t M, int64_t N,
                            T* dz,  // [M, N] out
                            bool accumulate);

// dw (+)= dvalue[0]·∂value/∂W through the norms; M is the batch the value averaged over.
template <typename T>
void contractive_backward_w(const T* dvalue,  // [1]
                            const T* w,       // [N, K]
                            const T* s,       // [N]
                            int64_t M, int64_t N, int64_t K,
                            T* dw,  // [N, K] out
                            bool accumulate);

}  // namespace ae::cpu
