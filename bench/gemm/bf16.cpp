// ae_bench_bf16: what bf16 GEMMs through oneDNN would buy ae's CPU training step (issue 13). Times,
// on 2 threads and then 1, the 11 GEMMs of one training step of 784-256r-32-256r-784s at batch 256
// (forward x·Wᵀ+b per layer, dW = dZᵀ·X per layer, dX = dZ·W for layers 2–4) as ae runs them in
// fp32 today (ae::cpu::gemm_nt_bias / ae::cpu::gemm) beside oneDNN matmul primitives with bf16
// inputs and fp32 accumulation, plus the fp32→bf16 conversions a mixed-precision step adds, and
// prints markdown tables for bench/gemm/README.md. Run it with ONEDNN_MAX_CPU_ISA=AVX512_CORE to
// see what oneDNN does for bf16 on a CPU without AVX512_BF16.
//
// Every row's variants are timed interleaved (one sample of each in turn, repeated), so a change
// in the machine's load hits all of them alike; figures are medians.
#include <immintrin.h>
#include <omp.h>

#include <algorithm>
#include <chrono>
#include <cmath>
#include <cstdint>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <functional>
#include <memory>
#include <random>
#include <string>
#include <unordered_map>
#include <vector>

#include <oneapi/dnnl/dnnl.hpp>

#include "kernels/cpu/gemm.h"

namespace {

using dt = dnnl::memory::data_type;
using tag = dnnl::memory::format_tag;
using bf16 = uint16_t;  // storage only; oneDNN does the arithmetic

int g_samples = 21;          // samples per variant (median reported)
double g_sample_s = 0.002;   // each sample repeats a call for at least this long

double now_s() {
  return std::chrono::duration<double>(std::chrono::steady_clock::now().time_since_epoch()).count();
}

// Medians (seconds per call) of fns, sampled in turn so that all see the same machine load.
std::vector<double> interleaved_medians(const std::vector<std::function<void()>>& fns) {
  std::vector<int> reps(fns.size());
  for (size_t i = 0; i < fns.size(); ++i) {
    for (int w = 0; w < 3; ++w) fns[i]();  // warm-up: JIT, page faults, OpenMP team start
    const double t0 = now_s();
    fns[i]();
    reps[i] = std::max(1, int(g_sample_s / std::max(now_s() - t0, 1e-7)));
  }
  std::vector<std::vector<double>> ts(fns.size());
  for (int s = 0; s < g_samples; ++s)
    for (size_t i = 0; i < fns.size(); ++i) {
      const double t0 = now_s();
      for (int r = 0; r < reps[i]; ++r) fns[i]();
      ts[i].push_back((now_s() - t0) / reps[i]);
    }
  std::vector<double> med;
  for (auto& t : ts) {
    std::sort(t.begin(), t.end());
    med.push_back(t[t.size() / 2]);
  }
  return med;
}

// fp32 → bf16, round to nearest even (what oneDNN's reorder and vcvtne2ps2bf16 do; NaN aside).
inline bf16 to_bf16(float f) {
  uint32_t u;
  std::memcpy(&u, &f, 4);
  return bf16((u + 0x7fffu + ((u >> 16) & 1u)) >> 16);
}
inline float from_bf16(bf16 h) {
  const uint32_t u = uint32_t(h) << 16;
  float f;
  std::memcpy(&f, &u, 4);
  return f;
}

// The conversion a mixed-precision step runs on its own when nothing fuses it: a plain loop the
// compiler vectorizes for the baseline ISA (integer round-to-nearest-even) ...
void cvt_loop_portable(const float* x, bf16* y, int64_t n) {
#pragma omp parallel for schedule(static) if (n >= 65536)
  for (int64_t i = 0; i < n; ++i) y[i] = to_bf16(x[i]);
}

// ... and AVX512_BF16's vcvtne2ps2bf16: 32 floats to 32 bf16 per instruction.
__attribute__((target("avx512f,avx512bf16"))) void cvt_loop_avx512bf16(const float* x, bf16* y, int64_t n) {
  const int64_t blocks = n / 32;
#pragma omp parallel for schedule(static) if (n >= 65536)
  for (int64_t b = 0; b < blocks; ++b) {
    const __m512 lo = _mm512_loadu_ps(x + 32 * b), hi = _mm512_loadu_ps(x + 32 * b + 16);
    const __m512bh r = _mm512_cvtne2ps_pbh(hi, lo);  // elements 0–15 from lo, 16–31 from hi
    _mm512_storeu_si512(reinterpret_cast<void*>(y + 32 * b), reinterpret_cast<const __m512i&>(r));
  }
  for (int64_t i = blocks * 32; i < n; ++i) y[i] = to_bf16(x[i]);
}

std::vector<float> random_floats(int64_t n, uint32_t seed, float lo = -1.f, float hi = 1.f) {
  std::mt19937 rng(seed);
  std::uniform_real_distribution<float> d(lo, hi);
  std::vector<float> v(static_cast<size_t>(n));
  for (auto& x : v) x = d(rng);
  return v;
}
std::vector<bf16> to_bf16(const std::vector<float>& v) {
  std::vector<bf16> r(v.size());
  for (size_t i = 0; i < v.size(); ++i) r[i] = to_bf16(v[i]);
  return r;
}

// One matmul primitive C[M,N] = A[M,K]·B[K,N] (+ bias[N]) (+ eltwise post-op) with its buffers.
// a_tag/b_tag say how A and B are stored (ab: row-major as given, ba: the transpose is stored);
// b_any lets oneDNN choose B's layout, which is then packed once, outside the timed calls (what
// "pre-packing the weights once per step" costs is timed separately, as a conversion line).
struct Matmul {
  dnnl::engine eng{dnnl::engine::kind::cpu, 0};
  dnnl::stream stream{eng};
  dnnl::matmul prim;
  std::unordered_map<int, dnnl::memory> args;
  dnnl::memory dst;
  dnnl::memory::desc b_desc;
  std::string impl;

  struct Spec {
    int64_t M, N, K;
    dt a_dt, b_dt, dst_dt;
    tag a_tag, b_tag;
    bool b_any = false, bias = false;
    dnnl::algorithm act = dnnl::algorithm::undef;  // eltwise post-op, undef: none
  };

  // a/b hold the operands as fp32 (stored per a_tag/b_tag); they are converted to the spec's
  // types here, once.
  Matmul(const Spec& s, const std::vector<float>& a, const std::vector<float>& b, const std::vector<float>& bias) {
    dnnl::memory::desc ad({s.M, s.K}, s.a_dt, s.a_tag), bd_plain({s.K, s.N}, s.b_dt, s.b_tag),
        bd({s.K, s.N}, s.b_dt, s.b_any ? tag::any : s.b_tag), biasd({1, s.N}, dt::f32, tag::ab),
        cd({s.M, s.N}, s.dst_dt, tag::ab);
    dnnl::primitive_attr attr;
    if (s.act != dnnl::algorithm::undef) {
      dnnl::post_ops po;
      po.append_eltwise(1.f, s.act, 0.f, 0.f);
      attr.set_post_ops(po);
    }
    auto desc = s.bias ? dnnl::matmul::desc(ad, bd, biasd, cd) : dnnl::matmul::desc(ad, bd, cd);
    dnnl::matmul::primitive_desc pd(desc, attr, eng);
    impl = pd.impl_info_str();
    b_desc = pd.weights_desc();
    prim = dnnl::matmul(pd);
    args[DNNL_ARG_SRC] = filled(ad, a);
    dnnl::memory b_plain = filled(bd_plain, b);
    if (pd.weights_desc() == bd_plain) {
      args[DNNL_ARG_WEIGHTS] = b_plain;
    } else {
      dnnl::memory packed(pd.weights_desc(), eng);
      dnnl::reorder(b_plain, packed).execute(stream, b_plain, packed);
      stream.wait();
      args[DNNL_ARG_WEIGHTS] = packed;
    }
    if (s.bias) args[DNNL_ARG_BIAS] = filled(biasd, bias);
    dst = dnnl::memory(cd, eng);
    args[DNNL_ARG_DST] = dst;
  }

  dnnl::memory filled(const dnnl::memory::desc& d, const std::vector<float>& v) {
    dnnl::memory m(d, eng);
    if (d.data_type() == dt::bf16) {
      auto h = to_bf16(v);
      std::memcpy(m.get_data_handle(), h.data(), h.size() * 2);
    } else {
      std::memcpy(m.get_data_handle(), v.data(), v.size() * 4);
    }
    return m;
  }

  void run() {
    prim.execute(stream, args);
    stream.wait();
  }

  std::vector<float> result() const {
    const size_t n = dst.get_desc().get_size() / (dst.get_desc().data_type() == dt::bf16 ? 2 : 4);
    std::vector<float> r(n);
    if (dst.get_desc().data_type() == dt::bf16) {
      auto* h = static_cast<const bf16*>(dst.get_data_handle());
      for (size_t i = 0; i < n; ++i) r[i] = from_bf16(h[i]);
    } else {
      std::memcpy(r.data(), dst.get_data_handle(), n * 4);
    }
    return r;
  }
};

// The default model 784-256r-32-256r-784s.
struct Layer {
  int64_t in, out;
  char act;  // r, s or 0 (linear)
};
const Layer LAYERS[] = {{784, 256, 'r'}, {256, 32, 0}, {32, 256, 'r'}, {256, 784, 's'}};
constexpr int64_t BATCH = 256;

dnnl::algorithm act_alg(char a) {
  return a == 'r' ? dnnl::algorithm::eltwise_relu
       : a == 's' ? dnnl::algorithm::eltwise_logistic
                  : dnnl::algorithm::undef;
}

// One GEMM of the step and its variants. C = op(A)·op(B) in ae's terms:
//   fwd  y[B,out]  = x[B,in]·Wᵀ + b     A = x  (ab), B = Wᵀ stored as W [out,in] (ba)
//   dW   dW[out,in] = dZᵀ·X             A = dZᵀ stored as dZ [B,out] (ba), B = X [B,in] (ab)
//   dX   dX[B,in]  = dZ·W               A = dZ (ab), B = W [out,in] (ab)
struct StepGemm {
  std::string name, kind;
  int64_t M, N, K;
  Layer layer;
};

std::vector<StepGemm> step_gemms() {
  std::vector<StepGemm> g;
  for (int l = 0; l < 4; ++l) {
    const Layer& L = LAYERS[l];
    g.push_back({"fwd L" + std::to_string(l + 1), "fwd", BATCH, L.out, L.in, L});
  }
  for (int l = 3; l >= 0; --l) {
    const Layer& L = LAYERS[l];
    g.push_back({"dW L" + std::to_string(l + 1), "dw", L.out, L.in, BATCH, L});
    if (l > 0) g.push_back({"dX L" + std::to_string(l + 1), "dx", BATCH, L.in, L.out, L});
  }
  return g;
}

// Max |c − ref| over max |ref|: a check that the bf16 variant computes the same product.
double rel_err(const std::vector<float>& c, const std::vector<float>& ref) {
  double m = 0, r = 0;
  for (size_t i = 0; i < ref.size(); ++i) {
    m = std::max(m, double(std::fabs(c[i] - ref[i])));
    r = std::max(r, double(std::fabs(ref[i])));
  }
  return r > 0 ? m / r : (m > 0 ? INFINITY : 0);
}

float act_ref(char a, float v) { return a == 'r' ? std::max(v, 0.f) : a == 's' ? 1.f / (1.f + std::exp(-v)) : v; }

struct Row {
  std::string name, shape;
  double ae = 0, f32 = 0, b_plain = 0, b_packed = 0;
  double err_plain = 0, err_packed = 0;
  std::string impl_f32, impl_plain, impl_packed;
};

// ae's fp32 call, the fp32 matmul primitive, and two bf16 matmuls for one step GEMM, with their
// operands (kept alive so that the whole step can also be run back to back).
//   bf16 plain:  bf16 A and B in the layout the step has them, dst fp32, bias (fwd) — the direct
//                replacement of today's call; oneDNN re-blocks B inside each call.
//   bf16 packed: B pre-packed in oneDNN's layout (fwd, dX: it is W, fixed within a step), dst bf16
//                with bias + activation fused (fwd) or bf16 (dX); dW keeps an fp32 dst (it feeds
//                the fp32 master gradient) and its B is X, an activation, so it cannot be packed.
struct GemmBench {
  StepGemm g;
  char act;
  std::vector<float> A, B, bias, c_ae;
  std::function<void()> ae_call;
  std::unique_ptr<Matmul> f32, plain, packed;

  explicit GemmBench(const StepGemm& step) : g(step) {
    const int64_t M = g.M, N = g.N, K = g.K;
    A = random_floats(M * K, 1), B = random_floats(K * N, 2), bias = random_floats(N, 3);
    c_ae.resize(size_t(M * N));
    const bool fwd = g.kind == "fwd", dw = g.kind == "dw";
    const tag a_tag = dw ? tag::ba : tag::ab, b_tag = fwd ? tag::ba : tag::ab;
    act = fwd ? g.layer.act : 0;
    // ae fp32, as kernels/cpu/dense.cpp calls it (fwd W is [N,K]; dW's dZ is stored [K,M]).
    if (fwd)
      ae_call = [this, M, N, K] { ae::cpu::gemm_nt_bias<float>(M, N, K, A.data(), B.data(), bias.data(), c_ae.data()); };
    else if (dw)
      ae_call = [this, M, N, K] {
        ae::cpu::gemm<float>(true, false, M, N, K, 1.f, A.data(), M, B.data(), N, 0.f, c_ae.data(), N);
      };
    else
      ae_call = [this, M, N, K] {
        ae::cpu::gemm<float>(false, false, M, N, K, 1.f, A.data(), K, B.data(), N, 0.f, c_ae.data(), N);
      };
    f32 = std::make_unique<Matmul>(Matmul::Spec{M, N, K, dt::f32, dt::f32, dt::f32, a_tag, b_tag, false, fwd}, A, B, bias);
    plain = std::make_unique<Matmul>(Matmul::Spec{M, N, K, dt::bf16, dt::bf16, dt::f32, a_tag, b_tag, false, fwd}, A, B,
                                     bias);
    packed = std::make_unique<Matmul>(
        Matmul::Spec{M, N, K, dt::bf16, dt::bf16, dw ? dt::f32 : dt::bf16, a_tag, b_tag, !dw, fwd, act_alg(act)}, A, B,
        bias);
  }

  Row measure() {
    const auto med =
        interleaved_medians({ae_call, [this] { f32->run(); }, [this] { plain->run(); }, [this] { packed->run(); }});
    Row r;
    r.name = g.name;
    char buf[64];
    std::snprintf(buf, sizeof buf, "%lldx%lldx%lld", (long long)g.M, (long long)g.N, (long long)g.K);
    r.shape = buf;
    r.ae = med[0], r.f32 = med[1], r.b_plain = med[2], r.b_packed = med[3];
    r.impl_f32 = f32->impl, r.impl_plain = plain->impl, r.impl_packed = packed->impl;
    r.err_plain = rel_err(plain->result(), c_ae);
    auto ref_act = c_ae;
    for (auto& v : ref_act) v = act_ref(act, v);
    r.err_packed = rel_err(packed->result(), ref_act);
    return r;
  }
};

// The conversions a mixed-precision step adds when they are not fused into another pass.
struct Conv {
  std::string name;
  int64_t elements;
  double reorder = 0, portable = 0, avx512bf16 = 0;
};

Conv measure_conversion(const std::string& name, const std::vector<int64_t>& sizes, bool has_bf16_insn) {
  dnnl::engine eng(dnnl::engine::kind::cpu, 0);
  dnnl::stream stream(eng);
  std::vector<std::vector<float>> src;
  std::vector<std::vector<bf16>> dst;
  std::vector<dnnl::memory> ms, md;
  std::vector<dnnl::reorder> rs;
  int64_t total = 0;
  for (size_t i = 0; i < sizes.size(); ++i) {
    total += sizes[i];
    src.push_back(random_floats(sizes[i], 10 + uint32_t(i)));
    dst.emplace_back(size_t(sizes[i]));
    ms.emplace_back(dnnl::memory::desc({sizes[i]}, dt::f32, tag::a), eng, src.back().data());
    md.emplace_back(dnnl::memory::desc({sizes[i]}, dt::bf16, tag::a), eng, dst.back().data());
    rs.emplace_back(ms.back(), md.back());
  }
  std::vector<std::function<void()>> fns = {
      [&] {
        for (size_t i = 0; i < rs.size(); ++i) rs[i].execute(stream, ms[i], md[i]);
        stream.wait();
      },
      [&] {
        for (size_t i = 0; i < src.size(); ++i) cvt_loop_portable(src[i].data(), dst[i].data(), sizes[i]);
      }};
  if (has_bf16_insn)
    fns.push_back([&] {
      for (size_t i = 0; i < src.size(); ++i) cvt_loop_avx512bf16(src[i].data(), dst[i].data(), sizes[i]);
    });
  const auto med = interleaved_medians(fns);
  return {name, total, med[0], med[1], has_bf16_insn ? med[2] : NAN};
}

// Pre-packing the step's weights in bf16 for the "packed" variants: fp32 W → bf16 in the blocked
// layout each primitive reads, one reorder per weight use (forward Wᵀ and backward W differ).
double measure_weight_packing() {
  dnnl::engine eng(dnnl::engine::kind::cpu, 0);
  dnnl::stream stream(eng);
  std::vector<dnnl::memory> srcs, dsts;
  std::vector<dnnl::reorder> rs;
  std::vector<std::vector<float>> w;
  for (const StepGemm& g : step_gemms()) {
    if (g.kind == "dw") continue;
    const bool fwd = g.kind == "fwd";
    dnnl::memory::desc plain({g.K, g.N}, dt::f32, fwd ? tag::ba : tag::ab);
    dnnl::memory::desc ad({g.M, g.K}, dt::bf16, tag::ab), bd({g.K, g.N}, dt::bf16, tag::any),
        cd({g.M, g.N}, dt::bf16, tag::ab);
    dnnl::matmul::primitive_desc pd(dnnl::matmul::desc(ad, bd, cd), eng);
    w.push_back(random_floats(g.K * g.N, 20));
    srcs.emplace_back(plain, eng, w.back().data());
    dsts.emplace_back(pd.weights_desc(), eng);
    rs.emplace_back(srcs.back(), dsts.back());
  }
  return interleaved_medians({[&] {
    for (size_t i = 0; i < rs.size(); ++i) rs[i].execute(stream, srcs[i], dsts[i]);
    stream.wait();
  }})[0];
}

void print_threads(int threads, bool has_bf16_insn) {
  omp_set_num_threads(threads);
  ae::cpu::set_gemm_threads(threads);
  std::printf("\n### %d thread%s — µs per call, median of %d interleaved samples\n\nae fp32: %s\n\n", threads,
              threads == 1 ? "" : "s", g_samples, ae::cpu::gemm_library().c_str());
  std::printf("| GEMM | M×N×K | ae fp32 | fp32 matmul | bf16 plain | bf16 packed | ae/plain | ae/packed | bf16 kernel |\n");
  std::printf("|---|---|---:|---:|---:|---:|---:|---:|---|\n");
  Row sum;
  std::vector<Row> rows;
  std::vector<std::unique_ptr<GemmBench>> benches;
  for (const StepGemm& g : step_gemms()) benches.push_back(std::make_unique<GemmBench>(g));
  for (auto& b : benches) {
    Row r = b->measure();
    rows.push_back(r);
    sum.ae += r.ae, sum.f32 += r.f32, sum.b_plain += r.b_plain, sum.b_packed += r.b_packed;
    std::string impl = r.impl_plain == r.impl_packed ? r.impl_plain : r.impl_plain + " / " + r.impl_packed;
    std::printf("| %s | %s | %.1f | %.1f | %.1f | %.1f | %.2f | %.2f | %s |\n", r.name.c_str(), r.shape.c_str(),
                r.ae * 1e6, r.f32 * 1e6, r.b_plain * 1e6, r.b_packed * 1e6, r.ae / r.b_plain, r.ae / r.b_packed,
                impl.c_str());
    std::fflush(stdout);
  }
  std::printf("| **sum (11 GEMMs)** | 539 MFLOP | **%.1f** | %.1f | **%.1f** | **%.1f** | **%.2f** | **%.2f** | |\n",
              sum.ae * 1e6, sum.f32 * 1e6, sum.b_plain * 1e6, sum.b_packed * 1e6, sum.ae / sum.b_plain,
              sum.ae / sum.b_packed);
  // The 11 GEMMs back to back, as a step runs them (operands of one GEMM are not the outputs of
  // the previous one here, but the working set passes through the caches the same way).
  const auto seq = interleaved_medians({[&] { for (auto& b : benches) b->ae_call(); },
                                        [&] { for (auto& b : benches) b->f32->run(); },
                                        [&] { for (auto& b : benches) b->plain->run(); },
                                        [&] { for (auto& b : benches) b->packed->run(); }});
  std::printf("| **the 11 back to back** | | **%.1f** | %.1f | **%.1f** | **%.1f** | **%.2f** | **%.2f** | |\n",
              seq[0] * 1e6, seq[1] * 1e6, seq[2] * 1e6, seq[3] * 1e6, seq[0] / seq[2], seq[0] / seq[3]);
  std::printf("\nGFLOP/s of the sums: ae fp32 %.0f, fp32 matmul %.0f, bf16 plain %.0f, bf16 packed %.0f.\n",
              0.539 / sum.ae, 0.539 / sum.f32, 0.539 / sum.b_plain, 0.539 / sum.b_packed);
  std::printf("fp32 matmul kernels: ");
  for (auto& r : rows) std::printf("%s %s; ", r.name.c_str(), r.impl_f32.c_str());
  std::printf("\nbf16 vs ae fp32, max|diff|/max|ref| (plain, packed): ");
  for (auto& r : rows) std::printf("%s %.1e %.1e; ", r.name.c_str(), r.err_plain, r.err_packed);
  std::printf("\n");

  // Conversions: weights (once per step, fp32 masters → bf16 compute copy) and activations.
  int64_t weights = 0;
  std::vector<int64_t> wsizes, fwd_in, bwd_in;
  for (const Layer& L : LAYERS) wsizes.push_back(L.in * L.out), weights += L.in * L.out;
  for (const Layer& L : LAYERS) fwd_in.push_back(BATCH * L.in);  // x, h1, h2, h3
  for (const Layer& L : LAYERS) bwd_in.push_back(BATCH * L.out);  // dZ1..dZ4
  std::vector<Conv> convs = {measure_conversion("weights W1–W4 (per step)", wsizes, has_bf16_insn),
                             measure_conversion("input x [256,784] (per step)", {BATCH * 784}, has_bf16_insn),
                             measure_conversion("forward inputs x, h1–h3 (if activations stay fp32)", fwd_in, has_bf16_insn),
                             measure_conversion("backward dZ1–dZ4 (if gradients stay fp32)", bwd_in, has_bf16_insn)};
  std::printf("\nfp32 → bf16 conversions, µs per step, median:\n\n");
  std::printf("| conversion | elements | oneDNN reorder | portable loop | AVX512_BF16 loop |\n|---|---:|---:|---:|---:|\n");
  for (const Conv& c : convs)
    std::printf("| %s | %lld | %.1f | %.1f | %.1f |\n", c.name.c_str(), (long long)c.elements, c.reorder * 1e6,
                c.portable * 1e6, c.avx512bf16 * 1e6);
  std::printf("| weights → bf16 in the packed layouts (fwd Wᵀ and dX W, 7 reorders) | %lld | %.1f | | |\n",
              (long long)(2 * weights - LAYERS[0].in * LAYERS[0].out), measure_weight_packing() * 1e6);
  std::fflush(stdout);
}

}  // namespace

int main(int argc, char** argv) {
  std::vector<int> threads = {2, 1};
  for (int i = 1; i < argc; ++i) {
    if (!std::strcmp(argv[i], "--threads") && i + 1 < argc) threads = {std::atoi(argv[++i])};
    else if (!std::strcmp(argv[i], "--samples") && i + 1 < argc) g_samples = std::max(1, std::atoi(argv[++i]));
    else {
      std::fprintf(stderr, "usage: %s [--threads N] [--samples S]\n", argv[0]);
      return 2;
    }
  }
  __builtin_cpu_init();
  const bool has_bf16_insn = __builtin_cpu_supports("avx512bf16");
  const dnnl_version_t* v = dnnl_version();
  std::printf("oneDNN %d.%d.%d; CPU has avx512_bf16: %s, amx_bf16: %s\n", v->major, v->minor, v->patch,
              has_bf16_insn ? "yes" : "no", __builtin_cpu_supports("amx-bf16") ? "yes" : "no");
  try {
    for (int t : threads) print_threads(t, has_bf16_insn);
  } catch (const dnnl::error& e) {
    // e.g. ONEDNN_MAX_CPU_ISA=AVX2: oneDNN 2.6 has no bf16 matmul below AVX-512
    std::printf("\noneDNN error: %s (status %d): no bf16 matmul at this ISA\n", e.what(), int(e.status));
    return 1;
  }
  return 0;
}
