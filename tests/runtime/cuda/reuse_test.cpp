// Kept executors on this build's device backend (cuda-sim by default): a CompiledModel uploads the
// parameters once and not again per call, uploads them again when the host values change (a
// version bump, or training on the device followed by its sync), and its results stay those of a
// fresh executor. SKIPPED without a device, like the other tests here.
#include <gtest/gtest.h>

#include <cstring>
#include <vector>

#include "kernels/common/philox.h"
#include "runtime/compiled_model.h"
#include "runtime/executor.h"
#include "runtime/infer.h"
#include "runtime/trainer.h"
#include "tests/runtime/cuda/on_device.h"

namespace ae {
namespace {

class DeviceReuse : public ::testing::Test {
 protected:
  void SetUp() override { AE_SKIP_WITHOUT_CUDA_DEVICE(); }
};

std::vector<float> random_data(int64_t rows, int64_t cols, uint64_t seed) {
  std::vector<float> x(size_t(rows * cols));
  for (size_t i = 0; i < x.size(); ++i) x[i] = philox_uniform(seed, 0, PhiloxPurpose::data, i);
  return x;
}

bool bit_equal(const std::vector<float>& a, const std::vector<float>& b) {
  return a.size() == b.size() && std::memcmp(a.data(), b.data(), a.size() * sizeof(float)) == 0;
}

std::vector<float> encode(CompiledModel& cm, const std::vector<float>& x, int64_t rows) {
  std::vector<float> out(size_t(rows * cm.model().spec.code_units()), -1.0f);
  run_forward(cm, GraphMode::encode, x.data(), rows, out.data());
  return out;
}

TEST_F(DeviceReuse, ParametersGoUpOncePerVersionNotOncePerCall) {
  auto backend = make_backend(cuda_backend_name());
  Model m = Model::create(parse_spec("40-24r-6-24r-40s"), 7, Loss::mse);
  CompiledModel cm(m, *backend);
  auto x = random_data(5, 40, 51);
  const auto first = encode(cm, x, 5);
  Executor& ex = cm.executor(GraphMode::encode, 5);
  EXPECT_EQ(ex.param_uploads(), 1);
  for (int call = 0; call < 6; ++call) ASSERT_TRUE(bit_equal(encode(cm, x, 5), first)) << "call " << call;
  EXPECT_EQ(ex.param_uploads(), 1) << "unchanged parameters were uploaded again";
  EXPECT_EQ(cm.plans_built(), 1);
  EXPECT_TRUE(bit_equal(first, run_forward(m, *backend, GraphMode::encode, x.data(), 5)));  // a fresh executor

  for (size_t i = 0; i < m.params.count(); ++i)
    for (int64_t j = 0; j < m.params.info(i).size(); ++j) m.params.value(i)[j] *= -0.75f;
  m.params.bump_version();
  const auto changed = encode(cm, x, 5);
  EXPECT_EQ(ex.param_uploads(), 2);
  EXPECT_FALSE(bit_equal(changed, first));
  EXPECT_TRUE(bit_equal(changed, run_forward(m, *backend, GraphMode::encode, x.data(), 5)));
  encode(cm, x, 5);
  EXPECT_EQ(ex.param_uploads(), 2);
}

// Training runs in its own executor on the device; the kept encode executor and the trainer's
// validation executor must then read what training left, uploaded once per change.
TEST_F(DeviceReuse, KeptExecutorsSeeWeightsTrainedOnTheDevice) {
  auto backend = make_backend(cuda_backend_name());
  Model m = Model::create(parse_spec("40-24r-6-24r-40s"), 8, Loss::mse);
  CompiledModel cm(m, *backend);
  auto x = random_data(32, 40, 61), v = random_data(8, 40, 62);
  const auto untrained = encode(cm, v, 8);
  TrainOptions o;
  o.epochs = 3;
  o.batch = 16;
  DataView d{x.data(), 32, 40}, dv{v.data(), 8, 40};
  int64_t logs = 0;
  TrainResult r = train(m, *backend, d, &dv, o, [&](const TrainEvent& e) { logs += e.kind == TrainEvent::log; });
  ASSERT_EQ(r.steps, 6);
  EXPECT_EQ(logs, 3);
  const auto trained = encode(cm, v, 8);
  EXPECT_FALSE(bit_equal(trained, untrained));
  EXPECT_TRUE(bit_equal(trained, run_forward(m, *backend, GraphMode::encode, v.data(), 8)));
  // The first training gave the store adam's state slots (a new layout): the kept executor, whose
  // device copy has the old size, was replaced.
  EXPECT_EQ(cm.plans_built(), 2);
  EXPECT_EQ(cm.executor(GraphMode::encode, 8).param_uploads(), 1);
  // Training again keeps the layout: the same executor, its parameters uploaded once more.
  train(m, *backend, d, &dv, o, nullptr);
  const auto retrained = encode(cm, v, 8);
  EXPECT_FALSE(bit_equal(retrained, trained));
  EXPECT_TRUE(bit_equal(retrained, run_forward(m, *backend, GraphMode::encode, v.data(), 8)));
  EXPECT_EQ(cm.plans_built(), 2);
  EXPECT_EQ(cm.executor(GraphMode::encode, 8).param_uploads(), 2);
  std::vector<float> s(8), fresh;
  evaluate(cm, dv, 1024, s.data());
  evaluate(m, *backend, dv, 1024, &fresh);
  EXPECT_TRUE(bit_equal(s, fresh));
}

}  // namespace
}  // namespace ae
