// GPU timings of `ae bench --device cuda` (see bench_cuda.h): cudaEvents recorded on the backend's
// compute stream through the executor's boundary hook, and cuBLASLt as the GEMM reference (nvcc
// build only). Under cuda-sim the event timings run in a test of their mechanics; the sim's "time"
// is host time and is never reported as a GPU timing.
#include "runtime/cuda/bench_cuda.h"

#include <cuda_runtime.h>
#if !defined(AE_CUDA_BACKEND_SIM)
#include <cublasLt.h>
#endif

#include <algorithm>
#include <atomic>
#include <cmath>
#include <functional>
#include <memory>
#include <utility>
#include <vector>

#include "kernels/common/error.h"
#include "kernels/cuda/dense_fwd.cuh"
#include "kernels/cuda/hold.cuh"
#include "kernels/cuda/launch.cuh"  // AE_CUDA_CHECK
#include "runtime/cuda/bench_util.h"
#include "runtime/cuda/cuda_backend.h"
#include "runtime/executor.h"

#if !defined(AE_CUDA_BACKEND_SIM)
#define AE_CUBLAS_CHECK(call)                                                                            \
  do {                                                                                                   \
    cublasStatus_t ae_cublas_check_s = (call);                                                           \
    if (ae_cublas_check_s != CUBLAS_STATUS_SUCCESS)                                                      \
      ::ae::detail::fail(__FILE__, __LINE__, #call, ::ae::detail::concat("cuBLASLt status ", int(ae_cublas_check_s))); \
  } while (0)
#endif

namespace ae::cuda_bench {

namespace {

using namespace bench_util;

// Holds a stream (kernels/cuda/hold.cuh) from the first event of a timed step to its last, so the
// step's work is all queued on the GPU before it starts. Released on every path.
class Hold {
 public:
  Hold() {
    AE_CUDA_CHECK(cudaMallocHost(reinterpret_cast<void**>(&m_flags), 2 * sizeof(int)));
    m_flags[0] = 1, m_flags[1] = 0;
  }
  ~Hold() {
    release();
    cudaFreeHost(m_flags);  // synchronizes: the kernel has seen the release
  }
  Hold(const Hold&) = delete;
  Hold& operator=(const Hold&) = delete;

  void begin(cudaStream_t s) {
    *static_cast<volatile int*>(&m_flags[0]) = 0;
    ::ae::cuda::hold_stream(&m_flags[0], &m_flags[1], MAX_POLLS, s);
  }
  void release() {
    std::atomic_thread_fence(std::memory_order_seq_cst);
    *static_cast<volatile int*>(&m_flags[0]) = 1;
  }
  // After the stream has synchronized: the hold ended by the release, not by giving up.
  void check() const {
    AE_CHECK(*static_cast<volatile int*>(&m_flags[1]) == 0,
             "cuda_bench: the hold kernel gave up before the host released it: that timing is void");
  }

 private:
  static constexpr int64_t MAX_POLLS = 20'000'000;  // ≈ 20 s at ~1 µs per poll of host memory
  int* m_flags = nullptr;                            // [0] release, [1] timed_out; pinned
};

// Sets the executor's boundary hook and graph mode for one timing; on every path it then clears
// the hook (the bench installs no other) and restores the graph mode.
class HookScope {
 public:
  HookScope(Executor& ex, bool graph, std::function<void(size_t)> hook) : m_ex(ex), m_graph(ex.use_graph()) {
    m_ex.set_use_graph(graph);
    m_ex.set_boundary_hook(std::move(hook));
  }
  ~HookScope() {
    m_ex.set_boundary_hook(nullptr);
    m_ex.set_use_graph(m_graph);
  }
  HookScope(const HookScope&) = delete;
  HookScope& operator=(const HookScope&) = delete;

 private:
  Executor& m_ex;
  bool m_graph;
};

std::string kernel_label(const PlanOp& op) {
  std::string k = plan_op_kind_name(op.kind);
  if (op.kind == PlanOpKind::loss_fwd || op.kind == PlanOpKind::loss_fwd_bwd)
    return k + "(" + loss_name(op.attr.loss) + (op.from_logits ? "+logits" : "") + ")";
  if (op.kind == PlanOpKind::dense_fwd || op.kind == PlanOpKind::dense_bwd) return k + "(" + act_name(op.attr.act) + ")";
  if (op.kind == PlanOpKind::conv_fwd || op.kind == PlanOpKind::conv_bwd)
    return k + "(" + act_name(op.attr.act) + (op.attr.conv.transposed ? ",transposed" : "") + ")";
  return k;
}

#if !defined(AE_CUDA_BACKEND_SIM)
// y[M,N] = epilogue(x[M,K]·W[N,K]ᵀ + b) in row-major terms is, column-major, yᵀ (N×M, ld N) =
// Wᵀ·xᵀ with W read as a K×N column-major matrix (ld K) transposed and x as K×M (ld K); the bias
// epilogue adds b[N] along the rows of that N×M result. fp32 compute without TF32, as ae's kernels.
class LtGemm {
 public:
  LtGemm(cublasLtHandle_t h, int64_t M, int64_t N, int64_t K, cublasLtEpilogue_t epi, const float* bias,
         const void* x, const void* w, const void* y, void* workspace, size_t ws_bytes)
      : m_h(h), m_ws(workspace), m_ws_bytes(ws_bytes) {
    AE_CUBLAS_CHECK(cublasLtMatmulDescCreate(&m_desc, CUBLAS_COMPUTE_32F, CUDA_R_32F));
    cublasOperation_t ta = CUBLAS_OP_T, tb = CUBLAS_OP_N;
    AE_CUBLAS_CHECK(cublasLtMatmulDescSetAttribute(m_desc, CUBLASLT_MATMUL_DESC_TRANSA, &ta, sizeof ta));
    AE_CUBLAS_CHECK(cublasLtMatmulDescSetAttribute(m_desc, CUBLASLT_MATMUL_DESC_TRANSB, &tb, sizeof tb));
    AE_CUBLAS_CHECK(cublasLtMatmulDescSetAttribute(m_desc, CUBLASLT_MATMUL_DESC_EPILOGUE, &epi, sizeof epi));
    if (bias) AE_CUBLAS_CHECK(cublasLtMatmulDescSetAttribute(m_desc, CUBLASLT_MATMUL_DESC_BIAS_POINTER, &bias, sizeof bias));
    AE_CUBLAS_CHECK(cublasLtMatrixLayoutCreate(&m_a, CUDA_R_32F, uint64_t(K), uint64_t(N), K));
    AE_CUBLAS_CHECK(cublasLtMatrixLayoutCreate(&m_b, CUDA_R_32F, uint64_t(K), uint64_t(M), K));
    AE_CUBLAS_CHECK(cublasLtMatrixLayoutCreate(&m_d, CUDA_R_32F, uint64_t(N), uint64_t(M), N));
    AE_CUBLAS_CHECK(cublasLtMatmulPreferenceCreate(&m_pref));
    AE_CUBLAS_CHECK(cublasLtMatmulPreferenceSetAttribute(m_pref, CUBLASLT_MATMUL_PREF_MAX_WORKSPACE_BYTES, &m_ws_bytes,
                                                         sizeof m_ws_bytes));
    // The heuristics assume 256-byte aligned operands unless told otherwise; parameter tensors in
    // the ParamStore block may be only 4-byte aligned.
    const std::pair<cublasLtMatmulPreferenceAttributes_t, const void*> align[] = {
        {CUBLASLT_MATMUL_PREF_MIN_ALIGNMENT_A_BYTES, w}, {CUBLASLT_MATMUL_PREF_MIN_ALIGNMENT_B_BYTES, x},
        {CUBLASLT_MATMUL_PREF_MIN_ALIGNMENT_C_BYTES, y}, {CUBLASLT_MATMUL_PREF_MIN_ALIGNMENT_D_BYTES, y}};
    for (const auto& [attr, p] : align) {
      uint32_t bytes = 256;
      while (bytes > 4 && reinterpret_cast<uintptr_t>(p) % bytes) bytes /= 2;
      AE_CUBLAS_CHECK(cublasLtMatmulPreferenceSetAttribute(m_pref, attr, &bytes, sizeof bytes));
    }
    int found = 0;
    AE_CUBLAS_CHECK(cublasLtMatmulAlgoGetHeuristic(m_h, m_desc, m_a, m_b, m_d, m_d, m_pref, 1, &m_algo, &found));
    AE_CHECK(found > 0, "cuBLASLt has no algorithm for the fp32 GEMM M=", M, " N=", N, " K=", K);
  }
  ~LtGemm() {
    if (m_pref) cublasLtMatmulPreferenceDestroy(m_pref);
    for (auto l : {m_a, m_b, m_d})
      if (l) cublasLtMatrixLayoutDestroy(l);
    if (m_desc) cublasLtMatmulDescDestroy(m_desc);
  }
  LtGemm(const LtGemm&) = delete;
  LtGemm& operator=(const LtGemm&) = delete;

  void run(const float* x,  // [M, K]
           const float* w,  // [N, K]
           float* y,        // [M, N]
           cudaStream_t s) {
    const float alpha = 1, beta = 0;
    AE_CUBLAS_CHECK(cublasLtMatmul(m_h, m_desc, &alpha, w, m_a, x, m_b, &beta, y, m_d, y, m_d, &m_algo.algo, m_ws,
                                   m_ws_bytes, s));
  }

 private:
  cublasLtHandle_t m_h;
  void* m_ws;
  size_t m_ws_bytes;
  cublasLtMatmulDesc_t m_desc = nullptr;
  cublasLtMatrixLayout_t m_a = nullptr, m_b = nullptr, m_d = nullptr;
  cublasLtMatmulPreference_t m_pref = nullptr;
  cublasLtMatmulHeuristicResult_t m_algo{};
};

struct LtHandle {
  cublasLtHandle_t h = nullptr;
  LtHandle() { AE_CUBLAS_CHECK(cublasLtCreate(&h)); }
  ~LtHandle() { cublasLtDestroy(h); }
};

#endif  // !AE_CUDA_BACKEND_SIM

}  // namespace

DeviceLabel device_label() {
  int d = 0;
  AE_CUDA_CHECK(cudaGetDevice(&d));
  cudaDeviceProp p{};
  AE_CUDA_CHECK(cudaGetDeviceProperties(&p, d));
  return {p.name, p.multiProcessorCount, p.major, p.minor, double(p.totalGlobalMem) / double(1ull << 30)};
}

std::vector<double> time_graph_steps(Executor& ex, const cpu::OptConfig* opt, int64_t& step, const Repeat& r) {
  device_of(ex);
  const cudaStream_t s = cuda_compute_stream(ex.backend());
  const size_t n = ex.plan().ops.size();
  Events ev(2);
  Hold hold;
  // Boundaries 0 and n bracket the graph launch (and nothing else the step enqueues); the hold
  // keeps the stream from starting before the launch is queued behind the first event.
  HookScope scope(ex, true, [&](size_t b) {
    if (b == 0) {
      hold.begin(s);
      AE_CUDA_CHECK(cudaEventRecord(ev.e[0], s));
    }
    if (b == n) {
      AE_CUDA_CHECK(cudaEventRecord(ev.e[1], s));
      hold.release();
    }
  });
  auto one_step = [&] {
    ex.run(ex.plan().batch, opt, ++step);  // finish() has synchronized the compute stream
    hold.check();
    return double(ev.ms(0, 1));
  };
  for (int64_t i = 0; i < r.warmup; ++i) one_step();  // the first step also captures the graph
  std::vector<double> ms_per_step;
  for (int64_t run = 0; run < r.runs; ++run) {
    double total = 0;
    for (int64_t i = 0; i < r.steps; ++i) total += one_step();
    ms_per_step.push_back(total / double(r.steps));
  }
  return ms_per_step;
}

std::vector<OpTiming> time_ops(Executor& ex, const cpu::OptConfig* opt, int64_t& step, const Repeat& r) {
  device_of(ex);
  const cudaStream_t s = cuda_compute_stream(ex.backend());
  const Plan& plan = ex.plan();
  const size_t n = plan.ops.size();
  // Event i before op i, event n after the last: op i takes e[i] → e[i+1]. The event records
  // between kernels cost a little; a sequence keeps each op's caches as the step leaves them.
  Events ev(n + 1);
  Hold hold;  // the whole sequence is queued before its first op starts
  std::vector<char> seen(n + 1, 0);
  HookScope scope(ex, false, [&](size_t b) {
    AE_CHECK(b <= n, "cuda_bench: boundary ", b, " of a plan of ", n, " ops");
    if (b == 0) hold.begin(s);
    AE_CUDA_CHECK(cudaEventRecord(ev.e[b], s));
    if (b == n) hold.release();
    seen[b] = 1;
  });
  std::vector<std::vector<double>> ms(n);
  for (int64_t rep = 0; rep < r.warmup + r.runs; ++rep) {
    std::fill(seen.begin(), seen.end(), 0);
    ex.run(plan.batch, opt, ++step);
    hold.check();
    AE_CHECK(std::count(seen.begin(), seen.end(), 1) == std::ptrdiff_t(n + 1),
             "cuda_bench: the backend did not report every op boundary of an op-by-op step");
    if (rep < r.warmup) continue;
    for (size_t i = 0; i < n; ++i) ms[i].push_back(ev.ms(i, i + 1));
  }
  std::vector<OpTiming> out;
  for (size_t i = 0; i < n; ++i) {
    const PlanOp& op = plan.ops[i];
    OpTiming t;
    t.index = int(i);
    t.op = plan_op_kind_name(op.kind);
    t.kernel = kernel_label(op);
    t.m = plan.batch, t.n = op.n, t.k = op.k;
    t.ms = median(ms[i]);
    double sec = t.ms * 1e-3;
    t.gflops = sec > 0 ? op.flops(plan.batch, plan.graph) / sec / 1e9 : 0;
    t.gbps = sec > 0 ? op.bytes(plan.batch, plan.graph) / sec / 1e9 : 0;
    out.push_back(t);
  }
  return out;
}

#if !defined(AE_CUDA_BACKEND_SIM)
std::vector<GemmComparison> compare_gemms(Executor& ex, const Repeat& r) {
  Device& dev = device_of(ex);
  dev.synchronize();
  Stream st;
  LtHandle lt;
  const size_t ws_bytes = size_t(32) << 20;  // cuBLASLt workspace its heuristics may use
  Scratch ws(&dev, ws_bytes);
  const Plan& plan = ex.plan();
  const int64_t M = plan.batch;
  // Enough calls per timed run that the event resolution (~0.5 µs) is far below the total.
  const int64_t reps = std::max<int64_t>(r.steps, 1);
  std::vector<GemmComparison> out;
  for (size_t i = 0; i < plan.ops.size(); ++i) {
    const PlanOp& op = plan.ops[i];
    // The comparison is of the fp32 kernels: a mixed-precision plan's dense ops read bf16/fp16
    // tensors (or round to tf32), which neither this call of dense_forward nor the fp32 cuBLASLt GEMM is.
    if (op.kind != PlanOpKind::dense_fwd || plan.tf32 || plan.graph.tensors[size_t(op.in[0])].dtype != DType::f32) continue;
    const float* x = ex.data(op.in[0]);  // [M, K]
    const float* w = ex.data(op.in[1]);  // [N, K]
    const float* b = ex.data(op.in[2]);  // [N] or nullptr
    const bool relu = op.attr.act == Act::relu;
    cublasLtEpilogue_t epi = b ? (relu ? CUBLASLT_EPILOGUE_RELU_BIAS : CUBLASLT_EPILOGUE_BIAS)
                               : (relu ? CUBLASLT_EPILOGUE_RELU : CUBLASLT_EPILOGUE_DEFAULT);
    GemmComparison c;
    c.index = int(i);
    c.m = M, c.n = op.n, c.k = op.k;
    c.act = act_name(op.attr.act);
    c.epilogue = b ? (relu ? "bias+relu" : "bias") : (relu ? "relu" : "none");
    c.comparable = relu || op.attr.act == Act::linear;
    Scratch y_ae(&dev, size_t(M * op.n) * sizeof(float)), z_ae(&dev, size_t(M * op.n) * sizeof(float)),
        y_lt(&dev, size_t(M * op.n) * sizeof(float));
    float* z = op.out.size() > 1 && op.out[1] >= 0 ? z_ae.as<float>() : nullptr;  // ae writes z when the plan keeps it
    LtGemm gemm(lt.h, M, op.n, op.k, epi, b, x, w, y_lt.p, ws.p, ws_bytes);
    c.ae_ms = time_calls(st.s, r, reps, [&] {
      cuda::dense_forward<float>(x, w, b, op.attr.act, M, op.n, op.k, y_ae.as<float>(), z, st.s);
    });
    c.cublas_ms = time_calls(st.s, r, reps, [&] { gemm.run(x, w, y_lt.as<float>(), st.s); });
    c.ratio = c.cublas_ms > 0 ? c.ae_ms / c.cublas_ms : 0;
    if (c.comparable) {
      std::vector<float> a(size_t(M * op.n)), l(a.size());
      AE_CUDA_CHECK(cudaStreamSynchronize(st.s));
      dev.download(a.data(), y_ae.p, a.size() * sizeof(float));
      dev.download(l.data(), y_lt.p, l.size() * sizeof(float));
      for (size_t j = 0; j < a.size(); ++j) {
        double d = std::fabs(double(a[j]) - double(l[j]));
        c.max_abs_diff = std::isfinite(d) ? std::max(c.max_abs_diff, d) : INFINITY;  // NaN/Inf is a mismatch
      }
    }
    out.push_back(c);
  }
  AE_CUDA_CHECK(cudaStreamSynchronize(st.s));
  return out;
}
#endif  // !AE_CUDA_BACKEND_SIM

}  // namespace ae::cuda_bench
