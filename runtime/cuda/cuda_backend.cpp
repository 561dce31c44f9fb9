// The cuda backend: Plan ops on ae's hand-written CUDA kernels (kernels/cuda), device memory from
// a caching pool, a compute and a copy stream, and the whole step captured once into a CUDA graph
// and replayed. Plain C++ against the CUDA runtime API: with AE_CUDA_BACKEND_SIM it links
// runtime/sim and registers as "cuda-sim" (the kernels compiled by the host compiler, executed on
// the CPU); otherwise it links cudart and the nvcc-compiled kernels and registers as "cuda".
#include <cuda_runtime.h>

#include <algorithm>
#include <cstring>
#include <map>

#include "kernels/common/error.h"
#include "kernels/cuda/activation.cuh"
#include "kernels/cuda/amp.cuh"
#include "kernels/cuda/cast.cuh"
#include "kernels/cuda/binary.cuh"
#include "kernels/cuda/broadcast.cuh"
#include "kernels/cuda/conv.cuh"
#include "kernels/cuda/dense_bwd.cuh"
#include "kernels/cuda/contractive.cuh"
#include "kernels/cuda/dense_bwd_tc.cuh"
#include "kernels/cuda/dense_fwd.cuh"
#include "kernels/cuda/dense_fwd_tc.cuh"
#include "kernels/cuda/sparsity.cuh"
#include "kernels/cuda/vae.cuh"
#include "kernels/cuda/elementwise.cuh"
#include "kernels/cuda/launch.cuh"
#include "kernels/cuda/loss.cuh"
#include "kernels/cuda/lowp_value.cuh"
#include "kernels/cuda/matmul.cuh"
#include "kernels/cuda/noise.cuh"
#include "kernels/cuda/optimizer.cuh"
#include "kernels/cuda/pool.cuh"
#include "kernels/cuda/prior.cuh"
#include "kernels/cuda/reduce.cuh"
#include "kernels/cuda/unary.cuh"
#include "runtime/backend.h"
#include "runtime/cuda/cuda_backend.h"
#include "runtime/cuda/device_pool.h"
#if defined(AE_CUDA_BACKEND_SIM)
#include "runtime/sim/sim.h"
#endif
#include "runtime/cuda/step_block.h"

namespace ae {

namespace {

#if defined(AE_CUDA_BACKEND_SIM)
constexpr const char* BACKEND_NAME = "cuda-sim";
#else
constexpr const char* BACKEND_NAME = "cuda";
#endif

// From a tensor's runtime DType to the element type its kernels are instantiated for
// (kernels/cuda/lowp_value.cuh's Storage): f receives std::type_identity<float, __nv_bfloat16 or __half>.
template <typename F>
void with_storage(DType d, F&& f) {
  switch (d) {
    case DType::f32: return f(std::type_identity<cuda::Storage<DType::f32>>{});
    case DType::bf16: return f(std::type_identity<cuda::Storage<DType::bf16>>{});
    case DType::f16: return f(std::type_identity<cuda::Storage<DType::f16>>{});
  }
  AE_FAIL("unknown dtype ", int(d));
}

class CudaDevice final : public Device {
 public:
  CudaDevice() {
    AE_CUDA_CHECK(cudaStreamCreateWithFlags(&m_compute, cudaStreamNonBlocking));
    AE_CUDA_CHECK(cudaStreamCreateWithFlags(&m_copy, cudaStreamNonBlocking));
    for (int s = 0; s < 2; ++s) {
      AE_CUDA_CHECK(cudaEventCreateWithFlags(&m_uploaded[s], cudaEventDisableTiming));
      AE_CUDA_CHECK(cudaEventCreateWithFlags(&m_consumed[s], cudaEventDisableTiming));
    }
  }
  ~CudaDevice() override {
    cudaStreamSynchronize(m_compute);
    cudaStreamSynchronize(m_copy);
    for (int s = 0; s < 2; ++s) {
      cudaEventDestroy(m_uploaded[s]);
      cudaEventDestroy(m_consumed[s]);
    }
    cudaStreamDestroy(m_compute);
    cudaStreamDestroy(m_copy);
  }
  cudaStream_t compute() const { return m_compute; }
  cuda::DevicePool& pool() { return m_pool; }

  void* allocate(size_t bytes) override { return m_pool.allocate(bytes); }
  void deallocate(void* p) override { m_pool.deallocate(p); }
  void* allocate_pinned(size_t bytes) override {
    void* p = nullptr;
    AE_CUDA_CHECK(cudaMallocHost(&p, std::max<size_t>(bytes, 1)));
    std::memset(p, 0, bytes);
    return p;
  }
  void deallocate_pinned(void* p) override { cudaFreeHost(p); }
  void upload(void* dst, const void* src, size_t bytes) override {
    AE_CUDA_CHECK(cudaMemcpyAsync(dst, src, bytes, cudaMemcpyHostToDevice, m_compute));
    AE_CUDA_CHECK(cudaStreamSynchronize(m_compute));
  }
  void download(void* dst, const void* src, size_t bytes) override {
    AE_CUDA_CHECK(cudaMemcpyAsync(dst, src, bytes, cudaMemcpyDeviceToHost, m_compute));
    AE_CUDA_CHECK(cudaStreamSynchronize(m_compute));
  }
  void upload_input(int slot, void* dst, const void* src, size_t bytes) override {
    AE_CUDA_CHECK(cudaStreamWaitEvent(m_copy, m_consumed[slot], 0));  // the slot's last reader is done
    AE_CUDA_CHECK(cudaMemcpyAsync(dst, src, bytes, cudaMemcpyHostToDevice, m_copy));
    AE_CUDA_CHECK(cudaEventRecord(m_uploaded[slot], m_copy));
  }
  void begin_consume(int slot) override { AE_CUDA_CHECK(cudaStreamWaitEvent(m_compute, m_uploaded[slot], 0)); }
  void end_consume(int slot) override { AE_CUDA_CHECK(cudaEventRecord(m_consumed[slot], m_compute)); }
  void wait_staging(int slot) override { AE_CUDA_CHECK(cudaEventSynchronize(m_uploaded[slot])); }
  void synchronize() override {
    AE_CUDA_CHECK(cudaStreamSynchronize(m_copy));
    AE_CUDA_CHECK(cudaStreamSynchronize(m_compute));
  }
  std::string memory_report() const override { return m_pool.report(); }
#if defined(AE_CUDA_BACKEND_SIM)
  size_t guard_bytes() const override { return 256; }
  void name_memory(const void* p, size_t bytes, const std::string& name) override {
    if (bytes) ae::sim::name_buffer(p, bytes, name);
  }
#endif

 private:
  cuda::DevicePool m_pool;  // declared first: freed last, after the streams are idle
  cudaStream_t m_compute = nullptr, m_copy = nullptr;
  cudaEvent_t m_uploaded[2] = {}, m_consumed[2] = {};
};

// What one Executor's Plan keeps on this backend: graphs per input slot (full batches), the
// step-scalar block, the optimizer's device slot table, and the loss workspace.
struct CudaPlanCache final : PlanCache {
  explicit CudaPlanCache(CudaDevice& d) : dev(d), step(d.pool()) {}
  ~CudaPlanCache() override {
    drop_graphs();
    dev.deallocate(workspace);
    for (auto& [op, t] : opt_tables) dev.deallocate(t.slots);
  }
  void drop_graphs() {
    for (auto& [k, g] : graphs) cudaGraphExecDestroy(g);
    graphs.clear();
  }
  CudaDevice& dev;
  std::map<int, cudaGraphExec_t> graphs;
  cuda::StepScalarBlock step;   // rewritten before every launch; every graph of this plan reads it
  double* workspace = nullptr;  // loss_workspace_elements doubles, or a penalty's or dW split's partials if more
  size_t workspace_bytes = 0;
  struct OptTable {  // one optimizer_step op (one parameter group): its device slot table, hyperparameters
    cuda::OptSlot* slots = nullptr;
    int count = 0;
    int64_t total = 0;
    cuda::OptHyper hyper{};
  };
  std::map<const PlanOp*, OptTable> opt_tables;
  std::map<const PlanOp*, const PlanOp*> unscaled;  // unscale_grads → the optimizer_step it precedes
  int loss_tensor = -1;  // the first loss op's value, or -1
};

class CudaBackend final : public Backend {
 public:
  std::string name() const override { return BACKEND_NAME; }
  std::string description() const override {
#if defined(AE_CUDA_BACKEND_SIM)
    return "cuda-sim (ae's CUDA kernels compiled for runtime/sim and executed on the CPU: a correctness tool, its "
           "timings mean nothing; fp32, and tf32/bf16/fp16 on the tensor-core kernels; whole step in one CUDA graph)";
#else
    cudaDeviceProp p{};
    int d = 0;
    cudaGetDevice(&d);
    cudaGetDeviceProperties(&p, d);
    return std::string("cuda (") + p.name + ", sm_" + std::to_string(p.major) + std::to_string(p.minor) +
           "; ae's fused fp32 kernels, tensor-core kernels for tf32/bf16/fp16; whole step in one CUDA graph)";
#endif
  }
  bool supports(const PlanOp&) const override { return true; }
  // bf16 and fp16 plans: the dense ops on the tensor-core kernels (dense_fwd_tc, dense_bwd_tc),
  // the loss on its low-precision form, casts, and fp16's loss scaling (kernels/cuda/amp.cuh);
  // tf32 plans: the plain dense ops on the same kernels over fp32 tensors.
  std::string precision_support(Precision) const override { return ""; }  // fp32, tf32, bf16, fp16
  Device* device() override { return &m_dev; }

  void launch_plan(OpContext& ctx, std::unique_ptr<PlanCache>& cache_ptr) override {
    if (!cache_ptr) cache_ptr = std::make_unique<CudaPlanCache>(m_dev);
    auto& c = static_cast<CudaPlanCache&>(*cache_ptr);
    prepare(ctx, c);
    m_active = &c;
    const bool graph = ctx.use_graph && ctx.batch == ctx.plan->batch;
    if (!graph) {
      run_ops(ctx);
      return;
    }
    auto it = c.graphs.find(ctx.variant);
    if (it == c.graphs.end()) it = c.graphs.emplace(ctx.variant, capture(ctx)).first;
    if (ctx.on_boundary) ctx.on_boundary(0);
    AE_CUDA_CHECK(cudaGraphLaunch(it->second, m_dev.compute()));
    if (ctx.on_boundary) ctx.on_boundary(ctx.plan->ops.size());
  }

  double finish_plan(OpContext& ctx, PlanCache* cache) override {
    AE_CUDA_CHECK(cudaStreamSynchronize(m_dev.compute()));
    auto* c = static_cast<CudaPlanCache*>(cache);
    if (!c || c->loss_tensor < 0) return 0;
    float loss = 0;
    m_dev.download(&loss, ctx.ptr(c->loss_tensor), sizeof loss);
    return loss;
  }

 protected:
  float* workspace_floats() const { return reinterpret_cast<float*>(m_active->workspace); }
  // The loss-scaling state an fp16 op reads (PlanOp::loss_scale), or nullptr.
  static AmpState* amp(const PlanOp& op, OpContext& c) {
    return op.loss_scale < 0 ? nullptr : reinterpret_cast<AmpState*>(c.ptr(op.loss_scale));
  }

  void run_op(const PlanOp& op, OpContext& c) override {
    auto P = [&](int t) { return t < 0 ? nullptr : c.ptr(t); };
    const int64_t M = c.batch;
    cudaStream_t s = m_dev.compute();
    if (low_precision(op, c)) return run_lowp(op, c, s);
    switch (op.kind) {
      case PlanOpKind::dense_fwd: {
        cuda::CodePenaltyOut<float> pen{op.attr.sparsity};  // out {y, z, value, colsum} with a penalty
        if (pen.p.kind != SparsityKind::none) pen = {op.attr.sparsity, P(op.out[3]), P(op.out[2]), workspace_floats()};
        cuda::dense_forward<float>(P(op.in[0]), P(op.in[1]), P(op.in[2]), op.attr.act, M, op.n, op.k, P(op.out[0]),
                                   P(op.out[1]), s, op.attr.noise, m_active->step.device(), pen);
        break;
      }
      case PlanOpKind::dense_bwd: {
        // A penalty's gradient on load: in {…, h, colsum, dvalue} (sparsity) or {…, z, norms, dvalue} (contractive).
        cuda::CodePenaltyIn<float> pen{op.attr.sparsity};
        if (pen.p.kind != SparsityKind::none || op.z_penalty)
          pen = {op.attr.sparsity, P(op.in[5]), P(op.in[6]), P(op.in[7]), op.z_penalty};
        cuda::dense_backward<float>(P(op.in[0]), P(op.in[1]), P(op.in[2]), op.attr.act, P(op.in[3]), P(op.in[4]), M,
                                    op.n, op.k, P(op.out[0]), P(op.out[1]), P(op.out[2]), op.accumulates(0),
                                    op.accumulates(1), s, op.attr.noise, m_active->step.device(), pen);
        break;
      }
      case PlanOpKind::sparsity: {
        const OpGeometry g = op_geometry(op, c.plan->graph, M);
        cuda::sparsity_forward<float>(op.attr.sparsity, P(op.in[0]), g.m, g.n, P(op.out[1]), P(op.out[0]), workspace_floats(), s);
        break;
      }
      case PlanOpKind::contractive: {
        const OpGeometry g = op_geometry(op, c.plan->graph, M);
        cuda::contractive_forward<float>(op.attr.act, P(op.in[0]), P(op.in[1]), g.m, g.n, g.k, P(op.out[1]), P(op.out[2]),
                                         P(op.out[0]), workspace_floats(), s);
        break;
      }
      case PlanOpKind::contractive_grad: {
        const OpGeometry g = op_geometry(op, c.plan->graph, M);
        cuda::contractive_backward_z<float>(op.attr.act, P(op.in[0]), P(op.in[1]), P(op.in[2]), g.m, g.n, P(op.out[0]),
                                            op.attr.accumulate, s);
        break;
      }
      case PlanOpKind::contractive_grad_w: {
        const OpGeometry g = op_geometry(op, c.plan->graph, M);
        cuda::contractive_backward_w<float>(P(op.in[0]), P(op.in[1]), P(op.in[2]), g.m, g.n, g.k, P(op.out[0]),
                                            op.attr.accumulate, s);
        break;
      }
      case PlanOpKind::sparsity_grad: {
        const OpGeometry g = op_geometry(op, c.plan->graph, M);
        cuda::sparsity_backward<float>(op.attr.sparsity, P(op.in[0]), P(op.in[1]), P(op.in[2]), g.m, g.n, P(op.out[0]),
                                       op.attr.accumulate, s);
        break;
      }
      case PlanOpKind::loss_fwd:
        AE_CHECK(op.loss_scale < 0, "a loss-scaled loss on an fp32 prediction: graph/precision.cpp gives fp16 plans an fp16 one");
        cuda::loss_forward_backward<float>(op.attr.loss, op.from_logits, P(op.in[0]), P(op.in[1]), M, op.n, nullptr,
                                           P(op.out[1]), nullptr, Act::linear, P(op.out[0]), m_active->workspace, s,
                                           op.attr.reduction);
        break;
      case PlanOpKind::loss_fwd_bwd:
        AE_CHECK(op.loss_scale < 0, "a loss-scaled loss on an fp32 prediction: graph/precision.cpp gives fp16 plans an fp16 one");
        cuda::loss_forward_backward<float>(op.attr.loss, op.from_logits, P(op.in[0]), P(op.in[1]), M, op.n, P(op.out[2]),
                                           P(op.out[1]), nullptr, op.attr.act, P(op.out[0]), m_active->workspace, s,
                                           op.attr.reduction);
        break;
      case PlanOpKind::optimizer_step: {
        const auto& t = m_active->opt_tables.at(&op);
        cuda::optimizer_step(t.hyper, m_active->step.device(), op.attr.group, t.slots, t.count, t.total, s, amp(op, c));
        break;
      }
      case PlanOpKind::unscale_grads: {  // the gradients of the optimizer step it precedes: that step's table
        const auto& t = m_active->opt_tables.at(m_active->unscaled.at(&op));
        cuda::amp_unscale(amp(op, c), t.slots, t.count, t.total, s);
        break;
      }
      case PlanOpKind::update_scale: cuda::amp_update(amp(op, c), s); break;
      case PlanOpKind::cast: {
        const Tensor& x = c.plan->graph.tensors[size_t(op.in[0])];
        cuda::cast(P(op.in[0]), x.dtype, P(op.out[0]), c.plan->graph.tensors[size_t(op.out[0])].dtype, x.elements(M), s);
        break;
      }
      case PlanOpKind::noise:
        cuda::corrupt(op.attr.noise, m_active->step.device(), P(op.in[0]), P(op.out[0]), c.plan->graph.tensors[size_t(op.out[0])].elements(M), s);
        break;
      case PlanOpKind::prior:
        cuda::prior_sample(op.attr.prior, m_active->step.device(), P(op.out[0]), c.plan->graph.tensors[size_t(op.out[0])].elements(M), s);
        break;
      case PlanOpKind::fill:  // a warmed-up or loss-scaled seed reads the device; a plain fill is unfused
        if (op.attr.ramp <= 0 && op.loss_scale < 0) return run_unfused(op, c, s);
        cuda::fill_ramped<float>(P(op.out[0]), op.attr.scale, op.attr.ramp, m_active->step.device(),
                                 c.plan->graph.tensors[size_t(op.out[0])].elements(M), s, amp(op, c));
        break;
      case PlanOpKind::reparam: {  // in {h}  out {z, value, kl}
        const int64_t N = c.plan->graph.tensors[size_t(op.out[0])].cols();
        cuda::reparam_forward(op.attr.vae, m_active->step.device(), P(op.in[0]), M, N, P(op.out[0]), P(op.out[2]), P(op.out[1]), s);
        break;
      }
      case PlanOpKind::reparam_grad: {  // in {dz, h, dvalue}  out {dh}
        const int64_t N = c.plan->graph.tensors[size_t(op.in[0])].cols();
        cuda::reparam_backward(op.attr.vae, m_active->step.device(), P(op.in[0]), P(op.in[1]), P(op.in[2]), M, N, P(op.out[0]),
                               op.attr.accumulate, s);
        break;
      }
      case PlanOpKind::conv_fwd:  // in {x, W, b|-1}  out {y, z|-1}
        cuda::conv2d_forward<float>(conv_geometry(op, M), P(op.in[0]), P(op.in[1]), P(op.in[2]), op.attr.act, P(op.out[0]),
                                    P(op.out[1]), s);
        break;
      case PlanOpKind::conv_bwd:  // in {dy, y, z, x, W}  out {dW, db, dx}: act′ applied as dy loads, dy kept
        cuda::conv2d_backward<float>(conv_geometry(op, M), P(op.in[0]), P(op.in[1]), P(op.in[2]), op.attr.act, P(op.in[3]),
                                     P(op.in[4]), P(op.out[0]), P(op.out[1]), P(op.out[2]), op.accumulates(0),
                                     op.accumulates(1), s);
        break;
      case PlanOpKind::pool:
        switch (op.attr.pool_kind) {
          case PoolKind::max: cuda::max_pool2d_forward<float>(pool_geometry(op, M), P(op.in[0]), P(op.out[0]), nullptr, s); break;
          case PoolKind::avg: cuda::avg_pool2d_forward<float>(pool_geometry(op, M), P(op.in[0]), P(op.out[0]), s); break;
          case PoolKind::upsample:
            cuda::upsample_nearest2d_forward<float>(upsample_geometry(op, M), P(op.in[0]), P(op.out[0]), s);
            break;
        }
        break;
      case PlanOpKind::pool_grad:  // in {dy, x|-1}
        switch (op.attr.pool_kind) {
          case PoolKind::max:
            cuda::max_pool2d_backward<float>(pool_geometry(op, M), P(op.in[0]), P(op.in[1]), P(op.out[0]), s);
            break;
          case PoolKind::avg: cuda::avg_pool2d_backward<float>(pool_geometry(op, M), P(op.in[0]), P(op.out[0]), s); break;
          case PoolKind::upsample:
            cuda::upsample_nearest2d_backward<float>(upsample_geometry(op, M), P(op.in[0]), P(op.out[0]), s);
            break;
        }
        break;
      default: run_unfused(op, c, s); break;
    }
  }

  // Whether the op runs on its low-precision kernels: graph/precision.cpp gave its first operand
  // the plan's compute dtype (the dense ops and the loss of a bf16 or fp16 plan), or it is a plain
  // dense op (no fused corruption or penalty, which the tensor-core kernels lack) of a tf32 plan.
  static bool low_precision(const PlanOp& op, const OpContext& c) {
    const auto& ts = c.plan->graph.tensors;
    switch (op.kind) {
      case PlanOpKind::dense_fwd:
      case PlanOpKind::dense_bwd:
        if (c.plan->tf32) return is_plain_dense(op);
        [[fallthrough]];
      case PlanOpKind::loss_fwd:
      case PlanOpKind::loss_fwd_bwd: return op.in[0] >= 0 && ts[size_t(op.in[0])].dtype != DType::f32;
      default: return false;
    }
  }

  // The dense ops and the loss of a bf16/fp16 plan, on kernels templated on the storage type.
  void run_lowp(const PlanOp& op, OpContext& c, cudaStream_t s) {
    const auto& ts = c.plan->graph.tensors;
    const int64_t M = c.batch;
    with_storage(ts[size_t(op.in[0])].dtype, [&](auto tag) {
      using IN = typename decltype(tag)::type;
      auto L = [&](int t) { return t < 0 ? nullptr : reinterpret_cast<IN*>(c.ptr(t)); };
      auto F = [&](int t) { return t < 0 ? nullptr : c.ptr(t); };
      switch (op.kind) {
        case PlanOpKind::dense_fwd:  // in {x, W, b}  out {y, z}
          cuda::dense_forward_tc<IN>(L(op.in[0]), L(op.in[1]), F(op.in[2]), op.attr.act, M, op.n, op.k, L(op.out[0]),
                                     L(op.out[1]), s);
          break;
        case PlanOpKind::dense_bwd:  // in {dy, y, z, x, W}  out {dW, db, dx}
          cuda::dense_backward_tc<IN>(L(op.in[0]), L(op.in[1]), L(op.in[2]), op.attr.act, L(op.in[3]), L(op.in[4]), M, op.n,
                                      op.k, F(op.out[0]), F(op.out[1]), L(op.out[2]), op.accumulates(0), op.accumulates(1), s,
                                      m_active->workspace, m_active->workspace_bytes);
          break;
        case PlanOpKind::loss_fwd:
        case PlanOpKind::loss_fwd_bwd:  // in {pred, target}  out {loss, per_sample, dpred}; the target f32 or IN
          if constexpr (std::is_same_v<IN, float>) {
            AE_FAIL(BACKEND_NAME, " backend: an fp32 loss is not a low-precision op");
          } else {
            const bool bwd = op.kind == PlanOpKind::loss_fwd_bwd;
            const float* scale = op.loss_scale >= 0 ? F(op.loss_scale) : nullptr;  // AmpState::scale leads the state
            auto run = [&](auto* target) {
              cuda::loss_forward_backward_lowp(op.attr.loss, op.from_logits, L(op.in[0]), target, M, op.n,
                                               bwd ? L(op.out[2]) : nullptr, F(op.out[1]), bwd ? op.attr.act : Act::linear,
                                               F(op.out[0]), m_active->workspace, s, op.attr.reduction, scale);
            };
            if (ts[size_t(op.in[1])].dtype == DType::f32)
              run(static_cast<const float*>(F(op.in[1])));
            else
              run(static_cast<const IN*>(L(op.in[1])));
          }
          break;
        default: AE_FAIL(BACKEND_NAME, " backend: no ", dtype_name(ts[size_t(op.in[0])].dtype), " kernel for plan op ",
                         plan_op_kind_name(op.kind));
      }
    });
  }

  // The unfused primitives: one kernel each (kernels/cuda), shaped by op_geometry as on cpu.
  static void run_unfused(const PlanOp& op, OpContext& c, cudaStream_t s) {
    auto P = [&](int t) { return t < 0 ? nullptr : c.ptr(t); };
    const OpGeometry g = op_geometry(op, c.plan->graph, c.batch);
    const float alpha = float(g.alpha);
    const bool acc = op.attr.accumulate;
    switch (op.kind) {
      case PlanOpKind::matmul:
        cuda::matmul<float>(op.trans_a, op.trans_b, g.m, g.n, g.k, P(op.in[0]), P(op.in[1]), P(op.out[0]), acc, s);
        break;
      case PlanOpKind::activation: cuda::activation_forward<float>(op.attr.act, P(op.in[0]), P(op.out[0]), g.m, s); break;
      case PlanOpKind::activation_grad:
        cuda::activation_backward<float>(op.attr.act, P(op.in[0]), P(op.in[1]), P(op.in[2]), P(op.out[0]), g.m, s);
        break;
      case PlanOpKind::activation_grad2:
        cuda::activation_second_backward<float>(op.attr.act, P(op.in[0]), P(op.in[1]), P(op.out[0]), g.m, s);
        break;
      case PlanOpKind::unary: cuda::unary<float>(op.attr.unary, alpha, P(op.in[0]), P(op.out[0]), g.m, s); break;
      case PlanOpKind::binary:
        cuda::binary<float>(op.attr.binary, P(op.in[0]), P(op.in[1]), P(op.out[0]), g.m, g.n, op.attr.bcast, acc, s, g.group);
        break;
      case PlanOpKind::reduce:
        cuda::reduce_sum<float>(op.attr.axis, alpha, P(op.in[0]), P(op.out[0]), g.m, g.n, acc, s, g.group);
        break;
      case PlanOpKind::broadcast:
        cuda::broadcast<float>(op.attr.bcast, alpha, P(op.in[0]), P(op.out[0]), g.m, g.n, acc, s, g.group);
        break;
      case PlanOpKind::fill: cuda::fill<float>(P(op.out[0]), alpha, g.m, s); break;
      case PlanOpKind::copy: cuda::copy<float>(P(op.in[0]), P(op.out[0]), g.m, s); break;
      default: AE_FAIL(BACKEND_NAME, " backend: no kernel for plan op ", plan_op_kind_name(op.kind));
    }
  }

 private:
  // Device tables and per-step values, all written before any capture (a capture may not
  // contain synchronous copies) and outside it (the step scalars change every replay).
  void prepare(OpContext& ctx, CudaPlanCache& c) {
    const Plan& plan = *ctx.plan;
    c.step.write(cuda::make_step_scalars(ctx), m_dev.compute());
    if (!c.workspace) {
      // Shared by the ops that need scratch, one at a time: the loss's row sums and a sparsity
      // penalty's column partials.
      size_t bytes = size_t(cuda::loss_workspace_elements(plan.batch)) * sizeof(double);
      for (const auto& op : plan.ops)
        if (op.attr.sparsity.kind != SparsityKind::none) {
          const int64_t n = op.kind == PlanOpKind::sparsity ? plan.graph.tensors[size_t(op.in[0])].cols() : op.n;
          bytes = std::max(bytes, size_t(cuda::sparsity_workspace_floats(plan.batch, n)) * sizeof(float));
        } else if (op.kind == PlanOpKind::contractive) {
          const OpGeometry g = op_geometry(op, plan.graph, plan.batch);
          bytes = std::max(bytes, size_t(cuda::contractive_workspace_floats(g.m, g.n, g.k)) * sizeof(float));
        } else if (op.kind == PlanOpKind::dense_bwd && low_precision(op, ctx)) {  // dW's split partials
          bytes = std::max(bytes, cuda::dense_backward_tc_workspace_bound(plan.batch, op.n, op.k));
        }
      c.workspace = static_cast<double*>(m_dev.allocate(bytes));
      c.workspace_bytes = bytes;
      for (const auto& op : plan.ops)
        if (c.loss_tensor < 0 && (op.kind == PlanOpKind::loss_fwd || op.kind == PlanOpKind::loss_fwd_bwd)) c.loss_tensor = op.out[0];
    }
    bool has_opt = false;
    for (const auto& op : plan.ops) has_opt |= op.kind == PlanOpKind::optimizer_step;
    if (!has_opt) return;
    AE_CHECK(ctx.opt && ctx.step >= 1, "optimizer step without optimizer config");
    for (const auto& op : plan.ops) {
      if (op.kind != PlanOpKind::optimizer_step) continue;
      const cpu::OptConfig& cfg = *ctx.opt_for(op.attr.group);
      const cuda::OptHyper h = cuda::make_opt_hyper(cfg);
      auto found = c.opt_tables.find(&op);
      if (found != c.opt_tables.end()) {
        if (h != found->second.hyper) c.drop_graphs();  // a captured launch holds the hyperparameters
        found->second.hyper = h;
        continue;
      }
      std::vector<cuda::OptSlot> slots;
      for (size_t i = 0; i + 1 < op.in.size(); i += 2) {
        int p = plan.graph.tensors[size_t(op.in[i])].param;
        // Mixed precision: out[i/2] is the param's compute copy, written as the param is updated.
        void* copy = i / 2 < op.out.size() && op.out[i / 2] >= 0 ? ctx.ptr(op.out[i / 2]) : nullptr;
        slots.push_back({ctx.ptr(op.in[i]), ctx.ptr(op.in[i + 1]), ctx.state(p, op.attr.group), ctx.params->info(size_t(p)).size(),
                         0, copy, plan.precision});
      }
      auto& t = c.opt_tables[&op];
      t.hyper = h;
      t.total = cuda::opt_slots_finalize(cfg, slots);
      t.count = int(slots.size());
      t.slots = static_cast<cuda::OptSlot*>(m_dev.allocate(slots.size() * sizeof(cuda::OptSlot)));
      m_dev.upload(t.slots, slots.data(), slots.size() * sizeof(cuda::OptSlot));
    }
    for (size_t i = 0; i + 1 < plan.ops.size(); ++i)
      if (plan.ops[i].kind == PlanOpKind::unscale_grads) {
        AE_CHECK(plan.ops[i + 1].kind == PlanOpKind::optimizer_step, "unscale_grads must precede its optimizer step");
        c.unscaled[&plan.ops[i]] = &plan.ops[i + 1];
      }
  }

  cudaGraphExec_t capture(OpContext& ctx) {
    cudaStream_t s = m_dev.compute();
    AE_CUDA_CHECK(cudaStreamBeginCapture(s, cudaStreamCaptureModeThreadLocal));
    cudaGraph_t g = nullptr;
    try {
      for (const auto& op : ctx.plan->ops) run(op, ctx);  // not run_ops: no boundary hook inside a graph
    } catch (...) {
      cudaStreamEndCapture(s, &g);
      if (g) cudaGraphDestroy(g);
      cudaGetLastError();
      throw;
    }
    AE_CUDA_CHECK(cudaStreamEndCapture(s, &g));
    cudaGraphExec_t exec = nullptr;
    cudaError_t e = cudaGraphInstantiate(&exec, g, 0);
    cudaGraphDestroy(g);
    AE_CUDA_CHECK(e);
    return exec;
  }

  CudaDevice m_dev;
  CudaPlanCache* m_active = nullptr;
};

}  // namespace

cudaStream_t cuda_compute_stream(Backend& backend) {
  Device* d = backend.device();
  auto* dev = dynamic_cast<CudaDevice*>(d);
  AE_CHECK(dev, "cuda_compute_stream: backend '", backend.name(), "' is not the ", BACKEND_NAME, " backend");
  return dev->compute();
}

std::unique_ptr<Backend> make_cuda_backend() { return std::make_unique<CudaBackend>(); }
const char* cuda_backend_name() { return BACKEND_NAME; }
bool cuda_backend_available() {
#if defined(AE_CUDA_BACKEND_SIM)
  return true;  // the virtual device is always there; `auto` never picks it (it looks for "cuda")
#else
  int n = 0;
  if (cudaGetDeviceCount(&n) != cudaSuccess) {
    cudaGetLastError();
    return false;
  }
  return n > 0;
#endif
}

}  // namespace ae
