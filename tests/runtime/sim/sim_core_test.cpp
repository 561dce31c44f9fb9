// runtime/sim core: built-in variables, barriers (and that a missing one is caught), shared memory,
// tiled GEMM on adversarial shapes, thread-order shuffling, atomics under contention.
#include <algorithm>
#include <numeric>
#include <random>

#include "tests/runtime/sim/kernels/sim_test_kernels.cuh"
#include "tests/runtime/sim/sim_test_util.h"

namespace ae::simtest {
namespace {

TEST(SimCore, IndexingCoversThreeDimensionalGridsAndBlocks) {
  dim3 grid(3, 2, 2), block(4, 3, 2);
  const int blocks = 12, threads = 24;
  DeviceBuffer<int> ids(static_cast<size_t>(blocks * threads * 2));
  indexing(ids.get(), grid, block);
  std::vector<int> h = ids.download();
  for (int b = 0; b < blocks; ++b)
    for (int t = 0; t < threads; ++t) {
      ASSERT_EQ(h[size_t(2 * (b * threads + t))], t) << "block " << b;
      ASSERT_EQ(h[size_t(2 * (b * threads + t) + 1)], b) << "thread " << t;
    }
}

std::vector<int> random_ints(size_t n, int lo, int hi, unsigned seed) {
  std::mt19937 rng(seed);
  std::uniform_int_distribution<int> d(lo, hi);
  std::vector<int> v(n);
  for (auto& x : v) x = d(rng);
  return v;
}

// Runs block_sum with one barrier skipped (or none) and returns how many block sums are wrong.
int wrong_block_sums(int skip, int blocks) {
  const int n = blocks * 256 - 3;  // a partial last block
  std::vector<int> x = random_ints(size_t(n), 1, 1000, 7);
  DeviceBuffer<int> dx(x);
  DeviceBuffer<int> out(static_cast<size_t>(blocks));
  block_sum(dx.get(), n, out.get(), blocks, skip);
  std::vector<int> h = out.download();
  int wrong = 0;
  for (int b = 0; b < blocks; ++b) {
    int expect = 0;
    for (int i = b * 256; i < std::min(n, b * 256 + 256); ++i) expect += x[size_t(i)];
    wrong += h[size_t(b)] != expect;
  }
  return wrong;
}

TEST(SimCore, ReductionWithAllBarriersIsExactForEverySeed) {
  const uint64_t saved = ae::sim::seed();
  for (uint64_t s = 1; s <= 10; ++s) {
    ae::sim::set_seed(s);
    EXPECT_EQ(wrong_block_sums(-1, 16), 0) << seed_note();
  }
  ae::sim::set_seed(saved);
}

// The deliberately broken variants: each drops one barrier. Without racecheck each must give a wrong
// sum for most seeds, which is what makes the shuffled order worth having; racecheck reports each of
// them on every seed, by construction.
TEST(SimCore, ReductionMissingAnyOneBarrierFailsForMostSeedsWithoutRacecheck) {
  ScopedChecks off(ae::sim::check_none);
  const uint64_t saved = ae::sim::seed();
  for (int skip = 0; skip < 8; ++skip) {
    int failing_seeds = 0;
    for (uint64_t s = 1; s <= 10; ++s) {
      ae::sim::set_seed(s);
      failing_seeds += wrong_block_sums(skip, 16) > 0;
    }
    EXPECT_GE(failing_seeds, 8) << "barrier " << skip << " removed, yet only " << failing_seeds
                                << " of 10 seeds gave a wrong sum";
  }
  ae::sim::set_seed(saved);
}

TEST(SimCore, ReductionMissingAnyOneBarrierIsAHazardOnEverySeed) {
  if (!ae::sim::checks_instrumented()) GTEST_SKIP() << "racecheck needs the instrumented build (not the ASan one)";
  ScopedChecks race(ae::sim::check_race);
  const uint64_t saved = ae::sim::seed();
  for (int skip = 0; skip < 8; ++skip) {
    for (uint64_t s = 1; s <= 10; ++s) {
      ae::sim::set_seed(s);
      try {
        wrong_block_sums(skip, 16);
        ADD_FAILURE() << "barrier " << skip << " removed, yet racecheck saw no hazard " << seed_note();
      } catch (const ae::Error& e) {
        const std::string what = e.what();
        EXPECT_NE(what.find("racecheck:"), std::string::npos) << what;
        EXPECT_NE(what.find("hazard on static __shared__ memory"), std::string::npos) << what;
        EXPECT_NE(what.find("'block_sum'"), std::string::npos) << what;
      }
    }
  }
  ae::sim::set_seed(saved);
}

TEST(SimCore, ThreadOrderIsShuffledAndSeeded) {
  const int threads = 128, blocks = 2;
  auto run = [&](uint64_t s) {
    ae::sim::set_seed(s);
    DeviceBuffer<int> order(static_cast<size_t>(threads * blocks));
    arrival_order(order.get(), threads, blocks);
    return order.download();
  };
  const uint64_t saved = ae::sim::seed();
  std::vector<int> a = run(11), a2 = run(11), b = run(12);
  ae::sim::set_seed(saved);
  EXPECT_EQ(a, a2) << "same seed must replay the same order";
  EXPECT_NE(a, b) << "different seeds must give different orders";
  for (int blk = 0; blk < blocks; ++blk) {
    std::vector<int> o(a.begin() + blk * threads, a.begin() + (blk + 1) * threads);
    std::vector<int> sorted = o;
    std::sort(sorted.begin(), sorted.end());
    std::vector<int> iota(static_cast<size_t>(threads));
    std::iota(iota.begin(), iota.end(), 0);
    EXPECT_EQ(sorted, iota) << "every thread arrives exactly once";
    EXPECT_NE(o, iota) << "threads must not run in index order";
  }
}

TEST(SimCore, BarrierVotes) {
  const int threads = 96;
  for (int pattern = 0; pattern < 3; ++pattern) {
    std::vector<int> pred(threads);
    for (int t = 0; t < threads; ++t) pred[size_t(t)] = pattern == 0 ? (t % 3 == 0) : pattern == 1 ? 1 : 0;
    DeviceBuffer<int> dp(pred), out(3);
    barrier_votes(dp.get(), out.get(), threads);
    std::vector<int> h = out.download();
    int count = int(std::count(pred.begin(), pred.end(), 1));
    EXPECT_EQ(h[0], count);
    EXPECT_EQ(h[1], count == threads ? 1 : 0);
    EXPECT_EQ(h[2], count > 0 ? 1 : 0);
  }
}

TEST(SimCore, ExitedThreadsCountAsArrivedAtBarriers) {
  const int threads = 256, live = 100;
  std::vector<int> x = random_ints(size_t(live), -50, 50, 3);
  DeviceBuffer<int> dx(x), out(1);
  early_exit_sum(dx.get(), out.get(), threads, live);
  EXPECT_EQ(out.download()[0], std::accumulate(x.begin(), x.end(), 0));
}

// fp32 GEMM on small integers is exact, so the check is bit equality: any tiling, tail or barrier
// bug is a hard failure. Shapes straddle the 16-wide tile.
void check_gemm(int m, int n, int k) {
  std::vector<int> ai = random_ints(size_t(m * k), -3, 3, unsigned(m * 131 + k)),
                   bi = random_ints(size_t(k * n), -3, 3, unsigned(n * 17 + k));
  std::vector<float> a(ai.begin(), ai.end()), b(bi.begin(), bi.end()), ref(size_t(m * n), 0.0f);
  for (int i = 0; i < m; ++i)
    for (int j = 0; j < n; ++j) {
      float s = 0;
      for (int p = 0; p < k; ++p) s += a[size_t(i * k + p)] * b[size_t(p * n + j)];
      ref[size_t(i * n + j)] = s;
    }
  DeviceBuffer<float> da(a), db(b), dc(static_cast<size_t>(m * n));
  gemm_tiled(da.get(), db.get(), dc.get(), m, n, k);
  std::vector<float> c = dc.download();
  size_t bad = 0;
  for (size_t i = 0; i < c.size(); ++i) bad += c[i] != ref[i];
  EXPECT_EQ(bad, 0u) << "gemm " << m << "x" << n << "x" << k << ": " << bad << " of " << c.size()
                     << " elements differ " << seed_note();
}

TEST(SimCore, TiledGemmIsBitExactOnAdversarialShapes) {
  for (int s : {1, 15, 16, 17, 127, 129}) check_gemm(s, s, s);
  check_gemm(17, 1, 129);
  check_gemm(1, 129, 17);
  check_gemm(33, 15, 47);
}

// The execution model's own speed, without racecheck and memcheck (their cost is printed, not bounded:
// they are a correctness tool).
TEST(SimCore, TiledGemmFeasibilityShapeRunsWellUnderASecond) {
  auto seconds = [] {
    const auto start = std::chrono::steady_clock::now();
    check_gemm(256, 784, 256);
    return std::chrono::duration<double>(std::chrono::steady_clock::now() - start).count();
  };
  double s = 0;
  {
    ScopedChecks off(ae::sim::check_none);
    s = seconds();
  }
  std::printf("256x784x256 tiled GEMM under the sim (with setup and reference): %.3f s\n", s);
  if (ae::sim::checks_instrumented()) {
    ScopedChecks all(ae::sim::check_all);
    std::printf("  the same with racecheck and memcheck: %.3f s\n", seconds());
  }
#if !defined(__SANITIZE_ADDRESS__)
  EXPECT_LT(s, 3.0) << "the sim is too slow to be a tool (its instrumented kernels call a check hook per access even with the checks off)";
#endif
}

TEST(SimCore, AtomicsAreExactUnderContentionFromParallelBlocks) {
  const int saved_workers = ae::sim::worker_count();
  ae::sim::set_worker_count(std::max(2, saved_workers));
  const int blocks = 64, iters = 8;
  const long long total = 1ll * blocks * 256 * iters;
  std::vector<int> ints_init = {0, 0, -1, 1, 0, 0, 0, 0};
  DeviceBuffer<int> ints(ints_init);
  DeviceBuffer<unsigned> uints(std::vector<unsigned>{0u, 0u, unsigned(total)});
  DeviceBuffer<unsigned long long> ulls(std::vector<unsigned long long>{0});
  DeviceBuffer<float> floats(std::vector<float>{0.0f});
  DeviceBuffer<double> doubles(std::vector<double>{0.0});
  atomics(ints.get(), uints.get(), ulls.get(), floats.get(), doubles.get(), blocks, iters);
  ae::sim::set_worker_count(saved_workers);
  std::vector<int> i = ints.download();
  EXPECT_EQ(i[0], total);
  EXPECT_EQ(i[1], -total);
  EXPECT_EQ(i[2], blocks * 256 - 1);
  EXPECT_EQ(i[3], -(blocks * 256 - 1));
  EXPECT_EQ(i[4], total);
  EXPECT_EQ(i[5], total - 1);
  EXPECT_EQ(i[6], 1);
  EXPECT_EQ(unsigned(i[7]), 0x7fffffffu);
  std::vector<unsigned> u = uints.download();
  EXPECT_EQ(u[0], unsigned(total));
  EXPECT_EQ(u[1], unsigned(total % 1000));
  EXPECT_EQ(u[2], 0u);
  EXPECT_EQ(ulls.download()[0], (unsigned long long)total);
  EXPECT_EQ(floats.download()[0], float(total));  // exact: total < 2^24
  EXPECT_EQ(doubles.download()[0], 0.5 * double(total));
}

}  // namespace
}  // namespace ae::simtest

namespace ae::simtest {
namespace {
// Prints the shuffle seed after every failed test, so any failure can be replayed with AE_SIM_SEED.
class SeedOnFailure : public ::testing::EmptyTestEventListener {
  void OnTestEnd(const ::testing::TestInfo& info) override {
    if (info.result()->Failed())
      std::printf("[  SEED    ] %s.%s failed with AE_SIM_SEED=%llu\n", info.test_suite_name(), info.name(),
                  static_cast<unsigned long long>(ae::sim::seed()));
  }
};
const bool k_seed_listener = [] {
  ::testing::UnitTest::GetInstance()->listeners().Append(new SeedOnFailure);
  return true;
}();
}  // namespace
}  // namespace ae::simtest
