// The lowered plan end to end: the gradients a fused train plan leaves in the parameter store
// equal central differences of the loss computed by the eval plan — so fusion rules (act′ moved
// into the loss, sigmoid folded into bce-with-logits, in-place dz) are wired correctly. The
// per-op fp64 checks live in tests/kernels; this checks their composition by the lowering.
#include <gtest/gtest.h>

#include <cmath>
#include <cstring>

#include "graph/build.h"
#include "kernels/common/philox.h"
#include "runtime/executor.h"
#include "runtime/model.h"

namespace ae {
namespace {

struct Case {
  const char* spec;
  Loss loss;
};

class PlanGradient : public ::testing::TestWithParam<Case> {};

TEST_P(PlanGradient, MatchesCentralDifferencesOfTheEvalPlan) {
  const Case c = GetParam();
  const int64_t batch = 5;
  Model m = Model::create(parse_spec(c.spec), 11, c.loss);
  cpu::OptConfig sgd = cpu::default_opt_config(cpu::OptKind::sgd);
  sgd.lr = 1e-30;  // the step must run but leave the weights as they are
  m.ensure_state_slots(cpu::opt_state_slots(sgd));
  auto backend = make_backend("cpu");
  auto plan = [&](GraphMode mode) {
    return make_plan(m.spec, mode, c.loss, batch);
  };
  Executor train(plan(GraphMode::train), *backend, m.params), eval(plan(GraphMode::eval), *backend, m.params);
  for (int64_t i = 0; i < batch * m.spec.input; ++i) {
    float v = philox_uniform(3, 0, PhiloxPurpose::data, uint64_t(i));
    train.input()[i] = v;
    eval.input()[i] = v;
  }
  train.run(batch, &sgd, 1);
  int checked = 0;
  double worst = 0;
  for (size_t p = 0; p < m.params.count(); ++p) {
    const int64_t n = m.params.info(p).size();
    std::vector<float> grad(m.params.grad(p), m.params.grad(p) + n);
    for (int64_t e = 0; e < n; e += std::max<int64_t>(1, n / 7)) {
      float* w = m.params.value(p) + e;
      const float keep = *w, h = 1e-3f;
      *w = keep + h;
      double up = eval.run(batch);
      *w = keep - h;
      double down = eval.run(batch);
      *w = keep;
      double numeric = (up - down) / (double(keep + h) - double(keep - h));
      double err = std::abs(grad[size_t(e)] - numeric);
      worst = std::max(worst, err / (1e-4 + std::abs(numeric)));
      EXPECT_LE(err, 2e-4 + 2e-2 * std::abs(numeric)) << m.params.info(p).name << "[" << e << "]: plan " << grad[size_t(e)]
                                                      << ", central difference " << numeric;
      ++checked;
    }
  }
  EXPECT_GT(checked, 30);
  std::printf("%s %s: %d gradient entries checked, worst relative error %.3g\n", c.spec, loss_name(c.loss), checked, worst);
}

INSTANTIATE_TEST_SUITE_P(Specs, PlanGradient,
                         ::testing::Values(Case{"6-5t-3-5r-6s", Loss::mse}, Case{"6-5t-3-5r-6s", Loss::bce},
                                           Case{"6-5t-3-5r-6s:tied", Loss::bce}, Case{"7-4r-2-4e-7:tied", Loss::mse},
                                           Case{"6-5g-3-5k-6g", Loss::mse}, Case{"6-5u-3e-5p-6", Loss::mse},
                                           Case{"6-7s-2-6s", Loss::bce}),
                         [](const auto& info) { return std::string("case") + std::to_string(info.index); });

}  // namespace
}  // namespace ae
