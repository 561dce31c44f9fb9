// The cpu backend: the reference. Each Plan op maps onto one kernels/cpu reference kernel.
// A forward-only plan (encode, decode, reconstruct, eval) that an Executor runs again and again
// keeps, per dense_fwd op, its weights packed for the GEMM (kernels/cpu/gemm.h's PackedNtBias),
// re-packed when the ParamStore's version changes — when its executor says host writes bump that
// version (OpContext::params_versioned). Train plans change the weights every step and run unpacked.
#include <algorithm>
#include <cmath>
#include <memory>
#include <omp.h>
#include <vector>

#include "kernels/common/error.h"
#include "kernels/cpu/activation.h"
#include "kernels/cpu/binary.h"
#include "kernels/cpu/broadcast.h"
#include "kernels/cpu/cast.h"
#include "kernels/cpu/contractive.h"
#include "kernels/cpu/conv.h"
#include "kernels/cpu/dense.h"
#include "kernels/cpu/gemm.h"
#include "kernels/cpu/loss.h"
#include "kernels/cpu/vae.h"
#include "kernels/cpu/matmul.h"
#include "kernels/cpu/noise.h"
#include "kernels/cpu/pool.h"
#include "kernels/cpu/prior.h"
#include "kernels/cpu/reduce.h"
#include "kernels/cpu/sparsity.h"
#include "kernels/cpu/unary.h"
#include "runtime/backend.h"

namespace ae {

namespace {

// Per op of a forward-only plan: the packed weights of each dense_fwd op whose W is a parameter.
struct CpuPlanCache final : PlanCache {
  std::vector<std::unique_ptr<cpu::PackedNtBias>> packed;  // [ops], null where unused
  uint64_t version = 0;                                     // ParamStore version they were packed at
  const void* block = nullptr;                              // ...and the store's block

  explicit CpuPlanCache(const Plan& plan) : packed(plan.ops.size()) {
    for (size_t i = 0; i < plan.ops.size(); ++i) {
      const PlanOp& op = plan.ops[i];
      if (op.kind != PlanOpKind::dense_fwd || op.k < 1 || op.n < 1) continue;
      if (plan.graph.tensors[size_t(op.in[1])].role != TensorRole::param) continue;
      packed[i] = std::make_unique<cpu::PackedNtBias>(op.n, op.k);
    }
  }
  void refresh(const ParamStore& params) {
    if (params.version() == version && params.block() == block) return;
    for (auto& p : packed)
      if (p) p->invalidate();
    version = params.version();
    block = params.block();
  }
};

class CpuBackend final : public Backend {
 public:
  std::string name() const override { return "cpu"; }
  std::string description() const override {
    return "cpu reference (fp32, bf16 where the CPU has it; GEMMs: " + cpu::gemm_library() + ")";
  }
  // Everything but fp16's loss scaling: the cpu runs no fp16 plans (precision_support says why).
  bool supports(const PlanOp& op) const override {
    return op.kind != PlanOpKind::unscale_grads && op.kind != PlanOpKind::update_scale;
  }
  std::string precision_support(Precision p) const override {
    if (p == Precision(DType::f32)) return "";
    if (p.tf32)
      return "tf32 (fp32 storage, tf32 tensor-core GEMMs) is a GPU setting; use fp32 or bf16 on the cpu, or tf32 on "
             "--device cuda (or cuda-sim)";
    if (p.compute == DType::f16)
      return "fp16 is not available on the cpu backend (oneDNN 2.6 has no fp16 GEMMs for these CPUs); use bf16 on the cpu, "
             "or fp16 on --device cuda (or cuda-sim)";
    return cpu::bf16_gemm_native() ? "" : cpu::bf16_gemm_support();
  }

  void launch_plan(OpContext& ctx, std::unique_ptr<PlanCache>& cache) override {
    if (ctx.plan->mode == GraphMode::train || !ctx.params || !ctx.params_versioned) return run_ops(ctx);
    if (!cache) cache = std::make_unique<CpuPlanCache>(*ctx.plan);
    static_cast<CpuPlanCache&>(*cache).refresh(*ctx.params);
    ctx.cache = cache.get();
    try {
      run_ops(ctx);
    } catch (...) {
      ctx.cache = nullptr;
      throw;
    }
    ctx.cache = nullptr;
  }

 protected:
  // A dense op's x as its GEMM reads it: x itself, or — when lowering fused the first layer's
  // input corruption into the op — the corrupted copy, which the reference materialises in a
  // scratch buffer (the cuda kernels regenerate it on load instead; the bits are the same).
  // The scratch is per calling thread: a backend may serve several executors at once.
  static const float* gemm_x(const PlanOp& op, const OpContext& c, int64_t M, const float* x) {
    if (op.attr.noise.kind == NoiseKind::none) return x;
    thread_local std::vector<float> corrupted;  // [batch, in] of the first layer
    corrupted.resize(size_t(M * op.k));
    cpu::corrupt(op.attr.noise, c.seed, uint64_t(c.step), x, corrupted.data(), M * op.k);
    return corrupted.data();
  }

  void run_op(const PlanOp& op, OpContext& c) override {
    auto P = [&](int t) { return t < 0 ? nullptr : c.ptr(t); };
    const int64_t M = c.batch;
    if (low_precision(op, c)) return run_bf16(op, c);
    switch (op.kind) {
      case PlanOpKind::dense_fwd: {
        cpu::PackedNtBias* packed = nullptr;
        if (c.cache) packed = static_cast<CpuPlanCache*>(c.cache)->packed[size_t(&op - c.plan->ops.data())].get();
        cpu::dense_forward<float>(gemm_x(op, c, M, P(op.in[0])), P(op.in[1]), P(op.in[2]), op.attr.act, M, op.n, op.k, P(op.out[0]), P(op.out[1]),
                                  packed);
        if (op.attr.sparsity.kind != SparsityKind::none)  // the code's penalty: out {y, z, value, colsum}
          cpu::sparsity_forward<float>(op.attr.sparsity, P(op.out[0]), M, op.n, P(op.out[3]), P(op.out[2]));
        break;
      }
      case PlanOpKind::dense_bwd: {
        float* dy = P(op.in[0]);
        if (op.attr.sparsity.kind != SparsityKind::none)  // dy += the penalty's gradient; in {…, h, colsum, dvalue}
          cpu::sparsity_backward<float>(op.attr.sparsity, P(op.in[7]), P(op.in[5]), P(op.in[6]), M, op.n, dy, true);
        Act act = op.attr.act;
        if (op.z_penalty) {  // dz = dy⊙act′ + the contractive penalty's gradient; in {…, z, norms, dvalue}
          cpu::activation_backward<float>(act, dy, P(op.in[2]), P(op.in[1]), dy, M * op.n);
          cpu::contractive_backward_z<float>(act, P(op.in[7]), P(op.in[5]), P(op.in[6]), M, op.n, dy, true);
          act = Act::linear;  // dy now holds dz
        }
        cpu::dense_backward<float>(dy, P(op.in[1]), P(op.in[2]), act, gemm_x(op, c, M, P(op.in[3])),
                                   P(op.in[4]), M, op.n, op.k, dy /* dz in place */, P(op.out[0]), P(op.out[1]),
                                   P(op.out[2]), op.accumulates(0), op.accumulates(1));
        break;
      }
      case PlanOpKind::loss_fwd:
        c.loss = cpu::loss_forward_backward<float>(op.attr.loss, op.from_logits, P(op.in[0]), P(op.in[1]), M, op.n, nullptr,
                                                   P(op.out[1]), nullptr, Act::linear, op.attr.reduction);
        *P(op.out[0]) = float(c.loss);
        break;
      case PlanOpKind::loss_fwd_bwd: {
        // grad may take over pred's block (op.inplace). The output activation, when lowering
        // folded it in, is applied by the loss kernel in the same pass (it reads y before writing
        // the gradient over it); lowering folds only those whose derivative is a function of y.
        c.loss = cpu::loss_forward_backward<float>(op.attr.loss, op.from_logits, P(op.in[0]), P(op.in[1]), M, op.n,
                                                   P(op.out[2]), P(op.out[1]), nullptr, op.attr.act, op.attr.reduction);
        *P(op.out[0]) = float(c.loss);
        break;
      }
      case PlanOpKind::optimizer_step: {
        std::vector<cpu::ParamSlot> slots;
        for (size_t i = 0; i < op.in.size(); i += 2) {
          int p = c.plan->graph.tensors[op.in[i]].param;
          slots.push_back({c.params->value(p), c.params->grad(p), c.params->state(p, op.attr.group), c.params->info(p).size()});
          if (i / 2 < op.out.size() && op.out[i / 2] >= 0) slots.back().copy = reinterpret_cast<bfloat16*>(P(op.out[i / 2]));
        }
        cpu::OptConfig cfg = *c.opt_for(op.attr.group);  // the step's values come from the context, as on a device
        cfg.lr = c.lr[size_t(op.attr.group)];
        cpu::optimizer_step(cfg, c.step, slots.data(), slots.size());
        break;
      }
      default: run_unfused(op, c); break;
    }
  }

  // Whether the op's first operand is a bf16 tensor: graph/precision.cpp gave it bf16 operands
  // exactly where its rules allow (dense ops: x, W, y, z, dy, dx; losses: pred, dpred).
  static bool low_precision(const PlanOp& op, const OpContext& c) {
    const auto& ts = c.plan->graph.tensors;
    switch (op.kind) {
      case PlanOpKind::dense_fwd:
      case PlanOpKind::dense_bwd:
      case PlanOpKind::loss_fwd:
      case PlanOpKind::loss_fwd_bwd: return ts[size_t(op.in[0])].dtype == DType::bf16;
      default: return false;
    }
  }

  // The bf16 forms of the dense and loss ops (kernels/cpu: bf16 storage, fp32 accumulation).
  static void run_bf16(const PlanOp& op, OpContext& c) {
    auto B = [&](int t) { return t < 0 ? nullptr : reinterpret_cast<bfloat16*>(c.ptr(t)); };
    auto F = [&](int t) { return t < 0 ? nullptr : c.ptr(t); };
    const auto& ts = c.plan->graph.tensors;
    const int64_t M = c.batch;
    switch (op.kind) {
      case PlanOpKind::dense_fwd:
        cpu::dense_forward_bf16(B(op.in[0]), B(op.in[1]), F(op.in[2]), op.attr.act, M, op.n, op.k, B(op.out[0]), B(op.out[1]));
        break;
      case PlanOpKind::dense_bwd:
        cpu::dense_backward_bf16(B(op.in[0]), B(op.in[1]), B(op.in[2]), op.attr.act, B(op.in[3]), B(op.in[4]), M, op.n, op.k,
                                 F(op.out[0]), F(op.out[1]), B(op.out[2]), op.accumulates(0), op.accumulates(1));
        break;
      case PlanOpKind::loss_fwd:
      case PlanOpKind::loss_fwd_bwd: {
        const bool grad = op.kind == PlanOpKind::loss_fwd_bwd;
        c.loss = cpu::loss_forward_backward_bf16(op.attr.loss, op.from_logits, B(op.in[0]), c.ptr(op.in[1]),
                                                 ts[size_t(op.in[1])].dtype, M, op.n, grad ? B(op.out[2]) : nullptr,
                                                 F(op.out[1]), grad ? op.attr.act : Act::linear, op.attr.reduction);
        *F(op.out[0]) = float(c.loss);
        break;
      }
      default: AE_FAIL("cpu backend: no bf16 kernel for plan op ", plan_op_kind_name(op.kind));
    }
  }

  // The unfused primitives: one reference kernel each (kernels/cpu), shaped by op_geometry.
  static void run_unfused(const PlanOp& op, OpContext& c) {
    auto P = [&](int t) { return t < 0 ? nullptr : c.ptr(t); };
    const OpGeometry g = op_geometry(op, c.plan->graph, c.batch);
    const float alpha = float(g.alpha);
    const bool acc = op.attr.accumulate;
    switch (op.kind) {
      case PlanOpKind::matmul:
        cpu::matmul<float>(op.trans_a, op.trans_b, g.m, g.n, g.k, P(op.in[0]), P(op.in[1]), P(op.out[0]), acc);
        break;
      case PlanOpKind::activation: cpu::activation_forward<float>(op.attr.act, P(op.in[0]), P(op.out[0]), g.m); break;
      case PlanOpKind::activation_grad:
        cpu::activation_backward<float>(op.attr.act, P(op.in[0]), P(op.in[1]), P(op.in[2]), P(op.out[0]), g.m);
        break;
      case PlanOpKind::activation_grad2:
        cpu::activation_second_backward<float>(op.attr.act, P(op.in[0]), P(op.in[1]), P(op.out[0]), g.m);
        break;
      case PlanOpKind::unary: cpu::unary<float>(op.attr.unary, alpha, P(op.in[0]), P(op.out[0]), g.m); break;
      case PlanOpKind::binary:
        cpu::binary<float>(op.attr.binary, P(op.in[0]), P(op.in[1]), P(op.out[0]), g.m, g.n, op.attr.bcast, acc, g.group);
        break;
      case PlanOpKind::reduce:
        cpu::reduce_sum<float>(op.attr.axis, alpha, P(op.in[0]), P(op.out[0]), g.m, g.n, acc, g.group);
        break;
      case PlanOpKind::broadcast:
        cpu::broadcast<float>(op.attr.bcast, alpha, P(op.in[0]), P(op.out[0]), g.m, g.n, acc, g.group);
        break;
      case PlanOpKind::fill:  // a ramped fill (a warmed-up term's seed) takes its value at this step
        std::fill_n(P(op.out[0]), g.m, op.attr.ramp > 0 ? float(ramp_weight(g.alpha, c.step, op.attr.ramp)) : alpha);
        break;
      case PlanOpKind::copy: std::copy_n(P(op.in[0]), g.m, P(op.out[0])); break;
      case PlanOpKind::cast:
        cpu::cast(P(op.in[0]), c.plan->graph.tensors[size_t(op.in[0])].dtype, P(op.out[0]),
                  c.plan->graph.tensors[size_t(op.out[0])].dtype, g.m);
        break;
      case PlanOpKind::noise: cpu::corrupt(op.attr.noise, c.seed, uint64_t(c.step), P(op.in[0]), P(op.out[0]), g.m); break;
      case PlanOpKind::prior: cpu::prior_sample(op.attr.prior, c.seed, uint64_t(c.step), P(op.out[0]), g.m); break;
      case PlanOpKind::sparsity:
        cpu::sparsity_forward<float>(op.attr.sparsity, P(op.in[0]), g.m, g.n, P(op.out[1]), P(op.out[0]));
        break;
      case PlanOpKind::sparsity_grad:
        cpu::sparsity_backward<float>(op.attr.sparsity, P(op.in[0]), P(op.in[1]), P(op.in[2]), g.m, g.n, P(op.out[0]), acc);
        break;
      case PlanOpKind::contractive:
        cpu::contractive_forward<float>(op.attr.act, P(op.in[0]), P(op.in[1]), g.m, g.n, g.k, P(op.out[1]), P(op.out[2]),
                                        P(op.out[0]));
        break;
      case PlanOpKind::contractive_grad:
        cpu::contractive_backward_z<float>(op.attr.act, P(op.in[0]), P(op.in[1]), P(op.in[2]), g.m, g.n, P(op.out[0]), acc);
        break;
      case PlanOpKind::contractive_grad_w:
        cpu::contractive_backward_w<float>(P(op.in[0]), P(op.in[1]), P(op.in[2]), g.m, g.n, g.k, P(op.out[0]), acc);
        break;
      case PlanOpKind::reparam:  // in {h}  out {z, value, kl}
        cpu::reparam_forward<float>(op.attr.vae, c.seed, uint64_t(c.step), c.row_offset, P(op.in[0]), g.m, g.n, P(op.out[0]),
                                    P(op.out[2]), P(op.out[1]));
        break;
      case PlanOpKind::reparam_grad:  // in {dz, h, dvalue}  out {dh}
        cpu::reparam_backward<float>(op.attr.vae, c.seed, uint64_t(c.step), c.row_offset, P(op.in[0]), P(op.in[1]), P(op.in[2]), g.m, g.n,
                                     P(op.out[0]), acc);
        break;
      case PlanOpKind::conv_fwd:  // in {x, W, b|-1}  out {y, z|-1}
        cpu::conv2d_forward<float>(conv_geometry(op, c.batch), P(op.in[0]), P(op.in[1]), P(op.in[2]), op.attr.act, P(op.out[0]),
                                   P(op.out[1]));
        break;
      case PlanOpKind::conv_bwd: {  // in {dy, y, z, x, W}  out {dW, db, dx}; dz over dy (none when linear: dz is dy)
        float* dy = P(op.in[0]);
        cpu::conv2d_backward<float>(conv_geometry(op, c.batch), dy, P(op.in[1]), P(op.in[2]), op.attr.act, P(op.in[3]), P(op.in[4]),
                                    op.attr.act == Act::linear ? nullptr : dy, P(op.out[0]), P(op.out[1]), P(op.out[2]),
                                    op.accumulates(0), op.accumulates(1));
        break;
      }
      case PlanOpKind::pool: run_pool(op, c, P(op.in[0]), P(op.out[0])); break;
      case PlanOpKind::pool_grad: run_pool_grad(op, c, P(op.in[0]), P(op.in[1]), P(op.out[0])); break;
      default: AE_FAIL("cpu backend: no kernel for plan op ", plan_op_kind_name(op.kind));
    }
  }

  static void run_pool(const PlanOp& op, const OpContext& c, const float* x, float* y) {
    switch (op.attr.pool_kind) {
      case PoolKind::max: cpu::max_pool2d_forward<float>(pool_geometry(op, c.batch), x, y, nullptr); break;
      case PoolKind::avg: cpu::avg_pool2d_forward<float>(pool_geometry(op, c.batch), x, y); break;
      case PoolKind::upsample: cpu::upsample_nearest2d_forward<float>(upsample_geometry(op, c.batch), x, y); break;
    }
  }
  static void run_pool_grad(const PlanOp& op, const OpContext& c, const float* dy, const float* x, float* dx) {
    switch (op.attr.pool_kind) {
      case PoolKind::max: cpu::max_pool2d_backward<float>(pool_geometry(op, c.batch), dy, x, dx); break;
      case PoolKind::avg: cpu::avg_pool2d_backward<float>(pool_geometry(op, c.batch), dy, dx); break;
      case PoolKind::upsample: cpu::upsample_nearest2d_backward<float>(upsample_geometry(op, c.batch), dy, dx); break;
    }
  }
};

}  // namespace

std::unique_ptr<Backend> make_cpu_backend() { return std::make_unique<CpuBackend>(); }

}  // namespace ae
