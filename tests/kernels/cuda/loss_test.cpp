// ae::cuda::loss_forward_backward on cuda-sim against ae::cpu::loss_forward_backward: mse, bce,
// bce from logits, every output activation the loss pass can absorb, gradient aliasing pred,
// shapes around the 16-lane row split, the clamps of bce at p = 0 and 1, and empty batches, under
// both reductions (mean, sum). The reduction follows the reference's order, so the loss is
// compared bit for bit.
#include "kernels/cpu/loss.h"

#include <gtest/gtest.h>

#include <sstream>

#include "kernels/cuda/loss.cuh"
#include "tests/kernels/cuda/harness.h"

namespace ae::cudatest {
namespace {

struct LossCase {
  Loss loss;
  bool from_logits;
  Act out_act;
  int64_t M, N;
  bool grad_in_place = false;  // grad written over pred
  uint64_t seed = 1;
  LossReduction reduction = LossReduction::mean;

  std::string params() const {
    std::ostringstream os;
    os << "loss(" << loss_name(loss) << (from_logits ? "_logits" : "") << ",out_act=" << act_name(out_act)
       << (reduction == LossReduction::sum ? ",reduction=sum" : "") << ",M=" << M << ",N=" << N
       << (grad_in_place ? ",in_place" : "") << ",seed=" << seed << ")";
    return os.str();
  }
  // The divisor of the loss and of each gradient element.
  double count() const { return reduction == LossReduction::mean ? double(M) * double(N) : double(M); }
  double flops() const { return 10.0 * M * N; }
  double bytes() const { return 4.0 * (M * N * (from_logits ? 4 : 3) + M); }
};

struct LossData {
  std::vector<float> pred, target;
  explicit LossData(const LossCase& c) {
    const size_t MN = c.M * c.N;
    const auto z = uniform(MN, -4, 4, c.seed, 1);
    pred.resize(MN);
    for (size_t i = 0; i < MN; ++i)
      pred[i] = c.from_logits ? z[i] : c.loss == Loss::bce ? sigmoid(z[i]) : act_forward(c.out_act, z[i]);
    target = uniform(MN, 0, 1, c.seed, 2);
    if (c.loss == Loss::bce && !c.from_logits && MN >= 4) {  // the clamped logs and the gradient's ε
      pred[0] = 0.0f, pred[1] = 1.0f, pred[2] = 1.0f, pred[3] = 0.0f;
      target[0] = 1.0f, target[1] = 0.0f, target[2] = 1.0f, target[3] = 0.0f;
    }
  }
};

struct LossOut {
  std::vector<float> loss, grad, per_sample, probs;
};

LossOut run_cuda(const LossCase& c, const LossData& d) {
  DeviceBuffer<float> pred(d.pred), target(d.target), grad(c.M * c.N), per_sample(c.M), probs(c.M * c.N), loss(1);
  DeviceBuffer<double> rows(ae::cuda::loss_workspace_elements(c.M));
  float* g = c.grad_in_place ? pred.get() : grad.get();
  ae::cuda::loss_forward_backward<float>(c.loss, c.from_logits, pred.get(), target.get(), c.M, c.N, g, per_sample.get(),
                                         probs.get(), c.out_act, loss.get(), rows.get(), nullptr, c.reduction);
  expect_guards(c.params(), pred, target, grad, per_sample, probs, loss, rows);
  return {loss.download(), c.grad_in_place ? pred.download() : grad.download(), per_sample.download(),
          probs.download()};
}

class LossKernel : public DeviceTestWithParam<LossCase> {};

TEST_P(LossKernel, MatchesCpuReference) {
  const LossCase& c = GetParam();
  SCOPED_TRACE(c.params());
  const LossData d(c);
  std::vector<float> grad_ref(c.M * c.N), per_ref(c.M), probs_ref(c.M * c.N, NAN);
  const double loss_ref =
      cpu::loss_forward_backward<float>(c.loss, c.from_logits, d.pred.data(), d.target.data(), c.M, c.N,
                                        grad_ref.data(), per_ref.data(), probs_ref.data(), c.out_act, c.reduction);
  const LossOut got = run_cuda(c, d);

  FailureDump dump(c.params());
  dump.add("pred", d.pred), dump.add("target", d.target), dump.add("grad_ref", grad_ref), dump.add("grad", got.grad);
  dump.add("per_sample_ref", per_ref), dump.add("per_sample", got.per_sample);
  ASSERT_TRUE(nonzero("grad_ref", grad_ref));
  ASSERT_NE(loss_ref, 0.0);
  const Tolerance tol = same_math_tolerance<float>();
  const double scale = 1.0 / c.count();  // one gradient term
  EXPECT_TRUE(compare("loss", got.loss, {static_cast<float>(loss_ref)}, tol, c.M * c.N, 1.0));
  EXPECT_TRUE(compare("per_sample", got.per_sample, per_ref, tol, c.N, 1.0));
  EXPECT_TRUE(compare("grad", got.grad, grad_ref, tol, 1, scale));
  if (c.from_logits) EXPECT_TRUE(compare("probs", got.probs, probs_ref, tol, 1, 1.0));
}

class LossDeterminism : public DeviceTest {};
TEST_F(LossDeterminism, TwoSchedulesBitEqual) {
  const LossCase c{Loss::bce, true, Act::linear, 33, 47, false, 5};
  const LossData d(c);
  LossOut a, b;
  with_sim_seed(101, [&] { a = run_cuda(c, d); });
  with_sim_seed(202, [&] { b = run_cuda(c, d); });
  ASSERT_TRUE(nonzero("loss", a.loss));
  EXPECT_TRUE(bitwise_equal("loss", a.loss, b.loss));
  EXPECT_TRUE(bitwise_equal("grad", a.grad, b.grad));
  EXPECT_TRUE(bitwise_equal("per_sample", a.per_sample, b.per_sample));
}

class LossEdge : public DeviceTest {};
TEST_F(LossEdge, EmptyBatchGivesZero) {
  for (LossReduction r : {LossReduction::mean, LossReduction::sum})
    for (auto [M, N] : {std::pair<int64_t, int64_t>{0, 5}, {3, 0}}) {
      DeviceBuffer<float> pred(1), target(1), grad(1), per_sample(M), loss(1);
      DeviceBuffer<double> rows(ae::cuda::loss_workspace_elements(M));
      ae::cuda::loss_forward_backward<float>(Loss::mse, false, pred.get(), target.get(), M, N, grad.get(),
                                             per_sample.get(), nullptr, Act::linear, loss.get(), rows.get(), nullptr,
                                             r);
      EXPECT_EQ(loss.download()[0], 0.0f);
      for (float e : per_sample.download()) EXPECT_EQ(e, 0.0f);
    }
}

TEST_F(LossEdge, RefusesWhatTheReferenceRefuses) {
  DeviceBuffer<float> buf(4), loss(1);
  DeviceBuffer<double> rows(2);
  auto call = [&](Loss l, bool logits, Act act, LossReduction r = LossReduction::mean) {
    ae::cuda::loss_forward_backward<float>(l, logits, buf.get(), buf.get(), 2, 2, buf.get(), nullptr, nullptr, act,
                                           loss.get(), rows.get(), nullptr, r);
  };
  EXPECT_THROW(call(Loss::mse, true, Act::linear), ae::Error);   // logits only for bce
  EXPECT_THROW(call(Loss::mse, false, Act::gelu), ae::Error);    // gelu′ needs z
  EXPECT_THROW(call(Loss::bce, true, Act::sigmoid), ae::Error);  // logits already give d/dz
  EXPECT_THROW(call(Loss::mse, false, Act::linear, static_cast<LossReduction>(7)), ae::Error);
}

std::vector<LossCase> loss_cases() {
  std::vector<LossCase> v;
  uint64_t seed = 1;
  // Shapes around the 16-lane row split and the 16-row block.
  const std::pair<int64_t, int64_t> shapes[] = {{1, 1}, {1, 17}, {15, 16}, {16, 15}, {17, 33}, {37, 129}};
  for (auto [M, N] : shapes) {
    v.push_back({Loss::mse, false, Act::linear, M, N, false, seed++});
    v.push_back({Loss::bce, false, Act::linear, M, N, false, seed++});
    v.push_back({Loss::bce, true, Act::linear, M, N, false, seed++});
  }
  // Every output activation whose derivative the loss pass takes from pred.
  for (int a = 0; a < ACT_COUNT; ++a) {
    const Act act = static_cast<Act>(a);
    if (act_derivative_needs_z(act)) continue;
    v.push_back({Loss::mse, false, act, 19, 45, a % 2 == 1, seed++});
  }
  v.push_back({Loss::bce, false, Act::sigmoid, 23, 31, true, seed++});
  v.push_back({Loss::bce, true, Act::linear, 23, 31, true, seed++});
  // The realistic output: 784 features at batch 256.
  v.push_back({Loss::bce, true, Act::linear, 256, 784, false, seed++});
  v.push_back({Loss::mse, false, Act::sigmoid, 256, 784, true, seed++});
  // The sum reduction on shapes that are multiples of nothing (1, 33, 130 rows; 1, 7, 784
  // features), every loss form, then output activations folded in (in place and not).
  const LossReduction sum = LossReduction::sum;
  for (int64_t M : {1, 33, 130})
    for (int64_t N : {1, 7, 784}) {
      v.push_back({Loss::mse, false, Act::linear, M, N, false, seed++, sum});
      v.push_back({Loss::bce, false, Act::linear, M, N, false, seed++, sum});
      v.push_back({Loss::bce, true, Act::linear, M, N, false, seed++, sum});
    }
  v.push_back({Loss::bce, false, Act::sigmoid, 33, 784, true, seed++, sum});
  v.push_back({Loss::mse, false, Act::tanh, 130, 7, false, seed++, sum});
  v.push_back({Loss::mse, false, Act::softplus, 33, 33, true, seed++, sum});
  v.push_back({Loss::bce, true, Act::linear, 130, 784, true, seed++, sum});
  return v;
}

INSTANTIATE_TEST_SUITE_P(Cases, LossKernel, ::testing::ValuesIn(loss_cases()),
                         [](const auto& info) { return test_name(info.param.params()); });

}  // namespace
}  // namespace ae::cudatest
