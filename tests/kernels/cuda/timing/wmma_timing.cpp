// ae_wmma_timing: GPU times of ae's dense GEMM kernels on the default model's layer shapes
// (784-256r-32-256r-784s at batch 256 and 4096): the fp32 kernels (dense_fwd.cu, dense_bwd.cu), the
// tensor-core kernels (dense_fwd_tc.cu, dense_bwd_tc.cu) in bf16, fp16 and tf32 with each tile, and
// cuBLASLt in the same precision beside them. nvcc build only (-DAE_ENABLE_CUDA=ON); run on a GPU by
// bench/gpu/run4.sh. Not a test: it checks only that ae's tc forward and cuBLASLt agree roughly
// (a layout mistake shows), and prints a table. Times are cudaEvent medians over 7 runs of 50 calls
// after 10 warm-up calls, every operand resident in L2 (as in a training step of this small model).
#include <cublasLt.h>
#include <cuda_bf16.h>
#include <cuda_fp16.h>
#include <cuda_runtime.h>

#include <algorithm>
#include <cmath>
#include <cstdio>
#include <cstring>
#include <functional>
#include <optional>
#include <random>
#include <string>
#include <vector>

#include "kernels/common/error.h"
#include "kernels/cpu/lowp_round.h"
#include "kernels/cuda/dense_bwd.cuh"
#include "kernels/cuda/dense_bwd_tc.cuh"
#include "kernels/cuda/dense_fwd.cuh"
#include "kernels/cuda/dense_fwd_tc.cuh"
#include "kernels/cuda/launch.cuh"

namespace {

using ae::Act;
using ae::cpu::Lowp;
using ae::cuda::TcTile;

// A device allocation of n elements of T, filled from host floats (converted to T's bits).
template <typename T>
struct Buf {
  T* p = nullptr;
  size_t n = 0;
  explicit Buf(size_t count) : n(count) { AE_CUDA_CHECK(cudaMalloc(&p, std::max<size_t>(n, 1) * sizeof(T))); }
  Buf(const std::vector<float>& v) : Buf(v.size()) {
    std::vector<T> h(v.size());
    for (size_t i = 0; i < v.size(); ++i) {
      if constexpr (std::is_same_v<T, float>) {
        h[i] = v[i];
      } else {
        const uint16_t b = std::is_same_v<T, __half> ? ae::cpu::fp16_bits(v[i]) : ae::cpu::bf16_bits(v[i]);
        std::memcpy(&h[i], &b, 2);
      }
    }
    AE_CUDA_CHECK(cudaMemcpy(p, h.data(), n * sizeof(T), cudaMemcpyHostToDevice));
  }
  ~Buf() { cudaFree(p); }
  Buf(const Buf&) = delete;
  Buf& operator=(const Buf&) = delete;
  std::vector<float> download() const {
    std::vector<T> h(n);
    AE_CUDA_CHECK(cudaMemcpy(h.data(), p, n * sizeof(T), cudaMemcpyDeviceToHost));
    std::vector<float> f(n);
    for (size_t i = 0; i < n; ++i) {
      if constexpr (std::is_same_v<T, float>) {
        f[i] = h[i];
      } else {
        uint16_t b;
        std::memcpy(&b, &h[i], 2);
        f[i] = std::is_same_v<T, __half> ? ae::cpu::fp16_value(b) : ae::cpu::bf16_value(b);
      }
    }
    return f;
  }
};

std::vector<float> uniform(size_t n, float lo, float hi, uint64_t seed) {
  std::mt19937_64 rng(seed);
  std::uniform_real_distribution<float> d(lo, hi);
  std::vector<float> v(n);
  for (auto& e : v) e = d(rng);
  return v;
}

// µs per call of fn (enqueued on s): median over 7 runs of 50 calls, after 10 warm-up calls.
double time_us(cudaStream_t s, const std::function<void()>& fn) {
  for (int i = 0; i < 10; ++i) fn();
  cudaEvent_t a, b;
  AE_CUDA_CHECK(cudaEventCreate(&a));
  AE_CUDA_CHECK(cudaEventCreate(&b));
  std::vector<double> per;
  for (int run = 0; run < 7; ++run) {
    AE_CUDA_CHECK(cudaEventRecord(a, s));
    for (int i = 0; i < 50; ++i) fn();
    AE_CUDA_CHECK(cudaEventRecord(b, s));
    AE_CUDA_CHECK(cudaEventSynchronize(b));
    float ms = 0;
    AE_CUDA_CHECK(cudaEventElapsedTime(&ms, a, b));
    per.push_back(1e3 * ms / 50);
  }
  AE_CUDA_CHECK(cudaGetLastError());
  cudaEventDestroy(a), cudaEventDestroy(b);
  std::sort(per.begin(), per.end());
  return per[per.size() / 2];
}

// One cuBLASLt matmul in column-major terms, D (m×n, ld ldd) = op(A)·op(B), with its heuristic's
// first algorithm; `ok` is false (and the reason kept) when cuBLASLt has none for this combination.
struct Lt {
  cublasLtHandle_t h;
  cublasLtMatmulDesc_t desc = nullptr;
  cublasLtMatrixLayout_t la = nullptr, lb = nullptr, ld = nullptr;
  cublasLtMatmulHeuristicResult_t algo{};
  void* ws;
  size_t ws_bytes;
  bool ok = false;
  std::string why;
  Lt(cublasLtHandle_t handle, cublasComputeType_t compute, cudaDataType_t ab, cudaDataType_t d, bool ta, bool tb,
     int64_t m, int64_t n, int64_t k, int64_t lda, int64_t ldb, int64_t ldd, cublasLtEpilogue_t epi, const void* bias,
     void* workspace, size_t wsb)
      : h(handle), ws(workspace), ws_bytes(wsb) {
    auto check = [&](cublasStatus_t st, const char* what) {
      if (st != CUBLAS_STATUS_SUCCESS && why.empty()) why = std::string(what) + " status " + std::to_string(int(st));
      return st == CUBLAS_STATUS_SUCCESS;
    };
    cublasOperation_t oa = ta ? CUBLAS_OP_T : CUBLAS_OP_N, ob = tb ? CUBLAS_OP_T : CUBLAS_OP_N;
    if (!check(cublasLtMatmulDescCreate(&desc, compute, CUDA_R_32F), "desc")) return;
    check(cublasLtMatmulDescSetAttribute(desc, CUBLASLT_MATMUL_DESC_TRANSA, &oa, sizeof oa), "transa");
    check(cublasLtMatmulDescSetAttribute(desc, CUBLASLT_MATMUL_DESC_TRANSB, &ob, sizeof ob), "transb");
    check(cublasLtMatmulDescSetAttribute(desc, CUBLASLT_MATMUL_DESC_EPILOGUE, &epi, sizeof epi), "epilogue");
    if (bias) check(cublasLtMatmulDescSetAttribute(desc, CUBLASLT_MATMUL_DESC_BIAS_POINTER, &bias, sizeof bias), "bias");
    check(cublasLtMatrixLayoutCreate(&la, ab, uint64_t(ta ? k : m), uint64_t(ta ? m : k), lda), "layout a");
    check(cublasLtMatrixLayoutCreate(&lb, ab, uint64_t(tb ? n : k), uint64_t(tb ? k : n), ldb), "layout b");
    check(cublasLtMatrixLayoutCreate(&ld, d, uint64_t(m), uint64_t(n), ldd), "layout d");
    cublasLtMatmulPreference_t pref = nullptr;
    check(cublasLtMatmulPreferenceCreate(&pref), "pref");
    check(cublasLtMatmulPreferenceSetAttribute(pref, CUBLASLT_MATMUL_PREF_MAX_WORKSPACE_BYTES, &ws_bytes, sizeof ws_bytes),
          "pref ws");
    int found = 0;
    if (why.empty() && check(cublasLtMatmulAlgoGetHeuristic(h, desc, la, lb, ld, ld, pref, 1, &algo, &found), "heuristic"))
      ok = found > 0;
    if (!ok && why.empty()) why = "no algorithm";
    if (pref) cublasLtMatmulPreferenceDestroy(pref);
  }
  ~Lt() {
    for (auto l : {la, lb, ld})
      if (l) cublasLtMatrixLayoutDestroy(l);
    if (desc) cublasLtMatmulDescDestroy(desc);
  }
  void run(const void* a, const void* b, void* d, cudaStream_t s) {
    const float alpha = 1, beta = 0;
    const cublasStatus_t st = cublasLtMatmul(h, desc, &alpha, a, la, b, lb, &beta, d, ld, d, ld, &algo.algo, ws, ws_bytes, s);
    AE_CHECK(st == CUBLAS_STATUS_SUCCESS, "cublasLtMatmul status ", int(st));
  }
};

struct Layer {
  int64_t N, K;
  Act act;
};

// The cuBLASLt types of one precision.
struct LtTypes {
  cublasComputeType_t compute;
  cudaDataType_t ab, out;
};
LtTypes lt_types(std::optional<Lowp> t) {
  if (!t) return {CUBLAS_COMPUTE_32F, CUDA_R_32F, CUDA_R_32F};
  switch (*t) {
    case Lowp::bf16: return {CUBLAS_COMPUTE_32F, CUDA_R_16BF, CUDA_R_16BF};
    case Lowp::fp16: return {CUBLAS_COMPUTE_32F, CUDA_R_16F, CUDA_R_16F};
    case Lowp::tf32: break;
  }
  return {CUBLAS_COMPUTE_32F_FAST_TF32, CUDA_R_32F, CUDA_R_32F};
}

constexpr TcTile TILES[] = {TcTile::t32, TcTile::t64, TcTile::t64_w4, TcTile::t128, TcTile::automatic};
const char* tile_label(TcTile t) {
  switch (t) {
    case TcTile::t32: return "wmma 32x32 (4 warps 16x16)";
    case TcTile::t64: return "wmma 64x64 (8 warps 32x16)";
    case TcTile::t64_w4: return "wmma 64x64 (4 warps 32x32)";
    case TcTile::t128: return "wmma 128x64 (8 warps 32x32)";
    case TcTile::automatic: break;
  }
  return "(auto tile)";
}

struct Ctx {
  cudaStream_t s;
  cublasLtHandle_t lt;
  void* ws;
  size_t ws_bytes;
};

void print_row(const char* pass, int64_t M, const Layer& l, const char* prec, const char* what, double us, double flops) {
  std::printf("%-4s M=%-5lld N=%-4lld K=%-4lld %-8s %-6s %-40s %9.2f us %8.2f TFLOP/s\n", pass, (long long)M,
              (long long)l.N, (long long)l.K, ae::act_name(l.act), prec, what, us, flops / us * 1e-6);
}

// The tf32 forward's alternative configurations (dense_forward_tc_tf32_variant) beside the launcher's
// (y holds the launcher's automatic-tile output): each timed, and checked bit-equal to it.
void tf32_variants(const Ctx& c, int64_t M, const Layer& l, const float* x, const float* w, const float* b,
                   const float* y, double flops) {
  using V = ae::cuda::TcTf32Variant;
  const struct {
    V v;
    const char* what;
  } variants[] = {{V::r2_32, "tf32 var r2 32x32 (early round, tail test)"},
                  {V::split_32, "tf32 var 32x32 early round, split tail"},
                  {V::late_32, "tf32 var 32x32 late round, tail test"},
                  {V::late_split_32, "tf32 var 32x32 late round, split tail"},
                  {V::deep_32, "tf32 var 32x32 late, split, 64-deep"},
                  {V::r2_64, "tf32 var r2 64x64 8w (early, tail test)"},
                  {V::late_split_64, "tf32 var 64x64 8w late, split"},
                  {V::deep_64, "tf32 var 64x64 8w late, split, 64-deep"}};
  AE_CUDA_CHECK(cudaStreamSynchronize(c.s));
  std::vector<float> ref(M * l.N);
  AE_CUDA_CHECK(cudaMemcpy(ref.data(), y, ref.size() * sizeof(float), cudaMemcpyDeviceToHost));
  Buf<float> yv(M * l.N), zv(M * l.N);
  for (const auto& v : variants) {
    const double us = time_us(c.s, [&] {
      ae::cuda::dense_forward_tc_tf32_variant(x, w, b, l.act, M, l.N, l.K, yv.p, zv.p, c.s, v.v);
    });
    AE_CUDA_CHECK(cudaStreamSynchronize(c.s));
    const std::vector<float> got = yv.download();
    const bool same = std::memcmp(got.data(), ref.data(), ref.size() * sizeof(float)) == 0;
    print_row("fwd", M, l, "tf32", v.what, us, flops);
    if (!same) std::printf("     check: %s differs from the launcher's output\n", v.what);
  }
}

// Forward y = act(x·Wᵀ + b) in one precision: ae's kernel(s) and cuBLASLt (bias / bias+relu epilogue).
template <typename IN>
void forward(const Ctx& c, int64_t M, const Layer& l, std::optional<Lowp> t) {
  const char* prec = t ? ae::cpu::lowp_name(*t) : "fp32";
  const double flops = 2.0 * M * l.N * l.K;
  const std::vector<float> xh = uniform(M * l.K, -1, 1, 1), wh = uniform(l.N * l.K, -0.1f, 0.1f, 2),
                           bh = uniform(l.N, -0.1f, 0.1f, 3);
  Buf<IN> x(xh), w(wh), y(M * l.N), z(M * l.N), y_lt(M * l.N), b_lt(bh);
  Buf<float> b(bh);
  std::vector<float> ours;
  if (!t) {
    print_row("fwd", M, l, prec, "ae dense_forward (SIMT 64x64)", time_us(c.s, [&] {
      ae::cuda::dense_forward<float>(reinterpret_cast<const float*>(x.p), reinterpret_cast<const float*>(w.p), b.p,
                                     l.act, M, l.N, l.K, reinterpret_cast<float*>(y.p), reinterpret_cast<float*>(z.p), c.s);
    }), flops);
  } else {
    for (TcTile tile : TILES) {
      const double us = time_us(c.s, [&] {
        ae::cuda::dense_forward_tc<IN>(x.p, w.p, b.p, l.act, M, l.N, l.K, y.p, z.p, c.s, tile);
      });
      print_row("fwd", M, l, prec, (std::string("ae tc ") + tile_label(tile)).c_str(), us, flops);
    }
    if constexpr (std::is_same_v<IN, float>) tf32_variants(c, M, l, x.p, w.p, b.p, y.p, flops);
  }
  AE_CUDA_CHECK(cudaStreamSynchronize(c.s));
  ours = y.download();
  const LtTypes ty = lt_types(t);
  const bool relu = l.act == Act::relu;
  Lt g(c.lt, ty.compute, ty.ab, ty.out, true, false, l.N, M, l.K, l.K, l.K, l.N,
       relu ? CUBLASLT_EPILOGUE_RELU_BIAS : CUBLASLT_EPILOGUE_BIAS, b_lt.p, c.ws, c.ws_bytes);
  if (!g.ok) {
    std::printf("fwd  M=%-5lld N=%-4lld K=%-4lld %-8s %-6s cuBLASLt: %s\n", (long long)M, (long long)l.N, (long long)l.K,
                ae::act_name(l.act), prec, g.why.c_str());
    return;
  }
  print_row("fwd", M, l, prec, relu ? "cuBLASLt (bias+relu epilogue)" : "cuBLASLt (bias epilogue, no act)",
            time_us(c.s, [&] { g.run(w.p, x.p, y_lt.p, c.s); }), flops);
  if (relu || l.act == Act::linear) {  // same function: compare, relative to the output's max
    AE_CUDA_CHECK(cudaStreamSynchronize(c.s));
    const std::vector<float> theirs = y_lt.download();
    double worst = 0, mx = 0;
    for (size_t i = 0; i < ours.size(); ++i) {
      worst = std::max(worst, std::fabs(double(ours[i]) - double(theirs[i])));
      mx = std::max(mx, std::fabs(double(theirs[i])));
      if (!std::isfinite(ours[i])) worst = INFINITY;
    }
    std::printf("     check: max |ae - cuBLASLt| / max |cuBLASLt| = %.3g\n", mx > 0 ? worst / mx : worst);
  }
}

// Backward (dW with db, and dx) in one precision: ae's fused kernels (act′ on load) beside
// cuBLASLt's two plain GEMMs of the same shapes (no act′, no db: a lower bound for the same work).
template <typename IN>
void backward(const Ctx& c, int64_t M, const Layer& l, std::optional<Lowp> t) {
  const char* prec = t ? ae::cpu::lowp_name(*t) : "fp32";
  const double flops = 4.0 * M * l.N * l.K;
  Buf<IN> dy(uniform(M * l.N, -1, 1, 4)), z(uniform(M * l.N, -2, 2, 5)), x(uniform(M * l.K, -1, 1, 6)),
      w(uniform(l.N * l.K, -0.1f, 0.1f, 7)), dx(M * l.K);
  Buf<float> dw(l.N * l.K), db(l.N);
  if (!t) {
    print_row("bwd", M, l, prec, "ae dense_backward (SIMT 64x64)", time_us(c.s, [&] {
      ae::cuda::dense_backward<float>(reinterpret_cast<const float*>(dy.p), nullptr, reinterpret_cast<const float*>(z.p),
                                      l.act, reinterpret_cast<const float*>(x.p), reinterpret_cast<const float*>(w.p), M,
                                      l.N, l.K, dw.p, db.p, reinterpret_cast<float*>(dx.p), false, false, c.s);
    }), flops);
  } else {
    for (TcTile tile : TILES) {
      // dW's split over M: the workspace the planner would size for this layer.
      const size_t ws_bytes = ae::cuda::dense_backward_tc_workspace_bytes(M, l.N, l.K, tile);
      Buf<float> ws((ws_bytes + 3) / 4);
      const double us = time_us(c.s, [&] {
        ae::cuda::dense_backward_tc<IN>(dy.p, nullptr, z.p, l.act, x.p, w.p, M, l.N, l.K, dw.p, db.p, dx.p, false, false,
                                        c.s, ws.p, ws_bytes, tile);
      });
      print_row("bwd", M, l, prec, (std::string("ae tc ") + tile_label(tile)).c_str(), us, flops);
    }
  }
  const LtTypes ty = lt_types(t);
  // dW (K×N col-major, ld K) = x (K×M, ld K) · dzᵀ (dz is N×M, ld N, transposed); fp32 out.
  Lt gw(c.lt, ty.compute, ty.ab, CUDA_R_32F, false, true, l.K, l.N, M, l.K, l.N, l.K, CUBLASLT_EPILOGUE_DEFAULT, nullptr,
        c.ws, c.ws_bytes);
  // dx (K×M col-major, ld K) = W (K×N, ld K) · dz (N×M, ld N); out in the storage type.
  Lt gx(c.lt, ty.compute, ty.ab, ty.out, false, false, l.K, M, l.N, l.K, l.N, l.K, CUBLASLT_EPILOGUE_DEFAULT, nullptr,
        c.ws, c.ws_bytes);
  if (!gw.ok || !gx.ok) {
    std::printf("bwd  M=%-5lld N=%-4lld K=%-4lld %-8s %-6s cuBLASLt: %s\n", (long long)M, (long long)l.N, (long long)l.K,
                ae::act_name(l.act), prec, (gw.ok ? gx.why : gw.why).c_str());
    return;
  }
  print_row("bwd", M, l, prec, "cuBLASLt dW + dx GEMMs (no act', db)", time_us(c.s, [&] {
    gw.run(x.p, dy.p, dw.p, c.s);
    gx.run(w.p, dy.p, dx.p, c.s);
  }), flops);
}

}  // namespace

int main() {
  try {
    int dev = 0;
    cudaDeviceProp p{};
    AE_CUDA_CHECK(cudaGetDevice(&dev));
    AE_CUDA_CHECK(cudaGetDeviceProperties(&p, dev));
    std::printf("device: %s, %d SMs, cc %d.%d\n", p.name, p.multiProcessorCount, p.major, p.minor);
    Ctx c{};
    AE_CUDA_CHECK(cudaStreamCreateWithFlags(&c.s, cudaStreamNonBlocking));
    if (cublasLtCreate(&c.lt) != CUBLAS_STATUS_SUCCESS) throw ae::Error("cublasLtCreate failed");
    c.ws_bytes = size_t(32) << 20;
    AE_CUDA_CHECK(cudaMalloc(&c.ws, c.ws_bytes));
    // 784-256r-32-256r-784s: encoder 784→256 relu, 256→32 linear; decoder 32→256 relu, 256→784 sigmoid.
    const Layer layers[] = {{256, 784, Act::relu}, {32, 256, Act::linear}, {256, 32, Act::relu}, {784, 256, Act::sigmoid}};
    for (int64_t M : {256, 4096})
      for (const Layer& l : layers) {
        forward<float>(c, M, l, std::nullopt);
        forward<float>(c, M, l, Lowp::tf32);
        forward<__nv_bfloat16>(c, M, l, Lowp::bf16);
        forward<__half>(c, M, l, Lowp::fp16);
        backward<float>(c, M, l, std::nullopt);
        backward<float>(c, M, l, Lowp::tf32);
        backward<__nv_bfloat16>(c, M, l, Lowp::bf16);
        backward<__half>(c, M, l, Lowp::fp16);
        std::fflush(stdout);
      }
    cublasLtDestroy(c.lt);
    cudaFree(c.ws);
    cudaStreamDestroy(c.s);
  } catch (const std::exception& e) {
    std::fprintf(stderr, "ae_wmma_timing: %s\n", e.what());
    return 1;
  }
  return 0;
}
