// The cpu reference pooling and upsampling layers, forward and backward, NCHW, as PyTorch computes
// them: max pool (F.max_pool2d, its argmax as return_indices gives it), average pool
// (F.avg_pool2d with count_include_pad = true, its default) and nearest-neighbour upsampling by an
// integer factor (nn.Upsample(scale_factor=f, mode='nearest')). Plain loops, one (n, c) plane per
// OpenMP iteration, every sum in a fixed order: the same bits for any thread count.
#pragma once

#include <cstdint>

namespace ae::cpu {

// A pooling window over x [batch, channels, in_h, in_w] → y [batch, channels, out_h(), out_w()]
// (floor mode: out = ⌊(H + 2p − k)/s⌋ + 1). Padding is symmetric and at most half the kernel.
struct PoolGeometry {
  int64_t batch, channels, in_h, in_w, k_h, k_w, stride_h, stride_w, pad_h = 0, pad_w = 0;

  int64_t out_h() const { return (in_h + 2 * pad_h - k_h) / stride_h + 1; }
  int64_t out_w() const { return (in_w + 2 * pad_w - k_w) / stride_w + 1; }
  int64_t x_size() const { return batch * channels * in_h * in_w; }
  int64_t y_size() const { return batch * channels * out_h() * out_w(); }

  // Throws ae::Error naming the input shape and window when PyTorch would refuse the layer: a size,
  // kernel or stride below 1 (batch may be 0), a negative padding or one above half the kernel,
  // a window larger than the padded input. `op` names the layer in the message.
  void validate(const char* op) const;
};

// y = the maximum over each window (padding never wins); argmax[i] = the flat index ih·in_w + iw
// in its input plane of the element y[i] took, the first maximum in row-major window order on ties;
// a NaN in a window wins (and propagates), as in PyTorch.
template <typename T>
void max_pool2d_forward(const PoolGeometry& g,
                        const T* x,         // [batch, channels, in_h, in_w]
                        T* y,               // [batch, channels, out_h, out_w]
                        int32_t* argmax);   // [batch, channels, out_h, out_w]

// dx = zeros, then dx[argmax[i]] += dy[i] in output order within each plane.
template <typename T>
void max_pool2d_backward(const PoolGeometry& g,
                         const T* dy,            // [batch, channels, out_h, out_w]
                         const int32_t* argmax,  // [batch, channels, out_h, out_w], from the forward
                         T* dx);                 // [batch, channels, in_h, in_w]

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

// Nearest-neighbour upsampling by integer factors: x [batch, channels, in_h, in_w] →
// y [batch, channels, in_h·f_h, in_w·f_w], y[oh, ow] = x[oh / f_h, ow / f_w].
struct UpsampleGeometry {
  int64_t batch, channels, in_h, in_w, f_h, f_w;

  int64_t out_h() const { return in_h * f_h; }
  int64_t out_w() const { return in_w * f_w; }
  int64_t x_size() const { return batch * channels * in_h * in_w; }
  int64_t y_size() const { return batch * channels * out_h() * out_w(); }
  void validate() const;  // sizes and factors ≥ 1 (batch ≥ 0), else ae::Error
};

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
