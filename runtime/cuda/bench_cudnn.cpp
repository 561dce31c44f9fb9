// cuDNN beside ae's convolution kernels for `ae bench --device cuda` (bench_cuda.h: compare_convs):
// every conv_fwd op's forward and every conv_bwd op's data and weight gradients, ae's kernel and
// cuDNN's legacy convolution call each timed alone on a stream of the bench's own, then their
// outputs compared. The layer → descriptor translation and the call chosen for each pass are
// runtime/cuda/cudnn_conv.h's, tested on the host (tests/runtime/cuda/cudnn_conv_test.cpp).
// nvcc build only; the cuDNN part needs AE_HAVE_CUDNN (runtime/cuda/nvcc.cmake found cuDNN).
#if !defined(AE_CUDA_BACKEND_SIM)

#include <algorithm>
#include <cmath>
#include <iterator>
#include <string>
#include <vector>

#include "graph/plan.h"
#include "kernels/common/activation.h"
#include "kernels/common/error.h"
#include "kernels/common/philox.h"
#include "kernels/cuda/conv.cuh"
#include "runtime/cuda/bench_cuda.h"
#include "runtime/cuda/bench_util.h"
#include "runtime/cuda/cudnn_conv.h"
#include "runtime/executor.h"

#if defined(AE_HAVE_CUDNN)
#include <cudnn.h>

#define AE_CUDNN_CHECK(call)                                                                        \
  do {                                                                                              \
    cudnnStatus_t ae_cudnn_check_s = (call);                                                        \
    if (ae_cudnn_check_s != CUDNN_STATUS_SUCCESS)                                                   \
      ::ae::detail::fail(__FILE__, __LINE__, #call,                                                 \
                         ::ae::detail::concat("cuDNN: ", cudnnGetErrorString(ae_cudnn_check_s))); \
  } while (0)
#endif

namespace ae::cuda_bench {

#if !defined(AE_HAVE_CUDNN)

ConvComparisons compare_convs(Executor&, const Repeat&) {
  ConvComparisons c;
  c.note = "left out: this build of ae found no cuDNN (cudnn.h and libcudnn beside the CUDA toolkit, or "
           "-DAE_CUDNN_ROOT=...) when it was configured";
  return c;
}

#else

namespace {

using namespace bench_util;

// The output bound of one pass: |ae − cuDNN| ≤ TOL·(scale·√K + |ref|), K the length of each output
// element's sum and scale the size of one term. TOL is about 840 fp32 units of roundoff, far above
// a direct sum's error (tests/kernels/cuda/tolerance.h takes 32) because cuDNN may pick FFT or
// Winograd algorithms, whose rounding is larger; a layout or binding mistake is an error of the
// order of the output itself, still far beyond it. The forward's activation can stretch the
// difference by its largest slope (selu's, 1.76): ACT_SLOPE.
constexpr double TOL = 1e-4;
constexpr double ACT_SLOPE = 2;

// Descriptors of one layer, released on every path: the tensors on cuDNN's x and y sides, the
// filter, and the convolution (cross-correlation, fp32, FMA math: no TF32).
struct Descriptors {
  cudnnTensorDescriptor_t x = nullptr, y = nullptr;
  cudnnFilterDescriptor_t w = nullptr;
  cudnnConvolutionDescriptor_t conv = nullptr;

  explicit Descriptors(const CudnnConvDims& d) {
    AE_CUDNN_CHECK(cudnnCreateTensorDescriptor(&x));
    AE_CUDNN_CHECK(cudnnCreateTensorDescriptor(&y));
    AE_CUDNN_CHECK(cudnnCreateFilterDescriptor(&w));
    AE_CUDNN_CHECK(cudnnCreateConvolutionDescriptor(&conv));
    AE_CUDNN_CHECK(cudnnSetTensor4dDescriptor(x, CUDNN_TENSOR_NCHW, CUDNN_DATA_FLOAT, d.x[0], d.x[1], d.x[2], d.x[3]));
    AE_CUDNN_CHECK(cudnnSetTensor4dDescriptor(y, CUDNN_TENSOR_NCHW, CUDNN_DATA_FLOAT, d.y[0], d.y[1], d.y[2], d.y[3]));
    AE_CUDNN_CHECK(cudnnSetFilter4dDescriptor(w, CUDNN_DATA_FLOAT, CUDNN_TENSOR_NCHW, d.w[0], d.w[1], d.w[2], d.w[3]));
    AE_CUDNN_CHECK(cudnnSetConvolution2dDescriptor(conv, d.pad[0], d.pad[1], d.stride[0], d.stride[1], d.dilation[0],
                                                   d.dilation[1], CUDNN_CROSS_CORRELATION, CUDNN_DATA_FLOAT));
    AE_CUDNN_CHECK(cudnnSetConvolutionMathType(conv, CUDNN_FMA_MATH));
    // cuDNN's own output size must be the one the translation gave (its backward data requires it).
    int n = 0, k = 0, p = 0, q = 0;
    AE_CUDNN_CHECK(cudnnGetConvolution2dForwardOutputDim(conv, x, w, &n, &k, &p, &q));
    AE_CHECK(n == d.y[0] && k == d.y[1] && p == d.y[2] && q == d.y[3], "cuDNN computes the output [", n, ",", k, ",", p,
             ",", q, "] where ae's layer has [", d.y[0], ",", d.y[1], ",", d.y[2], ",", d.y[3], "]");
  }
  ~Descriptors() {
    if (conv) cudnnDestroyConvolutionDescriptor(conv);
    if (w) cudnnDestroyFilterDescriptor(w);
    if (y) cudnnDestroyTensorDescriptor(y);
    if (x) cudnnDestroyTensorDescriptor(x);
  }
  Descriptors(const Descriptors&) = delete;
  Descriptors& operator=(const Descriptors&) = delete;
};

struct CudnnHandle {
  cudnnHandle_t h = nullptr;
  CudnnHandle() { AE_CUDNN_CHECK(cudnnCreate(&h)); }
  ~CudnnHandle() { cudnnDestroy(h); }
};

const char* fwd_algo_name(int a) {
  static const char* const names[] = {"IMPLICIT_GEMM", "IMPLICIT_PRECOMP_GEMM", "GEMM", "DIRECT",
                                      "FFT", "FFT_TILING", "WINOGRAD", "WINOGRAD_NONFUSED"};
  return a >= 0 && a < int(std::size(names)) ? names[a] : "?";
}
const char* bwd_data_algo_name(int a) {
  static const char* const names[] = {"ALGO_0", "ALGO_1", "FFT", "FFT_TILING", "WINOGRAD", "WINOGRAD_NONFUSED"};
  return a >= 0 && a < int(std::size(names)) ? names[a] : "?";
}
const char* bwd_filter_algo_name(int a) {
  static const char* const names[] = {"ALGO_0",   "ALGO_1",           "FFT",       "ALGO_3",
                                      "WINOGRAD", "WINOGRAD_NONFUSED", "FFT_TILING"};
  return a >= 0 && a < int(std::size(names)) ? names[a] : "?";
}

// The algorithm of one call: the fastest that cudnnFind*AlgorithmEx measured with FMA math (no TF32)
// and a workspace within the scratch.
struct Algo {
  int algo = -1;  // -1: none
  size_t workspace = 0;
};

// cudnnFind*AlgorithmEx's results come sorted by time; the first that ran and is not a tensor-op
// (TF32) result wins. The descriptor asks for FMA math already and keeps it for the timed calls;
// the filter guards against a result that reports tensor-op math anyway.
template <typename PERF>
Algo first_fma(const std::vector<PERF>& perf, int found) {
  for (int i = 0; i < found; ++i) {
    const PERF& p = perf[size_t(i)];
    if (p.status == CUDNN_STATUS_SUCCESS && p.mathType != CUDNN_TENSOR_OP_MATH &&
        p.mathType != CUDNN_TENSOR_OP_MATH_ALLOW_CONVERSION)
      return {int(p.algo), p.memory};
  }
  return {};
}

// One cuDNN call on one layer: its descriptors and chosen algorithm, and the device buffers bound to
// its x side, filter and y side (inputs and output as the call's kind says).
class CudnnConv {
 public:
  CudnnConv(cudnnHandle_t h, const CudnnConvDims& d, CudnnCall call, float* x, float* w, float* y, void* ws,
            size_t ws_bytes)
      : m_h(h), m_desc(d), m_call(call), m_x(x), m_w(w), m_y(y), m_ws(ws) {
    int found = 0;
    switch (call) {
      case CudnnCall::forward: {
        int n = 0;
        AE_CUDNN_CHECK(cudnnGetConvolutionForwardAlgorithmMaxCount(h, &n));
        std::vector<cudnnConvolutionFwdAlgoPerf_t> perf(size_t(std::max(n, 1)));
        AE_CUDNN_CHECK(cudnnFindConvolutionForwardAlgorithmEx(h, m_desc.x, x, m_desc.w, w, m_desc.conv, m_desc.y, y, n,
                                                              &found, perf.data(), ws, ws_bytes));
        m_algo = first_fma(perf, found);
        m_name = fwd_algo_name(m_algo.algo);
        break;
      }
      case CudnnCall::backward_data: {
        int n = 0;
        AE_CUDNN_CHECK(cudnnGetConvolutionBackwardDataAlgorithmMaxCount(h, &n));
        std::vector<cudnnConvolutionBwdDataAlgoPerf_t> perf(size_t(std::max(n, 1)));
        AE_CUDNN_CHECK(cudnnFindConvolutionBackwardDataAlgorithmEx(h, m_desc.w, w, m_desc.y, y, m_desc.conv, m_desc.x, x,
                                                                   n, &found, perf.data(), ws, ws_bytes));
        m_algo = first_fma(perf, found);
        m_name = bwd_data_algo_name(m_algo.algo);
        break;
      }
      case CudnnCall::backward_filter: {
        int n = 0;
        AE_CUDNN_CHECK(cudnnGetConvolutionBackwardFilterAlgorithmMaxCount(h, &n));
        std::vector<cudnnConvolutionBwdFilterAlgoPerf_t> perf(size_t(std::max(n, 1)));
        AE_CUDNN_CHECK(cudnnFindConvolutionBackwardFilterAlgorithmEx(h, m_desc.x, x, m_desc.y, y, m_desc.conv, m_desc.w,
                                                                     w, n, &found, perf.data(), ws, ws_bytes));
        m_algo = first_fma(perf, found);
        m_name = bwd_filter_algo_name(m_algo.algo);
        break;
      }
    }
  }

  bool usable() const { return m_algo.algo >= 0; }
  const std::string& algo_name() const { return m_name; }
  size_t workspace() const { return m_algo.workspace; }

  // forward: y = conv(x, w); backward data: x = conv's transpose at y; backward filter: w = the
  // weight gradient at (x, y). The output is overwritten (β = 0).
  void run() {
    const float alpha = 1, beta = 0;
    switch (m_call) {
      case CudnnCall::forward:
        AE_CUDNN_CHECK(cudnnConvolutionForward(m_h, &alpha, m_desc.x, m_x, m_desc.w, m_w, m_desc.conv,
                                               cudnnConvolutionFwdAlgo_t(m_algo.algo), m_ws, m_algo.workspace, &beta,
                                               m_desc.y, m_y));
        break;
      case CudnnCall::backward_data:
        AE_CUDNN_CHECK(cudnnConvolutionBackwardData(m_h, &alpha, m_desc.w, m_w, m_desc.y, m_y, m_desc.conv,
                                                    cudnnConvolutionBwdDataAlgo_t(m_algo.algo), m_ws, m_algo.workspace,
                                                    &beta, m_desc.x, m_x));
        break;
      case CudnnCall::backward_filter:
        AE_CUDNN_CHECK(cudnnConvolutionBackwardFilter(m_h, &alpha, m_desc.x, m_x, m_desc.y, m_y, m_desc.conv,
                                                      cudnnConvolutionBwdFilterAlgo_t(m_algo.algo), m_ws,
                                                      m_algo.workspace, &beta, m_desc.w, m_w));
        break;
    }
  }

 private:
  cudnnHandle_t m_h;
  Descriptors m_desc;
  CudnnCall m_call;
  float *m_x, *m_w, *m_y;
  void* m_ws;
  Algo m_algo;
  std::string m_name = "-";
};

std::string layer_label(const ConvGeometry& g) {
  auto pair = [](int64_t a, int64_t b) {
    return a == b ? std::to_string(a) : std::to_string(a) + "," + std::to_string(b);
  };
  std::string s = std::string(g.transposed ? "ConvT " : "Conv2d ") + std::to_string(g.in_c) + "→" +
                  std::to_string(g.out_c) + " " + std::to_string(g.in_h) + "x" + std::to_string(g.in_w) + " k" +
                  std::to_string(g.k_h) + "x" + std::to_string(g.k_w) + " s" + pair(g.stride_h, g.stride_w) + " p" +
                  pair(g.pad_h, g.pad_w);
  if (g.dil_h != 1 || g.dil_w != 1) s += " d" + pair(g.dil_h, g.dil_w);
  if (g.out_pad_h || g.out_pad_w) s += " op" + pair(g.out_pad_h, g.out_pad_w);
  return s;
}

// Length of each output element's sum in a cuDNN call: c·r·s (forward), k·r·s (backward data),
// n·p·q (backward filter).
int64_t reduction_length(const CudnnConvDims& d, CudnnCall call) {
  const int64_t rs = int64_t(d.w[2]) * d.w[3];
  switch (call) {
    case CudnnCall::forward: return d.x[1] * rs;
    case CudnnCall::backward_data: return d.y[1] * rs;
    case CudnnCall::backward_filter: break;
  }
  return int64_t(d.y[0]) * d.y[2] * d.y[3];
}

std::vector<float> philox_signed(size_t n, uint64_t seed) {
  std::vector<float> v(n);
  for (size_t i = 0; i < n; ++i) v[i] = 2.0f * philox_uniform(seed, 0, PhiloxPurpose::data, uint64_t(i)) - 1.0f;
  return v;
}

// One pass of one layer, measured and checked (see ConvComparison).
struct PassRun {
  Device& dev;
  cudaStream_t s;
  cudnnHandle_t h;
  const Repeat& r;
  Scratch& ws;
  size_t ws_bytes;

  ConvComparison run(const PlanOp& op, int index, ConvPass pass, const ConvGeometry& g) {
    ConvComparison c;
    c.index = index;
    c.pass = conv_pass_name(pass);
    c.layer = layer_label(g);
    const CudnnBinding bind = cudnn_binding(pass, g.transposed);
    c.cudnn_call = cudnn_call_name(bind.call);
    const bool bias = pass == ConvPass::forward && op.in[2] >= 0;
    const Act act = pass == ConvPass::forward ? op.attr.act : Act::linear;  // the gradients: dz given
    c.ae_work = pass != ConvPass::forward ? "-"
                : bias                    ? std::string("bias+") + act_name(act)
                                          : std::string(act_name(act));
    const CudnnConvDims d = cudnn_conv_dims(g);
    if (!d.why_not.empty()) {
      c.skipped = d.why_not;
      return c;
    }
    // Inputs from Philox in [-1, 1), each from its own seed; outputs prefilled with NaN.
    const size_t nx = size_t(g.x_size()), ny = size_t(g.y_size()), nw = size_t(g.w_size()), nb = size_t(g.out_c);
    const std::vector<float> hx = philox_signed(nx, 1), hw = philox_signed(nw, 2), hdy = philox_signed(ny, 3),
                             hb = philox_signed(nb, 4);
    Scratch x(&dev, nx * sizeof(float)), w(&dev, nw * sizeof(float)), dy(&dev, ny * sizeof(float)),
        b(&dev, nb * sizeof(float));
    dev.upload(x.p, hx.data(), nx * sizeof(float));
    dev.upload(w.p, hw.data(), nw * sizeof(float));
    dev.upload(dy.p, hdy.data(), ny * sizeof(float));
    dev.upload(b.p, hb.data(), nb * sizeof(float));
    const size_t nout = pass == ConvPass::forward ? ny : pass == ConvPass::data_grad ? nx : nw;
    Scratch out_ae(&dev, nout * sizeof(float)), out_dnn(&dev, nout * sizeof(float)), z(&dev, ny * sizeof(float));
    const std::vector<float> nan(nout, NAN);
    dev.upload(out_ae.p, nan.data(), nout * sizeof(float));
    dev.upload(out_dnn.p, nan.data(), nout * sizeof(float));

    // ae's tensors as cuDNN's operands: inputs are the shared scratch, the output cuDNN's own.
    auto operand = [&](AeTensor t) -> float* {
      switch (t) {
        case AeTensor::x: return x.as<float>();
        case AeTensor::dy: return dy.as<float>();
        case AeTensor::w: return w.as<float>();
        default: return out_dnn.as<float>();  // y, dx, dw: what the call writes
      }
    };
    float* on_filter = pass == ConvPass::weight_grad ? out_dnn.as<float>() : w.as<float>();
    AE_CUDNN_CHECK(cudnnSetStream(h, s));
    CudnnConv dnn(h, d, bind.call, operand(bind.on_x), on_filter, operand(bind.on_y), ws.p, ws_bytes);
    if (!dnn.usable()) {
      c.skipped = "cuDNN measured no FMA-math (non-TF32) algorithm for this call within " +
                  std::to_string(ws_bytes >> 20) + " MiB of workspace";
      return c;
    }
    c.algo = dnn.algo_name();
    c.workspace_mib = double(dnn.workspace()) / double(1 << 20);

    // ae's kernel as the plan runs it: the forward with its fused bias + activation (and z when the
    // plan keeps it); each gradient alone, from dz (act′ is the plan's, applied as dy loads).
    float* zp = pass == ConvPass::forward && op.out.size() > 1 && op.out[1] >= 0 ? z.as<float>() : nullptr;
    auto ae_call = [&] {
      switch (pass) {
        case ConvPass::forward:
          cuda::conv2d_forward<float>(g, x.as<float>(), w.as<float>(), bias ? b.as<float>() : nullptr, act,
                                      out_ae.as<float>(), zp, s);
          break;
        case ConvPass::data_grad:
          cuda::conv2d_backward<float>(g, dy.as<float>(), nullptr, nullptr, Act::linear, nullptr, w.as<float>(), nullptr,
                                       nullptr, out_ae.as<float>(), false, false, s);
          break;
        case ConvPass::weight_grad:
          cuda::conv2d_backward<float>(g, dy.as<float>(), nullptr, nullptr, Act::linear, x.as<float>(), nullptr,
                                       out_ae.as<float>(), nullptr, nullptr, false, false, s);
          break;
      }
    };
    const int64_t reps = std::max<int64_t>(r.steps, 1);
    c.ae_ms = time_calls(s, r, reps, ae_call);
    c.cudnn_ms = time_calls(s, r, reps, [&] { dnn.run(); });
    c.ratio = c.cudnn_ms > 0 ? c.ae_ms / c.cudnn_ms : 0;

    AE_CUDA_CHECK(cudaStreamSynchronize(s));
    std::vector<float> a(nout), ref(nout);
    dev.download(a.data(), out_ae.p, nout * sizeof(float));
    dev.download(ref.data(), out_dnn.p, nout * sizeof(float));
    const int64_t hw_out = g.out_h() * g.out_w();
    const double K = double(reduction_length(d, bind.call));
    const double slope = pass == ConvPass::forward && act != Act::linear ? ACT_SLOPE : 1.0;
    for (size_t i = 0; i < nout; ++i) {
      double want = ref[i];
      if (pass == ConvPass::forward)  // ae's epilogue on cuDNN's convolution, in ae's shared math
        want = act_forward(act, float(want + (bias ? hb[size_t(int64_t(i) / hw_out % g.out_c)] : 0.0f)));
      const double diff = std::fabs(double(a[i]) - want);
      const double bound = slope * TOL * (std::sqrt(K) + std::fabs(want));  // terms of size ≤ 1: scale 1
      const double q = std::isfinite(diff) ? diff / bound : INFINITY;       // NaN/Inf is a mismatch
      c.max_abs_diff = std::isfinite(diff) ? std::max(c.max_abs_diff, diff) : INFINITY;
      c.worst_vs_bound = std::max(c.worst_vs_bound, q);
    }
    c.within_tolerance = c.worst_vs_bound <= 1;
    return c;
  }
};

}  // namespace

ConvComparisons compare_convs(Executor& ex, const Repeat& r) {
  ConvComparisons out;
  out.cudnn = true;
  out.note = "cuDNN " + std::to_string(cudnnGetVersion()) +
             ", fp32 NCHW, CUDNN_FMA_MATH (no TF32), the fastest algorithm cudnnFind*AlgorithmEx measured; "
             "cuDNN times the convolution alone (bias and activation excluded), ae's forward includes its fused "
             "bias + activation (checked against cuDNN's output with them applied on the host); the gradients "
             "from dz on both sides (ae's plan applies act′ as dy loads); inputs Philox in [-1, 1)";
  Device& dev = device_of(ex);
  dev.synchronize();
  const Plan& plan = ex.plan();
  Stream st;
  CudnnHandle dnn;
  const size_t ws_bytes = size_t(256) << 20;  // the workspace cuDNN's algorithms may use
  Scratch ws(&dev, ws_bytes);
  PassRun runner{dev, st.s, dnn.h, r, ws, ws_bytes};
  for (size_t i = 0; i < plan.ops.size(); ++i) {
    const PlanOp& op = plan.ops[i];
    if (op.kind != PlanOpKind::conv_fwd && op.kind != PlanOpKind::conv_bwd) continue;
    const ConvGeometry g = conv_geometry(op, plan.batch);
    std::vector<ConvPass> passes;
    if (op.kind == PlanOpKind::conv_fwd) passes.push_back(ConvPass::forward);
    if (op.kind == PlanOpKind::conv_bwd && op.out[2] >= 0) passes.push_back(ConvPass::data_grad);
    if (op.kind == PlanOpKind::conv_bwd && op.out[0] >= 0) passes.push_back(ConvPass::weight_grad);
    for (ConvPass p : passes) {
      // ae's convolution kernels are fp32; a mixed-precision plan's would read other types.
      if (plan.graph.tensors[size_t(op.in[0])].dtype != DType::f32) {
        ConvComparison c;
        c.index = int(i), c.pass = conv_pass_name(p), c.layer = layer_label(g);
        c.skipped = "not an fp32 op";
        out.rows.push_back(c);
        continue;
      }
      out.rows.push_back(runner.run(op, int(i), p, g));
    }
  }
  AE_CUDA_CHECK(cudaStreamSynchronize(st.s));
  return out;
}

#endif  // AE_HAVE_CUDNN

}  // namespace ae::cuda_bench

#endif  // !AE_CUDA_BACKEND_SIM
