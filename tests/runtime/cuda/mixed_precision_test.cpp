// Mixed precision on this build's cuda backend (cuda-sim; cuda with -DAE_ENABLE_CUDA=ON, skipped
// without a GPU): bf16 and fp16 plans (graph/precision.cpp) on the tensor-core kernels, against the
// cpu backend's fp32 training from the same weights, and fp16's dynamic loss scaling
// (kernels/common/amp.h) with a forced overflow: the step is skipped, the weights, optimizer state
// and compute copies stay bit for bit as they were, the scale halves and the skip is counted; after
// 2000 clean steps the scale doubles.
#include <gtest/gtest.h>

#include <bit>
#include <cmath>
#include <cstring>
#include <string>
#include <vector>

#include "graph/plan.h"
#include "host/data/idx.h"
#include "kernels/cpu/lowp_round.h"
#include "runtime/backend.h"
#include "runtime/executor.h"
#include "runtime/model.h"
#include "runtime/trainer.h"
#include "tests/runtime/cuda/on_device.h"
#include "tests/temp_dir.h"

namespace ae {
namespace {

constexpr const char* FMNIST = "/usr/share/datasets/fashion-mnist/train-images-idx3-ubyte.gz";
constexpr const char* SPEC = "784-256r-32-256r-784s";
constexpr int64_t ROWS = 640, BATCH = 32, STEPS = 20;

const Matrix& data() {
  static Matrix m = read_idx_matrix(FMNIST, ROWS);
  return m;
}

struct TrainRun {
  std::vector<double> loss;
  std::vector<int64_t> skipped;
  Model model;
};

TrainRun train_in(const std::string& device, Precision precision) {
  TrainRun r{{}, {}, Model::create(parse_spec(SPEC), 7, Loss::mse)};
  r.model.precision = precision;
  auto backend = make_backend(device);
  TrainOptions o;
  o.steps = STEPS;
  o.batch = BATCH;
  o.shuffle = false;
  o.log_every = 1;
  const Matrix& m = data();
  DataView tr{m.data.data(), ROWS, m.cols};
  train(r.model, *backend, tr, nullptr, o, [&](const TrainEvent& ev) {
    if (ev.kind != TrainEvent::log) return;
    r.loss.push_back(ev.train_loss);
    r.skipped.push_back(ev.skipped_steps);
  });
  return r;
}

// 20 Adam steps at lr 1e-3 in bf16, fp16 and tf32 on the device against fp32 on the cpu, from the
// same weights over the same batches. Tolerance: 0.5 % relative at every step (measured worst:
// 1.1e-3 bf16, 7e-4 fp16, 1e-3 tf32). The forward stores each activation once in the compute dtype (relative
// error up to 2⁻⁹ in bf16, 2⁻¹² in fp16; tf32 rounds the GEMM operands to 10 mantissa bits), so
// the first step's loss may differ by a few tenths of a percent in bf16; Adam's sign-like first
// steps then move each weight by about lr whatever the rounding, and the runs stay that close. A
// wrong kernel or a missed copy update is off by far more (the loss moves by about 10 % a step at
// the start). Adam's update does not see a gradient's scale, so a missing unscale would pass here:
// the op table test (gradients against fp64) and the overflow test below catch that. tf32 must
// also differ from the device's own fp32 run by more than fp32 rounding does: its GEMMs really ran
// on the tensor-core path.
TEST(MixedPrecisionTraining, FollowsCpuFp32StepByStep) {
  AE_SKIP_WITHOUT_CUDA_DEVICE();
  const TrainRun ref = train_in("cpu", DType::f32), dev32 = train_in(cuda_backend_name(), DType::f32);
  ASSERT_EQ(ref.loss.size(), size_t(STEPS));
  EXPECT_LT(ref.loss.back(), 0.8 * ref.loss.front()) << "the reference learns";
  for (Precision p : {Precision(DType::bf16), Precision(DType::f16), Precision::tf32_math()}) {
    SCOPED_TRACE(precision_name(p));
    const TrainRun low = train_in(cuda_backend_name(), p);
    ASSERT_EQ(low.loss.size(), size_t(STEPS));
    double worst = 0, from_dev32 = 0;
    for (int64_t s = 0; s < STEPS; ++s) {
      const double rel = std::abs(low.loss[size_t(s)] - ref.loss[size_t(s)]) / ref.loss[size_t(s)];
      worst = std::max(worst, rel);
      from_dev32 = std::max(from_dev32, std::abs(low.loss[size_t(s)] - dev32.loss[size_t(s)]) / dev32.loss[size_t(s)]);
      EXPECT_LE(rel, 5e-3) << "step " << s + 1 << ": " << low.loss[size_t(s)] << " against fp32 " << ref.loss[size_t(s)];
    }
    EXPECT_GT(from_dev32, 1e-5) << "no different from the device's fp32 run";
    // bf16 and tf32 run no loss scaling (-1); fp16 at 2^16 overflows nothing on this model's gradients.
    EXPECT_EQ(low.skipped.back(), p == Precision(DType::f16) ? 0 : -1);
    std::printf("[ %s ] worst relative loss difference to cpu fp32 over %lld steps: %.2e (tolerance 5e-3); to the "
                "device's fp32: %.2e\n", precision_name(p), (long long)STEPS, worst, from_dev32);
  }
}

// The loss-scaling state as the kernels keep it: scale, growth, found_inf, skipped.
struct Amp {
  float scale;
  int32_t growth, found_inf, skipped;
};
Amp amp_of_phase(const ParamStore& p, int phase) {
  const float* a = p.amp(phase);
  return {a[0], std::bit_cast<int32_t>(a[1]), std::bit_cast<int32_t>(a[2]), std::bit_cast<int32_t>(a[3])};
}
Amp amp_of(const ParamStore& p) {
  const float* a = p.amp();
  return {a[0], std::bit_cast<int32_t>(a[1]), std::bit_cast<int32_t>(a[2]), std::bit_cast<int32_t>(a[3])};
}
void set_amp(ParamStore& p, float scale, int32_t growth) {
  p.amp()[0] = scale;
  p.amp()[1] = std::bit_cast<float>(growth);
  p.bump_version();  // a host write: the executor uploads the store again before its next launch
}

// Everything a step may change: values, optimizer state, and (read from the device) the copies.
std::vector<float> snapshot(const Executor& ex, const ParamStore& p) {
  std::vector<float> out;
  for (size_t i = 0; i < p.count(); ++i) {
    out.insert(out.end(), p.value(i), p.value(i) + p.info(i).size());
    const float* st = p.state(i);
    out.insert(out.end(), st, st + p.info(i).size() * p.state_slots());
  }
  const Graph& g = ex.plan().graph;
  for (size_t t = 0; t < g.tensors.size(); ++t)
    if (g.tensors[t].role == TensorRole::param_copy) {
      std::vector<float> c(size_t(g.tensors[t].elements(1)));
      ex.read(int(t), c.data(), 1);
      out.insert(out.end(), c.begin(), c.end());
    }
  return out;
}

TEST(LossScaling, AnOverflowSkipsTheStepAndBacksOffAndCleanStepsGrow) {
  AE_SKIP_WITHOUT_CUDA_DEVICE();
  Model m = Model::create(parse_spec("784-64r-16-64r-784s"), 3, Loss::mse);
  const cpu::OptConfig adam = cpu::default_opt_config(cpu::OptKind::adam);
  m.ensure_state_slots(cpu::opt_state_slots(adam));
  m.params.zero_state();
  auto backend = make_backend(cuda_backend_name());
  Executor ex(make_plan(m.spec, GraphMode::train, Loss::mse, BATCH, true, DType::f16), *backend, m.params);
  ASSERT_GE(ex.plan().loss_scale, 0);
  std::memcpy(ex.input(0), data().data.data(), size_t(BATCH * 784) * sizeof(float));
  const Amp fresh = amp_of(m.params);
  EXPECT_EQ(fresh.scale, 65536.0f);
  EXPECT_EQ(fresh.growth, 0);
  EXPECT_EQ(fresh.skipped, 0);

  // A scale of 2^40 sends the fp16 output gradient (≈ 2^40·2(y − x)/(B·784)) past 65504: inf.
  const std::vector<float> before = snapshot(ex, m.params);
  set_amp(m.params, 0x1p40f, 7);
  ex.run(BATCH, &adam, 1);
  ex.sync_params_to_host();
  const std::vector<float> after = snapshot(ex, m.params);
  ASSERT_EQ(before.size(), after.size());
  EXPECT_EQ(std::memcmp(before.data(), after.data(), before.size() * sizeof(float)), 0)
      << "a skipped step changed the weights, the optimizer state or the compute copies";
  Amp a = amp_of(m.params);
  EXPECT_EQ(a.scale, 0x1p39f) << "backoff 0.5";
  EXPECT_EQ(a.growth, 0);
  EXPECT_EQ(a.found_inf, 0) << "the update clears the flag for the next step";
  EXPECT_EQ(a.skipped, 1);

  // A clean step at 2^10 updates and counts towards growth; at growth 1999 the next one doubles.
  set_amp(m.params, 0x1p10f, 0);
  ex.run(BATCH, &adam, 1);
  ex.sync_params_to_host();
  const std::vector<float> stepped = snapshot(ex, m.params);
  EXPECT_NE(std::memcmp(before.data(), stepped.data(), before.size() * sizeof(float)), 0) << "a clean step changed nothing";
  a = amp_of(m.params);
  EXPECT_EQ(a.scale, 0x1p10f);
  EXPECT_EQ(a.growth, 1);
  EXPECT_EQ(a.skipped, 1);
  set_amp(m.params, 0x1p10f, 1999);
  ex.run(BATCH, &adam, 2);
  ex.sync_params_to_host();
  a = amp_of(m.params);
  EXPECT_EQ(a.scale, 0x1p11f) << "2000 clean steps double the scale";
  EXPECT_EQ(a.growth, 0);
  EXPECT_EQ(a.skipped, 1);

  // The compute copies follow the master weights: each is the value rounded to fp16.
  const Graph& g = ex.plan().graph;
  for (size_t t = 0; t < g.tensors.size(); ++t) {
    if (g.tensors[t].role != TensorRole::param_copy) continue;
    const size_t p = size_t(g.tensors[t].param);
    std::vector<float> c(size_t(g.tensors[t].elements(1)));
    ex.read(int(t), c.data(), 1);
    for (size_t j = 0; j < c.size(); ++j)
      ASSERT_EQ(c[j], cpu::fp16_value(cpu::fp16_bits(m.params.value(p)[j]))) << g.tensors[t].name << "[" << j << "]";
  }
}

// Each training phase keeps its own loss scale (an adversarial step runs three, each counting its
// own clean steps, as three GradScalers would), and a checkpoint carries them: a resumed run ends
// with the same states and weights as one that never stopped.
TEST(LossScaling, EachPhaseHasItsOwnStateAndCheckpointsCarryThem) {
  AE_SKIP_WITHOUT_CUDA_DEVICE();
  const Spec spec = parse_spec("20-8r-4-8r-20s:adversarial=4-8r-1");
  std::vector<float> rows(64 * 20);
  for (size_t i = 0; i < rows.size(); ++i) rows[i] = float((i * 37) % 101) / 101.0f;
  const DataView tr{rows.data(), 64, 20};
  test::TempDir dir("ae_amp");
  // 6 steps, a checkpoint every 3; stop_after > 0 ends the run after that many steps (past the
  // step-3 checkpoint, before the next), as a killed process would.
  auto run = [&](const std::string& checkpoint, bool resume, int stop_after) {
    Model m = Model::create(spec, 5, Loss::mse);
    m.precision = DType::f16;
    auto backend = make_backend(cuda_backend_name());
    TrainOptions o;
    o.steps = 6;
    o.batch = 16;
    o.checkpoint = checkpoint;
    o.checkpoint_every = 3;
    int steps = 0;
    if (stop_after > 0) o.stop = [&] { return ++steps == stop_after; };
    train(m, *backend, tr, nullptr, o, {}, resume);
    return m;
  };
  const Model straight = run("", false, 0);
  for (int p = 0; p < 3; ++p) {
    const Amp a = amp_of_phase(straight.params, p);
    EXPECT_EQ(a.growth, 6) << "phase " << p << " counts the 6 steps once each";
    EXPECT_EQ(a.skipped, 0) << "phase " << p;
    EXPECT_EQ(a.scale, 65536.0f) << "phase " << p;
  }
  EXPECT_EQ(amp_of_phase(straight.params, 3).growth, 0) << "no fourth phase ran";
  const std::string ck = dir.file("c.ckpt");
  run(ck, false, 4);
  const Model resumed = run(ck, true, 0);
  for (int p = 0; p < 3; ++p) EXPECT_EQ(amp_of_phase(resumed.params, p).growth, 6) << "phase " << p << " after the resume";
  for (size_t i = 0; i < straight.params.count(); ++i)
    ASSERT_EQ(std::memcmp(straight.params.value(i), resumed.params.value(i), size_t(straight.params.info(i).size()) * sizeof(float)), 0)
        << straight.params.info(i).name << " differs after the resume";
}

}  // namespace
}  // namespace ae
