// The library under concurrency, through the public C++ and C APIs on the cpu backend:
//  - two models (different specs, seeds, losses) trained and then used from two threads at once
//    give bit for bit what the same calls give one at a time, at 1 thread each and at 2;
//  - a model created on one thread and used on another gives the same bits (oneDNN primitives
//    built on one thread and run on another);
//  - one model shared by two threads: encode + encode give the serial bits, and an encode during
//    a train gives exactly the untrained or exactly the trained model's codes, never a mix;
//  - a call's thread count stays with its model: it neither leaks into the caller's OpenMP
//    setting nor into another thread's model;
//  - ae_last_error() is per thread.
#include <omp.h>

#include <atomic>
#include <chrono>
#include <cstring>
#include <string>
#include <thread>
#include <vector>

#include <gtest/gtest.h>

#include "ae/ae.h"
#include "ae/ae.hpp"

namespace ae {
namespace {

constexpr int64_t ROWS = 512, WIDTH = 64;

std::vector<float> data(uint64_t salt) {
  std::vector<float> x(size_t(ROWS * WIDTH));
  for (size_t i = 0; i < x.size(); ++i) x[i] = float(((i + salt) * 2654435761u) % 1000) / 1000.0f;
  return x;
}

bool bit_equal(const std::vector<float>& a, const std::vector<float>& b) {
  return a.size() == b.size() && std::memcmp(a.data(), b.data(), a.size() * sizeof(float)) == 0;
}

struct Job {
  std::string spec;
  uint64_t seed;
  std::string loss;
  int threads;
  int64_t steps;
};

struct Outcome {
  double train_loss = 0;
  std::vector<float> codes, scores;
};

Outcome run_job(const Job& j, const std::vector<float>& x) {
  Autoencoder m = Autoencoder::create(j.spec, j.seed, j.loss);
  TrainConfig c;
  c.steps = j.steps;
  c.batch = 32;
  c.threads = j.threads;
  c.normalize = "zscore";
  Outcome o;
  o.train_loss = m.train(x.data(), ROWS, c).train_loss;
  o.codes = m.encode(x.data(), ROWS);
  o.scores = m.score(x.data(), ROWS);
  return o;
}

void expect_same(const Outcome& serial, const Outcome& parallel, const std::string& what) {
  EXPECT_EQ(std::memcmp(&serial.train_loss, &parallel.train_loss, sizeof(double)), 0) << what << ": train loss";
  EXPECT_TRUE(bit_equal(serial.codes, parallel.codes)) << what << ": codes";
  EXPECT_TRUE(bit_equal(serial.scores, parallel.scores)) << what << ": scores";
}

// Two models, two threads, started together; each result bit for bit its serial run's.
void two_models_at_once(int threads_a, int threads_b, int64_t steps, int rounds) {
  const Job jobs[2] = {{"64-32r-8-32r-64s", 1, "bce", threads_a, steps}, {"64-24t-12-24t-64", 7, "mse", threads_b, steps}};
  const std::vector<float> xs[2] = {data(0), data(99)};
  Outcome serial[2];
  for (int i = 0; i < 2; ++i) serial[i] = run_job(jobs[i], xs[i]);
  ASSERT_FALSE(bit_equal(serial[0].scores, serial[1].scores)) << "the two jobs must differ";
  for (int round = 0; round < rounds; ++round) {
    Outcome parallel[2];
    std::atomic<int> ready{0};
    auto work = [&](int i) {
      ready.fetch_add(1);
      while (ready.load() < 2) std::this_thread::yield();  // start both together
      parallel[i] = run_job(jobs[i], xs[i]);
    };
    std::thread a(work, 0), b(work, 1);
    a.join();
    b.join();
    for (int i = 0; i < 2; ++i) expect_same(serial[i], parallel[i], "model " + std::to_string(i) + " round " + std::to_string(round));
  }
}

TEST(ApiThreads, TwoModelsAtOnceGiveTheSerialBitsOneThreadEach) { two_models_at_once(1, 1, 120, 3); }
// 1 and 2 threads at once: each model keeps its own count (once a process-wide GEMM setting that
// the last train call overwrote). Few steps: 3 OpenMP threads spin-wait on the 2-core CI machine.
TEST(ApiThreads, TwoModelsAtOnceGiveTheSerialBitsOneAndTwoThreads) { two_models_at_once(1, 2, 30, 1); }

// Created and first run on this thread, then used from others (oneDNN's library-mode scratchpad
// would tie a primitive to the thread that created it).
TEST(ApiThreads, ModelMovesBetweenThreads) {
  const std::vector<float> x = data(5);
  Autoencoder m = Autoencoder::create("64-32r-8-32r-64s", 3, "bce");
  m.set_threads(1);
  const std::vector<float> here = m.encode(x.data(), ROWS), rec = m.reconstruct(x.data(), ROWS);
  for (int i = 0; i < 3; ++i) {
    std::vector<float> there, rec_there;
    std::thread t([&] {
      there = m.encode(x.data(), ROWS);
      rec_there = m.reconstruct(x.data(), ROWS);
    });
    t.join();
    EXPECT_TRUE(bit_equal(here, there)) << "encode on thread " << i;
    EXPECT_TRUE(bit_equal(rec, rec_there)) << "reconstruct on thread " << i;
  }
}

// One model, two threads encoding at once: the lock makes them take turns; both get the bits a
// single thread gets.
TEST(ApiThreads, OneModelEncodeAndEncodeTakeTurns) {
  const std::vector<float> x = data(11), y = data(12);
  Autoencoder m = Autoencoder::create("64-32r-8-32r-64s", 4, "bce");
  m.set_threads(1);
  const std::vector<float> cx = m.encode(x.data(), ROWS), cy = m.encode(y.data(), ROWS / 2);
  std::atomic<bool> bad{false};
  auto work = [&](const std::vector<float>& in, int64_t rows, const std::vector<float>& want) {
    for (int i = 0; i < 40; ++i)
      if (!bit_equal(m.encode(in.data(), rows), want)) bad = true;
  };
  std::thread a(work, std::cref(x), ROWS, std::cref(cx)), b(work, std::cref(y), ROWS / 2, std::cref(cy));
  a.join();
  b.join();
  EXPECT_FALSE(bad) << "an encode racing another encode on the same model gave other bits";
}

// One model, one thread training while another encodes: every encode sees the whole model before
// or after training (the codes of the untrained or of the trained weights and normaliser).
TEST(ApiThreads, OneModelEncodeDuringTrainSeesBeforeOrAfter) {
  const std::vector<float> x = data(21);
  Autoencoder twin = Autoencoder::create("64-32r-8-32r-64s", 9, "bce");  // the same model, serially
  TrainConfig c;
  c.steps = 200;
  c.batch = 32;
  c.threads = 1;
  c.normalize = "minmax";
  twin.set_threads(1);
  const std::vector<float> before = twin.encode(x.data(), ROWS);
  twin.train(x.data(), ROWS, c);
  const std::vector<float> after = twin.encode(x.data(), ROWS);
  ASSERT_FALSE(bit_equal(before, after));

  Autoencoder m = Autoencoder::create("64-32r-8-32r-64s", 9, "bce");
  m.set_threads(1);
  std::atomic<bool> trained{false};
  int n_before = 0, n_after = 0, n_other = 0;
  std::thread trainer([&] {
    m.train(x.data(), ROWS, c);
    trained = true;
  });
  while (!trained || n_after == 0) {
    const std::vector<float> got = m.encode(x.data(), ROWS);
    if (bit_equal(got, before)) ++n_before;
    else if (bit_equal(got, after)) ++n_after;
    else ++n_other;
    std::this_thread::sleep_for(std::chrono::microseconds(300));  // std::mutex is not fair: let train in
  }
  trainer.join();
  EXPECT_EQ(n_other, 0) << "encodes during train that match neither model: " << n_other;
  EXPECT_GE(n_after, 1);
  std::printf("encodes during train: %d before, %d after\n", n_before, n_after);
}

// A call's thread count is the model's, for that call only.
TEST(ApiThreads, ThreadCountStaysWithTheModel) {
  const std::vector<float> x = data(31);
  Autoencoder one = Autoencoder::create("64-32r-8-32r-64s", 2, "bce"), two = Autoencoder::create("64-32r-8-32r-64s", 2, "bce");
  one.set_threads(1);
  two.set_threads(2);
  EXPECT_EQ(one.threads(), 1);
  EXPECT_EQ(two.threads(), 2);
  omp_set_num_threads(3);
  one.encode(x.data(), ROWS);
  two.encode(x.data(), ROWS);
  EXPECT_EQ(omp_get_max_threads(), 3) << "a call changed the caller's OpenMP thread count";
  TrainConfig c;
  c.steps = 2;
  c.threads = 1;
  two.train(x.data(), ROWS, c);
  EXPECT_EQ(two.threads(), 1) << "train's thread count becomes the model's";
  EXPECT_EQ(one.threads(), 1);
  EXPECT_EQ(omp_get_max_threads(), 3);
  // A moved-from model refuses calls with an error.
  Autoencoder moved = std::move(one);
  EXPECT_THROW(one.encode(x.data(), ROWS), Error);
  EXPECT_EQ(moved.threads(), 1);
}

// The C API: concurrent models through ae.h, and each thread's own ae_last_error().
TEST(ApiThreads, CApiModelsAndErrorsPerThread) {
  const std::vector<float> x = data(41);
  auto c_job = [&](const char* spec, uint64_t seed, std::vector<float>& codes) {
    ae_model* m = nullptr;
    ASSERT_EQ(ae_model_create(spec, seed, "bce", &m), AE_OK) << ae_last_error();
    ASSERT_EQ(ae_model_set_threads(m, 1), AE_OK);
    ae_train_config c;
    ae_train_config_init(&c);
    c.steps = 60;
    c.batch = 32;
    ASSERT_EQ(ae_model_train(m, x.data(), ROWS, &c, nullptr), AE_OK) << ae_last_error();
    codes.resize(size_t(ROWS * ae_model_code_width(m)));
    ASSERT_EQ(ae_model_encode(m, x.data(), ROWS, codes.data()), AE_OK) << ae_last_error();
    ae_model_free(m);
  };
  std::vector<float> sa, sb, pa, pb;
  c_job("64-32r-8-32r-64s", 1, sa);
  c_job("64-16r-64s", 2, sb);
  std::thread a([&] { c_job("64-32r-8-32r-64s", 1, pa); }), b([&] { c_job("64-16r-64s", 2, pb); });
  a.join();
  b.join();
  EXPECT_TRUE(bit_equal(sa, pa));
  EXPECT_TRUE(bit_equal(sb, pb));

  // Each thread fails differently, at once; each reads its own message.
  std::string msgs[2];
  std::atomic<int> failed{0};
  auto fail = [&](int i) {
    ae_model* m = nullptr;
    const char* spec = i == 0 ? "64-32q-64" : "not a spec at all";
    EXPECT_NE(ae_model_create(spec, 1, "mse", &m), AE_OK);
    failed.fetch_add(1);
    while (failed.load() < 2) std::this_thread::yield();  // both have failed: no call since
    msgs[i] = ae_last_error();
  };
  std::thread f0(fail, 0), f1(fail, 1);
  f0.join();
  f1.join();
  EXPECT_NE(msgs[0], msgs[1]);
  EXPECT_NE(msgs[0].find("32q"), std::string::npos) << msgs[0];
  EXPECT_NE(msgs[1].find("not a spec at all"), std::string::npos) << msgs[1];
  EXPECT_STREQ(ae_last_error(), "") << "this thread made no failing call";
}

}  // namespace
}  // namespace ae
