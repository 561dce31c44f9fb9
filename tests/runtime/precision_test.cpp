// Mixed-precision plans on the cpu backend (issue 13): the executor stores a bf16 input from the
// caller's fp32 rows, converts bf16 results on read, keeps the parameters' compute copies equal to
// bf16(master) through optimizer steps and host writes, and a bf16 training run follows the fp32
// one closely from the same initialisation.
#include <gtest/gtest.h>

#include <cmath>
#include <vector>

#include "kernels/common/philox.h"
#include "kernels/cpu/gemm.h"
#include "kernels/cpu/lowp_round.h"
#include "runtime/compiled_model.h"
#include "runtime/executor.h"
#include "runtime/infer.h"
#include "runtime/model.h"

namespace ae {
namespace {

const char* SPEC = "64-32r-8-32r-64s";

class PrecisionRuntime : public ::testing::Test {
 protected:
  void SetUp() override {
    if (!cpu::bf16_gemm_native()) GTEST_SKIP() << cpu::bf16_gemm_support();
  }
  std::unique_ptr<Backend> backend = make_backend("cpu");
};

void fill(Executor& ex, int64_t rows, uint64_t seed) {
  const int64_t w = ex.plan().graph.tensors[size_t(ex.plan().graph.inputs[0])].features();
  float* x = ex.input();
  for (int64_t i = 0; i < rows * w; ++i) x[i] = philox_uniform(seed, 0, PhiloxPurpose::data, uint64_t(i));
}

// Every parameter's compute copy is exactly bf16 of its fp32 value.
void expect_copies_current(const ParamStore& p) {
  ASSERT_TRUE(p.has_copies());
  for (size_t i = 0; i < p.count(); ++i)
    for (int64_t j = 0; j < p.info(i).size(); ++j)
      ASSERT_EQ(static_cast<const bfloat16*>(p.copy(i))[j].bits, cpu::bf16_bits(p.value(i)[j])) << p.info(i).name << "[" << j << "]";
}

TEST_F(PrecisionRuntime, TrainingKeepsCopiesCurrentAndFollowsFp32) {
  Model f = Model::create(parse_spec(SPEC), 5, Loss::mse), b = Model::create(parse_spec(SPEC), 5, Loss::mse);
  cpu::OptConfig opt = cpu::default_opt_config(cpu::OptKind::adam);
  opt.lr = 3e-3;
  for (Model* m : {&f, &b}) m->ensure_state_slots(cpu::opt_state_slots(opt));
  const int64_t batch = 50;
  Executor ef(make_plan(f.spec, GraphMode::train, Loss::mse, batch), *backend, f.params);
  Executor eb(make_plan(b.spec, GraphMode::train, Loss::mse, batch, true, DType::bf16), *backend, b.params);
  EXPECT_FALSE(f.params.has_copies());
  double lf = 0, lb = 0, first = 0;
  for (int64_t step = 1; step <= 40; ++step) {
    fill(ef, batch, uint64_t(step % 4));
    fill(eb, batch, uint64_t(step % 4));
    lf = ef.run(batch, &opt, step);
    lb = eb.run(batch, &opt, step);
    if (step == 1) {
      first = lf;
      EXPECT_NEAR(lb, lf, 0.01 * lf) << "the same weights and data at step 1";
    }
  }
  expect_copies_current(b.params);  // written by each step's optimizer, no refresh needed
  EXPECT_LT(lf, 0.8 * first) << "training did not learn";
  EXPECT_NEAR(lb, lf, 0.03 * lf) << "bf16 left fp32's path after 40 steps";
  EXPECT_NE(lb, lf);
  // The stored input is bf16: reading it back gives the caller's rows rounded.
  const int x = eb.plan().graph.inputs[0];
  ASSERT_EQ(eb.plan().graph.tensors[size_t(x)].dtype, DType::bf16);
  std::vector<float> back(size_t(batch * 64));
  eb.read(x, back.data(), batch);
  for (size_t i = 0; i < back.size(); ++i) {
    const float v = philox_uniform(40 % 4, 0, PhiloxPurpose::data, i);
    ASSERT_EQ(back[i], cpu::bf16_value(cpu::bf16_bits(v))) << i;
  }
}

// A host write (with its version bump) makes the next launch remake the copies from the values.
TEST_F(PrecisionRuntime, HostWritesRefreshTheCopies) {
  Model m = Model::create(parse_spec(SPEC), 9, Loss::mse);
  m.precision = DType::bf16;
  CompiledModel cm(m, *backend);
  std::vector<float> x(size_t(7 * 64));
  for (size_t i = 0; i < x.size(); ++i) x[i] = philox_uniform(3, 0, PhiloxPurpose::data, i);
  std::vector<float> c1(size_t(7 * 8)), c2(c1.size());
  run_forward(cm, GraphMode::encode, x.data(), 7, c1.data());
  expect_copies_current(m.params);
  for (size_t i = 0; i < m.params.count(); ++i)
    for (int64_t j = 0; j < m.params.info(i).size(); ++j) m.params.value(i)[j] *= 0.5f;
  m.params.bump_version();
  EXPECT_FALSE(m.params.copies_current());
  run_forward(cm, GraphMode::encode, x.data(), 7, c2.data());
  expect_copies_current(m.params);
  // relu and linear layers with halved weights and biases: the code is about a quarter.
  for (size_t i = 0; i < c1.size(); ++i) EXPECT_NEAR(c2[i], 0.25f * c1[i], 0.02f * std::abs(c1[i]) + 1e-3f) << i;
}

// Encoding in bf16 gives fp32's codes to bf16's resolution, and not fp32's bits.
TEST_F(PrecisionRuntime, Bf16EncodeIsCloseToFp32) {
  Model m = Model::create(parse_spec(SPEC), 11, Loss::mse);
  std::vector<float> x(size_t(33 * 64));
  for (size_t i = 0; i < x.size(); ++i) x[i] = philox_uniform(4, 0, PhiloxPurpose::data, i);
  const auto f = run_forward(m, *backend, GraphMode::reconstruct, x.data(), 33);
  m.precision = DType::bf16;
  const auto b = run_forward(m, *backend, GraphMode::reconstruct, x.data(), 33);
  ASSERT_EQ(f.size(), b.size());
  double worst = 0;
  for (size_t i = 0; i < f.size(); ++i) worst = std::max(worst, std::abs(double(f[i]) - double(b[i])));
  EXPECT_GT(worst, 0.0);
  EXPECT_LT(worst, 0.02) << "sigmoid outputs in (0, 1): a few bf16 ulps";
}

}  // namespace
}  // namespace ae
