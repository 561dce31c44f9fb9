// End to end through the public C++ API (ae::Autoencoder): train 784-256r-32-256r-784s on the
// first 5000 Fashion-MNIST training images and check the test-set loss, the shapes and the
// consistency of encode / decode / reconstruct, save → load, and seeded determinism.
#include <cmath>
#include <cstring>

#include <gtest/gtest.h>

#include "ae/ae.hpp"
#include "host/data/idx.h"
#include "kernels/common/error.h"
#include "runtime/model_file.h"
#include "tests/e2e/e2e_util.h"

namespace ae::e2e {
namespace {

const std::string SPEC = "784-256r-32-256r-784s";
constexpr int64_t TRAIN_ROWS = 5000, TEST_ROWS = 1000;

// Measured on this build (2 threads, seed 1, adam lr 1e-3, batch 64, 300 steps): the untrained
// model's test MSE per pixel is ≈ 0.17 (sigmoid outputs near 0.5 against mostly dark pixels); after
// training it is ≈ 0.019. The thresholds leave room for BLAS and thread-count differences.
constexpr int64_t TRAIN_STEPS = 300;
constexpr double TRAINED_MSE_MAX = 0.03;      // trained test MSE per pixel must be below this
constexpr double UNTRAINED_MSE_MIN = 0.08;    // an untrained model is far worse than a trained one
constexpr double IMPROVEMENT_MIN = 4.0;       // untrained / trained loss ratio

TrainConfig config(int64_t steps, int64_t batch = 64) {
  TrainConfig c;
  c.steps = steps;
  c.batch = batch;
  c.threads = 2;
  return c;
}

bool bit_equal(const std::vector<float>& a, const std::vector<float>& b) {
  return a.size() == b.size() && std::memcmp(a.data(), b.data(), a.size() * sizeof(float)) == 0;
}

// Reads the data once for the suite. ctest runs each test in its own process, so the training
// itself happens in one test, whose later checks look at the trained model.
class FashionApi : public ::testing::Test {
 protected:
  static void SetUpTestSuite() {
    s_train = new Matrix(read_idx_matrix(TRAIN_IMAGES, TRAIN_ROWS));
    s_test = new Matrix(read_idx_matrix(TEST_IMAGES, TEST_ROWS));
  }
  static void TearDownTestSuite() {
    delete s_test;
    delete s_train;
  }
  static inline Matrix *s_train = nullptr, *s_test = nullptr;

  void check_shapes_and_consistency(const Autoencoder& model);
  void check_save_load(const Autoencoder& model);
};

TEST_F(FashionApi, DataIsFashionMnist) {
  ASSERT_EQ(s_train->rows, TRAIN_ROWS);
  ASSERT_EQ(s_train->cols, 784);
  ASSERT_EQ(s_test->rows, TEST_ROWS);
  float lo = 1, hi = 0;
  for (float v : s_train->data) lo = std::min(lo, v), hi = std::max(hi, v);
  EXPECT_EQ(lo, 0.0f);
  EXPECT_EQ(hi, 1.0f);  // u8 pixels scaled to [0, 1]
}

TEST_F(FashionApi, TrainReachesStatedTestLossThenEncodeDecodeSaveLoad) {
  Autoencoder model = Autoencoder::create(SPEC, 1);
  const double untrained = model.loss(s_test->data.data(), s_test->rows);
  TrainSummary summary = model.train(s_train->data.data(), s_train->rows, config(TRAIN_STEPS));
  const double trained = model.loss(s_test->data.data(), s_test->rows);
  std::printf("test MSE per pixel: untrained %.5f, after %lld steps %.5f (train loss %.5f, %.2f s)\n", untrained,
              (long long)summary.steps, trained, summary.train_loss, summary.seconds);
  EXPECT_EQ(summary.steps, TRAIN_STEPS);
  EXPECT_TRUE(std::isfinite(summary.train_loss));
  EXPECT_GT(untrained, UNTRAINED_MSE_MIN);
  EXPECT_LT(trained, TRAINED_MSE_MAX);
  EXPECT_GT(untrained / trained, IMPROVEMENT_MIN);
  {
    SCOPED_TRACE("encode / decode / reconstruct of the trained model");
    check_shapes_and_consistency(model);
  }
  {
    SCOPED_TRACE("save / load of the trained model");
    check_save_load(model);
  }
}

void FashionApi::check_shapes_and_consistency(const Autoencoder& model) {
  ASSERT_EQ(model.input_width(), 784);
  ASSERT_EQ(model.code_width(), 32);
  EXPECT_EQ(model.spec(), SPEC);
  const int64_t rows = 37;  // not a multiple of anything the backend tiles by
  const float* x = s_test->data.data();
  std::vector<float> code = model.encode(x, rows);
  ASSERT_EQ(code.size(), size_t(rows * 32));
  double code_norm = 0;
  for (float v : code) {
    ASSERT_TRUE(std::isfinite(v));
    code_norm += double(v) * v;
  }
  EXPECT_GT(code_norm, 1e-3);  // a real code, not zeros

  std::vector<float> dec = model.decode(code.data(), rows);
  std::vector<float> rec = model.reconstruct(x, rows);
  ASSERT_EQ(dec.size(), size_t(rows * 784));
  ASSERT_EQ(rec.size(), size_t(rows * 784));
  double worst = 0, err = 0;
  for (size_t i = 0; i < rec.size(); ++i) {
    ASSERT_GE(rec[i], 0.0f);  // sigmoid output
    ASSERT_LE(rec[i], 1.0f);
    worst = std::max(worst, double(std::fabs(rec[i] - dec[i])));
    err += (double(rec[i]) - x[i]) * (double(rec[i]) - x[i]);
  }
  EXPECT_LE(worst, 1e-6) << "reconstruct differs from decode(encode)";
  // The reconstruction error of these rows agrees with loss() on the same rows.
  EXPECT_NEAR(err / double(rec.size()), model.loss(x, rows), 1e-6);

  std::vector<float> score = model.score(x, rows);
  ASSERT_EQ(score.size(), size_t(rows));
  double mean = 0;
  for (float v : score) mean += v;
  EXPECT_NEAR(mean / rows, model.loss(x, rows), 1e-6);  // per-row losses average to the loss
}

void FashionApi::check_save_load(const Autoencoder& model) {
  ScratchDir dir;
  const std::string a = dir / "a.safetensors", b = dir / "b.safetensors";
  model.save(a);
  Autoencoder loaded = Autoencoder::load(a);
  EXPECT_EQ(loaded.spec(), SPEC);
  const float* x = s_test->data.data();
  const int64_t rows = 100;
  EXPECT_TRUE(bit_equal(loaded.encode(x, rows), model.encode(x, rows)));
  EXPECT_TRUE(bit_equal(loaded.reconstruct(x, rows), model.reconstruct(x, rows)));
  EXPECT_EQ(loaded.loss(x, rows), model.loss(x, rows));
  // Loading and saving again reproduces the file byte for byte (metadata included).
  loaded.save(b);
  EXPECT_EQ(read_text(a), read_text(b));
  EXPECT_EQ(dir.list(), (std::vector<std::string>{"a.safetensors", "b.safetensors"}));  // no temporaries left
}

// Every tensor of two model files, compared bit for bit; also says whether any tensor differs.
void compare_tensors(const std::string& pa, const std::string& pb, bool& all_equal) {
  ModelFile fa = load_model_file(pa), fb = load_model_file(pb);
  ASSERT_EQ(fa.tensors.size(), fb.tensors.size());
  all_equal = true;
  for (const NamedTensor& t : fa.tensors) {
    const NamedTensor* u = fb.find(t.name);
    ASSERT_NE(u, nullptr) << t.name;
    ASSERT_EQ(t.shape, u->shape) << t.name;
    if (!bit_equal(t.data, u->data)) all_equal = false;
  }
}

TEST(ApiDeterminism, SameSeedAndThreadsGiveBitIdenticalWeights) {
  ScratchDir dir;
  Matrix data = read_idx_matrix(TRAIN_IMAGES, 1000);
  auto run = [&](uint64_t seed, const std::string& path) {
    Autoencoder m = Autoencoder::create(SPEC, seed);
    TrainConfig c = config(40);  // 40 steps of 64 rows: crosses an epoch boundary with shuffling on
    m.train(data.data.data(), data.rows, c);
    m.save(path);
  };
  run(7, dir / "a.st");
  run(7, dir / "b.st");
  run(8, dir / "c.st");
  bool same = false;
  compare_tensors(dir / "a.st", dir / "b.st", same);
  EXPECT_TRUE(same) << "two runs with seed 7 and 2 threads gave different weights";
  compare_tensors(dir / "a.st", dir / "c.st", same);
  EXPECT_FALSE(same) << "seeds 7 and 8 gave identical weights";
}

TEST(ApiDeterminism, FreshModelsDependOnlyOnTheSeed) {
  const Autoencoder a = Autoencoder::create(SPEC, 3), b = Autoencoder::create(SPEC, 3), c = Autoencoder::create(SPEC, 4);
  std::vector<float> x(784 * 4);
  for (size_t i = 0; i < x.size(); ++i) x[i] = float(i % 97) / 97.0f;
  EXPECT_TRUE(bit_equal(a.encode(x.data(), 4), b.encode(x.data(), 4)));
  EXPECT_FALSE(bit_equal(a.encode(x.data(), 4), c.encode(x.data(), 4)));
}

// The API keeps its compiled plans: many one-row calls build one plan per mode and give the bits a
// fresh model's first call gives (through both the vector and the out-pointer forms).
TEST(ApiReuse, RepeatedCallsBuildOnePlanPerModeAndGiveAFreshModelsBits) {
  const Autoencoder a = Autoencoder::create(SPEC, 3), fresh = Autoencoder::create(SPEC, 3);
  std::vector<float> x(784);
  for (size_t i = 0; i < x.size(); ++i) x[i] = float(i % 89) / 89.0f;
  const auto enc = fresh.encode(x.data(), 1), rec = fresh.reconstruct(x.data(), 1), sc = fresh.score(x.data(), 1);
  const auto dec = fresh.decode(enc.data(), 1);
  std::vector<float> out(784, -1.0f);
  for (int call = 0; call < 50; ++call) {
    ASSERT_TRUE(bit_equal(a.encode(x.data(), 1), enc)) << "call " << call;
    a.encode(x.data(), 1, out.data());
    ASSERT_EQ(std::memcmp(out.data(), enc.data(), enc.size() * sizeof(float)), 0) << "call " << call;
    ASSERT_TRUE(bit_equal(a.decode(enc.data(), 1), dec)) << "call " << call;
    ASSERT_TRUE(bit_equal(a.reconstruct(x.data(), 1), rec)) << "call " << call;
    ASSERT_TRUE(bit_equal(a.score(x.data(), 1), sc)) << "call " << call;
  }
  EXPECT_EQ(a.plans_built(), 4) << "encode, decode, reconstruct, score: one plan each, not one per call";
}

// The stale-cache regression: plans compiled before train() must not keep encoding with the old
// weights (nor the old normalisation) afterwards.
TEST(ApiReuse, EncodeAfterTrainReadsTheTrainedWeights) {
  ScratchDir dir;
  Matrix data = read_idx_matrix(TRAIN_IMAGES, 256);
  Autoencoder m = Autoencoder::create(SPEC, 5);
  const auto before = m.encode(data.data.data(), 4);
  TrainConfig c = config(20);
  c.normalize = "minmax";
  m.train(data.data.data(), data.rows, c);
  const auto after = m.encode(data.data.data(), 4);
  EXPECT_FALSE(bit_equal(after, before));
  m.save(dir / "m.st");
  const Autoencoder loaded = Autoencoder::load(dir / "m.st");
  EXPECT_TRUE(bit_equal(after, loaded.encode(data.data.data(), 4))) << "encode after train differs from the saved model's";
  EXPECT_TRUE(bit_equal(m.score(data.data.data(), 4), loaded.score(data.data.data(), 4)));
}

TEST(ApiErrors, BadArgumentsThrowAeErrorNamingTheProblem) {
  auto message = [](auto&& f) -> std::string {
    try {
      f();
    } catch (const Error& e) {
      return e.what();
    }
    return "(no exception)";
  };
  EXPECT_NE(message([] { Autoencoder::create("784-256q-32-256r-784s"); }).find("'q'"), std::string::npos);
  EXPECT_NE(message([] { Autoencoder::create(SPEC, 1, "l1"); }).find("l1"), std::string::npos);
  EXPECT_NE(message([] { Autoencoder::load("/nonexistent/model.safetensors"); }).find("/nonexistent/model.safetensors"),
            std::string::npos);
  Autoencoder m = Autoencoder::create("4-2-4s");
  std::vector<float> x(8, 0.5f);
  TrainConfig c = config(1, 2);
  c.optimizer = "adamm";
  EXPECT_NE(message([&] { m.train(x.data(), 2, c); }).find("adamm"), std::string::npos);
}

}  // namespace
}  // namespace ae::e2e
