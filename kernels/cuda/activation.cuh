// Launchers of the unfused activation primitive on the GPU: forward y = act(x) and backward
// dx = dy ⊙ act′ (from z when kept, else from y), the math of kernels/common/activation.h, checked
// against kernels/cpu/activation.h. Pointers are device memory. Throws ae::Error on bad arguments
// (gelu's backward without z) or a failed launch; n = 0 launches nothing.
#pragma once

#include <cuda_runtime.h>

#include <cstdint>

#include "kernels/common/activation.h"

namespace ae::cuda {

// y = act(x); y may alias x.
template <typename T>
void activation_forward(Act act,
                        const T* x,  // [n]
                        T* y,        // [n]
                        int64_t n, cudaStream_t stream);

// dx = dy ⊙ act′; z may be null except for gelu, y may be null when z is given or act is linear.
// dx may alias dy.
template <typename T>
void activation_backward(Act act,
                         const T* dy,  // [n]
                         const T* z,   // [n] pre-activation, or nullptr
                         const T* y,   // [n] output, or nullptr
                         T* dx,        // [n]
                         int64_t n, cudaStream_t stream);

// dx = dy ⊙ act″(z) (kernels/cpu/activation.h's activation_second_backward); dx may alias dy.
template <typename T>
void activation_second_backward(Act act,
                                const T* dy,  // [n]
                                const T* z,   // [n] pre-activation
                                T* dx,        // [n]
                                int64_t n, cudaStream_t stream);

}  // namespace ae::cuda
