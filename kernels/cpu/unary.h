// The cpu reference of the unfused elementwise unary primitive y = alpha·f(x), f one of
// kernels/common/elementwise.h's UnaryOp (scale, exp, square, abs, sign). The graph builds the
// derivatives of these from the same primitives (exp′ = exp, square′ = 2x as scale by 2, abs′ = sign).
#pragma once

#include <cstdint>

#include "kernels/common/elementwise.h"

namespace ae::cpu {

// y = alpha·f(x) elementwise; y may alias x (each element is read before it is written).
template <typename T>
void unary(UnaryOp op, T alpha,
           const T* x,  // [n]
           T* y,        // [n]
           int64_t n);

}  // namespace ae::cpu
