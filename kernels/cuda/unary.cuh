// Launcher of the unfused elementwise unary primitive y = alpha·f(x) on the GPU (f: scale, exp,
// square, abs, sign; kernels/common/elementwise.h), checked against kernels/cpu/unary.h. Pointers
// are device memory. Throws ae::Error on bad arguments or a failed launch; n = 0 launches nothing.
#pragma once

#include <cuda_runtime.h>

#include <cstdint>

#include "kernels/common/elementwise.h"

namespace ae::cuda {

// y = alpha·f(x); y may alias x.
template <typename T>
void unary(UnaryOp op, T alpha,
           const T* x,  // [n]
           T* y,        // [n]
           int64_t n, cudaStream_t stream);

}  // namespace ae::cuda
