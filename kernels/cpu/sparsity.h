// The cpu reference of the sparsity penalties on a code h [M, N] (kernels/common/sparsity.h): the
// forward (column sums, then the value) and the gradient dvalue·∂value/∂h. Templated on the
// element type (float, and double for the fp64 gradient checks); every sum in a fixed order.
#pragma once

#include <cstdint>

#include "kernels/common/sparsity.h"

namespace ae::cpu {

// s_j = Σ_m f(h_mj) in row order (double, rounded once) and value = Σ_j unit value(s_j).
template <typename T>
void sparsity_forward(const SparsityParams& p,
                      const T* h,  // [M, N] the code
                      int64_t M, int64_t N,
                      T* colsum,  // [N] out
                      T* value);  // [1] out

// dh (+)= dvalue[0] · ∂value/∂h, elementwise from h and the forward's column sums.
template <typename T>
void sparsity_backward(const SparsityParams& p,
                       const T* dvalue,  // [1] the term's gradient seed (its weight)
                       const T* h,       // [M, N]
                       const T* colsum,  // [N] from sparsity_forward
                       int64_t M, int64_t N,
                       T* dh,  // [M, N] out; may alias nothing above
                       bool accumulate);

}  // namespace ae::cpu
