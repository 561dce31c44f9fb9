// The op table test, in the spirit of ggml's test-backend-ops: one test per Plan op kind, from
// PlanOpKind's first value to PLAN_OP_KIND_COUNT. Each finds the graphs of graph_cases.h whose
// plan (fused, or fully unfused) contains that kind, runs those plans on every backend this build
// has (cpu, cuda-sim; cuda when a GPU is present) in every precision the backend runs (f32 on all;
// bf16 plans, graph/precision.cpp, on cuda-sim and where the CPU has AVX512_BF16; fp16 plans, with
// their loss scaling, on cuda-sim), and compares the objective's terms,
// the per-sample errors and every parameter gradient with the fp64 IR interpreter. A kind no graph
// lowers to fails: a new op cannot land without a case.
// Also here: the fused and the fully unfused plan of the same graph agree on the cpu backend.
#include <gtest/gtest.h>

#include <algorithm>
#include <cmath>
#include <cstdio>
#include <map>
#include <iterator>
#include <memory>

#include "graph/plan.h"
#include "kernels/cpu/optimizer.h"
#include "runtime/executor.h"
#include "tests/runtime/graph_cases.h"
#include "tests/runtime/ir_reference.h"

namespace ae::test {
namespace {

constexpr int64_t BATCH = 5;
constexpr uint64_t SEED = 23;

// What one run of a plan leaves behind, in float: the terms, the per-sample errors, every
// parameter's gradient (train plans).
struct RunResult {
  std::vector<double> terms;
  std::vector<float> per_sample;
  std::vector<std::vector<float>> grads;
};

RunResult run_plan(const Graph& g, bool train, bool fuse, Backend& backend, int64_t batch = BATCH,
                   Precision precision = DType::f32) {
  Plan plan = make_plan(g, train ? GraphMode::train : GraphMode::eval, batch, fuse, precision);
  std::vector<ParamInfo> infos;
  for (const Param& p : g.params) infos.push_back({p.name, g.tensors[size_t(p.tensor)].dims});
  cpu::OptConfig sgd = cpu::default_opt_config(cpu::OptKind::sgd);
  sgd.lr = 1e-30;  // the step runs but leaves the weights as they are
  ParamStore store(infos, cpu::opt_state_slots(sgd));
  // fp16 plans scale their gradient seeds (graph/precision.cpp). At the initial 2^16 a case's large
  // seed (a VAE's β = 4 on a per-row sum) overflows fp16 and the step is skipped, as it would be in
  // training; the cases check the kernels, so they run at 2^8, where none overflows and the
  // unscaled gradients must still come out right. The scale's own dynamics are tested in
  // tests/runtime/cuda/mixed_precision_test.cpp.
  store.amp()[0] = 256.0f;
  // Gradients start as NaN: one never written, or accumulated into by its first writer, fails.
  for (size_t i = 0; i < infos.size(); ++i) std::fill_n(store.grad(i), infos[i].size(), std::nanf(""));
  IrValues leaves(g, batch);
  ir_fill_leaves(leaves, SEED);
  for (size_t i = 0; i < g.params.size(); ++i)
    for (size_t e = 0; e < size_t(infos[i].size()); ++e) store.value(i)[e] = float(leaves[g.params[i].tensor][e]);
  Executor ex(std::move(plan), backend, store);
  for (size_t i = 0; i < g.inputs.size(); ++i) {
    const auto& v = leaves.v[size_t(g.inputs[i])];
    for (size_t e = 0; e < v.size(); ++e) ex.input(i)[e] = float(v[e]);
  }
  ex.run(batch, train ? &sgd : nullptr, 1);
  ex.sync_params_to_host();
  RunResult r;
  r.terms = ex.term_values();
  r.per_sample.resize(size_t(batch));
  ex.read(g.per_sample, r.per_sample.data(), batch);
  if (train)  // an untrained group's gradient stays unwritten: empty here
    for (size_t i = 0; i < g.params.size(); ++i)
      r.grads.push_back(g.params[i].grad < 0 ? std::vector<float>{} : std::vector<float>(store.grad(i), store.grad(i) + infos[i].size()));
  return r;
}

// The float result against double: |a − r| ≤ atol·scale + rtol·|r|, scale the largest |r| of the
// tensor. f32: 2e-6 and 1e-4 (float sums of a few dozen terms of this size); bf16 plans: 3e-2 and
// 3e-2 (each bf16 store rounds by up to 2⁻⁹ relative, and a gradient passes through a handful of
// them: forward activations, dz, dx); fp16 and tf32 plans: 1e-2 and 1e-2 (3 more bits, 2⁻¹² per
// store, so 8× tighter bounds; 1e-2 keeps a wider margin than bf16's because the fp16 cases run
// with a loss scale and more roundings). A wrong term is orders of magnitude more.
struct Tolerance {
  double atol, rtol;
};
Tolerance tolerance(Precision precision) {
  if (precision.tf32) return {1e-2, 1e-2};  // GEMM operands rounded to tf32: fp16's 10 mantissa bits
  switch (precision.compute) {
    case DType::f32: return {2e-6, 1e-4};
    case DType::bf16: return {3e-2, 3e-2};
    case DType::f16: return {1e-2, 1e-2};
  }
  return {0, 0};
}
template <typename A>
int expect_close(const std::vector<A>& got, const double* ref, const std::string& what, Tolerance tol = tolerance(DType::f32)) {
  double scale = 0;
  for (size_t e = 0; e < got.size(); ++e) scale = std::max(scale, std::abs(ref[e]));
  int bad = 0;
  for (size_t e = 0; e < got.size(); ++e) {
    if (!std::isfinite(double(got[e]))) {
      ADD_FAILURE() << what << "[" << e << "] is " << got[e];
      ++bad;
      continue;
    }
    const double err = std::abs(double(got[e]) - ref[e]);
    if (err > tol.atol * scale + tol.rtol * std::abs(ref[e])) {
      if (bad++ < 3) ADD_FAILURE() << what << "[" << e << "] = " << got[e] << ", fp64 reference " << ref[e];
    }
  }
  return bad;
}

// A backend of this build that can run here, or null: cuda is registered but needs a GPU.
std::unique_ptr<Backend> runnable_backend(const std::string& name) {
  try {
    return make_backend(name);
  } catch (const Error&) {
    if (name == "cuda") return nullptr;
    throw;
  }
}

// A run's terms, per-sample errors and parameter gradients against the fp64 interpreter's.
void expect_matches_fp64(const RunResult& r, IrValues& ref, const Graph& g, Precision precision = DType::f32) {
  const Tolerance tol = tolerance(precision);
  ASSERT_EQ(r.terms.size(), g.terms.size());
  for (size_t t = 0; t < r.terms.size(); ++t)
    expect_close(std::vector<double>{r.terms[t]}, ref[g.terms[t].tensor], "term " + g.terms[t].name, tol);
  expect_close(r.per_sample, ref[g.per_sample], "per_sample_error", tol);
  for (size_t i = 0; i < r.grads.size(); ++i)
    if (!r.grads[i].empty()) expect_close(r.grads[i], ref[g.params[i].grad], "grad." + g.params[i].name, tol);
}

constexpr Precision PRECISIONS[] = {DType::f32, DType::bf16, DType::f16, Precision::tf32_math()};
constexpr size_t PRECISION_COUNT = std::size(PRECISIONS);

// The plans of every case, lowered once: which kinds each contains.
struct Lowered {
  GraphCase c;
  Graph graph;
  std::map<std::pair<bool, size_t>, std::vector<PlanOpKind>> kinds;  // (fuse, index in PRECISIONS) → kinds
};
const std::vector<Lowered>& lowered_cases() {
  static const std::vector<Lowered> all = [] {
    std::vector<Lowered> out;
    for (const GraphCase& c : graph_cases()) {
      Lowered l{c, c.build(), {}};
      for (bool fuse : {true, false})
        for (size_t d = 0; d < PRECISION_COUNT; ++d)
          for (const PlanOp& op : make_plan(l.graph, c.train ? GraphMode::train : GraphMode::eval, BATCH, fuse, PRECISIONS[d]).ops)
            l.kinds[{fuse, d}].push_back(op.kind);
      out.push_back(std::move(l));
    }
    return out;
  }();
  return all;
}

class OpTable : public ::testing::TestWithParam<int> {};

TEST_P(OpTable, EveryBackendMatchesTheFp64Reference) {
  const auto kind = PlanOpKind(GetParam());
  int runs = 0;
  bool only_unrunnable = false;  // the kind's cases are all in a precision no backend here runs
  for (const Lowered& l : lowered_cases())
    for (bool fuse : {true, false})
      for (size_t pi = 0; pi < PRECISION_COUNT; ++pi) {
        const Precision precision = PRECISIONS[pi];
        const auto& k = l.kinds.at({fuse, pi});
        if (std::find(k.begin(), k.end(), kind) == k.end()) continue;
        IrValues ref(l.graph, BATCH);
        ir_fill_leaves(ref, SEED);
        ir_run(ref);
        for (const std::string& name : backend_names()) {
          std::unique_ptr<Backend> backend = runnable_backend(name);
          if (!backend) continue;
          if (!backend->precision_support(precision).empty()) {
            only_unrunnable = true;
            continue;
          }
          SCOPED_TRACE(std::string(plan_op_kind_name(kind)) + " in " + l.c.name + (fuse ? " (fused)" : " (unfused)") +
                       " on " + name + ", " + precision_name(precision));
          expect_matches_fp64(run_plan(l.graph, l.c.train, fuse, *backend, BATCH, precision), ref, l.graph, precision);
          ++runs;
        }
      }
  // A cast appears only in low-precision plans, loss scaling only in fp16 ones: a build whose
  // backends run none of them (cpu alone, without AVX512_BF16) skips, named as such; not a missing case.
  if (runs == 0 && only_unrunnable)
    GTEST_SKIP() << plan_op_kind_name(kind) << ": every case is a low-precision plan, and no backend here runs it ("
                 << make_backend("cpu")->precision_support(DType::bf16) << ")";
  EXPECT_GT(runs, 0) << "plan op kind " << plan_op_kind_name(kind)
                     << " has no case: add a graph that lowers to it to tests/runtime/graph_cases.h";
  std::printf("%s: %d runs (case × fused/unfused × backend)\n", plan_op_kind_name(kind), runs);
}

INSTANTIATE_TEST_SUITE_P(PlanOpKinds, OpTable, ::testing::Range(0, PLAN_OP_KIND_COUNT),
                         [](const ::testing::TestParamInfo<int>& i) { return plan_op_kind_name(PlanOpKind(i.param)); });

// The penalties' plans at a batch of several 64-row blocks (the op table runs 5 rows): the cuda
// kernels' column partials from more than one block, the workspace sized for them, on every backend.
TEST(OpTablePenalties, SeveralRowBlocksMatchTheFp64Reference) {
  constexpr int64_t ROWS = 130;
  int runs = 0;
  for (const Lowered& l : lowered_cases()) {
    if (l.c.name.rfind("sparse", 0) != 0 && l.c.name.rfind("contractive", 0) != 0) continue;
    IrValues ref(l.graph, ROWS);
    ir_fill_leaves(ref, SEED);
    ir_run(ref);
    for (const std::string& name : backend_names()) {
      std::unique_ptr<Backend> backend = runnable_backend(name);
      if (!backend) continue;
      SCOPED_TRACE(l.c.name + " at batch 130 on " + name);
      expect_matches_fp64(run_plan(l.graph, l.c.train, true, *backend, ROWS), ref, l.graph);
      ++runs;
    }
  }
  EXPECT_GE(runs, 10);
}

// A dense_bwd whose dW accumulates while its db is overwritten (a tied or contractive first layer:
// another op wrote dW first) is among the cases, so that mix of its two flags runs on every backend.
TEST(OpTableCoverage, DenseBwdWithDwAndDbOnDifferentFlagsHasACase) {
  std::vector<std::string> mixed;
  for (const Lowered& l : lowered_cases())
    for (const PlanOp& op : lower(l.graph, true))
      if (op.kind == PlanOpKind::dense_bwd && op.accumulates(0) != op.accumulates(1) &&
          (mixed.empty() || mixed.back() != l.c.name))
        mixed.push_back(l.c.name);
  EXPECT_FALSE(mixed.empty()) << "no graph case lowers to a dense_bwd with dW and db on different flags";
  for (const std::string& name : mixed) std::printf("dense_bwd with mixed accumulation: %s\n", name.c_str());
}

// The fused plan of a graph and its fully unfused plan compute the same terms and gradients on the
// reference backend: every fusion rule is an exact rewrite, up to float rounding.
class FusedVsUnfused : public ::testing::TestWithParam<GraphCase> {};

TEST_P(FusedVsUnfused, SameTermsAndGradientsOnCpu) {
  const Graph g = GetParam().build();
  auto cpu = make_backend("cpu");
  RunResult fused = run_plan(g, GetParam().train, true, *cpu), unfused = run_plan(g, GetParam().train, false, *cpu);
  ASSERT_EQ(fused.terms.size(), unfused.terms.size());
  for (size_t t = 0; t < fused.terms.size(); ++t)
    EXPECT_NEAR(fused.terms[t], unfused.terms[t], 1e-6 * (1 + std::abs(unfused.terms[t]))) << g.terms[t].name;
  for (size_t i = 0; i < fused.grads.size(); ++i) {
    std::vector<double> ref(unfused.grads[i].begin(), unfused.grads[i].end());
    EXPECT_EQ(expect_close(fused.grads[i], ref.data(), "grad." + g.params[i].name), 0);
  }
  EXPECT_NE(lower(g, true).size(), lower(g, false).size()) << "nothing was fused: the comparison is vacuous";
}

std::vector<GraphCase> spec_cases() {
  std::vector<GraphCase> out;
  for (auto& c : graph_cases())
    if (c.name.rfind("spec(", 0) == 0 || c.name.rfind("tied(", 0) == 0 || c.name.rfind("aae_", 0) == 0 || c.name == "weight_used_twice" ||
        c.name == "residual" || c.name.rfind("weighted_recon", 0) == 0)
      out.push_back(c);
  return out;
}

INSTANTIATE_TEST_SUITE_P(Specs, FusedVsUnfused, ::testing::ValuesIn(spec_cases()),
                         graph_case_test_name);

}  // namespace
}  // namespace ae::test
