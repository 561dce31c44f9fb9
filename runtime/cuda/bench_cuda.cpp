// GPU timings of `ae bench --device cuda` (see bench_cuda.h): cudaEvents on a bench stream of its
// own, ae's launchers called with the Executor's device memory, cuBLASLt as the GEMM reference.
// The cuda-sim build compiles this file to nothing: the sim's "time" is CPU time and must never be
// reported as a GPU timing.
#if !defined(AE_CUDA_BACKEND_SIM)

#include "runtime/cuda/bench_cuda.h"

#include <cublasLt.h>
#include <cuda_runtime.h>

#include <algorithm>
#include <cmath>
#include <memory>
#include <utility>
#include <vector>

#include "kernels/common/error.h"
#include "kernels/cuda/dense_bwd.cuh"
#include "kernels/cuda/dense_fwd.cuh"
#include "kernels/cuda/elementwise.cuh"
#include "kernels/cuda/launch.cuh"
#include "kernels/cuda/loss.cuh"
#include "kernels/cuda/optimizer.cuh"
#include "runtime/executor.h"
#include "runtime/params.h"

#define AE_CUBLAS_CHECK(call)                                                                            \
  do {                                                                                                   \
    cublasStatus_t ae_cublas_check_s = (call);                                                           \
    if (ae_cublas_check_s != CUBLAS_STATUS_SUCCESS)                                                      \
      ::ae::detail::fail(__FILE__, __LINE__, #call, ::ae::detail::concat("cuBLASLt status ", int(ae_cublas_check_s))); \
  } while (0)

namespace ae::cuda_bench {

namespace {

double median(std::vector<double> v) {
  std::sort(v.begin(), v.end());
  size_t n = v.size();
  return n == 0 ? 0 : n % 2 ? v[n / 2] : 0.5 * (v[n / 2 - 1] + v[n / 2]);
}

// A non-blocking stream and the events of one timing, released on every path (errors throw).
struct Stream {
  cudaStream_t s = nullptr;
  Stream() { AE_CUDA_CHECK(cudaStreamCreateWithFlags(&s, cudaStreamNonBlocking)); }
  ~Stream() {
    cudaStreamSynchronize(s);
    cudaStreamDestroy(s);
  }
};
struct Events {
  std::vector<cudaEvent_t> e;
  explicit Events(size_t n) : e(n, nullptr) {
    for (auto& x : e) AE_CUDA_CHECK(cudaEventCreate(&x));
  }
  ~Events() {
    for (auto x : e)
      if (x) cudaEventDestroy(x);
  }
  float ms(size_t a, size_t b) const {
    float t = 0;
    AE_CUDA_CHECK(cudaEventElapsedTime(&t, e[a], e[b]));
    return t;
  }
};
// Scratch device memory from the backend's pool.
struct Scratch {
  Device* dev;
  void* p = nullptr;
  Scratch(Device* d, size_t bytes) : dev(d), p(d->allocate(std::max<size_t>(bytes, 1))) {}
  ~Scratch() { dev->deallocate(p); }
  Scratch(const Scratch&) = delete;
  Scratch& operator=(const Scratch&) = delete;
  template <typename T>
  T* as() const { return static_cast<T*>(p); }
};

Device& device_of(Executor& ex) {
  Device* d = ex.backend().device();
  AE_CHECK(d && ex.backend().name() == "cuda", "cuda_bench: the executor does not run on the cuda backend (",
           ex.backend().name(), ")");
  return *d;
}

std::string kernel_label(const PlanOp& op) {
  std::string k = plan_op_kind_name(op.kind);
  if (op.kind == PlanOpKind::loss_fwd || op.kind == PlanOpKind::loss_fwd_bwd)
    return k + "(" + loss_name(op.loss) + (op.from_logits ? "+logits" : "") + ")";
  if (op.kind == PlanOpKind::dense_fwd || op.kind == PlanOpKind::dense_bwd) return k + "(" + act_name(op.act) + ")";
  return k;
}

// The launches of each Plan op on the bench stream with the Executor's device memory: the same
// launchers and arguments as CudaBackend::run_op (runtime/cuda/cuda_backend.cpp), with a loss
// workspace and an optimizer slot table of its own (they point at the Executor's parameters).
// Keep the two in step: a kernel timed here is the kernel the backend runs.
class OpLauncher {
 public:
  OpLauncher(Executor& ex, ParamStore& params, const cpu::OptConfig* opt, cudaStream_t s)
      : m_ex(ex), m_plan(ex.plan()), m_stream(s), m_dev(device_of(ex)),
        m_workspace(&m_dev, size_t(cuda::loss_workspace_elements(m_plan.batch)) * sizeof(double)) {
    const PlanOp* opt_op = nullptr;
    for (const auto& op : m_plan.ops)
      if (op.kind == PlanOpKind::optimizer_step) opt_op = &op;
    if (!opt_op) return;
    AE_CHECK(opt, "cuda_bench: a train plan needs its optimizer config");
    m_hyper = cuda::make_opt_hyper(*opt);
    std::vector<cuda::OptSlot> slots;
    for (size_t i = 0; i + 1 < opt_op->in.size(); i += 2) {
      int t = opt_op->in[i];
      size_t p = size_t(m_plan.graph.tensors[t].param);
      float* value = ex.data(t);  // the device mirror keeps the host block's layout byte for byte
      float* state = params.state(p)
                         ? reinterpret_cast<float*>(reinterpret_cast<char*>(value) +
                                                    (reinterpret_cast<char*>(params.state(p)) - reinterpret_cast<char*>(params.value(p))))
                         : nullptr;
      slots.push_back({value, ex.data(opt_op->in[i + 1]), state, params.info(p).size(), 0});
    }
    m_total = cuda::opt_slots_finalize(*opt, slots);
    m_count = int(slots.size());
    m_slots = std::make_unique<Scratch>(&m_dev, slots.size() * sizeof(cuda::OptSlot));
    m_scalars = std::make_unique<Scratch>(&m_dev, sizeof(cuda::OptStepScalars));
    m_dev.upload(m_slots->p, slots.data(), slots.size() * sizeof(cuda::OptSlot));
    // Fixed per-step scalars of a later step (not the first): replays time the update, not the schedule.
    cuda::OptStepScalars sc = cuda::make_opt_step_scalars(*opt, 2);
    m_dev.upload(m_scalars->p, &sc, sizeof sc);
  }

  void launch(const PlanOp& op) {
    auto P = [&](int t) { return t < 0 ? nullptr : m_ex.data(t); };
    const int64_t M = m_plan.batch;
    double* ws = m_workspace.as<double>();
    switch (op.kind) {
      case PlanOpKind::dense_fwd:
        cuda::dense_forward<float>(P(op.in[0]), P(op.in[1]), P(op.in[2]), op.act, M, op.n, op.k, P(op.out[0]),
                                   P(op.out[1]), m_stream);
        break;
      case PlanOpKind::dense_bwd:
        cuda::dense_backward<float>(P(op.in[0]), P(op.in[1]), P(op.in[2]), op.act, P(op.in[3]), P(op.in[4]), M, op.n,
                                    op.k, P(op.out[0]), P(op.out[1]), P(op.out[2]), false, m_stream);
        break;
      case PlanOpKind::loss_fwd:
        cuda::loss_forward_backward<float>(op.loss, op.from_logits, P(op.in[0]), P(op.in[1]), M, op.n, nullptr,
                                           P(op.out[1]), nullptr, Act::linear, P(op.out[0]), ws, m_stream);
        break;
      case PlanOpKind::loss_fwd_bwd:
        cuda::loss_forward_backward<float>(op.loss, op.from_logits, P(op.in[0]), P(op.in[1]), M, op.n, P(op.out[2]),
                                           P(op.out[1]), nullptr, op.act, P(op.out[0]), ws, m_stream);
        break;
      case PlanOpKind::add:
        cuda::add<float>(P(op.in[0]), P(op.in[1]), P(op.out[0]), m_plan.graph.tensors[op.out[0]].elements(M), m_stream);
        break;
      case PlanOpKind::optimizer_step:
        cuda::optimizer_step(m_hyper, m_scalars->as<cuda::OptStepScalars>(), m_slots->as<cuda::OptSlot>(), m_count,
                             m_total, m_stream);
        break;
    }
  }

 private:
  Executor& m_ex;
  const Plan& m_plan;
  cudaStream_t m_stream;
  Device& m_dev;
  Scratch m_workspace;  // [loss_workspace_elements(batch)] doubles
  cuda::OptHyper m_hyper{};
  std::unique_ptr<Scratch> m_slots, m_scalars;  // [m_count] OptSlot, [1] OptStepScalars
  int m_count = 0;
  int64_t m_total = 0;
};

// Elapsed ms of `fn` (which enqueues on s) per call: median over runs of `reps` calls each.
template <typename FN>
double time_calls(cudaStream_t s, const Repeat& r, int64_t reps, FN&& fn) {
  for (int64_t i = 0; i < r.warmup; ++i) fn();
  Events ev(2);
  std::vector<double> per_call;
  for (int64_t run = 0; run < r.runs; ++run) {
    AE_CUDA_CHECK(cudaEventRecord(ev.e[0], s));
    for (int64_t i = 0; i < reps; ++i) fn();
    AE_CUDA_CHECK(cudaEventRecord(ev.e[1], s));
    AE_CUDA_CHECK(cudaEventSynchronize(ev.e[1]));
    per_call.push_back(ev.ms(0, 1) / double(reps));
  }
  return median(per_call);
}

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

}  // namespace

DeviceLabel device_label() {
  int d = 0;
  AE_CUDA_CHECK(cudaGetDevice(&d));
  cudaDeviceProp p{};
  AE_CUDA_CHECK(cudaGetDeviceProperties(&p, d));
  return {p.name, p.multiProcessorCount, p.major, p.minor, double(p.totalGlobalMem) / double(1ull << 30)};
}

std::vector<double> time_graph_steps(Executor& ex, ParamStore& params, const cpu::OptConfig* opt, const Repeat& r) {
  Device& dev = device_of(ex);
  dev.synchronize();  // the executor's streams are idle: the bench stream owns the device memory now
  Stream st;
  OpLauncher launcher(ex, params, opt, st.s);
  cudaGraph_t g = nullptr;
  AE_CUDA_CHECK(cudaStreamBeginCapture(st.s, cudaStreamCaptureModeThreadLocal));
  try {
    for (const auto& op : ex.plan().ops) launcher.launch(op);
  } catch (...) {
    cudaStreamEndCapture(st.s, &g);
    if (g) cudaGraphDestroy(g);
    cudaGetLastError();
    throw;
  }
  AE_CUDA_CHECK(cudaStreamEndCapture(st.s, &g));
  cudaGraphExec_t exec = nullptr;
  cudaError_t e = cudaGraphInstantiate(&exec, g, 0);
  cudaGraphDestroy(g);
  AE_CUDA_CHECK(e);
  std::vector<double> ms_per_step;
  try {
    for (int64_t i = 0; i < r.warmup; ++i) AE_CUDA_CHECK(cudaGraphLaunch(exec, st.s));
    Events ev(2);
    for (int64_t run = 0; run < r.runs; ++run) {
      AE_CUDA_CHECK(cudaEventRecord(ev.e[0], st.s));
      for (int64_t i = 0; i < r.steps; ++i) AE_CUDA_CHECK(cudaGraphLaunch(exec, st.s));
      AE_CUDA_CHECK(cudaEventRecord(ev.e[1], st.s));
      AE_CUDA_CHECK(cudaEventSynchronize(ev.e[1]));
      ms_per_step.push_back(ev.ms(0, 1) / double(r.steps));
    }
  } catch (...) {
    cudaGraphExecDestroy(exec);
    throw;
  }
  cudaGraphExecDestroy(exec);
  return ms_per_step;
}

std::vector<OpTiming> time_ops(Executor& ex, ParamStore& params, const cpu::OptConfig* opt, const Repeat& r) {
  Device& dev = device_of(ex);
  dev.synchronize();
  Stream st;
  OpLauncher launcher(ex, params, opt, st.s);
  const Plan& plan = ex.plan();
  const size_t n = plan.ops.size();
  // Event i before op i, event n after the last: op i takes e[i] → e[i+1]. The event records
  // between kernels cost a little; a sequence keeps each op's caches as the step leaves them.
  Events ev(n + 1);
  std::vector<std::vector<double>> ms(n);
  for (int64_t rep = 0; rep < r.warmup + r.runs; ++rep) {
    for (size_t i = 0; i < n; ++i) {
      AE_CUDA_CHECK(cudaEventRecord(ev.e[i], st.s));
      launcher.launch(plan.ops[i]);
    }
    AE_CUDA_CHECK(cudaEventRecord(ev.e[n], st.s));
    AE_CUDA_CHECK(cudaEventSynchronize(ev.e[n]));
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
    double s = t.ms * 1e-3;
    t.gflops = s > 0 ? op.flops(plan.batch, plan.graph) / s / 1e9 : 0;
    t.gbps = s > 0 ? op.bytes(plan.batch, plan.graph) / s / 1e9 : 0;
    out.push_back(t);
  }
  return out;
}

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
    if (op.kind != PlanOpKind::dense_fwd) continue;
    const float* x = ex.data(op.in[0]);  // [M, K]
    const float* w = ex.data(op.in[1]);  // [N, K]
    const float* b = ex.data(op.in[2]);  // [N] or nullptr
    const bool relu = op.act == Act::relu;
    cublasLtEpilogue_t epi = b ? (relu ? CUBLASLT_EPILOGUE_RELU_BIAS : CUBLASLT_EPILOGUE_BIAS)
                               : (relu ? CUBLASLT_EPILOGUE_RELU : CUBLASLT_EPILOGUE_DEFAULT);
    GemmComparison c;
    c.index = int(i);
    c.m = M, c.n = op.n, c.k = op.k;
    c.act = act_name(op.act);
    c.epilogue = b ? (relu ? "bias+relu" : "bias") : (relu ? "relu" : "none");
    c.comparable = relu || op.act == Act::linear;
    Scratch y_ae(&dev, size_t(M * op.n) * sizeof(float)), z_ae(&dev, size_t(M * op.n) * sizeof(float)),
        y_lt(&dev, size_t(M * op.n) * sizeof(float));
    float* z = op.out.size() > 1 && op.out[1] >= 0 ? z_ae.as<float>() : nullptr;  // ae writes z when the plan keeps it
    LtGemm gemm(lt.h, M, op.n, op.k, epi, b, x, w, y_lt.p, ws.p, ws_bytes);
    c.ae_ms = time_calls(st.s, r, reps, [&] {
      cuda::dense_forward<float>(x, w, b, op.act, M, op.n, op.k, y_ae.as<float>(), z, st.s);
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

}  // namespace ae::cuda_bench

#endif  // !AE_CUDA_BACKEND_SIM
