// The cpu pooling and upsampling loops (kernels/cpu/pool.h). One (n, c) plane per OpenMP iteration
// (static schedule); within a plane every output is written, and every gradient summed, in one fixed
// order, so no result depends on the thread count. The index arithmetic follows PyTorch's CPU
// kernels (aten/src/ATen/native/cpu/MaxPoolKernel.cpp, AvgPoolKernel.cpp, UpSampleKernel.cpp); the
// window and max-pool argmax rules are kernels/common/pool.h's, which the backward re-runs on x.
#include "kernels/cpu/pool.h"

#include <algorithm>
#include <limits>

#include "kernels/common/error.h"
#include "kernels/common/pool.h"
#include "kernels/cpu/simd.h"

namespace ae {

void PoolGeometry::validate(const char* op) const {
  AE_CHECK(batch >= 0, op, ": negative batch ", batch);
  AE_CHECK(channels >= 1 && in_h >= 1 && in_w >= 1, op, ": input [", batch, ",", channels, ",", in_h, ",", in_w,
           "] must have channels and size ≥ 1");
  AE_CHECK(k_h >= 1 && k_w >= 1 && stride_h >= 1 && stride_w >= 1, op, ": kernel ", k_h, "×", k_w, " and stride ",
           stride_h, "×", stride_w, " must be ≥ 1 (input [", batch, ",", channels, ",", in_h, ",", in_w, "])");
  // PyTorch: "pad should be at most half of effective kernel size".
  AE_CHECK(pad_h >= 0 && pad_w >= 0 && 2 * pad_h <= k_h && 2 * pad_w <= k_w, op, ": padding ", pad_h, "×", pad_w,
           " must be ≥ 0 and at most half the kernel ", k_h, "×", k_w, " (input [", batch, ",", channels, ",", in_h,
           ",", in_w, "])");
  AE_CHECK(k_h <= in_h + 2 * pad_h && k_w <= in_w + 2 * pad_w, op, ": kernel ", k_h, "×", k_w,
           " is larger than the padded input ", in_h + 2 * pad_h, "×", in_w + 2 * pad_w, " (input [", batch, ",",
           channels, ",", in_h, ",", in_w, "], padding ", pad_h, "×", pad_w, ")");
}

void UpsampleGeometry::validate() const {
  AE_CHECK(batch >= 0 && channels >= 1 && in_h >= 1 && in_w >= 1 && f_h >= 1 && f_w >= 1,
           "upsample_nearest2d: input [", batch, ",", channels, ",", in_h, ",", in_w, "] and factor ", f_h, "×", f_w,
           " must be ≥ 1 (batch ≥ 0)");
}

}  // namespace ae

namespace ae::cpu {

namespace {

// Calls f(plane) for every (n, c) plane, split between threads when the pass is worth a team.
template <class F>
void for_planes(int64_t planes, int64_t elements, F&& f) {
  for_slices(planes, elements, [&](int64_t p0, int64_t p1) {
    for (int64_t p = p0; p < p1; ++p) f(p);
  });
}

// One output's window in 64-bit indices (kernels/common/pool.h).
using Window = PoolWindow<int64_t>;

inline Window window(const PoolGeometry& g, int64_t oh, int64_t ow) { return pool_window<int64_t>(g, oh, ow); }

}  // namespace

template <typename T>
void max_pool2d_forward(const PoolGeometry& g, const T* x, T* y, int32_t* argmax) {
  g.validate("max_pool2d");
  AE_CHECK(!argmax || g.in_h * g.in_w <= std::numeric_limits<int32_t>::max(), "max_pool2d: input plane ", g.in_h,
           "×", g.in_w, " is too large for 32-bit argmax indices");
  if (g.batch == 0) return;
  AE_CHECK(x && y, "max_pool2d_forward: x or y is null");
  const int64_t oh_n = g.out_h(), ow_n = g.out_w();
  for_planes(g.batch * g.channels, g.y_size() * g.k_h * g.k_w, [&](int64_t p) {
    const T* in = x + p * g.in_h * g.in_w;  // [in_h, in_w]
    T* out = y + p * oh_n * ow_n;           // [out_h, out_w]
    int32_t* idx = argmax ? argmax + p * oh_n * ow_n : nullptr;
    for (int64_t oh = 0; oh < oh_n; ++oh)
      for (int64_t ow = 0; ow < ow_n; ++ow) {
        const WindowMax<T, int64_t> m = window_argmax(in, g.in_w, window(g, oh, ow));
        out[oh * ow_n + ow] = m.value;
        if (idx) idx[oh * ow_n + ow] = static_cast<int32_t>(m.index);
      }
  });
}

template <typename T>
void max_pool2d_backward(const PoolGeometry& g, const T* dy, const T* x, T* dx) {
  g.validate("max_pool2d");
  if (g.batch == 0) return;
  AE_CHECK(dy && x && dx, "max_pool2d_backward: dy, x or dx is null");
  const int64_t oh_n = g.out_h(), ow_n = g.out_w(), in_plane = g.in_h * g.in_w;
  // Each window's argmax is found again (as the forward found it): the forward's work once more,
  // plus the zeroing and the scatter.
  for_planes(g.batch * g.channels, g.x_size() + g.y_size() * (g.k_h * g.k_w + 1), [&](int64_t p) {
    const T* in = x + p * in_plane;  // [in_h, in_w]
    T* d = dx + p * in_plane;        // [in_h, in_w]
    std::fill(d, d + in_plane, T(0));
    const T* g_out = dy + p * oh_n * ow_n;  // [out_h, out_w]
    for (int64_t oh = 0; oh < oh_n; ++oh)
      for (int64_t ow = 0; ow < ow_n; ++ow)
        d[window_argmax(in, g.in_w, window(g, oh, ow)).index] += g_out[oh * ow_n + ow];
  });
}

template <typename T>
void avg_pool2d_forward(const PoolGeometry& g, const T* x, T* y) {
  g.validate("avg_pool2d");
  if (g.batch == 0) return;
  AE_CHECK(x && y, "avg_pool2d_forward: x or y is null");
  const int64_t oh_n = g.out_h(), ow_n = g.out_w();
  for_planes(g.batch * g.channels, g.y_size() * g.k_h * g.k_w, [&](int64_t p) {
    const T* in = x + p * g.in_h * g.in_w;  // [in_h, in_w]
    T* out = y + p * oh_n * ow_n;           // [out_h, out_w]
    for (int64_t oh = 0; oh < oh_n; ++oh)
      for (int64_t ow = 0; ow < ow_n; ++ow) {
        const Window win = window(g, oh, ow);
        T sum = T(0);
        for (int64_t ih = win.h0; ih < win.h1; ++ih)
          for (int64_t iw = win.w0; iw < win.w1; ++iw) sum += in[ih * g.in_w + iw];
        out[oh * ow_n + ow] = sum / T(win.divisor);
      }
  });
}

template <typename T>
void avg_pool2d_backward(const PoolGeometry& g, const T* dy, T* dx) {
  g.validate("avg_pool2d");
  if (g.batch == 0) return;
  AE_CHECK(dy && dx, "avg_pool2d_backward: dy or dx is null");
  const int64_t oh_n = g.out_h(), ow_n = g.out_w();
  for_planes(g.batch * g.channels, g.x_size() + g.y_size() * g.k_h * g.k_w, [&](int64_t p) {
    T* d = dx + p * g.in_h * g.in_w;  // [in_h, in_w]
    std::fill(d, d + g.in_h * g.in_w, T(0));
    const T* g_out = dy + p * oh_n * ow_n;  // [out_h, out_w]
    for (int64_t oh = 0; oh < oh_n; ++oh)
      for (int64_t ow = 0; ow < ow_n; ++ow) {
        const Window win = window(g, oh, ow);
        const T share = g_out[oh * ow_n + ow] / T(win.divisor);
        for (int64_t ih = win.h0; ih < win.h1; ++ih)
          for (int64_t iw = win.w0; iw < win.w1; ++iw) d[ih * g.in_w + iw] += share;
      }
  });
}

template <typename T>
void upsample_nearest2d_forward(const UpsampleGeometry& g, const T* x, T* y) {
  g.validate();
  if (g.batch == 0) return;
  AE_CHECK(x && y, "upsample_nearest2d_forward: x or y is null");
  const int64_t oh_n = g.out_h(), ow_n = g.out_w();
  for_planes(g.batch * g.channels, g.y_size(), [&](int64_t p) {
    const T* in = x + p * g.in_h * g.in_w;  // [in_h, in_w]
    T* out = y + p * oh_n * ow_n;           // [out_h, out_w]
    for (int64_t oh = 0; oh < oh_n; ++oh) {
      const T* row = in + (oh / g.f_h) * g.in_w;
      for (int64_t ow = 0; ow < ow_n; ++ow) out[oh * ow_n + ow] = row[ow / g.f_w];
    }
  });
}

template <typename T>
void upsample_nearest2d_backward(const UpsampleGeometry& g, const T* dy, T* dx) {
  g.validate();
  if (g.batch == 0) return;
  AE_CHECK(dy && dx, "upsample_nearest2d_backward: dy or dx is null");
  const int64_t ow_n = g.out_w();
  for_planes(g.batch * g.channels, g.y_size(), [&](int64_t p) {
    const T* g_out = dy + p * g.out_h() * ow_n;  // [out_h, out_w]
    T* d = dx + p * g.in_h * g.in_w;             // [in_h, in_w]
    for (int64_t ih = 0; ih < g.in_h; ++ih)
      for (int64_t iw = 0; iw < g.in_w; ++iw) {
        T sum = T(0);
        for (int64_t a = 0; a < g.f_h; ++a)
          for (int64_t b = 0; b < g.f_w; ++b) sum += g_out[(ih * g.f_h + a) * ow_n + iw * g.f_w + b];
        d[ih * g.in_w + iw] = sum;
      }
  });
}

#define AE_POOL_INSTANTIATE(T)                                                                  \
  template void max_pool2d_forward<T>(const PoolGeometry&, const T*, T*, int32_t*);             \
  template void max_pool2d_backward<T>(const PoolGeometry&, const T*, const T*, T*);            \
  template void avg_pool2d_forward<T>(const PoolGeometry&, const T*, T*);                       \
  template void avg_pool2d_backward<T>(const PoolGeometry&, const T*, T*);                      \
  template void upsample_nearest2d_forward<T>(const UpsampleGeometry&, const T*, T*);           \
  template void upsample_nearest2d_backward<T>(const UpsampleGeometry&, const T*, T*);
AE_POOL_INSTANTIATE(float)
AE_POOL_INSTANTIATE(double)
#undef AE_POOL_INSTANTIATE

}  // namespace ae::cpu
