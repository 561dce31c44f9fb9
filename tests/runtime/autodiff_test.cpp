// The autodiff rules against fp64 central differences: every graph of graph_cases.h (every node
// kind, tied weights, a weight used twice, weighted terms) is run in double by the IR interpreter
// (ir_reference.h), forward and backward exactly as autodiff emitted it, and each parameter
// gradient is compared with central differences of the objective Σ weight·term.
#include <gtest/gtest.h>

#include <cmath>
#include <cstdio>

#include "tests/runtime/graph_cases.h"
#include "tests/runtime/ir_reference.h"

namespace ae::test {
namespace {

class Autodiff : public ::testing::TestWithParam<GraphCase> {};

TEST_P(Autodiff, GradientsMatchFp64CentralDifferences) {
  const Graph g = GetParam().build();
  const int64_t B = 5;
  IrValues val(g, B);
  ir_fill_leaves(val, 17);
  ir_run(val);
  const int fwd = forward_end(g);
  ASSERT_GT(fwd, 0);
  ASSERT_LT(fwd, int(g.nodes.size())) << "no backward nodes";
  int checked = 0, trained = 0;
  double worst = 0;
  for (const Param& p : g.params) {
    if (p.grad < 0) continue;  // a group this graph does not train
    ++trained;
    double norm = 0;
    std::vector<double> analytic(val[p.grad], val[p.grad] + g.tensors[size_t(p.tensor)].elements(B));
    for (size_t e = 0; e < analytic.size(); ++e) {
      IrValues probe = val;
      probe.g = &g;
      double& w = probe.v[size_t(p.tensor)][e];
      const double keep = w, h = 1e-6;
      w = keep + h;
      ir_run(probe, fwd, true);
      const double up = probe.objective();
      w = keep - h;
      ir_run(probe, fwd, true);
      const double down = probe.objective();
      const double numeric = (up - down) / (2 * h);
      const double err = std::abs(analytic[e] - numeric);
      worst = std::max(worst, err / (1e-8 + std::abs(numeric)));
      norm += numeric * numeric;
      EXPECT_LE(err, 1e-7 + 1e-6 * std::abs(numeric))
          << GetParam().name << ": " << p.name << "[" << e << "] autodiff " << analytic[e] << ", central difference " << numeric;
      ++checked;
    }
    EXPECT_GT(norm, 1e-12) << p.name << ": its gradient is zero, so the check proves nothing for it";
  }
  EXPECT_GT(trained, 0);
  EXPECT_GT(checked, 10);
  std::printf("%s: %d gradient entries, worst relative error %.3g\n", GetParam().name.c_str(), checked, worst);
}

std::vector<GraphCase> train_cases() {
  std::vector<GraphCase> out;
  for (auto& c : graph_cases())
    if (c.train) out.push_back(c);
  return out;
}

INSTANTIATE_TEST_SUITE_P(Graphs, Autodiff, ::testing::ValuesIn(train_cases()),
                         graph_case_test_name);

}  // namespace
}  // namespace ae::test
