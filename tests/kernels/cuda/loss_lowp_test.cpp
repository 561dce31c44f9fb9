// ae::cuda::loss_forward_backward_lowp on cuda-sim against the cpu reference: bf16 and fp16 pred
// (and grad), fp32 or low-precision target, mse/bce/bce from logits, out_act linear and sigmoid,
// mean and sum, odd shapes, grad written over pred, with and without a loss scale. The reference is
// ae::cpu::loss_forward_backward<float> on the widened values with each gradient element (times the
// scale, exact for a power of two) rounded by lowp_round.h; for bf16 without a scale also
// ae::cpu::loss_forward_backward_bf16 itself. Same math, same sums, same order: bit-equal on the sim.
// Also: the scale is read on the device when a captured graph replays, and bad arguments are refused.
#include <gtest/gtest.h>

#include <cmath>
#include <sstream>

#include "kernels/cpu/loss.h"
#include "kernels/cuda/loss.cuh"
#include "tests/kernels/cuda/harness.h"
#include "tests/kernels/cuda/lowp_reference.h"

namespace ae::cudatest {
namespace {

constexpr float SCALE = 65536.0f;  // 2^16, fp16 loss scaling's usual starting value

struct LossLowpCase {
  Lowp type;  // of pred and grad: bf16 or fp16
  Loss loss;
  bool from_logits;
  Act out_act;
  LossReduction reduction;
  bool target_lowp;  // target stored in `type`, else fp32
  int64_t M, N;
  bool in_place;  // grad written over pred
  bool scaled;    // grad_scale = SCALE, else nullptr
  uint64_t seed;

  std::string params() const {
    std::ostringstream os;
    os << "loss_lowp(dtype=" << lowp_name(type) << "," << loss_name(loss) << (from_logits ? "_logits" : "")
       << ",out_act=" << act_name(out_act) << "," << (reduction == LossReduction::sum ? "sum" : "mean")
       << ",target=" << (target_lowp ? lowp_name(type) : "f32") << ",M=" << M << ",N=" << N
       << (in_place ? ",in_place" : "") << ",scale=" << (scaled ? "65536" : "none") << ",seed=" << seed << ")";
    return os.str();
  }
};

// Stored values: pred in `type` (probabilities for bce, logits, or out_act's outputs for mse), the
// target in [0, 1] in `type` or fp32. bce's clamps at p = 0 and 1 are hit by the first elements.
struct LossLowpData {
  std::vector<float> pred, target;
  explicit LossLowpData(const LossLowpCase& c) {
    const size_t MN = size_t(c.M * c.N);
    const auto z = uniform(MN, -4, 4, c.seed, 1);
    pred.resize(MN);
    for (size_t i = 0; i < MN; ++i)
      pred[i] = c.from_logits ? z[i] : c.loss == Loss::bce ? sigmoid(z[i]) : act_forward(c.out_act, z[i]);
    target = uniform(MN, 0, 1, c.seed, 2);
    if (c.loss == Loss::bce && !c.from_logits && MN >= 4) {
      pred[0] = 0.0f, pred[1] = 1.0f, pred[2] = 1.0f, pred[3] = 0.0f;
      target[0] = 1.0f, target[1] = 0.0f, target[2] = 1.0f, target[3] = 0.0f;
    }
    pred = stored(c.type, pred);
    if (c.target_lowp) target = stored(c.type, target);
  }
};

struct LossLowpOut {
  std::vector<float> loss, grad, per_sample;  // grad widened from its stored bits
};

// The kernel for the case's storage types, on a NaN-prefilled grad, per-sample and loss.
template <Lowp T>
LossLowpOut run_lowp(const LossLowpCase& c, const LossLowpData& d, cudaStream_t stream = nullptr) {
  using IN = Storage<T>;
  const int64_t MN = c.M * c.N;
  DeviceBuffer<IN> pred(to_storage<T>(d.pred)), grad(static_cast<size_t>(MN));
  DeviceBuffer<IN> target_lowp(to_storage<T>(c.target_lowp ? d.target : std::vector<float>()));
  DeviceBuffer<float> target_f32(c.target_lowp ? std::vector<float>() : d.target);
  DeviceBuffer<float> per_sample(static_cast<size_t>(c.M)), loss(1), scale(std::vector<float>{SCALE});
  DeviceBuffer<double> rows(size_t(ae::cuda::loss_workspace_elements(c.M)));
  IN* g = c.in_place ? pred.get() : grad.get();
  const float* s = c.scaled ? scale.get() : nullptr;
  if (c.target_lowp)
    ae::cuda::loss_forward_backward_lowp<IN, IN>(c.loss, c.from_logits, pred.get(), target_lowp.get(), c.M, c.N, g,
                                                 per_sample.get(), c.out_act, loss.get(), rows.get(), stream,
                                                 c.reduction, s);
  else
    ae::cuda::loss_forward_backward_lowp<IN, float>(c.loss, c.from_logits, pred.get(), target_f32.get(), c.M, c.N, g,
                                                    per_sample.get(), c.out_act, loss.get(), rows.get(), stream,
                                                    c.reduction, s);
  AE_CUDA_CHECK(cudaDeviceSynchronize());
  expect_guards(c.params(), pred, grad, target_lowp, target_f32, per_sample, loss, scale, rows);
  return {loss.download(), from_storage<T>(c.in_place ? pred.download() : grad.download()), per_sample.download()};
}

LossLowpOut run(const LossLowpCase& c, const LossLowpData& d) {
  return c.type == Lowp::bf16 ? run_lowp<Lowp::bf16>(c, d) : run_lowp<Lowp::fp16>(c, d);  // no tf32 storage here
}

// The reference: the cpu fp32 loss on the stored values; each gradient element times the scale,
// then rounded to the storage type (the kernel's one rounding of the same fp32 value).
LossLowpOut reference(const LossLowpCase& c, const LossLowpData& d) {
  LossLowpOut r;
  r.grad.assign(d.pred.size(), NAN), r.per_sample.assign(size_t(c.M), NAN);
  const double loss =
      cpu::loss_forward_backward<float>(c.loss, c.from_logits, d.pred.data(), d.target.data(), c.M, c.N, r.grad.data(),
                                        r.per_sample.data(), nullptr, c.out_act, c.reduction);
  r.loss = {static_cast<float>(loss)};
  for (float& g : r.grad) g = stored(c.type, c.scaled ? g * SCALE : g);
  return r;
}

class LossLowp : public DeviceTestWithParam<LossLowpCase> {};

TEST_P(LossLowp, MatchesCpuReference) {
  const LossLowpCase& c = GetParam();
  SCOPED_TRACE(c.params());
  const LossLowpData d(c);
  const LossLowpOut ref = reference(c, d), got = run(c, d);

  FailureDump dump(c.params());
  dump.add("pred", d.pred), dump.add("target", d.target), dump.add("grad_ref", ref.grad), dump.add("grad", got.grad);
  dump.add("per_sample_ref", ref.per_sample), dump.add("per_sample", got.per_sample);
  ASSERT_TRUE(nonzero("grad_ref", ref.grad));
  // Every reference element written (no NaN prefill left); ±inf is legitimate: bce's gradient at its
  // clamps, −1/(10^-12·count), overflows fp16.
  for (float g : ref.grad) ASSERT_FALSE(std::isnan(g)) << "grad_ref holds a NaN";
  ASSERT_NE(ref.loss[0], 0.0f);
  const Tolerance tol = same_math_tolerance<float>();
  EXPECT_TRUE(compare("loss", got.loss, ref.loss, tol, c.M * c.N, 1.0));
  EXPECT_TRUE(compare("per_sample", got.per_sample, ref.per_sample, tol, c.N, 1.0));
  EXPECT_TRUE(compare("grad", got.grad, ref.grad, same_math_lowp_tolerance(c.type), 1, 1.0));

  // bf16 without a scale: ae::cpu::loss_forward_backward_bf16, the cpu plan's own kernel, gives the
  // same bits (its double loss rounded to fp32 as the kernel stores it).
  if (c.type == Lowp::bf16 && !c.scaled) {
    std::vector<bfloat16> pred_b(d.pred.size()), target_b(d.target.size()), grad_b(d.pred.size(), bfloat16{0x7fc0});
    for (size_t i = 0; i < d.pred.size(); ++i)
      pred_b[i].bits = cpu::bf16_bits(d.pred[i]), target_b[i].bits = cpu::bf16_bits(d.target[i]);
    std::vector<float> per_b(size_t(c.M), NAN), grad_bf(d.pred.size());
    const void* target = c.target_lowp ? static_cast<const void*>(target_b.data()) : d.target.data();
    const double loss_b = cpu::loss_forward_backward_bf16(c.loss, c.from_logits, pred_b.data(), target,
                                                          c.target_lowp ? DType::bf16 : DType::f32, c.M, c.N,
                                                          grad_b.data(), per_b.data(), c.out_act, c.reduction);
    for (size_t i = 0; i < grad_b.size(); ++i) grad_bf[i] = cpu::bf16_value(grad_b[i].bits);
    EXPECT_TRUE(compare("loss vs cpu bf16", got.loss, {static_cast<float>(loss_b)}, tol, c.M * c.N, 1.0));
    EXPECT_TRUE(compare("per_sample vs cpu bf16", got.per_sample, per_b, tol, c.N, 1.0));
    EXPECT_TRUE(compare("grad vs cpu bf16", got.grad, grad_bf, same_math_lowp_tolerance(c.type), 1, 1.0));
  }
}

std::vector<LossLowpCase> loss_lowp_cases() {
  struct Form {
    Loss loss;
    bool logits;
    Act out_act;
  };
  const Form forms[] = {{Loss::mse, false, Act::linear},
                        {Loss::mse, false, Act::sigmoid},
                        {Loss::bce, false, Act::linear},
                        {Loss::bce, false, Act::sigmoid},
                        {Loss::bce, true, Act::linear}};
  // 1 row of 1; a 16-lane group's tail; several blocks with tails; the realistic 784 features.
  const std::pair<int64_t, int64_t> shapes[] = {{1, 1}, {5, 7}, {37, 129}, {130, 784}};
  std::vector<LossLowpCase> v;
  uint64_t seed = 1;
  for (Lowp t : {Lowp::bf16, Lowp::fp16})
    for (const Form& f : forms)
      for (LossReduction r : {LossReduction::mean, LossReduction::sum})
        for (bool target_lowp : {false, true})
          for (auto [M, N] : shapes) {
            // in place and scaled alternate independently, so every form meets all four pairs.
            const bool in_place = seed % 2 == 1, scaled = seed / 2 % 2 == 1;
            v.push_back({t, f.loss, f.logits, f.out_act, r, target_lowp, M, N, in_place, scaled, seed++});
          }
  return v;
}

INSTANTIATE_TEST_SUITE_P(Cases, LossLowp, ::testing::ValuesIn(loss_lowp_cases()),
                         [](const auto& info) { return test_name(info.param.params()); });

class LossLowpScale : public DeviceTest {};

// fp16 loss scaling's reason to exist: at batch 130 × 784 the mean's gradients are mostly below
// fp16's normal range; scaled by 2^16 they are rounded as normal halves. And the scale is read on
// the device: a graph captured once, replayed after the scale buffer changed, uses the new value.
TEST_F(LossLowpScale, GraphReplayReadsTheCurrentScale) {
  const LossLowpCase c{Lowp::fp16, Loss::mse, false, Act::linear, LossReduction::mean, false, 130, 784, false, true, 7};
  SCOPED_TRACE(c.params());
  const LossLowpData d(c);
  const int64_t MN = c.M * c.N;
  DeviceBuffer<__half> pred(to_storage<Lowp::fp16>(d.pred)), grad(static_cast<size_t>(MN));
  DeviceBuffer<float> target(d.target), per_sample(static_cast<size_t>(c.M)), loss(1), scale(std::vector<float>{1.0f});
  DeviceBuffer<double> rows(static_cast<size_t>(c.M));
  cudaStream_t stream;
  AE_CUDA_CHECK(cudaStreamCreate(&stream));
  cudaGraph_t graph;
  cudaGraphExec_t exec;
  AE_CUDA_CHECK(cudaStreamBeginCapture(stream, cudaStreamCaptureModeGlobal));
  ae::cuda::loss_forward_backward_lowp<__half, float>(c.loss, false, pred.get(), target.get(), c.M, c.N, grad.get(),
                                                      per_sample.get(), c.out_act, loss.get(), rows.get(), stream,
                                                      c.reduction, scale.get());
  AE_CUDA_CHECK(cudaStreamEndCapture(stream, &graph));
  AE_CUDA_CHECK(cudaGraphInstantiate(&exec, graph, 0));
  std::vector<float> g32(static_cast<size_t>(MN)), per(static_cast<size_t>(c.M));
  const float loss_ref = float(cpu::loss_forward_backward<float>(c.loss, false, d.pred.data(), d.target.data(), c.M,
                                                                 c.N, g32.data(), per.data(), nullptr, c.out_act));
  size_t subnormal_unscaled = 0;
  for (float s : {1.0f, SCALE, 1024.0f}) {
    scale.upload({s});
    grad.fill_nan(), loss.fill_nan();
    AE_CUDA_CHECK(cudaGraphLaunch(exec, stream));
    AE_CUDA_CHECK(cudaStreamSynchronize(stream));
    std::vector<float> want(g32.size());
    for (size_t i = 0; i < g32.size(); ++i) want[i] = stored(Lowp::fp16, g32[i] * s);
    const std::string what = "grad at scale " + std::to_string(s);
    ASSERT_TRUE(nonzero(what + " reference", want));
    EXPECT_TRUE(
        compare(what, from_storage<Lowp::fp16>(grad.download()), want, same_math_lowp_tolerance(Lowp::fp16), 1, 1.0));
    EXPECT_TRUE(compare("loss (never scaled)", loss.download(), {loss_ref}, same_math_tolerance<float>(), MN, 1.0));
    if (s == 1.0f)
      for (float w : want) subnormal_unscaled += w != 0 && std::fabs(w) < 0x1p-14f;
  }
  EXPECT_GT(subnormal_unscaled, size_t(MN) / 2) << "the unscaled gradients were meant to be fp16 subnormals";
  AE_CUDA_CHECK(cudaGraphExecDestroy(exec));
  AE_CUDA_CHECK(cudaGraphDestroy(graph));
  AE_CUDA_CHECK(cudaStreamDestroy(stream));
}

class LossLowpEdge : public DeviceTest {};

TEST_F(LossLowpEdge, EmptyBatchGivesZero) {
  for (LossReduction r : {LossReduction::mean, LossReduction::sum})
    for (auto [M, N] : {std::pair<int64_t, int64_t>{0, 5}, {3, 0}}) {
      DeviceBuffer<__nv_bfloat16> pred(1), grad(1);
      DeviceBuffer<float> target(1), per_sample(static_cast<size_t>(M)), loss(1);
      DeviceBuffer<double> rows(size_t(ae::cuda::loss_workspace_elements(M)));
      ae::cuda::loss_forward_backward_lowp<__nv_bfloat16, float>(Loss::mse, false, pred.get(), target.get(), M, N,
                                                                 grad.get(), per_sample.get(), Act::linear, loss.get(),
                                                                 rows.get(), nullptr, r);
      EXPECT_EQ(loss.download()[0], 0.0f);
      for (float e : per_sample.download()) EXPECT_EQ(e, 0.0f);
    }
}

TEST_F(LossLowpEdge, RefusesWhatTheReferenceRefuses) {
  DeviceBuffer<__half> buf(4);
  DeviceBuffer<float> loss(1);
  DeviceBuffer<double> rows(2);
  auto call = [&](Loss l, bool logits, Act act, LossReduction r = LossReduction::mean) {
    ae::cuda::loss_forward_backward_lowp<__half, __half>(l, logits, buf.get(), buf.get(), 2, 2, buf.get(), nullptr, act,
                                                         loss.get(), rows.get(), nullptr, r);
  };
  EXPECT_THROW(call(Loss::mse, true, Act::linear), ae::Error);   // logits only for bce
  EXPECT_THROW(call(Loss::mse, false, Act::gelu), ae::Error);    // gelu′ needs z
  EXPECT_THROW(call(Loss::bce, true, Act::sigmoid), ae::Error);  // logits already give d/dz
  EXPECT_THROW(call(Loss::mse, false, Act::linear, static_cast<LossReduction>(7)), ae::Error);
}

}  // namespace
}  // namespace ae::cudatest
