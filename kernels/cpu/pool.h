// The cpu reference pooling and upsampling layers, forward and backward, NCHW, as PyTorch computes
// them: max pool (F.max_pool2d, its argmax as return_indices gives it), average pool
// (F.avg_pool2d with count_include_pad = true, its default) and nearest-neighbour upsampling by an
// integer factor (nn.Upsample(scale_factor=f, mode='nearest')). Plain loops, one (n, c) plane per
// OpenMP iteration, every sum in a fixed order: the same bits for any thread count.
#pragma once

#include <cstdint>

#include "kernels/common/conv_geometry.h"

namespace ae::cpu {

using ae::PoolGeometry;
using ae::UpsampleGeometry;

// y = the maximum over each window (padding never wins); argmax[i] = the flat index ih·in_w + iw
// in its input plane of the element y[i] took, the first maximum in row-major window order on ties;
// a NaN in a window wins (and propagates), as in PyTorch (kernels/common/pool.h's window_argmax).
// argmax may be null (not written); when given, the plane must fit 32-bit indices.
template <typename T>
void max_pool2d_forward(const PoolGeometry& g,
                        const T* x,         // [batch, channels, in_h, in_w]
                        T* y,               // [batch, channels, out_h, out_w]
                        int32_t* argmax);   // [batch, channels, out_h, out_w], or nullptr

// dx = zeros, then dx[argmax(i)] += dy[i] in output order within each plane, where argmax(i) is
// recomputed from the forward input x exactly as max_pool2d_forward defines it: the same bits as
// scattering through the forward's argmax, without keeping it.
template <typename T>
void max_pool2d_backward(const PoolGeometry& g,
                         const T* dy,  // [batch, channels, out_h, out_w]
                         const T* x,   // [batch, channels, in_h, in_w], the forward input
                         T* dx);       // [batch, channels, in_h, in_w], overwritten; must not alias x

// y = the sum over each window's in-bounds elements divided by the window's size clipped to the
// padded input (count_include_pad: zero padding counts; in floor mode always k_h·k_w).
template <typename T>
void avg_pool2d_forward(const PoolGeometry& g,
                        const T* x,  // [batch, channels, in_h, in_w]
                        T* y);       // [batch, channels, out_h, out_w]

// dx[e] = Σ over the windows containing e (in output order) of dy / that window's divisor.
template <typename T>
void avg_pool2d_backward(const PoolGeometry& g,
                         const T* dy,  // [batch, channels, out_h, out_w]
                         T* dx);       // [batch, channels, in_h, in_w]

template <typename T>
void upsample_nearest2d_forward(const UpsampleGeometry& g,
                                const T* x,  // [batch, channels, in_h, in_w]
                                T* y);       // [batch, channels, in_h·f_h, in_w·f_w]

// dx[ih, iw] = Σ of dy over its f_h × f_w block, in row-major order.
template <typename T>
void upsample_nearest2d_backward(const UpsampleGeometry& g,
                                 const T* dy,  // [batch, channels, in_h·f_h, in_w·f_w]
                                 T* dx);       // [batch, channels, in_h, in_w]

}  // namespace ae::cpu
