// The cpu reference of the unfused activation primitive, forward y = act(x) and backward
// dx = dy ⊙ act′, the math of kernels/common/activation.h. activation_backward_cols is the one cpu
// loop of g ⊙ act′: the primitive's backward and dense_backward (which sums db in the same pass)
// both run it, so the reference exists once.
#pragma once

#include <cstdint>

#include "kernels/common/activation.h"

namespace ae::cpu {

// y = act(x) elementwise; y may alias x.
template <typename T>
void activation_forward(Act act,
                        const T* x,  // [n]
                        T* y,        // [n]
                        int64_t n);

// dx = dy ⊙ act′, act′ from the pre-activation z when z is non-null, else from the output y. gelu
// needs z (ae::Error without it); linear needs neither. dx may alias dy.
template <typename T>
void activation_backward(Act act,
                         const T* dy,  // [n]
                         const T* z,   // [n] pre-activation, or nullptr
                         const T* y,   // [n] output, or nullptr when z is given
                         T* dx,        // [n]
                         int64_t n);

// dx = dy ⊙ act″(z): the second derivative, from the pre-activation (the gradient of a function
// of act′, such as the contractive penalty). dx may alias dy.
template <typename T>
void activation_second_backward(Act act,
                                const T* dy,  // [n]
                                const T* z,   // [n] pre-activation
                                T* dx,        // [n]
                                int64_t n);

// Columns [j0, j1) of an [M, N] dx = dy ⊙ act′ over all M rows (act′ from z when non-null, else
// from y; no argument checks: the callers make them). When col_sum is non-null, each column's
// values are added to col_sum[j − j0] in row order (dense_backward's db, deterministic for any
// thread count). dx may alias dy; for linear with dx == dy nothing is written.
template <typename T>
void activation_backward_cols(Act act,
                              const T* dy,  // [M, N]
                              const T* z,   // [M, N], or nullptr
                              const T* y,   // [M, N], or nullptr
                              int64_t M, int64_t N, int64_t j0, int64_t j1,
                              T* dx,        // [M, N]
                              T* col_sum);  // [j1 − j0], or nullptr

}  // namespace ae::cpu
