// ae::cuda::optimizer_step on cuda-sim against ae::cpu::optimizer_step, step for step: every kind
// and variant (momentum, dampening, nesterov, weight decay, centered), tensors whose sizes straddle
// the kernel's 1024-element block chunks (and an empty one), a scheduled lr, and the CUDA-graph
// path (one captured launch replayed with new per-step scalars) against the launch-per-step path.
// The per-step values sit in a StepScalars block at group GROUP, the other groups' entries NaN, so a
// kernel that read the wrong group would fail. Mixed precision: compute copies (bf16, fp16 and none
// in one table) equal the rounded updated parameters.
#include "kernels/cpu/optimizer.h"

#include <gtest/gtest.h>

#include <sstream>

#include "kernels/cpu/lowp_round.h"
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
  // Uploads this step's gradients and scalars (what the runtime does before each step or replay).
  void prepare(const OptCase& c, const OptData& d, int step) {
    for (size_t t = 0; t < SIZES.size(); ++t) grad[t]->upload(d.grad[step - 1][t]);
    cpu::OptConfig cfg = c.cfg;
    cfg.lr = lr_at(c.cfg, step);
    StepScalars block{};
    block.step = step;
    block.group_count = GROUP + 1;
    for (auto& g : block.group) g = {NAN, NAN, NAN, NAN, 0};
    block.group[GROUP] = ae::cuda::make_group_step_scalars(cfg, step);
    scalars.upload({block});
  }
  void step(const ae::cuda::OptHyper& hyper, cudaStream_t stream = nullptr) {
    ae::cuda::optimizer_step(hyper, scalars.get(), GROUP, table->get(), int(SIZES.size()), total, stream);
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
    dev.step(hyper);
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
