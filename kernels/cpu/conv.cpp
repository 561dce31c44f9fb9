// The cpu convolution layer. Everything is written as three passes of one ordinary convolution
// src [n, cs, hs, ws] → dst [n, cd, hd, wd] with weight [cd, cs, kh, kw] (a Core): forward, backward
// data and backward weights. Conv2d is that convolution from x to y; ConvTranspose2d is the one from
// y to x (its weight [in_c, out_c, kh, kw] is exactly that convolution's), so its forward is the
// backward-data pass, its data gradient the forward pass and its weight gradient the weight pass
// with src and dst swapped. Bias, activation and act′ are elementwise passes around them
// (kernels/cpu/activation.h's loops), except that a float Conv2d forward adds the bias, and relu or
// leaky_relu when z is not kept, in oneDNN's epilogue (its eltwise relu is max-with-slope on the
// fp32 sum, as activation.h's; sigmoid and tanh would differ by oneDNN's approximations, so they
// stay on ae's loop, as in dense_forward's float path).
//
// float: oneDNN 2.6 convolution primitives on its blocked layouts (tag::any), NCHW/OIHW in and out
// through reorders, cached per shape, pass, fusion and thread count like gemm.cpp's matmuls, run
// with a user scratchpad on the calling thread's buffer (so any thread may run any primitive,
// several at once). Chosen by measurement (batch 128, 2 threads, an AVX-512 AMD EPYC shared with other work,
// µs per call, reorders included; the three passes of the classic 28×28 encoder's convolutions
// 1→16 k3 s2 p1, 16→32 k3 s2 p1, 32→64 k7; the transposed mirror runs the same three Cores):
//                      fwd   bwd-data  bwd-weights     (1→16 / 16→32 / 32→64)
//   oneDNN blocked    51/146/104  332/185/95   47/191/143   total 1.29 ms
//   oneDNN nchw       125/480/447 107/471/281  236/472/780  total 3.40 ms  (its gemm:jit im2col)
//   im2col + sgemm    203/604/393  87/360/360  188/561/760  total 3.52 ms  (per sample, 1 thread each)
// Blocked wins everywhere but the data gradient onto one or two channels (an image: the
// transposed decoder's last forward), where its padded layout loses and the plain layout is kept.
// Through conv2d_forward/backward (relu, bias, dW, db and dx), the six layers of the encoder and its
// mirror at batch 128 on 2 threads: forward 0.91 ms, backward 2.43 ms in all.
// Bitwise reproducible for a given thread count (oneDNN partitions by shape and threads only).
// double, and float Cores oneDNN cannot express (an output padding ≥ the stride, allowed when
// smaller than the dilation): plain loops, each output element summed by one thread in a fixed order.
#include "kernels/cpu/conv.h"

#include <oneapi/dnnl/dnnl.hpp>

#include <algorithm>
#include <array>
#include <map>
#include <memory>
#include <mutex>
#include <optional>
#include <string>
#include <tuple>
#include <type_traits>
#include <unordered_map>

#include "kernels/common/error.h"
#include "kernels/cpu/activation.h"
#include "kernels/cpu/gemm.h"
#include "kernels/cpu/onednn_util.h"
#include "kernels/cpu/simd.h"

namespace ae {

int64_t ConvGeometry::out_h() const {
  return transposed ? (in_h - 1) * stride_h - 2 * pad_h + dil_h * (k_h - 1) + out_pad_h + 1
                    : (in_h + 2 * pad_h - dil_h * (k_h - 1) - 1) / stride_h + 1;
}

int64_t ConvGeometry::out_w() const {
  return transposed ? (in_w - 1) * stride_w - 2 * pad_w + dil_w * (k_w - 1) + out_pad_w + 1
                    : (in_w + 2 * pad_w - dil_w * (k_w - 1) - 1) / stride_w + 1;
}

void ConvGeometry::validate() const {
  const char* op = transposed ? "conv_transpose2d" : "conv2d";
  // Both shapes, as every message names them: input [N,C,H,W] and weight in PyTorch's layout.
  const std::string shapes = detail::concat(
      "input [", batch, ",", in_c, ",", in_h, ",", in_w, "], weight [", transposed ? in_c : out_c, ",",
      transposed ? out_c : in_c, ",", k_h, ",", k_w, "]");
  AE_CHECK(batch >= 0, op, ": negative batch ", batch, " (", shapes, ")");
  AE_CHECK(in_c >= 1 && in_h >= 1 && in_w >= 1 && out_c >= 1 && k_h >= 1 && k_w >= 1, op,
           ": channels, input size and kernel must be ≥ 1 (", shapes, ")");
  AE_CHECK(stride_h >= 1 && stride_w >= 1 && dil_h >= 1 && dil_w >= 1, op, ": stride ", stride_h, "×", stride_w,
           " and dilation ", dil_h, "×", dil_w, " must be ≥ 1 (", shapes, ")");
  AE_CHECK(pad_h >= 0 && pad_w >= 0 && out_pad_h >= 0 && out_pad_w >= 0, op, ": padding ", pad_h, "×", pad_w,
           " and output padding ", out_pad_h, "×", out_pad_w, " must be ≥ 0 (", shapes, ")");
  const int64_t span_h = dil_h * (k_h - 1) + 1, span_w = dil_w * (k_w - 1) + 1;
  if (!transposed) {
    AE_CHECK(out_pad_h == 0 && out_pad_w == 0, op, ": output padding ", out_pad_h, "×", out_pad_w,
             " is for transposed convolutions only (", shapes, ")");
    AE_CHECK(span_h <= in_h + 2 * pad_h && span_w <= in_w + 2 * pad_w, op, ": kernel ", k_h, "×", k_w,
             " (dilated ", span_h, "×", span_w, ") is larger than the padded input ", in_h + 2 * pad_h, "×",
             in_w + 2 * pad_w, " (", shapes, ", padding ", pad_h, "×", pad_w, ")");
    return;
  }
  // PyTorch: "output padding must be smaller than either stride or dilation".
  AE_CHECK((out_pad_h < stride_h || out_pad_h < dil_h) && (out_pad_w < stride_w || out_pad_w < dil_w), op,
           ": output padding ", out_pad_h, "×", out_pad_w, " must be smaller than either the stride ", stride_h,
           "×", stride_w, " or the dilation ", dil_h, "×", dil_w, " (", shapes, ")");
  AE_CHECK(out_h() >= 1 && out_w() >= 1, op, ": output ", out_h(), "×", out_w(), " is empty: padding ", pad_h,
           "×", pad_w, " is too large (", shapes, ", stride ", stride_h, "×", stride_w, ")");
}

}  // namespace ae

namespace ae::cpu {

namespace {

// The ordinary convolution src [n, cs, hs, ws] → dst [n, cd, hd, wd], weight [cd, cs, kh, kw], that
// a layer's three passes are written in (the file's opening).
struct Core {
  int64_t n, cs, hs, ws, cd, hd, wd, kh, kw, sh, sw, ph, pw, dh, dw;
  // oneDNN's right/bottom padding: what makes its size formula give hd exactly. Negative when the
  // last rows of src are read by no window (a strided Conv2d's remainder, a transposed output padding).
  int64_t pad_r_h() const { return (hd - 1) * sh + dh * (kh - 1) + 1 - hs - ph; }
  int64_t pad_r_w() const { return (wd - 1) * sw + dw * (kw - 1) + 1 - ws - pw; }
  auto tie() const { return std::tie(n, cs, hs, ws, cd, hd, wd, kh, kw, sh, sw, ph, pw, dh, dw); }
};

Core core_of(const ConvGeometry& g) {
  const int64_t oh = g.out_h(), ow = g.out_w();
  if (!g.transposed)
    return Core{g.batch, g.in_c, g.in_h, g.in_w, g.out_c, oh,     ow,       g.k_h,    g.k_w,
                g.stride_h, g.stride_w, g.pad_h, g.pad_w, g.dil_h, g.dil_w};
  return Core{g.batch, g.out_c, oh, ow, g.in_c, g.in_h, g.in_w, g.k_h, g.k_w,
              g.stride_h, g.stride_w, g.pad_h, g.pad_w, g.dil_h, g.dil_w};
}

// ---- the plain loops: double, and float Cores oneDNN cannot express ----

// The src coordinate window tap t of dst position o reads (may be outside [0, size)).
inline int64_t src_pos(int64_t o, int64_t t, int64_t stride, int64_t pad, int64_t dil) {
  return o * stride - pad + t * dil;
}

// dst = conv(src, w) (+ bias[o]). Parallel over (n, o) planes; each sum in (ci, i, j) order.
template <typename T>
void forward_loop(const Core& c, const T* src, const T* w, const T* bias, T* dst) {
#pragma omp parallel for schedule(static) if (c.n * c.cd * c.hd * c.wd * c.cs * c.kh * c.kw > (int64_t(1) << 16))
  for (int64_t p = 0; p < c.n * c.cd; ++p) {
    const int64_t n = p / c.cd, o = p % c.cd;
    T* out = dst + p * c.hd * c.wd;  // [hd, wd]
    for (int64_t oh = 0; oh < c.hd; ++oh)
      for (int64_t ow = 0; ow < c.wd; ++ow) {
        T acc = bias ? bias[o] : T(0);
        for (int64_t ci = 0; ci < c.cs; ++ci) {
          const T* in = src + (n * c.cs + ci) * c.hs * c.ws;  // [hs, ws]
          const T* k = w + (o * c.cs + ci) * c.kh * c.kw;     // [kh, kw]
          for (int64_t i = 0; i < c.kh; ++i) {
            const int64_t ih = src_pos(oh, i, c.sh, c.ph, c.dh);
            if (ih < 0 || ih >= c.hs) continue;
            for (int64_t j = 0; j < c.kw; ++j) {
              const int64_t iw = src_pos(ow, j, c.sw, c.pw, c.dw);
              if (iw >= 0 && iw < c.ws) acc += in[ih * c.ws + iw] * k[i * c.kw + j];
            }
          }
        }
        out[oh * c.wd + ow] = acc;
      }
  }
}

// The dst position whose tap t reads src position s, or −1 when none does.
inline int64_t dst_pos(int64_t s, int64_t t, int64_t stride, int64_t pad, int64_t dil, int64_t size) {
  const int64_t q = s + pad - t * dil;
  if (q < 0 || q % stride != 0 || q / stride >= size) return -1;
  return q / stride;
}

// dsrc = the data gradient of conv at ddst, gathered: each dsrc element sums the (o, i, j) taps
// that read it, in that order. Parallel over (n, ci) planes.
template <typename T>
void backward_data_loop(const Core& c, const T* ddst, const T* w, T* dsrc) {
#pragma omp parallel for schedule(static) if (c.n * c.cd * c.hd * c.wd * c.cs * c.kh * c.kw > (int64_t(1) << 16))
  for (int64_t p = 0; p < c.n * c.cs; ++p) {
    const int64_t n = p / c.cs, ci = p % c.cs;
    T* out = dsrc + p * c.hs * c.ws;  // [hs, ws]
    for (int64_t ih = 0; ih < c.hs; ++ih)
      for (int64_t iw = 0; iw < c.ws; ++iw) {
        T acc = T(0);
        for (int64_t o = 0; o < c.cd; ++o) {
          const T* g = ddst + (n * c.cd + o) * c.hd * c.wd;  // [hd, wd]
          const T* k = w + (o * c.cs + ci) * c.kh * c.kw;    // [kh, kw]
          for (int64_t i = 0; i < c.kh; ++i) {
            const int64_t oh = dst_pos(ih, i, c.sh, c.ph, c.dh, c.hd);
            if (oh < 0) continue;
            for (int64_t j = 0; j < c.kw; ++j) {
              const int64_t ow = dst_pos(iw, j, c.sw, c.pw, c.dw, c.wd);
              if (ow >= 0) acc += g[oh * c.wd + ow] * k[i * c.kw + j];
            }
          }
        }
        out[ih * c.ws + iw] = acc;
      }
  }
}

// dw (+)= the weight gradient: Σ over (n, oh, ow) in that order of ddst · src. Parallel over (o, ci).
template <typename T>
void backward_weights_loop(const Core& c, const T* src, const T* ddst, T* dw, bool accumulate) {
#pragma omp parallel for schedule(static) if (c.n * c.cd * c.hd * c.wd * c.cs * c.kh * c.kw > (int64_t(1) << 16))
  for (int64_t p = 0; p < c.cd * c.cs; ++p) {
    const int64_t o = p / c.cs, ci = p % c.cs;
    for (int64_t i = 0; i < c.kh; ++i)
      for (int64_t j = 0; j < c.kw; ++j) {
        T acc = T(0);
        for (int64_t n = 0; n < c.n; ++n) {
          const T* in = src + (n * c.cs + ci) * c.hs * c.ws;  // [hs, ws]
          const T* g = ddst + (n * c.cd + o) * c.hd * c.wd;   // [hd, wd]
          for (int64_t oh = 0; oh < c.hd; ++oh) {
            const int64_t ih = src_pos(oh, i, c.sh, c.ph, c.dh);
            if (ih < 0 || ih >= c.hs) continue;
            for (int64_t ow = 0; ow < c.wd; ++ow) {
              const int64_t iw = src_pos(ow, j, c.sw, c.pw, c.dw);
              if (iw >= 0 && iw < c.ws) acc += g[oh * c.wd + ow] * in[ih * c.ws + iw];
            }
          }
        }
        T& out = dw[p * c.kh * c.kw + i * c.kw + j];
        out = accumulate ? out + acc : acc;
      }
  }
}

// ---- oneDNN ----

using dt = dnnl::memory::data_type;
using tag = dnnl::memory::format_tag;

enum class Pass : uint8_t { forward, backward_data, backward_weights };

// Data gradients onto at most this many channels keep plain layouts (the measurement above: 107 µs
// plain against 332 µs blocked for 16 → 1 channel at 28×28, 334 against 363 for 3 channels; blocked
// wins from 8: 962 against 435).
constexpr int64_t PLAIN_BWD_DATA_MAX_CHANNELS = 3;

// Whether oneDNN can express the Core: its descriptor wants pad_r + stride > 0.
bool onednn_fits(const Core& c) { return c.pad_r_h() + c.sh > 0 && c.pad_r_w() + c.sw > 0; }

struct ConvKey {
  Core c;
  Pass pass;
  bool bias;                // forward: bias [cd] in the epilogue
  bool accumulate;          // backward_weights: dw += (a sum post-op on the reorder out)
  dnnl::algorithm eltwise;  // forward: dnnl::algorithm::undef for none
  float alpha;
  int threads;
  auto tie() const { return std::tuple_cat(c.tie(), std::tie(pass, bias, accumulate, eltwise, alpha, threads)); }
  bool operator<(const ConvKey& o) const { return tie() < o.tie(); }
};

// One tensor a primitive reads or writes: the caller's plain NCHW/OIHW memory, the primitive's
// layout, and the reorder between the two when they differ (for an accumulated output always: the
// reorder's sum post-op is the accumulation).
struct Operand {
  int arg;
  bool output;
  dnnl::memory::desc user, prim;
  std::optional<dnnl::reorder> reorder;
  dnnl::memory::desc reorder_scratch;
};

struct ConvEntry {
  dnnl::primitive prim;
  dnnl::memory::desc scratch, bias;
  std::array<Operand, 3> operands;
};

Operand make_operand(const dnnl::engine& eng, int arg, bool output, const dnnl::memory::desc& user,
                     const dnnl::memory::desc& prim, bool accumulate) {
  Operand op{arg, output, user, prim, std::nullopt, {}};
  if (user == prim && !(output && accumulate)) return op;
  dnnl::primitive_attr attr = onednn::user_scratchpad();
  if (output && accumulate) {
    dnnl::post_ops ops;
    ops.append_sum(1.f);
    attr.set_post_ops(ops);
  }
  dnnl::reorder::primitive_desc pd = output ? dnnl::reorder::primitive_desc(eng, prim, eng, user, attr)
                                            : dnnl::reorder::primitive_desc(eng, user, eng, prim, attr);
  op.reorder = dnnl::reorder(pd);
  op.reorder_scratch = pd.scratchpad_desc();
  return op;
}

std::shared_ptr<const ConvEntry> make_entry(const ConvKey& k, const dnnl::engine& eng) {
  const Core& c = k.c;
  const dnnl::memory::dims src{c.n, c.cs, c.hs, c.ws}, wei{c.cd, c.cs, c.kh, c.kw}, dst{c.n, c.cd, c.hd, c.wd};
  const dnnl::memory::dims strides{c.sh, c.sw}, dil{c.dh - 1, c.dw - 1}, pad_l{c.ph, c.pw},
      pad_r{c.pad_r_h(), c.pad_r_w()};
  const dnnl::memory::desc src_user(src, dt::f32, tag::nchw), wei_user(wei, dt::f32, tag::oihw),
      dst_user(dst, dt::f32, tag::nchw), bias({c.cd}, dt::f32, tag::x);
  const bool plain = k.pass == Pass::backward_data && c.cs <= PLAIN_BWD_DATA_MAX_CHANNELS;
  auto chosen = [&](const dnnl::memory::desc& user) {
    return plain ? user : dnnl::memory::desc(user.dims(), dt::f32, tag::any);
  };
  const dnnl::memory::desc s = chosen(src_user), w = chosen(wei_user), d = chosen(dst_user);
  const auto alg = dnnl::algorithm::convolution_direct;
  const auto train = dnnl::prop_kind::forward_training;

  dnnl::primitive_attr attr = onednn::user_scratchpad();
  if (k.eltwise != dnnl::algorithm::undef) {
    dnnl::post_ops ops;
    ops.append_eltwise(1.f, k.eltwise, k.alpha, 0.f);
    attr.set_post_ops(ops);
  }
  using fwd = dnnl::convolution_forward;
  const fwd::primitive_desc fpd(
      k.bias ? fwd::desc(train, alg, s, w, bias, d, strides, dil, pad_l, pad_r)
             : fwd::desc(train, alg, s, w, d, strides, dil, pad_l, pad_r),
      k.pass == Pass::forward ? attr : onednn::user_scratchpad(), eng);
  auto e = std::make_shared<ConvEntry>();
  e->bias = bias;
  switch (k.pass) {
    case Pass::forward:
      e->prim = fwd(fpd);
      e->scratch = fpd.scratchpad_desc();
      e->operands = {make_operand(eng, DNNL_ARG_SRC, false, src_user, fpd.src_desc(), false),
                     make_operand(eng, DNNL_ARG_WEIGHTS, false, wei_user, fpd.weights_desc(), false),
                     make_operand(eng, DNNL_ARG_DST, true, dst_user, fpd.dst_desc(), false)};
      break;
    case Pass::backward_data: {
      using bwd = dnnl::convolution_backward_data;
      const bwd::primitive_desc pd(bwd::desc(alg, s, w, d, strides, dil, pad_l, pad_r), attr, eng, fpd);
      e->prim = bwd(pd);
      e->scratch = pd.scratchpad_desc();
      e->operands = {make_operand(eng, DNNL_ARG_DIFF_DST, false, dst_user, pd.diff_dst_desc(), false),
                     make_operand(eng, DNNL_ARG_WEIGHTS, false, wei_user, pd.weights_desc(), false),
                     make_operand(eng, DNNL_ARG_DIFF_SRC, true, src_user, pd.diff_src_desc(), false)};
      break;
    }
    case Pass::backward_weights: {
      using bww = dnnl::convolution_backward_weights;
      const bww::primitive_desc pd(bww::desc(alg, s, w, d, strides, dil, pad_l, pad_r), attr, eng, fpd);
      e->prim = bww(pd);
      e->scratch = pd.scratchpad_desc();
      e->operands = {make_operand(eng, DNNL_ARG_SRC, false, src_user, pd.src_desc(), false),
                     make_operand(eng, DNNL_ARG_DIFF_DST, false, dst_user, pd.diff_dst_desc(), false),
                     make_operand(eng, DNNL_ARG_DIFF_WEIGHTS, true, wei_user, pd.diff_weights_desc(), k.accumulate)};
      break;
    }
  }
  return e;
}

// Convolution primitives cached for the process, one per ConvKey; shapes come from a few plans.
class ConvCache {
 public:
  static ConvCache& get() {
    static ConvCache cache;
    return cache;
  }
  const dnnl::engine& engine() const { return m_engine; }

  std::shared_ptr<const ConvEntry> find(const ConvKey& key) {
    std::lock_guard<std::mutex> lock(m_mutex);
    auto it = m_entries.find(key);
    if (it != m_entries.end()) return it->second;
    if (m_entries.size() >= MAX_ENTRIES) m_entries.clear();  // a few plans' layers; never grows
    auto e = make_entry(key, m_engine);
    m_entries.emplace(key, e);
    return e;
  }

 private:
  static constexpr size_t MAX_ENTRIES = 128;
  dnnl::engine m_engine{dnnl::engine::kind::cpu, 0};
  std::mutex m_mutex;
  std::map<ConvKey, std::shared_ptr<const ConvEntry>> m_entries;
};

size_t round_up(size_t bytes) { return (bytes + 4095) / 4096 * 4096; }

// Runs the cached primitive for `key` on the caller's tensors (user[i] for operand i, in the order
// make_entry lists them). Reordered copies and every scratchpad are carved from the calling
// thread's buffer; the stream is in order, so one reorder scratchpad serves them all. oneDNN does
// not write through the const inputs; the casts only satisfy its non-const handle type.
void run_conv(ConvKey key, const std::array<const void*, 3>& user, const float* bias) {
  key.threads = omp_in_parallel() ? 1 : gemm_threads();  // as gemm.cpp's run_matmul
  onednn::OmpThreadsScope scope(key.threads);
  ConvCache& cache = ConvCache::get();
  auto e = cache.find(key);
  const dnnl::engine& eng = cache.engine();

  std::array<size_t, 3> at{};
  size_t total = round_up(e->scratch.get_size()), reorder_scratch = 0;
  for (size_t i = 0; i < 3; ++i) {
    const Operand& op = e->operands[i];
    if (!op.reorder) continue;
    at[i] = total;
    total += round_up(op.prim.get_size());
    reorder_scratch = std::max(reorder_scratch, op.reorder_scratch.get_size());
  }
  const size_t reorder_at = total;
  std::byte* base = onednn::thread_scratch(std::max<size_t>(1, total + reorder_scratch));

  dnnl::stream stream(eng);
  std::unordered_map<int, dnnl::memory> args;
  std::array<dnnl::memory, 3> user_mem, prim_mem;
  for (size_t i = 0; i < 3; ++i) {
    const Operand& op = e->operands[i];
    user_mem[i] = dnnl::memory(op.user, eng, const_cast<void*>(user[i]));
    prim_mem[i] = op.reorder ? dnnl::memory(op.prim, eng, base + at[i]) : user_mem[i];
    args.emplace(op.arg, prim_mem[i]);
  }
  if (bias) args.emplace(DNNL_ARG_BIAS, dnnl::memory(e->bias, eng, const_cast<float*>(bias)));
  if (e->scratch.get_size() > 0) args.emplace(DNNL_ARG_SCRATCHPAD, dnnl::memory(e->scratch, eng, base));
  auto reorder = [&](size_t i, dnnl::memory& from, dnnl::memory& to) {
    const Operand& op = e->operands[i];
    std::unordered_map<int, dnnl::memory> r{{DNNL_ARG_FROM, from}, {DNNL_ARG_TO, to}};
    if (op.reorder_scratch.get_size() > 0)
      r.emplace(DNNL_ARG_SCRATCHPAD, dnnl::memory(op.reorder_scratch, eng, base + reorder_at));
    op.reorder->execute(stream, r);
  };
  for (size_t i = 0; i < 3; ++i)
    if (e->operands[i].reorder && !e->operands[i].output) reorder(i, user_mem[i], prim_mem[i]);
  e->prim.execute(stream, args);
  for (size_t i = 0; i < 3; ++i)
    if (e->operands[i].reorder && e->operands[i].output) reorder(i, prim_mem[i], user_mem[i]);
  stream.wait();
}

// The oneDNN eltwise post-op computing act as kernels/common/activation.h does, for the ones that
// are exact on the fp32 sum (relu, leaky_relu: a compare and a multiply by the same float slope).
std::pair<dnnl::algorithm, float> fused_eltwise(Act act) {
  if (act == Act::relu) return {dnnl::algorithm::eltwise_relu, 0.f};
  if (act == Act::leaky_relu) return {dnnl::algorithm::eltwise_relu, float(LEAKY_RELU_SLOPE)};
  return {dnnl::algorithm::undef, 0.f};
}

void run_conv_checked(const ConvKey& key, const std::array<const void*, 3>& user, const float* bias) {
  try {
    run_conv(key, user, bias);
  } catch (const dnnl::error& e) {
    const Core& c = key.c;
    AE_FAIL("conv2d: oneDNN convolution (pass ", int(key.pass), ") failed (", e.what(), ", status ", int(e.status),
            ") for src [", c.n, ",", c.cs, ",", c.hs, ",", c.ws, "] → dst [", c.n, ",", c.cd, ",", c.hd, ",", c.wd,
            "], kernel ", c.kh, "×", c.kw);
  }
}

// ---- the three passes, each on oneDNN for float when it fits, else the loop ----

// dst = conv(src, w) (+ bias), then act when `act` is one fused_eltwise() runs (float on oneDNN
// only). Returns whether act was applied.
template <typename T>
bool pass_forward(const Core& c, const T* src, const T* w, const T* bias, Act act, T* dst) {
  if constexpr (std::is_same_v<T, float>) {
    if (onednn_fits(c)) {
      const auto [alg, alpha] = fused_eltwise(act);
      run_conv_checked(ConvKey{c, Pass::forward, bias != nullptr, false, alg, alpha, 0}, {src, w, dst}, bias);
      return alg != dnnl::algorithm::undef;
    }
  }
  forward_loop(c, src, w, bias, dst);
  return false;
}

template <typename T>
void pass_backward_data(const Core& c, const T* ddst, const T* w, T* dsrc) {
  if constexpr (std::is_same_v<T, float>) {
    if (onednn_fits(c))
      return run_conv_checked(ConvKey{c, Pass::backward_data, false, false, dnnl::algorithm::undef, 0.f, 0},
                              {ddst, w, dsrc}, nullptr);
  }
  backward_data_loop(c, ddst, w, dsrc);
}

template <typename T>
void pass_backward_weights(const Core& c, const T* src, const T* ddst, T* dw, bool accumulate) {
  if constexpr (std::is_same_v<T, float>) {
    if (onednn_fits(c))
      return run_conv_checked(ConvKey{c, Pass::backward_weights, false, accumulate, dnnl::algorithm::undef, 0.f, 0},
                              {src, ddst, dw}, nullptr);
  }
  backward_weights_loop(c, src, ddst, dw, accumulate);
}

// ---- the elementwise passes ----

// pre[n, c, :] += b[c] over [batch, C, hw] planes.
template <typename T>
void add_bias(const T* b, int64_t planes, int64_t C, int64_t hw, T* pre) {
  for_slices(planes, planes * hw, [&](int64_t p0, int64_t p1) {
    for (int64_t p = p0; p < p1; ++p) {
      T* v = pre + p * hw;  // [hw]
      const T bc = b[p % C];
      for (int64_t i = 0; i < hw; ++i) v[i] += bc;
    }
  });
}

// db[c] (+)= Σ dz[n, c, :], one thread per channel: the same bits for any thread count. Position i
// of every plane adds into lane i mod LANES (lanes vectorize; one running sum would be a chain of
// dependent adds, 4× slower at batch 128), the lanes are added in order at the end.
template <typename T>
void channel_sums(const T* dz, int64_t N, int64_t C, int64_t hw, T* db, bool accumulate) {
  constexpr int64_t LANES = 16;
  for_slices(C, N * C * hw, [&](int64_t c0, int64_t c1) {
    for (int64_t c = c0; c < c1; ++c) {
      T lane[LANES] = {};
      for (int64_t n = 0; n < N; ++n) {
        const T* v = dz + (n * C + c) * hw;  // [hw]
        int64_t i = 0;
        for (; i + LANES <= hw; i += LANES)
          for (int64_t l = 0; l < LANES; ++l) lane[l] += v[i + l];
        for (; i < hw; ++i) lane[i % LANES] += v[i];
      }
      T acc = T(0);
      for (int64_t l = 0; l < LANES; ++l) acc += lane[l];
      db[c] = accumulate ? db[c] + acc : acc;
    }
  });
}

}  // namespace

template <typename T>
void conv2d_forward(const ConvGeometry& g, const T* x, const T* w, const T* b, Act act, T* y, T* z) {
  g.validate();
  AE_CHECK(static_cast<int>(act) < ACT_COUNT, "conv2d_forward: unknown activation ", static_cast<int>(act));
  AE_CHECK(y != nullptr, "conv2d_forward: output y is null");
  if (g.batch == 0) return;
  AE_CHECK(x != nullptr && w != nullptr, "conv2d_forward: x or w is null");
  const Core c = core_of(g);
  T* pre = z ? z : y;  // the pre-activation lands here, then act takes it to y
  bool act_done = false;
  if (!g.transposed) {
    // z kept: the convolution writes it and act is a pass; otherwise act may ride in the epilogue.
    act_done = pass_forward(c, x, w, b, z ? Act::linear : act, pre);
  } else {
    pass_backward_data(c, x, w, pre);
    if (b) add_bias(b, g.batch * g.out_c, g.out_c, g.out_h() * g.out_w(), pre);
  }
  if (!act_done && (pre != y || act != Act::linear)) activation_forward(act, pre, y, g.y_size());
}

template <typename T>
void conv2d_backward(const ConvGeometry& g, const T* dy, const T* y, const T* z, Act act, const T* x, const T* w,
                     T* dz, T* dw, T* db, T* dx, bool accumulate_dw, bool accumulate_db) {
  g.validate();
  AE_CHECK(static_cast<int>(act) < ACT_COUNT, "conv2d_backward: unknown activation ", static_cast<int>(act));
  AE_CHECK(g.batch == 0 || dw == nullptr || x != nullptr,
           "conv2d_backward: x is null but dw is wanted (the weight gradient reads x)");
  AE_CHECK(g.batch == 0 || dx == nullptr || w != nullptr,
           "conv2d_backward: w is null but dx is wanted (the data gradient reads w)");
  AE_CHECK(g.batch == 0 || dy != nullptr, "conv2d_backward: dy is null");
  AE_CHECK(g.batch == 0 || dz != nullptr || act == Act::linear, "conv2d_backward: dz is null with activation ",
           act_name(act), "; only a linear layer may leave out the dz scratch");
  AE_CHECK(z != nullptr || !act_derivative_needs_z(act), "conv2d_backward: activation ", act_name(act),
           " needs the pre-activation z (its derivative is not a function of y); keep z");
  AE_CHECK(z != nullptr || y != nullptr || act == Act::linear, "conv2d_backward: activation ", act_name(act),
           " needs y or z; both are null");
  const int64_t hw = g.out_h() * g.out_w();
  if (g.batch == 0) {  // an empty batch contributes nothing
    if (dw && !accumulate_dw) std::fill(dw, dw + g.w_size(), T(0));
    if (db && !accumulate_db) std::fill(db, db + g.out_c, T(0));
    return;
  }
  if (!dw && !db && !dx) return;
  const T* grad = dy;  // dz, or dy itself for a linear layer without scratch
  if (dz) {
    activation_backward(act, dy, z, y, dz, g.y_size());  // the one cpu g ⊙ act′ loop
    grad = dz;
  }
  if (db) channel_sums(grad, g.batch, g.out_c, hw, db, accumulate_db);

  // The Core runs x → y for Conv2d and y → x for ConvTranspose2d: the same three passes, roles swapped.
  const Core c = core_of(g);
  if (!g.transposed) {
    if (dw) pass_backward_weights(c, x, grad, dw, accumulate_dw);
    if (dx) pass_backward_data(c, grad, w, dx);
  } else {
    if (dw) pass_backward_weights(c, grad, x, dw, accumulate_dw);
    if (dx) pass_forward<T>(c, grad, w, nullptr, Act::linear, dx);
  }
}

template void conv2d_forward<float>(const ConvGeometry&, const float*, const float*, const float*, Act, float*,
                                    float*);
template void conv2d_forward<double>(const ConvGeometry&, const double*, const double*, const double*, Act, double*,
                                     double*);
template void conv2d_backward<float>(const ConvGeometry&, const float*, const float*, const float*, Act, const float*,
                                     const float*, float*, float*, float*, float*, bool, bool);
template void conv2d_backward<double>(const ConvGeometry&, const double*, const double*, const double*, Act,
                                      const double*, const double*, double*, double*, double*, double*, bool, bool);

}  // namespace ae::cpu
