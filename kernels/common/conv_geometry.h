// The shapes of ae's 2-D convolution, pooling and upsampling layers (NCHW, PyTorch's formulas):
// plain host structs that the graph's node attributes carry (batch 0, set per run) and every
// backend's kernels take (kernels/cpu/conv.h, pool.h; kernels/cuda/conv.cuh, pool.cuh). Their
// validate() and out_*() are defined in kernels/cpu/conv.cpp and kernels/cpu/pool.cpp.
#pragma once

#include <cstdint>

namespace ae {

// The shapes of one convolution layer. x is [batch, in_c, in_h, in_w], y [batch, out_c, out_h(),
// out_w()]. Weights: [out_c, in_c, k_h, k_w] (Conv2d), or with `transposed` [in_c, out_c, k_h, k_w]
// (ConvTranspose2d: the weight of the ordinary convolution mapping y's shape back to x's). Bias
// [out_c]. Padding is symmetric; out_pad_* (transposed only) adds rows/columns at the bottom/right.
// Dilation 1 is none.
struct ConvGeometry {
  int64_t batch = 0, in_c = 0, in_h = 0, in_w = 0, out_c = 0, k_h = 0, k_w = 0;
  int64_t stride_h = 1, stride_w = 1, pad_h = 0, pad_w = 0, dil_h = 1, dil_w = 1, out_pad_h = 0, out_pad_w = 0;
  bool transposed = false;

  // As PyTorch computes them:
  //   Conv2d           ⌊(H + 2p − d(k−1) − 1)/s⌋ + 1
  //   ConvTranspose2d  (H − 1)s − 2p + d(k−1) + out_pad + 1
  int64_t out_h() const;
  int64_t out_w() const;
  int64_t x_size() const { return batch * in_c * in_h * in_w; }
  int64_t y_size() const { return batch * out_c * out_h() * out_w(); }
  int64_t w_size() const { return out_c * in_c * k_h * k_w; }

  // Throws ae::Error with a one-line message naming the input and weight shapes when the layer is
  // not one PyTorch would build: a size, stride or dilation below 1 (batch may be 0), a negative
  // padding, a dilated kernel larger than the padded input (Conv2d), an output padding on a Conv2d
  // or not smaller than either the stride or the dilation (ConvTranspose2d), an empty output.
  void validate() const;
};

// A pooling window over x [batch, channels, in_h, in_w] → y [batch, channels, out_h(), out_w()]
// (floor mode: out = ⌊(H + 2p − k)/s⌋ + 1). Padding is symmetric and at most half the kernel.
struct PoolGeometry {
  int64_t batch = 0, channels = 0, in_h = 0, in_w = 0, k_h = 0, k_w = 0, stride_h = 1, stride_w = 1, pad_h = 0, pad_w = 0;

  int64_t out_h() const { return (in_h + 2 * pad_h - k_h) / stride_h + 1; }
  int64_t out_w() const { return (in_w + 2 * pad_w - k_w) / stride_w + 1; }
  int64_t x_size() const { return batch * channels * in_h * in_w; }
  int64_t y_size() const { return batch * channels * out_h() * out_w(); }

  // Throws ae::Error naming the input shape and window when PyTorch would refuse the layer: a size,
  // kernel or stride below 1 (batch may be 0), a negative padding or one above half the kernel,
  // a window larger than the padded input. `op` names the layer in the message.
  void validate(const char* op) const;
};

// Nearest-neighbour upsampling by integer factors: x [batch, channels, in_h, in_w] →
// y [batch, channels, in_h·f_h, in_w·f_w], y[oh, ow] = x[oh / f_h, ow / f_w].
struct UpsampleGeometry {
  int64_t batch = 0, channels = 0, in_h = 0, in_w = 0, f_h = 1, f_w = 1;

  int64_t out_h() const { return in_h * f_h; }
  int64_t out_w() const { return in_w * f_w; }
  int64_t x_size() const { return batch * channels * in_h * in_w; }
  int64_t y_size() const { return batch * channels * out_h() * out_w(); }
  void validate() const;  // sizes and factors ≥ 1 (batch ≥ 0), else ae::Error
};

}  // namespace ae
