// ae::cuda::optimizer_step on cuda-sim against ae::cpu::optimizer_step, step for step: every kind
// and variant (momentum, dampening, nesterov, weight decay, centered), tensors whose sizes straddle
// the kernel's 1024-element block chunks (and an empty one), a scheduled lr, and the CUDA-graph
// path (one captured launch replayed with new per-step scalars) against the launch-per-step path.
// The per-step values sit in a StepScalars block at group GROUP, the other groups' entries NaN, so a
// kernel that read the wrong group would fail. Mixed precision: compute copies (bf16, fp16 and none
// in one table) equal the rounded updated parameters, and under fp16 loss scaling a found_inf step
// changes nothing while a clean one equals the step without scaling (kernels/cuda/amp.cuh).
#include "kernels/cpu/optimizer.h"

#include <gtest/gtest.h>

#include <sstream>

#include "kernels/cpu/lowp_round.h"
#include "kernels/cuda/amp.cuh"
#include "kernels/cuda/optimizer.cuh"
#include "tests/kernels/cuda/harness.h"

namespace ae::cudatest {
namespace {

struct OptCase {
  std::string variant;  // printable
  cpu::OptConfig cfg;
  uint64_t seed = 1;
  std::string params() const {
    std::ostringstream os;
    os << "optimizer(" << cpu::opt_name(cfg.kind) << "," << variant << ",seed=" << seed << ")";
    return os.str();
  }
};

constexpr int STEPS = 3;
constexpr int GROUP = 2;  // not 0: the launcher's group index must reach the kernel
const std::vector<int64_t> SIZES = {1, 1023, 0, 1025, 3001, 7, 1024};  // crosses chunk boundaries
// The compute copy of each tensor in the mixed-precision tests: bf16, fp16 and none (f32) side by
// side in one table, an empty tensor with a copy among them.
const std::vector<DType> COPIES = {DType::bf16, DType::f16, DType::bf16, DType::f32,
                                   DType::f16,  DType::f32, DType::bf16};
constexpr float LOSS_SCALE = 65536.0f;  // AMP_INIT_SCALE: g · scale and back are exact for |g| ≤ 1

double lr_at(const cpu::OptConfig& cfg, int step) {
  return cfg.lr / double(1 << (step - 1));
}  // a schedule

// The tensors of one run, host side: params, per-step grads, zeroed state. spread: parameters of
// magnitudes from fp16's subnormals to past its largest value (its copy overflows to inf), so the
// copies' rounding meets every range of the low-precision types.
struct OptData {
  std::vector<std::vector<float>> param, state;
  std::vector<std::vector<std::vector<float>>> grad;  // [step][tensor]
  explicit OptData(const OptCase& c, bool spread = false) {
    const int slots = cpu::opt_state_slots(c.cfg);
    const float magnitude[] = {1.0f, 3e-6f, 7e4f, 1e-3f, 300.0f};
    for (size_t t = 0; t < SIZES.size(); ++t) {
      param.push_back(uniform(SIZES[t], -1, 1, c.seed, 100 + t));
      if (spread)
        for (size_t i = 0; i < param[t].size(); ++i) param[t][i] *= magnitude[i % 5];
      state.emplace_back(slots * SIZES[t], 0.0f);
    }
    grad.resize(STEPS);
    for (int s = 0; s < STEPS; ++s)
      for (size_t t = 0; t < SIZES.size(); ++t) grad[s].push_back(uniform(SIZES[t], -1, 1, c.seed, 1000 * s + t));
  }
};

// Device copies of OptData and the finalized slot table. copies: each tensor's compute copy (f32:
// none), empty for none at all. Every tensor has a copy buffer, prefilled with NaN bits: one the
// table does not name must keep them.
struct OptDevice {
  std::vector<std::unique_ptr<DeviceBuffer<float>>> param, state, grad;
  std::vector<std::unique_ptr<DeviceBuffer<uint16_t>>> copy;  // [tensor] bf16 or fp16 bits
  std::unique_ptr<DeviceBuffer<ae::cuda::OptSlot>> table;
  DeviceBuffer<StepScalars> scalars{1};
  DeviceBuffer<AmpState> amp{1};
  int64_t total = 0;
  OptDevice(const OptCase& c, const OptData& d, const std::vector<DType>& copies = {}) {
    std::vector<ae::cuda::OptSlot> slots;
    for (size_t t = 0; t < SIZES.size(); ++t) {
      param.push_back(std::make_unique<DeviceBuffer<float>>(d.param[t]));
      state.push_back(std::make_unique<DeviceBuffer<float>>(d.state[t]));
      grad.push_back(std::make_unique<DeviceBuffer<float>>(SIZES[t]));
      copy.push_back(std::make_unique<DeviceBuffer<uint16_t>>(SIZES[t]));
      slots.push_back({param[t]->get(), grad[t]->get(), d.state[t].empty() ? nullptr : state[t]->get(), SIZES[t], 0});
      if (!copies.empty() && copies[t] != DType::f32)
        slots.back().copy = copy[t]->get(), slots.back().copy_dtype = copies[t];
    }
    total = ae::cuda::opt_slots_finalize(c.cfg, slots);
    table = std::make_unique<DeviceBuffer<ae::cuda::OptSlot>>(slots);
  }
  // Uploads this step's gradients, times grad_scale (a loss-scaled backward's), and scalars (what
  // the runtime does before each step or replay).
  void prepare(const OptCase& c, const OptData& d, int step, float grad_scale = 1.0f) {
    for (size_t t = 0; t < SIZES.size(); ++t) {
      std::vector<float> g = d.grad[step - 1][t];
      for (float& e : g) e *= grad_scale;
      grad[t]->upload(g);
    }
    cpu::OptConfig cfg = c.cfg;
    cfg.lr = lr_at(c.cfg, step);
    StepScalars block{};
    block.step = step;
    block.group_count = GROUP + 1;
    for (auto& g : block.group) g = {NAN, NAN, NAN, NAN, 0};
    block.group[GROUP] = ae::cuda::make_group_step_scalars(cfg, step);
    scalars.upload({block});
  }
  void step(const ae::cuda::OptHyper& hyper, bool with_amp, cudaStream_t stream = nullptr) {
    ae::cuda::optimizer_step(hyper, scalars.get(), GROUP, table->get(), int(SIZES.size()), total, stream,
                             with_amp ? amp.get() : nullptr);
  }
  std::vector<float> flat(const std::vector<std::unique_ptr<DeviceBuffer<float>>>& bufs) const {
    std::vector<float> v;
    for (const auto& b : bufs) {
      auto h = b->download();
      v.insert(v.end(), h.begin(), h.end());
    }
    return v;
  }
  // The copies' bits as floats (bf16_value/fp16_value per tensor; NaN bits where none is kept).
  std::vector<float> copies(const std::vector<DType>& types) const {
    std::vector<float> v;
    for (size_t t = 0; t < copy.size(); ++t)
      for (uint16_t b : copy[t]->download())
        v.push_back(types[t] == DType::f16 ? cpu::fp16_value(b) : cpu::bf16_value(b));
    return v;
  }
};

std::vector<float> flat(const std::vector<std::vector<float>>& tensors) {
  std::vector<float> v;
  for (const auto& t : tensors) v.insert(v.end(), t.begin(), t.end());
  return v;
}

// What the copies must hold after a step with params p (the device's own, flat): each element
// rounded to its tensor's copy type (lowp_round.h: __float2bfloat16_rn / __float2half_rn bit for
// bit), NaN for a tensor without a copy (its prefill, untouched).
std::vector<float> rounded_copies(const std::vector<float>& p, const std::vector<DType>& types) {
  std::vector<float> v;
  size_t e = 0;
  for (size_t t = 0; t < SIZES.size(); ++t)
    for (int64_t i = 0; i < SIZES[t]; ++i, ++e)
      v.push_back(types[t] == DType::f32   ? NAN
                  : types[t] == DType::f16 ? cpu::round_to(cpu::Lowp::fp16, p[e])
                                           : cpu::round_to(cpu::Lowp::bf16, p[e]));
  return v;
}

// The cpu reference's step `step` on d (no copies: the fp32 update is the same with them).
void reference_step(const OptCase& c, OptData& d, int step) {
  std::vector<cpu::ParamSlot> slots;
  for (size_t t = 0; t < SIZES.size(); ++t)
    slots.push_back(
        {d.param[t].data(), d.grad[step - 1][t].data(), d.state[t].empty() ? nullptr : d.state[t].data(), SIZES[t]});
  cpu::OptConfig cfg = c.cfg;
  cfg.lr = lr_at(c.cfg, step);
  cpu::optimizer_step(cfg, step, slots.data(), slots.size());
}

class Optimizer : public DeviceTestWithParam<OptCase> {};

TEST_P(Optimizer, MatchesCpuReferenceStepForStep) {
  const OptCase& c = GetParam();
  SCOPED_TRACE(c.params());
  OptData ref(c);
  OptDevice dev(c, ref);
  const ae::cuda::OptHyper hyper = ae::cuda::make_opt_hyper(c.cfg);
  FailureDump dump(c.params());
  for (int step = 1; step <= STEPS; ++step) {
    reference_step(c, ref, step);
    dev.prepare(c, ref, step);
    ae::cuda::optimizer_step(hyper, dev.scalars.get(), GROUP, dev.table->get(), int(SIZES.size()), dev.total, nullptr);
    const std::string at = " after step " + std::to_string(step);
    const auto p_ref = flat(ref.param), s_ref = flat(ref.state);
    ASSERT_TRUE(compare("param" + at, dev.flat(dev.param), p_ref, same_math_tolerance<float>(), 1, 1.0));
    ASSERT_TRUE(compare("state" + at, dev.flat(dev.state), s_ref, same_math_tolerance<float>(), 1, 1.0));
    if (!s_ref.empty()) ASSERT_TRUE(nonzero("state" + at, s_ref));
    if (step == STEPS) dump.add("param_ref", p_ref), dump.add("param", dev.flat(dev.param));
  }
  for (size_t t = 0; t < SIZES.size(); ++t) expect_guards(c.params(), *dev.param[t], *dev.state[t], *dev.grad[t]);
}

// Mixed precision: slots with bf16, fp16 and no compute copy in one table. The fp32 params and state
// stay the reference's (the copy is an extra store), each copy is its updated param rounded to
// nearest even, and a tensor without a copy keeps its buffer's NaN prefill.
TEST_P(Optimizer, WritesRoundedComputeCopies) {
  const OptCase& c = GetParam();
  SCOPED_TRACE(c.params());
  OptData ref(c, /*spread=*/true);
  OptDevice dev(c, ref, COPIES);
  const ae::cuda::OptHyper hyper = ae::cuda::make_opt_hyper(c.cfg);
  FailureDump dump(c.params() + "_copies");
  for (int step = 1; step <= STEPS; ++step) {
    reference_step(c, ref, step);
    dev.prepare(c, ref, step);
    dev.step(hyper, /*with_amp=*/false);
    const std::string at = " after step " + std::to_string(step);
    const auto p = dev.flat(dev.param), p_ref = flat(ref.param);
    ASSERT_TRUE(compare("param" + at, p, p_ref, same_math_tolerance<float>(), 1, 1.0));
    ASSERT_TRUE(compare("state" + at, dev.flat(dev.state), flat(ref.state), same_math_tolerance<float>(), 1, 1.0));
    const auto want = rounded_copies(p, COPIES), got = dev.copies(COPIES);
    ASSERT_TRUE(nonzero("copies" + at, want));
    ASSERT_TRUE(compare("copies" + at, got, want, exact_tolerance(), 1, 1.0));
    dump.add("param" + at, p), dump.add("copies" + at, got);
  }
  for (size_t t = 0; t < SIZES.size(); ++t)
    expect_guards(c.params(), *dev.param[t], *dev.state[t], *dev.grad[t], *dev.copy[t]);
}

// fp16 loss scaling: with amp->found_inf set (this step's unscale saw an overflow) the step changes
// no param, state or copy bit and leaves the AmpState as it was (the update is amp_update's); with
// found_inf clear, the same step equals the step without amp.
TEST_P(Optimizer, FoundInfSkipsTheStep) {
  const OptCase& c = GetParam();
  SCOPED_TRACE(c.params());
  OptData d(c);
  OptDevice scaled(c, d, COPIES), plain(c, d, COPIES);
  const ae::cuda::OptHyper hyper = ae::cuda::make_opt_hyper(c.cfg);
  const AmpState clean{LOSS_SCALE, 5, 0, 2}, overflow{LOSS_SCALE, 5, 1, 2};
  // Step 1 clean, so the state is non-zero and a skipped step would have something to change.
  scaled.amp.upload({clean});
  for (OptDevice* dev : {&scaled, &plain}) dev->prepare(c, d, 1);
  scaled.step(hyper, true), plain.step(hyper, false);
  const auto p1 = scaled.flat(scaled.param), s1 = scaled.flat(scaled.state), c1 = scaled.copies(COPIES);
  ASSERT_TRUE(bitwise_equal("param after a clean amp step vs no amp", p1, plain.flat(plain.param)));

  scaled.amp.upload({overflow});
  scaled.prepare(c, d, 2);
  scaled.step(hyper, true);
  EXPECT_TRUE(bitwise_equal("param after a found_inf step", scaled.flat(scaled.param), p1));
  EXPECT_TRUE(bitwise_equal("state after a found_inf step", scaled.flat(scaled.state), s1));
  EXPECT_TRUE(bitwise_equal("copies after a found_inf step", scaled.copies(COPIES), c1));
  const AmpState after = scaled.amp.download()[0];
  EXPECT_EQ(after.scale, overflow.scale);
  EXPECT_EQ(after.growth, overflow.growth);
  EXPECT_EQ(after.found_inf, overflow.found_inf);
  EXPECT_EQ(after.skipped, overflow.skipped);

  // The same step with found_inf clear: it runs, exactly as without amp.
  scaled.amp.upload({clean});
  scaled.step(hyper, true);
  plain.prepare(c, d, 2);
  plain.step(hyper, false);
  const auto p2 = scaled.flat(scaled.param);
  ASSERT_FALSE(bitwise_equal("param", p2, p1)) << "step 2 moved no parameter: the skip check would be vacuous";
  EXPECT_TRUE(bitwise_equal("param after a clean amp step vs no amp", p2, plain.flat(plain.param)));
  EXPECT_TRUE(
      bitwise_equal("state after a clean amp step vs no amp", scaled.flat(scaled.state), plain.flat(plain.state)));
  EXPECT_TRUE(bitwise_equal("copies after a clean amp step vs no amp", scaled.copies(COPIES), plain.copies(COPIES)));
  for (size_t t = 0; t < SIZES.size(); ++t)
    expect_guards(c.params(), *scaled.param[t], *scaled.state[t], *scaled.grad[t], *scaled.copy[t]);
}

// The whole fp16 sequence of one step, captured once and replayed: gradients scaled by the loss
// scale (as the scaled seed makes them), amp_unscale, optimizer_step(amp), amp_update. Step 2's
// gradients hold an inf: that replay changes no parameter, halves the scale and counts a skip, decided
// on the device; steps 1 and 3 equal the reference's steps 1 and 3 on the unscaled gradients.
TEST_P(Optimizer, LossScaledGraphSkipsTheOverflowStep) {
  const OptCase& c = GetParam();
  SCOPED_TRACE(c.params());
  OptData ref(c);
  OptData poisoned = ref;
  poisoned.grad[1][4][1234] = INFINITY;  // step 2, a middle tensor
  OptDevice dev(c, ref, COPIES);
  dev.amp.upload({amp_initial_state()});
  const ae::cuda::OptHyper hyper = ae::cuda::make_opt_hyper(c.cfg);
  cudaStream_t stream;
  AE_CUDA_CHECK(cudaStreamCreate(&stream));
  cudaGraph_t graph;
  cudaGraphExec_t exec;
  AE_CUDA_CHECK(cudaStreamBeginCapture(stream, cudaStreamCaptureModeGlobal));
  ae::cuda::amp_unscale(dev.amp.get(), dev.table->get(), int(SIZES.size()), dev.total, stream);
  dev.step(hyper, true, stream);
  ae::cuda::amp_update(dev.amp.get(), stream);
  AE_CUDA_CHECK(cudaStreamEndCapture(stream, &graph));
  AE_CUDA_CHECK(cudaGraphInstantiate(&exec, graph, 0));
  for (int step = 1; step <= STEPS; ++step) {
    const auto before = dev.flat(dev.param);
    const float scale = dev.amp.download()[0].scale;
    dev.prepare(c, step == 2 ? poisoned : ref, step, scale);
    AE_CUDA_CHECK(cudaGraphLaunch(exec, stream));
    AE_CUDA_CHECK(cudaStreamSynchronize(stream));
    const AmpState a = dev.amp.download()[0];
    const std::string at = " after step " + std::to_string(step);
    EXPECT_EQ(a.found_inf, 0) << "amp_update consumes found_inf" << at;
    if (step == 2) {
      EXPECT_TRUE(bitwise_equal("param" + at, dev.flat(dev.param), before));
      EXPECT_EQ(a.scale, LOSS_SCALE / 2) << at;
      EXPECT_EQ(a.skipped, 1) << at;
      EXPECT_EQ(a.growth, 0) << at;
      continue;
    }
    EXPECT_EQ(a.scale, step == 1 ? LOSS_SCALE : LOSS_SCALE / 2) << at;
    reference_step(c, ref, step);
    const auto p = dev.flat(dev.param);
    ASSERT_TRUE(compare("param" + at, p, flat(ref.param), same_math_tolerance<float>(), 1, 1.0));
    ASSERT_TRUE(compare("state" + at, dev.flat(dev.state), flat(ref.state), same_math_tolerance<float>(), 1, 1.0));
    ASSERT_TRUE(compare("copies" + at, dev.copies(COPIES), rounded_copies(p, COPIES), exact_tolerance(), 1, 1.0));
  }
  AE_CUDA_CHECK(cudaGraphExecDestroy(exec));
  AE_CUDA_CHECK(cudaGraphDestroy(graph));
  AE_CUDA_CHECK(cudaStreamDestroy(stream));
}

// One launch captured into a graph and replayed each step, with only the per-step scalars (and the
// gradients) rewritten in device memory between replays, equals a fresh launch per step, bit for bit.
TEST_P(Optimizer, GraphReplayEqualsLaunchPerStep) {
  const OptCase& c = GetParam();
  SCOPED_TRACE(c.params());
  const OptData d(c);
  OptDevice eager(c, d), graphed(c, d);
  const ae::cuda::OptHyper hyper = ae::cuda::make_opt_hyper(c.cfg);
  cudaStream_t stream;
  AE_CUDA_CHECK(cudaStreamCreate(&stream));
  cudaGraph_t graph;
  cudaGraphExec_t exec;
  AE_CUDA_CHECK(cudaStreamBeginCapture(stream, cudaStreamCaptureModeGlobal));
  ae::cuda::optimizer_step(hyper, graphed.scalars.get(), GROUP, graphed.table->get(), int(SIZES.size()), graphed.total,
                           stream);
  AE_CUDA_CHECK(cudaStreamEndCapture(stream, &graph));
  AE_CUDA_CHECK(cudaGraphInstantiate(&exec, graph, 0));
  for (int step = 1; step <= STEPS; ++step) {
    eager.prepare(c, d, step);
    ae::cuda::optimizer_step(hyper, eager.scalars.get(), GROUP, eager.table->get(), int(SIZES.size()), eager.total,
                             stream);
    graphed.prepare(c, d, step);
    AE_CUDA_CHECK(cudaGraphLaunch(exec, stream));
    AE_CUDA_CHECK(cudaStreamSynchronize(stream));
    const auto p = graphed.flat(graphed.param);
    ASSERT_TRUE(nonzero("param", p));
    ASSERT_TRUE(bitwise_equal("param after step " + std::to_string(step), p, eager.flat(eager.param)));
    ASSERT_TRUE(bitwise_equal("state after step " + std::to_string(step), graphed.flat(graphed.state),
                              eager.flat(eager.state)));
  }
  AE_CUDA_CHECK(cudaGraphExecDestroy(exec));
  AE_CUDA_CHECK(cudaGraphDestroy(graph));
  AE_CUDA_CHECK(cudaStreamDestroy(stream));
}

std::vector<OptCase> opt_cases() {
  using cpu::OptKind;
  auto cfg = [](OptKind k, auto&& edit) {
    cpu::OptConfig c = cpu::default_opt_config(k);
    c.lr = 0.05;  // large enough that every update moves the parameter's bits
    edit(c);
    return c;
  };
  auto none = [](cpu::OptConfig&) {};
  return {
      {"plain", cfg(OptKind::sgd, none), 1},
      {"momentum=0.9,dampening=0.1,wd=0.01",
       cfg(OptKind::sgd, [](auto& c) { c.momentum = 0.9, c.dampening = 0.1, c.weight_decay = 0.01; }), 2},
      {"nesterov,momentum=0.8", cfg(OptKind::sgd, [](auto& c) { c.momentum = 0.8, c.nesterov = true; }), 3},
      {"defaults", cfg(OptKind::adam, none), 4},
      {"wd=0.1,beta1=0.3", cfg(OptKind::adam, [](auto& c) { c.weight_decay = 0.1, c.beta1 = 0.3; }),
       5},  // lerp's other branch
      {"defaults", cfg(OptKind::adamw, none), 6},
      {"plain", cfg(OptKind::rmsprop, none), 7},
      {"momentum=0.9,wd=0.01", cfg(OptKind::rmsprop, [](auto& c) { c.momentum = 0.9, c.weight_decay = 0.01; }), 8},
      {"centered", cfg(OptKind::rmsprop, [](auto& c) { c.centered = true; }), 9},
      {"centered,momentum=0.5", cfg(OptKind::rmsprop, [](auto& c) { c.centered = true, c.momentum = 0.5; }), 10},
  };
}

INSTANTIATE_TEST_SUITE_P(Cases, Optimizer, ::testing::ValuesIn(opt_cases()),
                         [](const auto& info) { return test_name(info.param.params()); });

// Host-side argument checks only: runs without a device, in both flavours.
TEST(OptimizerEdge, InvalidConfigIsAnError) {
  cpu::OptConfig c = cpu::default_opt_config(cpu::OptKind::sgd);
  c.nesterov = true;  // without momentum
  EXPECT_THROW(ae::cuda::make_opt_hyper(c), ae::Error);
  EXPECT_THROW(ae::cuda::make_group_step_scalars(cpu::default_opt_config(cpu::OptKind::adam), 0), ae::Error);
  EXPECT_THROW(ae::cuda::optimizer_step(ae::cuda::make_opt_hyper(cpu::default_opt_config(cpu::OptKind::adam)), nullptr,
                                        MAX_PARAM_GROUPS, nullptr, 1, 1, nullptr),
               ae::Error);
}

// A compute copy must say its type: bf16 or f16 (f32, the default, is no low-precision copy).
TEST(OptimizerEdge, CopyWithoutALowPrecisionDtypeIsAnError) {
  const cpu::OptConfig c = cpu::default_opt_config(cpu::OptKind::sgd);
  float p = 1, g = 1;
  uint16_t copy = 0;
  std::vector<ae::cuda::OptSlot> slots = {{&p, &g, nullptr, 1, 0}};
  slots[0].copy = &copy;
  try {
    ae::cuda::opt_slots_finalize(c, slots);
    ADD_FAILURE() << "a copy of dtype f32 was accepted";
  } catch (const ae::Error& e) {
    EXPECT_NE(std::string(e.what()).find("copy_dtype to bf16 or f16"), std::string::npos) << e.what();
  }
  for (DType d : {DType::bf16, DType::f16}) {
    slots[0].copy_dtype = d;
    EXPECT_EQ(ae::cuda::opt_slots_finalize(c, slots), 1);
  }
}

}  // namespace
}  // namespace ae::cudatest
