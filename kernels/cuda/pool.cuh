// Launchers of the pooling and upsampling layers on CUDA, forward and backward, NCHW: the contracts
// of kernels/cpu/pool.h (whose geometry types they take), plus a stream. fp32, device pointers.
// Every kernel is one thread per output element and bitwise equal to the cpu reference: the
// backward passes gather, each input element summing the outputs that map to it in the reference's
// output order (no atomics, no scatter). Throws ae::Error on bad arguments or a failed launch.
#pragma once

#include <cuda_runtime.h>

#include <cstdint>

#include "kernels/cpu/pool.h"

namespace ae::cuda {

using cpu::PoolGeometry;
using cpu::UpsampleGeometry;

// y = the maximum of each window (padding never wins, a NaN wins, the first maximum on ties);
// argmax, when not null, = its flat index ih·in_w + iw in the input plane.
template <typename T>
void max_pool2d_forward(const PoolGeometry& g,
                        const T* x,        // [batch, channels, in_h, in_w]
                        T* y,              // [batch, channels, out_h, out_w]
                        int32_t* argmax,   // [batch, channels, out_h, out_w], or nullptr
                        cudaStream_t stream);

// dx[e] = Σ dy[i] over the outputs i whose window holds e and whose argmax, recomputed from the
// forward input x as max_pool2d_forward finds it, is e, in output order: bitwise the cpu's.
template <typename T>
void max_pool2d_backward(const PoolGeometry& g,
                         const T* dy,  // [batch, channels, out_h, out_w]
                         const T* x,   // [batch, channels, in_h, in_w], the forward input
                         T* dx,        // [batch, channels, in_h, in_w], overwritten; must not alias x
                         cudaStream_t stream);

// y = the window's in-bounds sum / its count_include_pad divisor.
template <typename T>
void avg_pool2d_forward(const PoolGeometry& g,
                        const T* x,  // [batch, channels, in_h, in_w]
                        T* y,        // [batch, channels, out_h, out_w]
                        cudaStream_t stream);

// dx[e] = Σ over the windows holding e, in output order, of dy / that window's divisor.
template <typename T>
void avg_pool2d_backward(const PoolGeometry& g,
                         const T* dy,  // [batch, channels, out_h, out_w]
                         T* dx,        // [batch, channels, in_h, in_w], overwritten
                         cudaStream_t stream);

// y[oh, ow] = x[oh / f_h, ow / f_w].
template <typename T>
void upsample_nearest2d_forward(const UpsampleGeometry& g,
                                const T* x,  // [batch, channels, in_h, in_w]
                                T* y,        // [batch, channels, in_h·f_h, in_w·f_w]
                                cudaStream_t stream);

// dx[ih, iw] = Σ of dy over its f_h × f_w block, row-major.
template <typename T>
void upsample_nearest2d_backward(const UpsampleGeometry& g,
                                 const T* dy,  // [batch, channels, in_h·f_h, in_w·f_w]
                                 T* dx,        // [batch, channels, in_h, in_w]
                                 cudaStream_t stream);

}  // namespace ae::cuda
