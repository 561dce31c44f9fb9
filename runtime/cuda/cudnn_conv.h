// How one of ae's convolution layers is put to cuDNN's convolution API for `ae bench --device
// cuda` (runtime/cuda/bench_cudnn.cpp): the dimensions of cuDNN's x, filter and y descriptors and its
// pads, strides and dilations, and which cuDNN call computes each of ae's three passes. Plain host
// code without cuDNN's types, so that a test checks the translation on a machine without a GPU or
// cuDNN (tests/runtime/cuda/cudnn_conv_test.cpp, against ae's cpu convolution).
#pragma once

#include <array>
#include <cstdint>
#include <limits>
#include <string>

#include "kernels/common/conv_geometry.h"
#include "kernels/common/error.h"

namespace ae::cuda_bench {

// The passes of a convolution layer as ae runs them (kernels/cuda/conv.cuh).
enum class ConvPass { forward, data_grad, weight_grad };
// cuDNN's three convolution calls.
enum class CudnnCall { forward, backward_data, backward_filter };

// The ordinary convolution cuDNN is given (CUDNN_CROSS_CORRELATION, NCHW, fp32):
// x [n, c, h, w] → y [n, k, p, q] with the filter [k, c, r, s].
//   Conv2d:           cuDNN's x is ae's x, its y ae's y, the filter ae's weight [out_c, in_c, kh, kw].
//   ConvTranspose2d:  the convolution mapping ae's y shape back to ae's x shape, whose filter is ae's
//                     weight as it is stored, [in_c, out_c, kh, kw]; `swapped`: cuDNN's x is ae's y
//                     (and dy) and cuDNN's y is ae's x (and dx).
struct CudnnConvDims {
  std::array<int, 4> x{}, w{}, y{};
  std::array<int, 2> pad{}, stride{}, dilation{};  // {h, w}
  bool swapped = false;
  // Empty when cuDNN can compute the layer, else why not (the comparison leaves it out).
  std::string why_not;
};

// cuDNN's forward output size (cudnnGetConvolution2dForwardOutputDim's documented formula):
// 1 + (in + 2·pad − ((filter − 1)·dilation + 1)) / stride.
inline int64_t cudnn_forward_out_dim(int64_t in, int64_t pad, int64_t filter, int64_t stride, int64_t dilation) {
  return 1 + (in + 2 * pad - ((filter - 1) * dilation + 1)) / stride;
}

// Validates g (ae::Error as ConvGeometry::validate). A layer cuDNN's legacy API cannot state comes
// back with why_not set: a dimension of 2^31 or more, or a ConvTranspose2d whose output padding is
// not below its stride (then the forward convolution of its output's shape is not its input's, which
// cuDNN's backward data requires; PyTorch allows it when the dilation is larger).
inline CudnnConvDims cudnn_conv_dims(const ConvGeometry& g) {
  g.validate();
  CudnnConvDims d;
  const int64_t big = std::numeric_limits<int>::max();
  const int64_t a_c = g.transposed ? g.out_c : g.in_c, a_h = g.transposed ? g.out_h() : g.in_h,
                a_w = g.transposed ? g.out_w() : g.in_w;  // cuDNN's x
  const int64_t b_c = g.transposed ? g.in_c : g.out_c, b_h = g.transposed ? g.in_h : g.out_h(),
                b_w = g.transposed ? g.in_w : g.out_w();  // cuDNN's y
  for (int64_t v : {g.batch, a_c, a_h, a_w, b_c, b_h, b_w, g.k_h, g.k_w})
    if (v > big) {
      d.why_not = "a dimension of 2^31 or more";
      return d;
    }
  d.swapped = g.transposed;
  d.x = {int(g.batch), int(a_c), int(a_h), int(a_w)};
  d.y = {int(g.batch), int(b_c), int(b_h), int(b_w)};
  d.w = {int(b_c), int(a_c), int(g.k_h), int(g.k_w)};  // [k, c, r, s]: ae's weight in either case
  d.pad = {int(g.pad_h), int(g.pad_w)};
  d.stride = {int(g.stride_h), int(g.stride_w)};
  d.dilation = {int(g.dil_h), int(g.dil_w)};
  if (cudnn_forward_out_dim(a_h, g.pad_h, g.k_h, g.stride_h, g.dil_h) != b_h ||
      cudnn_forward_out_dim(a_w, g.pad_w, g.k_w, g.stride_w, g.dil_w) != b_w) {
    // Conv2d's sizes are cuDNN's formula; only a transposed layer's output padding can break it.
    AE_CHECK(g.transposed, "cudnn_conv_dims: a Conv2d whose output size is not cuDNN's (", b_h, "x", b_w, ")");
    d.why_not = "output padding (" + std::to_string(g.out_pad_h) + "," + std::to_string(g.out_pad_w) +
                ") not below the stride: cuDNN's backward data cannot produce that output size";
  }
  return d;
}

// ae's tensors of one layer: the input x and output y, their gradients dx and dy, the weight and
// its gradient.
enum class AeTensor { x, y, dx, dy, w, dw };

// The cuDNN call that computes one of ae's passes and which of ae's tensors it takes on each side:
// `on_x` is bound to cuDNN's x descriptor (x of the forward and backward filter, dx of the backward
// data), `on_y` to its y descriptor (y, or dy), the weight (w, or dw for the backward filter) to the
// filter descriptor. The call's output is y (forward), dx (backward data) or the filter gradient.
struct CudnnBinding {
  CudnnCall call;
  AeTensor on_x, on_y;
};

// Conv2d: forward → forward (x, y); data gradient → backward data (dx, dy); weight gradient →
// backward filter (x, dy). ConvTranspose2d (cuDNN's x and y are ae's y and x sides): forward →
// backward data (dx ← ae's y, dy ← ae's x); data gradient → forward (x ← ae's dy, y ← ae's dx);
// weight gradient → backward filter (x ← ae's dy, dy ← ae's x).
inline CudnnBinding cudnn_binding(ConvPass pass, bool transposed) {
  // ae's tensors on the x side and the y side of the layer in this pass.
  const AeTensor x_side = pass == ConvPass::data_grad ? AeTensor::dx : AeTensor::x;
  const AeTensor y_side = pass == ConvPass::forward ? AeTensor::y : AeTensor::dy;
  CudnnCall call = CudnnCall::backward_filter;
  if (pass == ConvPass::forward) call = transposed ? CudnnCall::backward_data : CudnnCall::forward;
  if (pass == ConvPass::data_grad) call = transposed ? CudnnCall::forward : CudnnCall::backward_data;
  return transposed ? CudnnBinding{call, y_side, x_side} : CudnnBinding{call, x_side, y_side};
}

inline const char* cudnn_call_name(CudnnCall c) {
  switch (c) {
    case CudnnCall::forward: return "ConvolutionForward";
    case CudnnCall::backward_data: return "ConvolutionBackwardData";
    case CudnnCall::backward_filter: return "ConvolutionBackwardFilter";
  }
  return "?";
}

inline const char* conv_pass_name(ConvPass p) {
  switch (p) {
    case ConvPass::forward: return "fwd";
    case ConvPass::data_grad: return "bwd_data";
    case ConvPass::weight_grad: return "bwd_filter";
  }
  return "?";
}

}  // namespace ae::cuda_bench
