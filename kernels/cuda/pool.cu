// Max pool (argmax optional), average pool and nearest upsampling on CUDA, forward and backward,
// NCHW. One thread per output element in a grid-stride loop (kernels/cuda/grid_stride.cuh); the
// window and argmax arithmetic is kernels/common/pool.h's, the cpu reference's own, so every result
// is bitwise the reference's. The backward kernels gather: each input element finds the outputs
// whose windows hold it (a range of rows and of columns) and sums their contributions in output
// order, the order in which the reference scatters them, so the sums are deterministic and need no
// atomics or zeroing pass. The max pool backward takes the forward input x, not an argmax buffer:
// it finds each covering window's argmax again. Coordinates within a plane are 32-bit (the
// launchers check planes below 2^31 elements); flat indices over the batch are 64-bit. One variant
// per kernel.
// ptxas (CUDA 13.0, runtime/sim/nvcc-check.sh), registers sm_80 / sm_90, 0 spills: max fwd 32 / 32,
// max bwd 39 / 39, avg fwd 36 / 32, avg bwd 25 / 30, upsample fwd 28 / 32, upsample bwd 31 / 30.
#include <cmath>
#include <limits>

#include "kernels/common/error.h"
#include "kernels/common/pool.h"
#include "kernels/cuda/grid_stride.cuh"
#include "kernels/cuda/launch.cuh"
#include "kernels/cuda/pool.cuh"

namespace ae::cuda {

namespace {

// The window geometry on the device: PoolGeometry's fields (kernels/common/pool.h reads them by
// name) in 32-bit ints, batch·channels folded into planes.
struct Pool {
  int in_h, in_w, out_h, out_w, k_h, k_w, stride_h, stride_w, pad_h, pad_w;
};

// One output's window clipped to the input, and its count_include_pad divisor (kernels/common/pool.h).
using Window = PoolWindow<int>;

__device__ __forceinline__ Window window(const Pool& g, int oh, int ow) { return pool_window<int>(g, oh, ow); }

// The outputs along one axis whose windows hold input coordinate i: [lo, hi] (empty when lo > hi).
// oh·s − p ≤ i ≤ oh·s − p + k − 1, within [0, out).
__device__ __forceinline__ void covering(int i, int k, int s, int p, int out, int& lo, int& hi) {
  const int first = i + p - k + 1;  // lowest oh·s that still reaches i
  lo = first <= 0 ? 0 : (first + s - 1) / s;
  hi = min((i + p) / s, out - 1);
}

#define AE_GRID_STRIDE(i, n) \
  for (int64_t i = int64_t(blockIdx.x) * blockDim.x + threadIdx.x; i < (n); i += int64_t(gridDim.x) * blockDim.x)

template <typename T>
__global__ void __launch_bounds__(grid_stride::THREADS)
    max_pool_fwd_kernel(Pool g, int64_t total, const T* x,  // [planes, in_h, in_w]
                        T* y,                                // [planes, out_h, out_w]
                        int32_t* argmax) {                   // [planes, out_h, out_w], or nullptr
  const int out_plane = g.out_h * g.out_w;
  AE_GRID_STRIDE(i, total) {
    const int64_t plane = i / out_plane;
    const int o = int(i - plane * out_plane), oh = o / g.out_w, ow = o - oh * g.out_w;
    const WindowMax<T, int> m = window_argmax(x + plane * g.in_h * g.in_w, g.in_w, window(g, oh, ow));
    y[i] = m.value;
    if (argmax) argmax[i] = m.index;  // a uniform branch
  }
}

// dx[e] = Σ dy[o] over the outputs o whose window holds e, in output order, where o's argmax (found
// again from x, as the forward finds it) is e. Each covering window is searched whole, so one input
// costs about ⌈k_h/s_h⌉·⌈k_w/s_w⌉·k_h·k_w loads: the price of keeping no argmax buffer.
template <typename T>
__global__ void __launch_bounds__(grid_stride::THREADS)
    max_pool_bwd_kernel(Pool g, int64_t total, const T* dy,  // [planes, out_h, out_w]
                        const T* x,                           // [planes, in_h, in_w], the forward input
                        T* dx) {                              // [planes, in_h, in_w]
  const int in_plane = g.in_h * g.in_w;
  AE_GRID_STRIDE(i, total) {
    const int64_t plane = i / in_plane;
    const int e = int(i - plane * in_plane), ih = e / g.in_w, iw = e - ih * g.in_w;
    const T* in = x + plane * in_plane;
    const T* g_out = dy + plane * g.out_h * g.out_w;
    int oh0, oh1, ow0, ow1;
    covering(ih, g.k_h, g.stride_h, g.pad_h, g.out_h, oh0, oh1);
    covering(iw, g.k_w, g.stride_w, g.pad_w, g.out_w, ow0, ow1);
    T sum = T(0);  // the reference's zero, then its += in output order
    for (int oh = oh0; oh <= oh1; ++oh)
      for (int ow = ow0; ow <= ow1; ++ow)
        if (window_argmax(in, g.in_w, window(g, oh, ow)).index == e) sum += g_out[oh * g.out_w + ow];
    dx[i] = sum;
  }
}

template <typename T>
__global__ void __launch_bounds__(grid_stride::THREADS)
    avg_pool_fwd_kernel(Pool g, int64_t total, const T* x,  // [planes, in_h, in_w]
                        T* y) {                              // [planes, out_h, out_w]
  const int out_plane = g.out_h * g.out_w;
  AE_GRID_STRIDE(i, total) {
    const int64_t plane = i / out_plane;
    const int o = int(i - plane * out_plane), oh = o / g.out_w, ow = o - oh * g.out_w;
    const T* in = x + plane * g.in_h * g.in_w;
    const Window win = window(g, oh, ow);
    T sum = T(0);
    for (int ih = win.h0; ih < win.h1; ++ih)
      for (int iw = win.w0; iw < win.w1; ++iw) sum += in[ih * g.in_w + iw];
    y[i] = sum / T(win.divisor);
  }
}

template <typename T>
__global__ void __launch_bounds__(grid_stride::THREADS)
    avg_pool_bwd_kernel(Pool g, int64_t total, const T* dy,  // [planes, out_h, out_w]
                        T* dx) {                              // [planes, in_h, in_w]
  const int in_plane = g.in_h * g.in_w;
  AE_GRID_STRIDE(i, total) {
    const int64_t plane = i / in_plane;
    const int e = int(i - plane * in_plane), ih = e / g.in_w, iw = e - ih * g.in_w;
    const T* g_out = dy + plane * g.out_h * g.out_w;
    int oh0, oh1, ow0, ow1;
    covering(ih, g.k_h, g.stride_h, g.pad_h, g.out_h, oh0, oh1);
    covering(iw, g.k_w, g.stride_w, g.pad_w, g.out_w, ow0, ow1);
    T sum = T(0);
    for (int oh = oh0; oh <= oh1; ++oh) {
      // window()'s divisor, split by axis: the window's rows within the padded input, times its columns.
      const int h0 = oh * g.stride_h - g.pad_h, rows = min(h0 + g.k_h, g.in_h + g.pad_h) - h0;
      // Not unrolled: each step's IEEE division may take its slow-path call, and unrolled steps keep
      // enough values live across those calls for ptxas (sm_90) to spill.
#pragma unroll 1
      for (int ow = ow0; ow <= ow1; ++ow) {  // the share the reference adds: dy / divisor, rounded once
        const int w0 = ow * g.stride_w - g.pad_w, cols = min(w0 + g.k_w, g.in_w + g.pad_w) - w0;
        sum += g_out[oh * g.out_w + ow] / T(rows * cols);
      }
    }
    dx[i] = sum;
  }
}

template <typename T>
__global__ void __launch_bounds__(grid_stride::THREADS)
    upsample_fwd_kernel(int in_h, int in_w, int f_h, int f_w, int64_t total, const T* x,  // [planes, in_h, in_w]
                        T* y) {  // [planes, in_h·f_h, in_w·f_w]
  const int out_w = in_w * f_w, out_plane = in_h * f_h * out_w;
  AE_GRID_STRIDE(i, total) {
    const int64_t plane = i / out_plane;
    const int o = int(i - plane * out_plane), oh = o / out_w, ow = o - oh * out_w;
    y[i] = x[plane * in_h * in_w + (oh / f_h) * in_w + ow / f_w];
  }
}

template <typename T>
__global__ void __launch_bounds__(grid_stride::THREADS)
    upsample_bwd_kernel(int in_h, int in_w, int f_h, int f_w, int64_t total,
                        const T* dy,  // [planes, in_h·f_h, in_w·f_w]
                        T* dx) {      // [planes, in_h, in_w]
  const int in_plane = in_h * in_w, out_w = in_w * f_w;
  AE_GRID_STRIDE(i, total) {
    const int64_t plane = i / in_plane;
    const int e = int(i - plane * in_plane), ih = e / in_w, iw = e - ih * in_w;
    const T* block = dy + plane * in_plane * f_h * f_w + (ih * f_h) * out_w + iw * f_w;  // its f_h × f_w block
    T sum = T(0);
    for (int a = 0; a < f_h; ++a)
      for (int b = 0; b < f_w; ++b) sum += block[a * out_w + b];
    dx[i] = sum;
  }
}

#undef AE_GRID_STRIDE

constexpr int64_t MAX_PLANE = std::numeric_limits<int32_t>::max();

Pool device_pool(const PoolGeometry& g, const char* op) {
  g.validate(op);
  AE_CHECK(g.in_h * g.in_w <= MAX_PLANE && g.out_h() * g.out_w() <= MAX_PLANE, "cuda ", op, ": input plane ", g.in_h,
           "×", g.in_w, " is too large for 32-bit indices");
  return Pool{int(g.in_h),     int(g.in_w),     int(g.out_h()),   int(g.out_w()), int(g.k_h),
              int(g.k_w),      int(g.stride_h), int(g.stride_w), int(g.pad_h),   int(g.pad_w)};
}

void check_upsample(const UpsampleGeometry& g) {
  g.validate();
  AE_CHECK(g.out_h() * g.out_w() <= MAX_PLANE, "cuda upsample_nearest2d: output plane ", g.out_h(), "×", g.out_w(),
           " is too large for 32-bit indices");
}

template <typename... PARAMS, typename... ARGS>
void launch_over(const char* name, void (*kernel)(PARAMS...), int64_t total, cudaStream_t stream, ARGS&&... args) {
  launch(name, kernel, grid_stride::grid_for(total), dim3(grid_stride::THREADS), 0, stream, std::forward<ARGS>(args)...);
}

}  // namespace

template <typename T>
void max_pool2d_forward(const PoolGeometry& g, const T* x, T* y, int32_t* argmax, cudaStream_t stream) {
  const Pool p = device_pool(g, "max_pool2d");
  if (g.batch == 0) return;
  AE_CHECK(x && y, "cuda max_pool2d_forward: x or y is null");
  launch_over("max_pool2d_fwd", max_pool_fwd_kernel<T>, g.y_size(), stream, p, g.y_size(), x, y, argmax);
}

template <typename T>
void max_pool2d_backward(const PoolGeometry& g, const T* dy, const T* x, T* dx, cudaStream_t stream) {
  const Pool p = device_pool(g, "max_pool2d");
  if (g.batch == 0) return;
  AE_CHECK(dy && x && dx, "cuda max_pool2d_backward: dy, x or dx is null");
  launch_over("max_pool2d_bwd<gather, argmax from x>", max_pool_bwd_kernel<T>, g.x_size(), stream, p, g.x_size(), dy,
              x, dx);
}

template <typename T>
void avg_pool2d_forward(const PoolGeometry& g, const T* x, T* y, cudaStream_t stream) {
  const Pool p = device_pool(g, "avg_pool2d");
  if (g.batch == 0) return;
  AE_CHECK(x && y, "cuda avg_pool2d_forward: x or y is null");
  launch_over("avg_pool2d_fwd", avg_pool_fwd_kernel<T>, g.y_size(), stream, p, g.y_size(), x, y);
}

template <typename T>
void avg_pool2d_backward(const PoolGeometry& g, const T* dy, T* dx, cudaStream_t stream) {
  const Pool p = device_pool(g, "avg_pool2d");
  if (g.batch == 0) return;
  AE_CHECK(dy && dx, "cuda avg_pool2d_backward: dy or dx is null");
  launch_over("avg_pool2d_bwd<gather>", avg_pool_bwd_kernel<T>, g.x_size(), stream, p, g.x_size(), dy, dx);
}

template <typename T>
void upsample_nearest2d_forward(const UpsampleGeometry& g, const T* x, T* y, cudaStream_t stream) {
  check_upsample(g);
  if (g.batch == 0) return;
  AE_CHECK(x && y, "cuda upsample_nearest2d_forward: x or y is null");
  launch_over("upsample_nearest2d_fwd", upsample_fwd_kernel<T>, g.y_size(), stream, int(g.in_h), int(g.in_w),
              int(g.f_h), int(g.f_w), g.y_size(), x, y);
}

template <typename T>
void upsample_nearest2d_backward(const UpsampleGeometry& g, const T* dy, T* dx, cudaStream_t stream) {
  check_upsample(g);
  if (g.batch == 0) return;
  AE_CHECK(dy && dx, "cuda upsample_nearest2d_backward: dy or dx is null");
  launch_over("upsample_nearest2d_bwd<gather>", upsample_bwd_kernel<T>, g.x_size(), stream, int(g.in_h), int(g.in_w),
              int(g.f_h), int(g.f_w), g.x_size(), dy, dx);
}

template void max_pool2d_forward<float>(const PoolGeometry&, const float*, float*, int32_t*, cudaStream_t);
template void max_pool2d_backward<float>(const PoolGeometry&, const float*, const float*, float*, cudaStream_t);
template void avg_pool2d_forward<float>(const PoolGeometry&, const float*, float*, cudaStream_t);
template void avg_pool2d_backward<float>(const PoolGeometry&, const float*, float*, cudaStream_t);
template void upsample_nearest2d_forward<float>(const UpsampleGeometry&, const float*, float*, cudaStream_t);
template void upsample_nearest2d_backward<float>(const UpsampleGeometry&, const float*, float*, cudaStream_t);

}  // namespace ae::cuda
