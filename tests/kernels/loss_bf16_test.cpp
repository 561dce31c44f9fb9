// loss_forward_backward_bf16 against the float loss_forward_backward on the same bf16-rounded
// pred (and target): the same fp32 arithmetic, sums and order, so the loss and per-sample errors
// must be equal bit for bit and every grad element bf16_bits of the float one — for mse, bce and
// bce from logits, mean and sum, output activations, fp32 and bf16 targets, grad in place of
// pred or apart. Outputs are prefilled with NaN.
#include <gtest/gtest.h>

#include <bit>
#include <cmath>
#include <random>
#include <sstream>
#include <vector>

#include "bf16_check.h"
#include "kernels/common/error.h"
#include "kernels/cpu/loss.h"

namespace ae::cpu {
namespace {

using namespace ae::cpu::test;

struct LossBf16Case {
  Loss loss;
  bool from_logits;
  Act out_act;
  LossReduction reduction;
  DType target_type;
  bool in_place;
  int64_t M, N;
  std::string name() const {
    std::ostringstream s;
    s << "loss_bf16(" << loss_name(loss) << (from_logits ? ",logits" : "") << ",out_act=" << act_name(out_act)
      << (reduction == LossReduction::mean ? ",mean" : ",sum") << ",target=" << dtype_name(target_type)
      << (in_place ? ",in_place" : "") << ",M=" << M << ",N=" << N << ")";
    return s.str();
  }
};

void check(const LossBf16Case& c, uint64_t seed) {
  SCOPED_TRACE(c.name());
  const int64_t n = c.M * c.N;
  std::mt19937_64 rng(seed);
  // Probabilities for bce (an output of sigmoid), logits or any real value otherwise.
  std::uniform_real_distribution<float> prob(0.01f, 0.99f), real(-3.0f, 3.0f), t(0.0f, 1.0f);
  const bool probs = c.loss == Loss::bce && !c.from_logits;
  std::vector<bfloat16> pred(n), target_b(n);
  std::vector<float> target_f(n);
  for (int64_t i = 0; i < n; ++i) {
    // A relu output is ≥ 0 (and then mostly > 0, so the gradient is not all zero).
    const float r = real(rng);
    pred[i] = narrow(probs || c.out_act == Act::sigmoid ? prob(rng) : c.out_act == Act::relu ? std::abs(r) : r);
    target_f[i] = t(rng);
    target_b[i] = narrow(target_f[i]);
  }
  const std::vector<float> target_ref = c.target_type == DType::bf16 ? widen(target_b) : target_f;
  std::vector<float> pred_f = widen(pred), grad_ref(n), per_ref(c.M);
  const double loss_ref = loss_forward_backward<float>(c.loss, c.from_logits, pred_f.data(), target_ref.data(), c.M,
                                                       c.N, grad_ref.data(), per_ref.data(), nullptr, c.out_act,
                                                       c.reduction);

  std::vector<bfloat16> grad = c.in_place ? pred : nan_bf16(n);
  std::vector<float> per(c.M, NAN);
  const void* target = c.target_type == DType::bf16 ? static_cast<const void*>(target_b.data()) : target_f.data();
  // In place, pred and grad are one buffer (the copy in grad).
  const double loss = loss_forward_backward_bf16(c.loss, c.from_logits, c.in_place ? grad.data() : pred.data(), target,
                                                 c.target_type, c.M, c.N, grad.data(), per.data(), c.out_act,
                                                 c.reduction);
  EXPECT_EQ(std::bit_cast<uint64_t>(loss), std::bit_cast<uint64_t>(loss_ref)) << loss << " vs " << loss_ref;
  EXPECT_NE(loss, 0.0);
  expect_bits(per, per_ref, "per_sample");
  expect_bits(grad, grad_ref, "grad");
}

TEST(LossBf16, MatchesFloatLossOnRoundedPred) {
  struct Form {
    Loss loss;
    bool logits;
    Act out_act;
  };
  const Form forms[] = {{Loss::mse, false, Act::linear},  {Loss::mse, false, Act::tanh},
                        {Loss::mse, false, Act::relu},    {Loss::mse, false, Act::sigmoid},
                        {Loss::bce, false, Act::linear},  {Loss::bce, false, Act::sigmoid},
                        {Loss::bce, true, Act::linear}};
  uint64_t seed = 1;
  for (const Form& f : forms)
    for (LossReduction r : {LossReduction::mean, LossReduction::sum})
      for (DType tt : {DType::f32, DType::bf16})
        for (bool in_place : {false, true})
          // N = 37: two 16-lane chunks and a tail; 300×784 takes the threaded split.
          for (auto [M, N] : {std::pair<int64_t, int64_t>{1, 1}, {5, 37}, {300, 784}})
            check({f.loss, f.logits, f.out_act, r, tt, in_place, M, N}, seed++);
}

TEST(LossBf16, RefusesWhatTheFloatLossRefuses) {
  std::vector<bfloat16> p(4, narrow(0.5f));
  std::vector<float> t(4, 0.5f);
  EXPECT_THROW(loss_forward_backward_bf16(Loss::mse, true, p.data(), t.data(), DType::f32, 2, 2, nullptr, nullptr),
               ae::Error);
  EXPECT_THROW(loss_forward_backward_bf16(Loss::mse, false, p.data(), t.data(), DType::f16, 2, 2, nullptr, nullptr),
               ae::Error);
  EXPECT_THROW(loss_forward_backward_bf16(Loss::mse, false, p.data(), t.data(), DType::f32, 2, 2, nullptr, nullptr,
                                          Act::gelu),
               ae::Error);
}

}  // namespace
}  // namespace ae::cpu
