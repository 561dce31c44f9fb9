// The C++ API's options for the rest of the family and for callers that drive training (the Python
// module): ModelOptions (the CLI's regularisers), validation rows and history, the contamination
// threshold, on_progress and stopping between steps, sample(), and the errors of each.
#include <cmath>
#include <stdexcept>

#include <gtest/gtest.h>
#include <nlohmann/json.hpp>

#include "ae/ae.hpp"
#include "host/data/idx.h"
#include "host/metrics.h"
#include "tests/e2e/e2e_util.h"

namespace ae::e2e {
namespace {

constexpr int64_t ROWS = 1000;
const std::string SMALL = "784-32r-8-32r-784s";

class ApiOptions : public ::testing::Test {
 protected:
  static void SetUpTestSuite() { s_x = new Matrix(read_idx_matrix(TRAIN_IMAGES, ROWS)); }
  static void TearDownTestSuite() { delete s_x; }
  static inline Matrix* s_x = nullptr;

  static TrainConfig config(int64_t epochs) {
    TrainConfig c;
    c.epochs = epochs;
    c.batch = 100;
    c.threads = 2;
    return c;
  }
};

TEST_F(ApiOptions, ValidationRowsGiveAHistoryPerEpoch) {
  Autoencoder m = Autoencoder::create(SMALL, 1);
  TrainConfig c = config(3);
  c.val = s_x->data.data();
  c.val_rows = 200;
  const TrainSummary s = m.train(s_x->data.data(), ROWS, c);
  const auto h = nlohmann::json::parse(m.history_json());
  ASSERT_EQ(h.size(), 3u);
  EXPECT_EQ(h[2]["step"], 30);
  EXPECT_EQ(m.steps_trained(), 30);
  EXPECT_LT(h[2]["train_loss"].get<double>(), h[0]["train_loss"].get<double>());
  EXPECT_DOUBLE_EQ(h[2]["val_loss"].get<double>(), s.val_loss);
  EXPECT_NEAR(s.val_loss, m.loss(s_x->data.data(), 200), 1e-6 * s.val_loss);
  EXPECT_FALSE(s.interrupted);
}

TEST_F(ApiOptions, ContaminationStoresTheTrainingScoreQuantile) {
  Autoencoder m = Autoencoder::create(SMALL, 1);
  EXPECT_TRUE(std::isnan(m.threshold()));
  TrainConfig c = config(1);
  c.contamination = 0.1;
  m.train(s_x->data.data(), ROWS, c);
  const std::vector<float> scores = m.score(s_x->data.data(), ROWS);
  EXPECT_DOUBLE_EQ(m.threshold(), quantile(scores, 0.9));
  EXPECT_DOUBLE_EQ(m.contamination(), 0.1);
  c.contamination = 1.0;
  EXPECT_THROW(m.train(s_x->data.data(), ROWS, c), Error);
}

TEST_F(ApiOptions, OnProgressSeesEveryStepAndCanStop) {
  Autoencoder m = Autoencoder::create(SMALL, 1);
  TrainConfig c = config(5);
  std::vector<int64_t> steps;
  int logs = 0;
  c.on_progress = [&](const TrainProgress& p) {
    steps.push_back(p.step);
    logs += p.log;
    EXPECT_EQ(p.total_steps, 50);
    return p.step < 13;  // stop after step 13: asked in its callback, the run ends there
  };
  const TrainSummary s = m.train(s_x->data.data(), ROWS, c);
  EXPECT_TRUE(s.interrupted);
  EXPECT_EQ(s.steps, 13);
  EXPECT_EQ(m.steps_trained(), 13);
  ASSERT_EQ(steps.size(), 13u);  // no call after the one that said stop
  EXPECT_EQ(steps.back(), 13);
  EXPECT_EQ(logs, 1);  // the end of epoch 1 (step 10)
  const auto h = nlohmann::json::parse(m.history_json());
  ASSERT_EQ(h.size(), 2u);  // epoch 1, then the interrupted interval
  EXPECT_EQ(h[1]["step"], 13);
  EXPECT_EQ(m.encode(s_x->data.data(), 3).size(), 3u * 8u);  // usable
}

TEST_F(ApiOptions, AnExceptionFromOnProgressStopsTrainingThenPropagates) {
  Autoencoder m = Autoencoder::create(SMALL, 1);
  TrainConfig c = config(5);
  c.on_progress = [](const TrainProgress& p) -> bool {
    if (p.step == 7) throw std::runtime_error("caller's error");
    return true;
  };
  EXPECT_THROW(m.train(s_x->data.data(), ROWS, c), std::runtime_error);
  EXPECT_EQ(m.steps_trained(), 7);
  EXPECT_EQ(m.score(s_x->data.data(), 2).size(), 2u);
}

TEST_F(ApiOptions, ModelOptionsAreTheCliRegularisers) {
  ModelOptions o;
  o.sparsity = "l1:0.01";
  o.noise = "mask:0.2";
  Autoencoder m = Autoencoder::create(SMALL, 1, "mse", o);
  m.train(s_x->data.data(), ROWS, config(1));
  const auto h = nlohmann::json::parse(m.history_json());
  EXPECT_TRUE(h[0].contains("terms") && h[0]["terms"].contains("sparsity")) << h.dump();
  EXPECT_NE(m.spec().find("mask"), std::string::npos) << m.spec();
  ModelOptions bad;
  bad.beta = "2";
  try {
    Autoencoder::create(SMALL, 1, "mse", bad);
    FAIL() << "beta on a model without a variational layer was accepted";
  } catch (const Error& e) {
    EXPECT_NE(std::string(e.what()).find("--beta 2"), std::string::npos) << e.what();
  }
  bad.keyword_names = true;
  try {
    Autoencoder::create(SMALL, 1, "mse", bad);
    FAIL();
  } catch (const Error& e) {
    EXPECT_NE(std::string(e.what()).find("beta='2'"), std::string::npos) << e.what();
  }
}

TEST_F(ApiOptions, SampleDrawsFromAGenerativeModelsPrior) {
  Autoencoder vae = Autoencoder::create("784-32r-4v-32r-784s", 1, "bce");
  EXPECT_TRUE(vae.generative() && vae.variational());
  vae.train(s_x->data.data(), ROWS, config(1));
  const std::vector<float> a = vae.sample(5, 3), b = vae.sample(5, 3), c = vae.sample(5, 4);
  ASSERT_EQ(a.size(), 5u * 784u);
  EXPECT_EQ(a, b);
  EXPECT_NE(a, c);
  for (float v : a) ASSERT_TRUE(v >= 0 && v <= 1);
  Autoencoder plain = Autoencoder::create(SMALL, 1);
  EXPECT_FALSE(plain.generative());
  EXPECT_THROW(plain.sample(2), Error);
}

}  // namespace
}  // namespace ae::e2e
