// Nearest-neighbour search and ranking (runtime/latent.h) on this build's device backend against the
// cpu backend, the reference: RowIndex on odd shapes (n, m, d multiples of no tile; more rows than one
// base tile and more queries than one query block; k = 1, 7, n), bit-equal on small integers where
// every GEMM sum is exact (and ties are everywhere, so the tie order is checked too), within the
// kernel tests' GEMM tolerance on normal data; rank_descending / top_k / count_above with NaN, ±inf,
// ±0 and ties, from host values and from values already in device memory; and under the sim, a range
// handed to Thrust past its buffer is refused (memcheck's host-side half).
#include <gtest/gtest.h>

#include <algorithm>
#include <cmath>
#include <cstdio>
#include <limits>
#include <random>
#include <sstream>

#include "kernels/common/error.h"
#include "kernels/common/philox.h"
#include "runtime/compiled_model.h"
#include "runtime/executor.h"
#include "runtime/latent.h"
#include "runtime/model.h"
#include "tests/kernels/cuda/tolerance.h"
#include "tests/runtime/cuda/on_device.h"

namespace ae {
namespace {

struct SearchCase {
  Metric metric;
  int64_t n, m, d;
  int k;  // 0: k = n
  bool integers;
  uint32_t seed;
};

std::string case_name(const SearchCase& c) {
  std::ostringstream os;
  os << metric_name(c.metric) << "_n" << c.n << "_m" << c.m << "_d" << c.d << "_k" << (c.k ? std::to_string(c.k) : "n")
     << (c.integers ? "_int" : "_normal") << "_seed" << c.seed;
  return os.str();
}

void PrintTo(const SearchCase& c, std::ostream* os) { *os << case_name(c); }

class DeviceLatentSearch : public ::testing::TestWithParam<SearchCase> {};

// Both backends' search on the same rows and queries; indices must agree wherever the two distances
// are not within rounding of a neighbour's (an exact tie is broken the same way: lower index first).
TEST_P(DeviceLatentSearch, EqualsCpu) {
  AE_SKIP_WITHOUT_CUDA_DEVICE();
  const SearchCase c = GetParam();
  const int k = c.k ? c.k : int(c.n);
  std::mt19937 rng(c.seed);
  std::normal_distribution<float> g;
  std::uniform_int_distribution<int> small(-3, 3);
  std::vector<float> base(size_t(c.n * c.d)), q(size_t(c.m * c.d));
  for (auto* v : {&base, &q})
    for (auto& x : *v) x = c.integers ? float(small(rng)) : g(rng);
  auto cpu = make_backend("cpu");
  auto dev = make_backend(cuda_backend_name());
  ASSERT_NE(dev->device(), nullptr);
  const Neighbours want = RowIndex(*cpu, base.data(), c.n, c.d, c.metric).search(q.data(), c.m, k);
  RowIndex index(*dev, base.data(), c.n, c.d, c.metric);
  const Neighbours got = index.search(q.data(), c.m, k);
  ASSERT_EQ(got.queries, c.m);
  ASSERT_EQ(got.k, k);
  ASSERT_EQ(got.index.size(), want.index.size());
  ASSERT_EQ(got.distance.size(), want.distance.size());

  // One term of a dot product is at most max|q|·max|t| (1 for cosine: rows are normalised); a
  // distance is two such sums apart (‖q‖² + ‖t‖² − 2q·t), so twice the GEMM bound, plus rounding of
  // the norms' sum.
  float amax = 0;
  for (auto* v : {&base, &q})
    for (float x : *v) amax = std::max(amax, std::fabs(x));
  const double scale = c.metric == Metric::cosine ? 1.0 : double(amax) * amax;
  const cudatest::Tolerance tol = c.integers && c.metric == Metric::euclidean ? cudatest::exact_tolerance()
                                                                                : cudatest::tolerance<float>();
  double worst = 0, worst_margin = std::numeric_limits<double>::infinity();
  int64_t swaps = 0;
  for (int64_t i = 0; i < c.m; ++i) {
    for (int j = 0; j < k; ++j) {
      const size_t e = size_t(i * k + j);
      ASSERT_FALSE(std::isnan(got.distance[e])) << "query " << i << " rank " << j;
      ASSERT_GE(got.index[e], 0);
      ASSERT_LT(got.index[e], c.n);
      if (j > 0) {
        const size_t p = e - 1;
        ASSERT_TRUE(got.distance[p] < got.distance[e] ||
                    (got.distance[p] == got.distance[e] && got.index[p] < got.index[e]))
            << "query " << i << ": ranks " << j - 1 << " and " << j << " out of (distance, index) order";
      }
      if (tol.exact) {
        ASSERT_EQ(got.index[e], want.index[e]) << "query " << i << " rank " << j;
        ASSERT_EQ(got.distance[e], want.distance[e]) << "query " << i << " rank " << j;
        continue;
      }
      const double err = std::fabs(double(got.distance[e]) - want.distance[e]);
      const double bound = 2 * tol.bound(c.d, scale, want.distance[e]) + tol.rtol * 2 * scale * double(c.d);
      worst = std::max(worst, err);
      worst_margin = std::min(worst_margin, bound - err);
      ASSERT_LE(err, bound) << "query " << i << " rank " << j << ": " << got.distance[e] << " vs cpu " << want.distance[e];
      // A different index only where the two rows are within rounding of each other for this query.
      if (got.index[e] != want.index[e]) ++swaps;
    }
  }
  if (!tol.exact) {
    EXPECT_LE(swaps, std::max<int64_t>(2, c.m * k / 100)) << "more index swaps than near-ties explain";
    std::printf("  %s: worst |Δdistance| %.3g, smallest margin %.3g, %lld near-tie swaps\n", case_name(c).c_str(), worst,
                worst_margin, (long long)swaps);
  }
  // Searching again (k-means calls search every iteration) gives the same answer.
  const Neighbours again = index.search(q.data(), c.m, k);
  EXPECT_EQ(again.index, got.index);
  EXPECT_EQ(again.distance, got.distance);
}

// n 2100 > the base tile (2048) and m 530 > the query block (512): both tails are exercised.
INSTANTIATE_TEST_SUITE_P(
    Shapes, DeviceLatentSearch,
    ::testing::Values(SearchCase{Metric::euclidean, 37, 11, 5, 1, true, 1}, SearchCase{Metric::euclidean, 37, 11, 5, 7, true, 2},
                      SearchCase{Metric::euclidean, 37, 11, 5, 0, true, 3}, SearchCase{Metric::euclidean, 67, 13, 65, 7, false, 4},
                      SearchCase{Metric::cosine, 67, 13, 65, 7, false, 5}, SearchCase{Metric::cosine, 29, 5, 3, 0, false, 6},
                      SearchCase{Metric::cosine, 31, 9, 4, 7, true, 7}, SearchCase{Metric::euclidean, 1, 3, 1, 1, true, 8},
                      SearchCase{Metric::euclidean, 2100, 530, 3, 7, true, 9},
                      SearchCase{Metric::euclidean, 2100, 3, 3, 0, true, 10},
                      SearchCase{Metric::cosine, 2100, 17, 6, 1, false, 11}),
    [](const ::testing::TestParamInfo<SearchCase>& info) { return case_name(info.param); });

// Values with NaN, ±inf, ±0 (equal: a tie) and repeated numbers, in an order that makes the ties'
// lower-index rule matter.
std::vector<float> awkward_values(int64_t n, uint32_t seed) {
  std::mt19937 rng(seed);
  std::uniform_int_distribution<int> pick(0, 9);
  const float nan = std::numeric_limits<float>::quiet_NaN(), inf = std::numeric_limits<float>::infinity();
  std::vector<float> v(static_cast<size_t>(n));
  for (auto& x : v) {
    switch (pick(rng)) {
      case 0: x = nan; break;
      case 1: x = inf; break;
      case 2: x = -inf; break;
      case 3: x = 0.0f; break;
      case 4: x = -0.0f; break;
      case 5: x = 1.5f; break;
      default: x = std::ldexp(float(pick(rng)) - 4.5f, pick(rng) - 3); break;
    }
  }
  return v;
}

// Device memory of the backend holding `v`, freed at scope exit.
struct OnDevice {
  OnDevice(Device& d, const std::vector<float>& v) : dev(d), p(static_cast<float*>(d.allocate(v.size() * sizeof(float)))) {
    dev.upload(p, v.data(), v.size() * sizeof(float));
  }
  ~OnDevice() { dev.deallocate(p); }
  Device& dev;
  float* p;
};

TEST(DeviceRanking, EqualsCpuWithNanInfSignedZeroAndTies) {
  AE_SKIP_WITHOUT_CUDA_DEVICE();
  auto cpu = make_backend("cpu");
  auto dev = make_backend(cuda_backend_name());
  for (int64_t n : {1, 2, 7, 64, 1001}) {
    SCOPED_TRACE("n = " + std::to_string(n));
    const std::vector<float> v = awkward_values(n, uint32_t(n));
    const std::vector<int64_t> order = rank_descending(*cpu, v.data(), n);
    EXPECT_EQ(rank_descending(*dev, v.data(), n), order);
    OnDevice dv(*dev->device(), v);
    EXPECT_EQ(rank_descending(*dev, BackendValues{dv.p, n}), order);
    for (int64_t k : {int64_t(0), int64_t(1), std::min<int64_t>(5, n), n}) {
      const std::vector<int64_t> want(order.begin(), order.begin() + k);
      EXPECT_EQ(top_k(*dev, v.data(), n, k), want) << "k = " << k;
      EXPECT_EQ(top_k(*dev, BackendValues{dv.p, n}, k), want) << "k = " << k;
      EXPECT_EQ(top_k(*cpu, BackendValues{v.data(), n}, k), want) << "k = " << k;  // a host backend's memory
    }
    for (float t : {-std::numeric_limits<float>::infinity(), -0.0f, 0.0f, 1.5f, 0.3f,
                    std::numeric_limits<float>::infinity(), std::numeric_limits<float>::quiet_NaN()}) {
      const int64_t want = count_above(*cpu, v.data(), n, t);
      EXPECT_EQ(count_above(*dev, v.data(), n, t), want) << "threshold " << t;
      EXPECT_EQ(count_above(*dev, BackendValues{dv.p, n}, t), want) << "threshold " << t;
    }
  }
  // Not vacuous: the reference puts NaN first and breaks ties by the lower index.
  const std::vector<float> v = {1.0f, std::numeric_limits<float>::quiet_NaN(), 2.0f, 1.0f, -0.0f, 0.0f};
  EXPECT_EQ(rank_descending(*dev, v.data(), int64_t(v.size())), (std::vector<int64_t>{1, 2, 0, 3, 4, 5}));
  EXPECT_EQ(count_above(*dev, v.data(), int64_t(v.size()), 0.5f), 4);  // NaN counts as above
  EXPECT_TRUE(rank_descending(*dev, v.data(), 0).empty());
  EXPECT_EQ(count_above(*dev, v.data(), 0, 0.0f), 0);
}

// What the device overloads are for: per-row scores an eval executor left in its arena (device
// memory) ranked and counted there, equal to ranking the same scores read back to the host.
TEST(DeviceRanking, ScoresInAnExecutorsArenaRankWhereTheyAre) {
  AE_SKIP_WITHOUT_CUDA_DEVICE();
  auto cpu = make_backend("cpu");
  auto dev = make_backend(cuda_backend_name());
  Model model = Model::create(parse_spec("40-24r-6-24r-40s"), 5, Loss::mse);
  CompiledModel compiled(model, *dev);
  const int64_t rows = 57;
  Executor& ex = compiled.executor(GraphMode::eval, rows);
  for (int64_t i = 0; i < rows * 40; ++i) ex.input()[i] = philox_uniform(9, 0, PhiloxPurpose::data, uint64_t(i));
  ex.run(rows);
  const int scores = ex.plan().graph.per_sample;
  std::vector<float> host(static_cast<size_t>(rows));
  ex.read(scores, host.data(), rows);
  ASSERT_GT(*std::max_element(host.begin(), host.end()), *std::min_element(host.begin(), host.end()));
  const BackendValues on_device{ex.data(scores), rows};
  EXPECT_EQ(top_k(*dev, on_device, 10), top_k(*cpu, host.data(), rows, 10));
  EXPECT_EQ(rank_descending(*dev, on_device), rank_descending(*cpu, host.data(), rows));
  const float median = [&] {
    std::vector<float> s = host;
    std::nth_element(s.begin(), s.begin() + rows / 2, s.end());
    return s[size_t(rows / 2)];
  }();
  EXPECT_EQ(count_above(*dev, on_device, median), count_above(*cpu, host.data(), rows, median));
  EXPECT_EQ(count_above(*dev, on_device, median), rows / 2);
}

#if AE_CUDATEST_SIM
// Thrust's host system under the sim reads device memory outside any kernel, where memcheck's
// instrumentation does not look: the range check before each Thrust call is what stands in for it.
TEST(DeviceRanking, SimRefusesARangePastItsDeviceBuffer) {
  auto dev = make_backend(cuda_backend_name());
  const std::vector<float> v(40, 1.0f);
  OnDevice dv(*dev->device(), v);
  EXPECT_EQ(count_above(*dev, BackendValues{dv.p, 40}, 0.0f), 40);
  EXPECT_THROW(count_above(*dev, BackendValues{dv.p, 41}, 0.0f), Error);
  EXPECT_THROW(top_k(*dev, BackendValues{dv.p + 1, 40}, 3), Error);
  std::vector<float> host(8, 0.0f);
  EXPECT_THROW(count_above(*dev, BackendValues{host.data(), 8}, 0.0f), Error);  // host memory is no device memory
}
#endif

}  // namespace
}  // namespace ae
