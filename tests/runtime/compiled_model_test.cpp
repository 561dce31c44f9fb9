// Kept plans and executors (runtime/compiled_model.h) on the cpu backend: repeated calls give the
// bits a fresh executor gives and build one plan, the kept executors read new weights after they
// change (a version bump, training, keep-best), and the cache stays bounded.
#include "runtime/compiled_model.h"

#include <gtest/gtest.h>

#include <cstring>
#include <vector>

#include "kernels/common/philox.h"
#include "runtime/executor.h"
#include "runtime/infer.h"
#include "runtime/trainer.h"

namespace ae {
namespace {

const char* SPEC = "64-32r-8-32r-64s";

std::vector<float> random_data(int64_t rows, int64_t cols, uint64_t seed) {
  std::vector<float> x(size_t(rows * cols));
  for (size_t i = 0; i < x.size(); ++i) x[i] = philox_uniform(seed, 0, PhiloxPurpose::data, i);
  return x;
}

bool bit_equal(const std::vector<float>& a, const std::vector<float>& b) {
  return a.size() == b.size() && std::memcmp(a.data(), b.data(), a.size() * sizeof(float)) == 0;
}

// run_forward through `cm` into a fresh vector.
std::vector<float> forward(CompiledModel& cm, GraphMode mode, const std::vector<float>& x, int64_t rows) {
  const Spec& s = cm.model().spec;
  std::vector<float> out(size_t(rows * (mode == GraphMode::encode ? s.code_units() : s.input)), -1.0f);
  run_forward(cm, mode, x.data(), rows, out.data());
  return out;
}

std::vector<float> scores(CompiledModel& cm, const std::vector<float>& x, int64_t rows) {
  std::vector<float> s(size_t(rows), -1.0f);
  evaluate(cm, DataView{x.data(), rows, cm.model().spec.input}, 1024, s.data());
  return s;
}

std::vector<float> fresh_scores(const Model& m, Backend& b, const std::vector<float>& x, int64_t rows) {
  std::vector<float> s;
  evaluate(m, b, DataView{x.data(), rows, m.spec.input}, 1024, &s);
  return s;
}

TEST(CompiledModel, RepeatedCallsGiveAFreshExecutorsBitsAndBuildOnePlanPerMode) {
  auto backend = make_backend("cpu");
  Model m = Model::create(parse_spec(SPEC), 3, Loss::mse);
  CompiledModel cm(m, *backend);
  for (int64_t rows : {1, 5}) {
    auto x = random_data(rows, 64, 10 + uint64_t(rows));
    auto codes = random_data(rows, 8, 20 + uint64_t(rows));
    const int64_t built = cm.plans_built();
    const auto enc0 = run_forward(m, *backend, GraphMode::encode, x.data(), rows);  // fresh executors
    const auto dec0 = run_forward(m, *backend, GraphMode::decode, codes.data(), rows);
    const auto rec0 = run_forward(m, *backend, GraphMode::reconstruct, x.data(), rows);
    const auto sc0 = fresh_scores(m, *backend, x, rows);
    for (int call = 0; call < 25; ++call) {
      ASSERT_TRUE(bit_equal(forward(cm, GraphMode::encode, x, rows), enc0)) << "rows " << rows << " call " << call;
      ASSERT_TRUE(bit_equal(forward(cm, GraphMode::decode, codes, rows), dec0)) << "rows " << rows << " call " << call;
      ASSERT_TRUE(bit_equal(forward(cm, GraphMode::reconstruct, x, rows), rec0)) << "rows " << rows << " call " << call;
      ASSERT_TRUE(bit_equal(scores(cm, x, rows), sc0)) << "rows " << rows << " call " << call;
    }
    EXPECT_EQ(cm.plans_built() - built, 4) << "one plan per mode at " << rows << " rows, not one per call";
  }
  EXPECT_EQ(cm.size(), 8u);
}

// The kept executors pack W for oneDNN (cpu); a plain Executor multiplies the live weights. On the
// default model's shapes (784×256 and friends, several batch sizes and tails) both give the same
// bits, so encode, scores and validation losses are what the previous release computed.
TEST(CompiledModel, PackedWeightsGiveAPlainExecutorsBitsOnTheDefaultModel) {
  auto backend = make_backend("cpu");
  Model m = Model::create(parse_spec("784-256r-32-256r-784s"), 5, Loss::mse);
  CompiledModel cm(m, *backend);
  for (int64_t rows : {1, 37, 256}) {
    auto x = random_data(rows, 784, 40 + uint64_t(rows));
    Executor plain(make_plan(m.spec, GraphMode::encode, m.loss, rows), *backend, m.params);  // unversioned: unpacked
    std::memcpy(plain.input(), x.data(), x.size() * sizeof(float));
    plain.run(rows);
    std::vector<float> want(size_t(rows * 32));
    plain.read(plain.plan().graph.outputs.at(0), want.data(), rows);
    EXPECT_TRUE(bit_equal(forward(cm, GraphMode::encode, x, rows), want)) << rows << " rows";
  }
}

TEST(CompiledModel, ReadsNewWeightsAfterAVersionBump) {
  auto backend = make_backend("cpu");
  Model m = Model::create(parse_spec(SPEC), 4, Loss::mse);
  CompiledModel cm(m, *backend);
  auto x = random_data(3, 64, 31);
  const auto before = forward(cm, GraphMode::encode, x, 3);
  for (size_t i = 0; i < m.params.count(); ++i)
    for (int64_t j = 0; j < m.params.info(i).size(); ++j) m.params.value(i)[j] *= 0.5f;
  m.params.bump_version();
  const auto after = forward(cm, GraphMode::encode, x, 3);
  EXPECT_FALSE(bit_equal(after, before));
  EXPECT_TRUE(bit_equal(after, run_forward(m, *backend, GraphMode::encode, x.data(), 3)));
  EXPECT_EQ(cm.plans_built(), 1);
}

// The stale-cache regression: plans kept from before training (and the trainer's own validation
// executor) see the weights training and keep-best leave in the model.
TEST(CompiledModel, KeptPlansSeeTrainedAndKeptBestWeights) {
  auto backend = make_backend("cpu");
  Model m = Model::create(parse_spec(SPEC), 5, Loss::mse);
  CompiledModel cm(m, *backend);
  auto x = random_data(48, 64, 41), v = random_data(16, 64, 42);
  const auto enc_untrained = forward(cm, GraphMode::encode, v, 16);
  const auto sc_untrained = scores(cm, v, 16);
  TrainOptions o;
  o.epochs = 30;
  o.batch = 8;
  o.opt.lr = 3e-3;
  o.patience = 2;
  o.keep_best = true;
  DataView d{x.data(), 48, 64}, dv{v.data(), 16, 64};
  TrainResult r = train(m, *backend, d, &dv, o, nullptr);
  ASSERT_GT(r.steps, 0);
  const auto enc = forward(cm, GraphMode::encode, v, 16);
  EXPECT_FALSE(bit_equal(enc, enc_untrained));
  EXPECT_TRUE(bit_equal(enc, run_forward(m, *backend, GraphMode::encode, v.data(), 16)));
  const auto sc = scores(cm, v, 16);
  EXPECT_FALSE(bit_equal(sc, sc_untrained));
  EXPECT_TRUE(bit_equal(sc, fresh_scores(m, *backend, v, 16)));
  // keep-best restored the weights of the best validation loss, and the kept plan scores those.
  EXPECT_NEAR(evaluate(cm, dv, 1024), r.best_val_loss, 1e-6 * r.best_val_loss);
}

TEST(CompiledModel, KeepsAtMostItsCapacityLeastRecentlyUsedOut) {
  auto backend = make_backend("cpu");
  Model m = Model::create(parse_spec(SPEC), 6, Loss::mse);
  CompiledModel cm(m, *backend, 2);
  cm.executor(GraphMode::encode, 1);
  cm.executor(GraphMode::encode, 2);
  cm.executor(GraphMode::encode, 1);  // 1 is now the most recent
  cm.executor(GraphMode::encode, 3);  // drops 2
  EXPECT_EQ(cm.size(), 2u);
  EXPECT_EQ(cm.plans_built(), 3);
  cm.executor(GraphMode::encode, 1);
  cm.executor(GraphMode::encode, 3);
  EXPECT_EQ(cm.plans_built(), 3);
  cm.executor(GraphMode::encode, 2);
  EXPECT_EQ(cm.plans_built(), 4);
  cm.executor(GraphMode::eval, 3, Loss::bce);  // the loss is part of the key
  EXPECT_EQ(cm.plans_built(), 5);
}

}  // namespace
}  // namespace ae
