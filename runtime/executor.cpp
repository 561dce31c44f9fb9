// Executor: arena ownership and op dispatch.
#include "runtime/executor.h"

#include "kernels/common/error.h"

namespace ae {

Executor::Executor(Plan plan, Backend& backend, ParamStore& params)
    : m_plan(std::move(plan)), m_backend(backend), m_params(params), m_arena(size_t(m_plan.arena_bytes)) {
  AE_CHECK(m_params.count() == m_plan.graph.params.size(), "parameter store has ", m_params.count(),
           " tensors but the plan expects ", m_plan.graph.params.size());
  for (size_t i = 0; i < m_params.count(); ++i) {
    const auto& gp = m_plan.graph.params[i];
    AE_CHECK(gp.name == m_params.info(i).name && gp.rows == m_params.info(i).rows && gp.cols == m_params.info(i).cols,
             "parameter ", i, " mismatch: plan has ", gp.name, " but the store has ", m_params.info(i).name);
  }
}

float* Executor::data(int t) const {
  if (t < 0) return nullptr;
  const Tensor& ten = m_plan.graph.tensors[t];
  if (ten.role == TensorRole::param) return m_params.value(size_t(ten.param));
  if (ten.role == TensorRole::param_grad) return m_params.grad(size_t(ten.param));
  int64_t off = m_plan.tensor_offset[t];
  AE_CHECK(off >= 0, "tensor ", ten.name, " has no memory in this plan");
  return m_arena.as<float>(size_t(off));
}

double Executor::run(int64_t batch, const cpu::OptConfig* opt, int64_t step) {
  OpContext ctx;
  ctx.plan = &m_plan;
  ctx.ptr = [this](int t) { return data(t); };
  ctx.params = &m_params;
  ctx.batch = batch;
  ctx.opt = opt;
  ctx.step = step;
  for (const auto& op : m_plan.ops) m_backend.run(op, ctx);
  return ctx.loss;
}

}  // namespace ae
