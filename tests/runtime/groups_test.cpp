// Parameter groups with optimizers of their own: one step of a graph whose encoder is group 0
// (sgd) and decoder group 1 (adam) updates each group by its own rule and rate, on every backend of
// the build, from the gradients the same step left in the ParamStore.
#include <gtest/gtest.h>

#include <cmath>
#include <cstring>

#include "runtime/executor.h"
#include "tests/runtime/graph_cases.h"
#include "tests/runtime/ir_reference.h"

namespace ae::test {
namespace {

TEST(ParamGroups, EachGroupStepsWithItsOwnOptimizerOnEveryBackend) {
  const Graph g = detail::with_code(1.0, nullptr, Loss::mse, /*dec_group=*/1);
  cpu::OptConfig sgd = cpu::default_opt_config(cpu::OptKind::sgd), adam = cpu::default_opt_config(cpu::OptKind::adam);
  sgd.lr = 0.1;
  adam.lr = 0.01;
  const std::vector<cpu::OptConfig> per_group = {sgd, adam};
  for (const std::string& name : backend_names()) {
    std::unique_ptr<Backend> backend;
    try {
      backend = make_backend(name);
    } catch (const Error&) {
      continue;  // cuda registered without a GPU
    }
    SCOPED_TRACE(name);
    const int64_t B = 4;
    Plan plan = make_plan(g, GraphMode::train, B);
    int steps = 0;
    for (const PlanOp& op : plan.ops) steps += op.kind == PlanOpKind::optimizer_step;
    EXPECT_EQ(steps, 2) << "one optimizer_step per group";
    std::vector<ParamInfo> infos;
    for (const Param& p : g.params) infos.push_back({p.name, g.tensors[size_t(p.tensor)].dims});
    ParamStore store(infos, 2);  // adam's two slots; sgd uses none
    IrValues leaves(g, B);
    ir_fill_leaves(leaves, 31);
    for (size_t i = 0; i < g.params.size(); ++i)
      for (int64_t e = 0; e < infos[i].size(); ++e) store.value(i)[e] = float(leaves[g.params[i].tensor][e]);
    Executor ex(std::move(plan), *backend, store);
    ASSERT_EQ(ex.groups(), 2);
    for (size_t e = 0; e < leaves.v[size_t(g.inputs[0])].size(); ++e) ex.input()[e] = float(leaves.v[size_t(g.inputs[0])][e]);
    ex.run(B, per_group, 1);
    ex.sync_params_to_host();
    for (size_t i = 0; i < g.params.size(); ++i) {
      const bool is_adam = g.params[i].group == 1;
      for (int64_t e = 0; e < infos[i].size(); ++e) {
        const double w0 = float(leaves[g.params[i].tensor][e]), gr = store.grad(i)[e];
        // adam's first step: m̂ = g, v̂ = g², so the step is lr·g/(|g| + eps)
        const double want = is_adam ? w0 - 0.01 * gr / (std::abs(gr) + 1e-8) : w0 - 0.1 * gr;
        ASSERT_NEAR(store.value(i)[e], want, 1e-6 * (1 + std::abs(want))) << infos[i].name << "[" << e << "]";
      }
      double gnorm = 0;
      for (int64_t e = 0; e < infos[i].size(); ++e) gnorm += std::abs(store.grad(i)[e]);
      EXPECT_GT(gnorm, 0) << infos[i].name;
    }
  }
}

TEST(ParamGroups, TooFewOptimizersForThePlansGroupsIsAnError) {
  const Graph g = detail::with_code(1.0, nullptr, Loss::mse, /*dec_group=*/1);
  auto cpu = make_backend("cpu");
  std::vector<ParamInfo> infos;
  for (const Param& p : g.params) infos.push_back({p.name, g.tensors[size_t(p.tensor)].dims});
  ParamStore store(infos, 2);
  Executor ex(make_plan(g, GraphMode::train, 2), *cpu, store);
  EXPECT_THROW(ex.run(2, std::vector<cpu::OptConfig>{cpu::default_opt_config(cpu::OptKind::sgd)}, 1), Error);
}

}  // namespace
}  // namespace ae::test
