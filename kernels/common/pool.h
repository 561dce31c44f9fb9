// The window arithmetic of the pooling layers, shared by every backend (cpu, cuda, cuda-sim): which
// input rows and columns an output's window covers, its count_include_pad divisor, and the argmax of
// a max-pool window as PyTorch defines it. The max pool forward and its backward both call
// window_argmax(), so the backward recomputes exactly the element the forward took (no argmax
// buffer has to be kept between them). Device-safe like kernels/common/activation.h (AE_HD).
#pragma once

#include "kernels/common/activation.h"  // AE_HD

namespace ae {

// One output's window: rows [h0, h1) and columns [w0, w1) of the input that it covers, clipped to
// the input (never empty: PoolGeometry::validate keeps padding at most half the kernel), and its
// PyTorch count_include_pad divisor (the window clipped to the padded input). I is the index type:
// int64_t on the cpu, int on the device.
template <typename I>
struct PoolWindow {
  I h0, h1, w0, w1, divisor;
};

// GEOM: any struct with PoolGeometry's field names in_h, in_w, k_h, k_w, stride_h, stride_w,
// pad_h, pad_w (kernels/common/conv_geometry.h's, or the device copy in kernels/cuda/pool.cu).
template <typename I, class GEOM>
AE_HD inline PoolWindow<I> pool_window(const GEOM& g, I oh, I ow) {
  const I h0 = oh * I(g.stride_h) - I(g.pad_h), w0 = ow * I(g.stride_w) - I(g.pad_w);
  const I h_end = I(g.in_h) + I(g.pad_h), w_end = I(g.in_w) + I(g.pad_w);  // the padded input's end
  const I h1 = h0 + I(g.k_h) < h_end ? h0 + I(g.k_h) : h_end, w1 = w0 + I(g.k_w) < w_end ? w0 + I(g.k_w) : w_end;
  return PoolWindow<I>{h0 > 0 ? h0 : I(0), h1 < I(g.in_h) ? h1 : I(g.in_h), w0 > 0 ? w0 : I(0),
                       w1 < I(g.in_w) ? w1 : I(g.in_w), (h1 - h0) * (w1 - w0)};
}

// The maximum of a window and its flat index ih·in_w + iw in the input plane.
template <typename T, typename I>
struct WindowMax {
  T value;
  I index;
};

// PyTorch's max pool rule (aten's max_pool2d CPU and CUDA kernels): start at −∞ with the window's
// first in-bounds index, then in row-major window order a strictly larger value or a NaN takes
// over. So padding never wins, a NaN wins (the last NaN, its value propagating), and on ties the
// first maximum keeps its place. `v != v` is the NaN test both compilers keep.
template <typename T, typename I>
AE_HD inline WindowMax<T, I> window_argmax(const T* in,  // [in_h, in_w], one input plane
                                           I in_w, const PoolWindow<I>& win) {
  WindowMax<T, I> best{-T(INFINITY), win.h0 * in_w + win.w0};
  for (I ih = win.h0; ih < win.h1; ++ih)
    for (I iw = win.w0; iw < win.w1; ++iw) {
      const T v = in[ih * in_w + iw];
      if (v > best.value || v != v) best = WindowMax<T, I>{v, ih * in_w + iw};
    }
  return best;
}

}  // namespace ae
