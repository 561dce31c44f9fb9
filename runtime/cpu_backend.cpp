// The cpu backend: the reference. Each Plan op maps onto one kernels/cpu reference kernel.
#include <cmath>
#include <omp.h>

#include "kernels/common/error.h"
#include "kernels/cpu/dense.h"
#include "kernels/cpu/gemm.h"
#include "kernels/cpu/loss.h"
#include "runtime/backend.h"

namespace ae {

namespace {

class CpuBackend final : public Backend {
 public:
  std::string name() const override { return "cpu"; }
  std::string description() const override {
    return "cpu reference (fp32; GEMMs: " + cpu::gemm_library() + ")";
  }
  bool supports(const PlanOp&) const override { return true; }

 protected:
  void run_op(const PlanOp& op, OpContext& c) override {
    auto P = [&](int t) { return t < 0 ? nullptr : c.ptr(t); };
    const int64_t M = c.batch;
    switch (op.kind) {
      case PlanOpKind::dense_fwd:
        cpu::dense_forward<float>(P(op.in[0]), P(op.in[1]), P(op.in[2]), op.act, M, op.n, op.k, P(op.out[0]), P(op.out[1]));
        break;
      case PlanOpKind::dense_bwd: {
        float* dy = P(op.in[0]);
        cpu::dense_backward<float>(dy, P(op.in[1]), P(op.in[2]), op.act, P(op.in[3]), P(op.in[4]), M, op.n, op.k,
                                   dy /* dz in place */, P(op.out[0]), P(op.out[1]), P(op.out[2]), false);
        break;
      }
      case PlanOpKind::loss_fwd:
        c.loss = cpu::loss_forward_backward<float>(op.loss, op.from_logits, P(op.in[0]), P(op.in[1]), M, op.n, nullptr,
                                                   P(op.out[1]), nullptr);
        *P(op.out[0]) = float(c.loss);
        break;
      case PlanOpKind::loss_fwd_bwd: {
        // grad may take over pred's block (op.inplace). The output activation, when lowering
        // folded it in, is applied by the loss kernel in the same pass (it reads y before writing
        // the gradient over it); lowering folds only those whose derivative is a function of y.
        c.loss = cpu::loss_forward_backward<float>(op.loss, op.from_logits, P(op.in[0]), P(op.in[1]), M, op.n,
                                                   P(op.out[2]), P(op.out[1]), nullptr, op.act);
        *P(op.out[0]) = float(c.loss);
        break;
      }
      case PlanOpKind::add: {
        const float *a = P(op.in[0]), *b = P(op.in[1]);
        float* y = P(op.out[0]);
        int64_t n = c.plan->graph.tensors[op.out[0]].elements(M);
#pragma omp parallel for schedule(static)
        for (int64_t i = 0; i < n; ++i) y[i] = a[i] + b[i];
        break;
      }
      case PlanOpKind::optimizer_step: {
        std::vector<cpu::ParamSlot> slots;
        for (size_t i = 0; i < op.in.size(); i += 2) {
          int p = c.plan->graph.tensors[op.in[i]].param;
          slots.push_back({c.params->value(p), c.params->grad(p), c.params->state(p), c.params->info(p).size()});
        }
        cpu::optimizer_step(*c.opt, c.step, slots.data(), slots.size());
        break;
      }
    }
  }

};

}  // namespace

std::unique_ptr<Backend> make_cpu_backend() { return std::make_unique<CpuBackend>(); }

}  // namespace ae
