// The training loop: exact resume from a checkpoint, early stopping with keep-best, learning-rate
// schedules, and refusal to resume a run with different settings.
#include <gtest/gtest.h>

#include <cstring>
#include <filesystem>

#include "kernels/common/error.h"
#include "kernels/common/philox.h"
#include "runtime/trainer.h"
#include "tests/temp_dir.h"

namespace ae {
namespace {

struct Interrupt {};

std::vector<float> random_data(int64_t rows, int64_t cols, uint64_t seed) {
  std::vector<float> x(size_t(rows * cols));
  for (size_t i = 0; i < x.size(); ++i) x[i] = philox_uniform(seed, 0, PhiloxPurpose::data, i);
  return x;
}

bool same_params(const Model& a, const Model& b) {
  if (a.params.count() != b.params.count()) return false;
  for (size_t i = 0; i < a.params.count(); ++i)
    if (std::memcmp(a.params.value(i), b.params.value(i), size_t(a.params.info(i).size()) * 4) != 0) return false;
  return true;
}

// One scratch directory for this test binary, removed at exit.
std::string temp_path(const std::string& name) {
  static test::TempDir dir("ae_trainer_test");
  return dir.file(name);
}

TrainOptions options(const std::string& ckpt) {
  TrainOptions o;
  o.epochs = 4;
  o.batch = 16;                 // 100 rows → 7 steps per epoch, the last one partial
  o.opt = cpu::default_opt_config(cpu::OptKind::adam);
  o.schedule = LrSchedule::cosine;
  o.warmup = 3;
  o.checkpoint = ckpt;
  return o;
}

TEST(Trainer, ResumeAfterInterruptionIsBitIdentical) {
  auto x = random_data(100, 12, 3);
  DataView d{x.data(), 100, 12};
  auto backend = make_backend("cpu");
  Spec spec = parse_spec("12-8t-3-8r-12s");

  Model full = Model::create(spec, 5, Loss::mse);
  TrainResult r_full = train(full, *backend, d, nullptr, options(temp_path("full.ckpt")), nullptr);
  EXPECT_EQ(r_full.steps, 28);

  for (int64_t stop_at : {5, 7, 13, 20}) {  // mid-epoch, an epoch end, mid-epoch, mid-epoch
    std::string ck = temp_path("part" + std::to_string(stop_at) + ".ckpt");
    TrainOptions o = options(ck);
    o.checkpoint_every = 1;  // a checkpoint after every step: the interruption loses nothing
    Model part = Model::create(spec, 5, Loss::mse);
    EXPECT_THROW(train(part, *backend, d, nullptr, o,
                       [&](const TrainEvent& e) {
                         if (e.step == stop_at) throw Interrupt{};
                       }),
                 Interrupt);
    // The checkpoint written at stop_at − 1 survives; the interrupted step is redone.
    Model resumed = Model::create(spec, 99, Loss::mse);  // different seed: everything must come from the checkpoint
    resumed.seed = 5;
    TrainResult r = train(resumed, *backend, d, nullptr, o, nullptr, /*resume=*/true);
    EXPECT_TRUE(r.resumed);
    EXPECT_EQ(r.resumed_at, stop_at - 1);
    EXPECT_EQ(resumed.step, 28);
    EXPECT_EQ(resumed.epoch, 4);
    EXPECT_TRUE(same_params(full, resumed)) << "stopped at " << stop_at;
  }
}

// Every (parameter, group) optimizer state, bit for bit.
bool same_state(const Model& a, const Model& b) {
  if (a.params.block_bytes() != b.params.block_bytes() || a.params.state_slots() != b.params.state_slots()) return false;
  for (size_t i = 0; i < a.params.count(); ++i)
    for (size_t k = 0; k < a.params.state_blocks(i); ++k)
      if (std::memcmp(a.params.state_block(i, k), b.params.state_block(i, k),
                      size_t(a.params.info(i).size() * a.params.state_slots()) * 4) != 0)
        return false;
  return true;
}

// An adversarial autoencoder's three phases with their own optimizers (the discriminator and the
// generator at rates of their own): a run interrupted anywhere and resumed from its checkpoint
// ends with the uninterrupted run's weights, every group's optimizer state and its logged terms.
TEST(Trainer, AdversarialResumeAfterInterruptionIsBitIdentical) {
  auto x = random_data(100, 12, 8);
  DataView d{x.data(), 100, 12};
  auto backend = make_backend("cpu");
  const Spec spec = parse_spec("12-8t-3-8r-12s:adversarial=3-6r-5t-1:prior=uniform");
  const auto opts = [](const std::string& ck) {
    TrainOptions o = options(ck);
    o.log_every = 3;
    o.group_opt.assign(3, o.opt);
    o.group_opt[1].lr = 4e-4;  // the discriminator
    o.group_opt[2].lr = 2e-3;  // the generator
    return o;
  };
  Model full = Model::create(spec, 5, Loss::mse);
  std::vector<std::vector<std::pair<std::string, double>>> full_terms;
  train(full, *backend, d, nullptr, opts(temp_path("aae_full.ckpt")), [&](const TrainEvent& e) {
    if (e.kind == TrainEvent::log) full_terms.push_back(e.terms);
  });
  ASSERT_FALSE(full_terms.empty());
  ASSERT_EQ(full_terms.back().size(), 4u);
  EXPECT_EQ(full_terms.back()[3].first, "gen");
  Model fresh = Model::create(spec, 5, Loss::mse);
  EXPECT_FALSE(same_params(full, fresh)) << "training moved nothing";
  for (int64_t stop_at : {2, 7, 16}) {
    const std::string ck = temp_path("aae_part" + std::to_string(stop_at) + ".ckpt");
    TrainOptions o = opts(ck);
    o.checkpoint_every = 1;
    Model part = Model::create(spec, 5, Loss::mse);
    EXPECT_THROW(train(part, *backend, d, nullptr, o,
                       [&](const TrainEvent& e) {
                         if (e.step == stop_at) throw Interrupt{};
                       }),
                 Interrupt);
    Model resumed = Model::create(spec, 99, Loss::mse);
    resumed.seed = 5;
    std::vector<std::vector<std::pair<std::string, double>>> terms;
    TrainResult r = train(resumed, *backend, d, nullptr, o, [&](const TrainEvent& e) {
      if (e.kind == TrainEvent::log) terms.push_back(e.terms);
    }, /*resume=*/true);
    EXPECT_TRUE(r.resumed);
    EXPECT_TRUE(same_params(full, resumed)) << "stopped at " << stop_at;
    EXPECT_TRUE(same_state(full, resumed)) << "stopped at " << stop_at;
    ASSERT_FALSE(terms.empty());
    EXPECT_EQ(terms.back(), full_terms.back()) << "stopped at " << stop_at;
  }
}

TEST(Trainer, ResumeRefusesDifferentSettings) {
  auto x = random_data(40, 6, 4);
  DataView d{x.data(), 40, 6};
  auto backend = make_backend("cpu");
  Spec spec = parse_spec("6-4r-2-6");
  std::string ck = temp_path("settings.ckpt");
  Model m = Model::create(spec, 1, Loss::mse);
  TrainOptions o = options(ck);
  o.epochs = 1;
  train(m, *backend, d, nullptr, o, nullptr);
  Model again = Model::create(spec, 1, Loss::mse);
  o.batch = 8;
  try {
    train(again, *backend, d, nullptr, o, nullptr, true);
    FAIL() << "resume with another batch size was accepted";
  } catch (const Error& e) {
    EXPECT_NE(std::string(e.what()).find("batch"), std::string::npos) << e.what();
  }
  auto y = random_data(40, 6, 5);  // same shape, other values
  o.batch = 16;
  try {
    train(again, *backend, DataView{y.data(), 40, 6}, nullptr, o, nullptr, true);
    FAIL() << "resume on other data was accepted";
  } catch (const Error& e) {
    EXPECT_NE(std::string(e.what()).find("data"), std::string::npos) << e.what();
  }
}

TEST(Trainer, EarlyStoppingKeepsBestWeights) {
  auto x = random_data(64, 10, 6);
  auto v = random_data(32, 10, 7);  // unrelated noise: validation stops improving quickly
  DataView d{x.data(), 64, 10}, dv{v.data(), 32, 10};
  auto backend = make_backend("cpu");
  Model m = Model::create(parse_spec("10-32r-16r-32r-10s"), 2, Loss::mse);
  TrainOptions o;
  o.epochs = 400;
  o.batch = 8;
  o.opt.lr = 3e-3;
  o.patience = 3;
  o.keep_best = true;
  int64_t best_step = -1;
  double best = 1e9;
  TrainResult r = train(m, *backend, d, &dv, o, [&](const TrainEvent& e) {
    if (e.epoch_end && e.val_loss < best) best = e.val_loss, best_step = e.step;
  });
  EXPECT_TRUE(r.stopped_early);
  EXPECT_LT(r.steps, 400 * 8);
  EXPECT_DOUBLE_EQ(r.best_val_loss, best);
  // The model holds the best weights: its validation loss is the best one seen.
  EXPECT_NEAR(evaluate(m, *backend, dv, 1024), best, 1e-6 * best);
}

TEST(Trainer, LearningRateSchedules) {
  TrainOptions o;
  o.opt.lr = 0.1;
  o.warmup = 4;
  EXPECT_DOUBLE_EQ(lr_at(o, 0, 100), 0.025);
  EXPECT_DOUBLE_EQ(lr_at(o, 3, 100), 0.1);
  EXPECT_DOUBLE_EQ(lr_at(o, 50, 100), 0.1);
  o.schedule = LrSchedule::step;
  o.lr_step = 10;
  o.lr_gamma = 0.5;
  EXPECT_DOUBLE_EQ(lr_at(o, 4 + 9, 100), 0.1);
  EXPECT_DOUBLE_EQ(lr_at(o, 4 + 10, 100), 0.05);
  EXPECT_DOUBLE_EQ(lr_at(o, 4 + 25, 100), 0.025);
  o.schedule = LrSchedule::cosine;
  o.lr_min = 0.01;
  EXPECT_DOUBLE_EQ(lr_at(o, 4, 104), 0.1);
  EXPECT_NEAR(lr_at(o, 4 + 50, 104), 0.055, 1e-12);
  EXPECT_NEAR(lr_at(o, 103, 104), 0.01, 1e-4);
}

TEST(Trainer, ShuffleOrderIsSeededPermutation) {
  auto a = epoch_order(1000, 1, 0, true), b = epoch_order(1000, 1, 0, true), c = epoch_order(1000, 1, 1, true);
  EXPECT_EQ(a, b);
  EXPECT_NE(a, c);
  std::vector<int64_t> sorted = a;
  std::sort(sorted.begin(), sorted.end());
  for (int64_t i = 0; i < 1000; ++i) EXPECT_EQ(sorted[size_t(i)], i);
  EXPECT_EQ(epoch_order(5, 1, 0, false), (std::vector<int64_t>{0, 1, 2, 3, 4}));
}

}  // namespace
}  // namespace ae
