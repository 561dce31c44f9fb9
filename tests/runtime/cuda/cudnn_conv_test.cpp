// The translation behind `ae bench --device cuda`'s cuDNN comparison (runtime/cuda/cudnn_conv.h),
// checked without a GPU or cuDNN: the descriptor dimensions, pads, strides and dilations for
// Conv2d and ConvTranspose2d layers, and, through fp64 loops written from cuDNN's documented
// definitions of its three calls (cross-correlation, NCHW, filter KCRS), that the call and tensor
// binding chosen for each of ae's passes computes what ae's cpu reference convolution computes.
#include <gtest/gtest.h>

#include <cmath>
#include <string>
#include <vector>

#include "kernels/common/philox.h"
#include "kernels/cpu/conv.h"
#include "runtime/cuda/cudnn_conv.h"

namespace ae {
namespace {

using cuda_bench::AeTensor;
using cuda_bench::ConvPass;
using cuda_bench::CudnnCall;
using cuda_bench::CudnnConvDims;
using V = std::vector<double>;

ConvGeometry conv(int64_t n, int64_t ic, int64_t ih, int64_t iw, int64_t oc, int64_t kh, int64_t kw, int64_t sh,
                  int64_t sw, int64_t ph, int64_t pw, int64_t dh = 1, int64_t dw = 1) {
  ConvGeometry g;
  g.batch = n, g.in_c = ic, g.in_h = ih, g.in_w = iw, g.out_c = oc, g.k_h = kh, g.k_w = kw;
  g.stride_h = sh, g.stride_w = sw, g.pad_h = ph, g.pad_w = pw, g.dil_h = dh, g.dil_w = dw;
  return g;
}

ConvGeometry transposed(ConvGeometry g, int64_t oph, int64_t opw) {
  g.transposed = true, g.out_pad_h = oph, g.out_pad_w = opw;
  return g;
}

std::string label(const ConvGeometry& g) {
  return std::string(g.transposed ? "ConvTranspose2d" : "Conv2d") + " x[" + std::to_string(g.batch) + "," +
         std::to_string(g.in_c) + "," + std::to_string(g.in_h) + "," + std::to_string(g.in_w) + "] c" +
         std::to_string(g.out_c) + " k" + std::to_string(g.k_h) + "x" + std::to_string(g.k_w) + " s" +
         std::to_string(g.stride_h) + "," + std::to_string(g.stride_w) + " p" + std::to_string(g.pad_h) + "," +
         std::to_string(g.pad_w) + " d" + std::to_string(g.dil_h) + "," + std::to_string(g.dil_w) + " op" +
         std::to_string(g.out_pad_h) + "," + std::to_string(g.out_pad_w);
}

// The layers of the model the README trains (1x28x28-C16k3s2p1r-C32k3s2p1r-C64k7|-T32k7r-
// T16k3s2p1o1r-T1k3s2p1o1s) and odd ones: rectangular kernels, unequal strides, pads and
// dilations, output padding below the stride.
std::vector<ConvGeometry> layers() {
  return {conv(3, 1, 28, 28, 16, 3, 3, 2, 2, 1, 1),
          conv(3, 16, 14, 14, 32, 3, 3, 2, 2, 1, 1),
          conv(3, 32, 7, 7, 64, 7, 7, 1, 1, 0, 0),
          transposed(conv(3, 64, 1, 1, 32, 7, 7, 1, 1, 0, 0), 0, 0),
          transposed(conv(3, 32, 7, 7, 16, 3, 3, 2, 2, 1, 1), 1, 1),
          transposed(conv(3, 16, 14, 14, 1, 3, 3, 2, 2, 1, 1), 1, 1),
          conv(2, 3, 11, 9, 5, 3, 2, 2, 3, 1, 0, 2, 1),
          conv(1, 2, 13, 10, 3, 5, 3, 3, 1, 2, 1, 1, 3),
          transposed(conv(2, 4, 5, 6, 3, 3, 2, 3, 2, 1, 0, 2, 1), 2, 1),
          transposed(conv(1, 3, 4, 3, 2, 2, 3, 2, 3, 0, 1, 1, 2), 1, 2)};
}

// cuDNN's three calls as its documentation defines them, in fp64: the cross-correlation
//   y[n,k,p,q] = Σ_(c,r,s) x[n, c, p·u − pad_h + r·dil_h, q·v − pad_w + s·dil_w] · w[k,c,r,s]
// (terms outside x are zero), its adjoint in x (backward data) and in w (backward filter).
struct CudnnReference {
  const CudnnConvDims& d;
  template <typename F>
  void each_term(F&& f) const {  // f(index in x, index in w, index in y) for every product
    const auto [N, C, H, W] = d.x;
    const auto [K, C2, R, S] = d.w;
    const auto [N2, K2, P, Q] = d.y;
    for (int n = 0; n < N; ++n)
      for (int k = 0; k < K; ++k)
        for (int p = 0; p < P; ++p)
          for (int q = 0; q < Q; ++q)
            for (int c = 0; c < C; ++c)
              for (int r = 0; r < R; ++r)
                for (int s = 0; s < S; ++s) {
                  const int h = p * d.stride[0] - d.pad[0] + r * d.dilation[0];
                  const int w = q * d.stride[1] - d.pad[1] + s * d.dilation[1];
                  if (h < 0 || h >= H || w < 0 || w >= W) continue;
                  f(((size_t(n) * C + c) * H + h) * W + w, ((size_t(k) * C + c) * R + r) * S + s,
                    ((size_t(n) * K + k) * P + p) * Q + q);
                }
  }
  V forward(const V& x, const V& w) const {
    V y(size_t(d.y[0]) * d.y[1] * d.y[2] * d.y[3], 0.0);
    each_term([&](size_t xi, size_t wi, size_t yi) { y[yi] += x[xi] * w[wi]; });
    return y;
  }
  V backward_data(const V& w, const V& dy) const {
    V dx(size_t(d.x[0]) * d.x[1] * d.x[2] * d.x[3], 0.0);
    each_term([&](size_t xi, size_t wi, size_t yi) { dx[xi] += dy[yi] * w[wi]; });
    return dx;
  }
  V backward_filter(const V& x, const V& dy) const {
    V dw(size_t(d.w[0]) * d.w[1] * d.w[2] * d.w[3], 0.0);
    each_term([&](size_t xi, size_t wi, size_t yi) { dw[wi] += dy[yi] * x[xi]; });
    return dw;
  }
};

V random(size_t n, uint64_t seed) {
  V v(n);
  for (size_t i = 0; i < n; ++i) v[i] = 2.0 * philox_uniform(seed, 0, PhiloxPurpose::data, uint64_t(i)) - 1.0;
  return v;
}

void expect_near_all(const V& got, const V& want, const std::string& what) {
  ASSERT_EQ(got.size(), want.size()) << what;
  double norm = 0, worst = 0;
  for (size_t i = 0; i < got.size(); ++i) {
    norm += want[i] * want[i];
    worst = std::max(worst, std::fabs(got[i] - want[i]));
  }
  EXPECT_GT(norm, 0.0) << what << ": the reference is all zeros (a vacuous check)";
  EXPECT_LE(worst, 1e-12) << what;  // fp64 sums of ≤ a few hundred terms of size ≤ 1, orders differing
}

TEST(CudnnConvDims, DescriptorsOfConv2dAreAesTensorsAndWeight) {
  const ConvGeometry g = conv(256, 16, 14, 14, 32, 3, 5, 2, 1, 1, 2, 1, 2);
  const CudnnConvDims d = cuda_bench::cudnn_conv_dims(g);
  EXPECT_EQ(d.why_not, "");
  EXPECT_FALSE(d.swapped);
  EXPECT_EQ(d.x, (std::array<int, 4>{256, 16, 14, 14}));
  EXPECT_EQ(d.w, (std::array<int, 4>{32, 16, 3, 5}));
  EXPECT_EQ(d.y, (std::array<int, 4>{256, 32, int(g.out_h()), int(g.out_w())}));
  EXPECT_EQ(d.y[2], 7);   // ⌊(14 + 2 − 2 − 1)/2⌋ + 1
  EXPECT_EQ(d.y[3], 10);  // ⌊(14 + 4 − 8 − 1)/1⌋ + 1
  EXPECT_EQ(d.pad, (std::array<int, 2>{1, 2}));
  EXPECT_EQ(d.stride, (std::array<int, 2>{2, 1}));
  EXPECT_EQ(d.dilation, (std::array<int, 2>{1, 2}));
}

TEST(CudnnConvDims, ConvTranspose2dIsTheConvolutionFromItsOutputBackToItsInput) {
  // The README model's T16k3s2p1o1r: [B, 32, 7, 7] → [B, 16, 14, 14], weight [32, 16, 3, 3].
  const ConvGeometry g = transposed(conv(256, 32, 7, 7, 16, 3, 3, 2, 2, 1, 1), 1, 1);
  const CudnnConvDims d = cuda_bench::cudnn_conv_dims(g);
  EXPECT_EQ(d.why_not, "");
  EXPECT_TRUE(d.swapped);
  EXPECT_EQ(d.x, (std::array<int, 4>{256, 16, 14, 14}));  // ae's y
  EXPECT_EQ(d.w, (std::array<int, 4>{32, 16, 3, 3}));     // ae's weight as stored: [in_c, out_c, kh, kw]
  EXPECT_EQ(d.y, (std::array<int, 4>{256, 32, 7, 7}));    // ae's x
  EXPECT_EQ(d.pad, (std::array<int, 2>{1, 1}));
  EXPECT_EQ(d.stride, (std::array<int, 2>{2, 2}));
  EXPECT_EQ(d.dilation, (std::array<int, 2>{1, 1}));
}

TEST(CudnnConvDims, OutputSizesAreCudnnsFormulaForEveryLayer) {
  for (const ConvGeometry& g : layers()) {
    const CudnnConvDims d = cuda_bench::cudnn_conv_dims(g);
    ASSERT_EQ(d.why_not, "") << label(g);
    for (int a = 0; a < 2; ++a)
      EXPECT_EQ(cuda_bench::cudnn_forward_out_dim(d.x[2 + a], d.pad[a], d.w[2 + a], d.stride[a], d.dilation[a]),
                d.y[2 + a])
          << label(g);
    EXPECT_EQ(d.w[0], d.y[1]) << label(g);
    EXPECT_EQ(d.w[1], d.x[1]) << label(g);
  }
}

TEST(CudnnConvDims, OutputPaddingAtOrAboveTheStrideIsLeftOutWithAReason) {
  // PyTorch accepts output_padding < dilation even when it is ≥ stride; cuDNN's backward data does not.
  const ConvGeometry g = transposed(conv(2, 3, 5, 5, 4, 3, 3, 1, 1, 0, 0, 2, 2), 1, 0);
  const CudnnConvDims d = cuda_bench::cudnn_conv_dims(g);
  EXPECT_NE(d.why_not.find("output padding"), std::string::npos) << d.why_not;
  EXPECT_THROW(cuda_bench::cudnn_conv_dims(conv(1, 1, 2, 2, 1, 3, 3, 1, 1, 0, 0)), Error);  // kernel > input
}

TEST(CudnnBinding, EachPassGoesToTheDocumentedCall) {
  using cuda_bench::cudnn_binding;
  EXPECT_EQ(cudnn_binding(ConvPass::forward, false).call, CudnnCall::forward);
  EXPECT_EQ(cudnn_binding(ConvPass::forward, true).call, CudnnCall::backward_data);
  EXPECT_EQ(cudnn_binding(ConvPass::data_grad, false).call, CudnnCall::backward_data);
  EXPECT_EQ(cudnn_binding(ConvPass::data_grad, true).call, CudnnCall::forward);
  EXPECT_EQ(cudnn_binding(ConvPass::weight_grad, false).call, CudnnCall::backward_filter);
  EXPECT_EQ(cudnn_binding(ConvPass::weight_grad, true).call, CudnnCall::backward_filter);
}

// For every layer and pass: ae's tensors, bound to cuDNN's operands as cudnn_binding says, through
// the reference of that cuDNN call, give what ae's cpu convolution (fp64 loops) gives.
TEST(CudnnBinding, CudnnsCallOnTheBoundTensorsEqualsAesConvolutionForEveryPass) {
  uint64_t seed = 100;
  for (const ConvGeometry& g : layers()) {
    const CudnnConvDims d = cuda_bench::cudnn_conv_dims(g);
    ASSERT_EQ(d.why_not, "") << label(g);
    const CudnnReference ref{d};
    const V x = random(size_t(g.x_size()), ++seed), w = random(size_t(g.w_size()), ++seed),
            dy = random(size_t(g.y_size()), ++seed);
    for (ConvPass pass : {ConvPass::forward, ConvPass::data_grad, ConvPass::weight_grad}) {
      const std::string what = label(g) + " " + cuda_bench::conv_pass_name(pass);
      V ae_out;  // ae's result of the pass
      if (pass == ConvPass::forward) {
        ae_out.assign(size_t(g.y_size()), NAN);
        cpu::conv2d_forward<double>(g, x.data(), w.data(), nullptr, Act::linear, ae_out.data(), nullptr);
      } else if (pass == ConvPass::data_grad) {
        ae_out.assign(size_t(g.x_size()), NAN);
        cpu::conv2d_backward<double>(g, dy.data(), nullptr, nullptr, Act::linear, nullptr, w.data(), nullptr, nullptr,
                                     nullptr, ae_out.data(), false, false);
      } else {
        ae_out.assign(size_t(g.w_size()), NAN);
        cpu::conv2d_backward<double>(g, dy.data(), nullptr, nullptr, Act::linear, x.data(), nullptr, nullptr,
                                     ae_out.data(), nullptr, nullptr, false, false);
      }
      const cuda_bench::CudnnBinding b = cuda_bench::cudnn_binding(pass, g.transposed);
      // The pass's inputs, by ae's names; its output is the tensor the call writes.
      auto input = [&](AeTensor t) -> const V& {
        EXPECT_TRUE(t == AeTensor::x || t == AeTensor::dy) << what << ": the call reads an output of the pass";
        return t == AeTensor::x ? x : dy;
      };
      V cudnn_out;
      switch (b.call) {
        case CudnnCall::forward:
          EXPECT_TRUE(b.on_y == AeTensor::y || b.on_y == AeTensor::dx) << what;
          cudnn_out = ref.forward(input(b.on_x), w);
          break;
        case CudnnCall::backward_data:
          EXPECT_TRUE(b.on_x == AeTensor::y || b.on_x == AeTensor::dx) << what;
          cudnn_out = ref.backward_data(w, input(b.on_y));
          break;
        case CudnnCall::backward_filter: cudnn_out = ref.backward_filter(input(b.on_x), input(b.on_y)); break;
      }
      expect_near_all(cudnn_out, ae_out, what);
    }
  }
}

}  // namespace
}  // namespace ae
