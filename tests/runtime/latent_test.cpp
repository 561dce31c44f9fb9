// Nearest-neighbour search and ranking (runtime/latent.h) on the cpu backend against brute force
// in double: blocks that are not multiples of the tile sizes, ties, cosine, NaN ranks.
#include "runtime/latent.h"

#include "kernels/common/error.h"

#include <gtest/gtest.h>

#include <algorithm>
#include <cmath>
#include <numeric>
#include <random>

namespace ae {
namespace {

struct Pair {
  double d;
  int64_t i;
};

// The k nearest by (distance, index), distances in double: the truth the GEMM form approximates.
std::vector<Pair> brute(const std::vector<float>& base, int64_t n, const float* q, int64_t d, int k, Metric metric) {
  std::vector<Pair> all;
  double qq = 0;
  for (int64_t j = 0; j < d; ++j) qq += double(q[j]) * q[j];
  for (int64_t i = 0; i < n; ++i) {
    double s = 0, tt = 0, dot = 0;
    for (int64_t j = 0; j < d; ++j) {
      const double a = q[j], b = base[size_t(i * d + j)];
      s += (a - b) * (a - b), tt += b * b, dot += a * b;
    }
    const double cosd = qq > 0 && tt > 0 ? 1 - dot / std::sqrt(qq * tt) : 1;
    all.push_back({metric == Metric::euclidean ? s : cosd, i});
  }
  std::stable_sort(all.begin(), all.end(), [](const Pair& a, const Pair& b) { return a.d < b.d; });
  all.resize(size_t(k));
  return all;
}

class LatentSearch : public ::testing::TestWithParam<std::tuple<Metric, int64_t, int64_t, int64_t, int>> {};

TEST_P(LatentSearch, MatchesBruteForce) {
  const auto [metric, n, m, d, k] = GetParam();
  std::mt19937 rng(uint32_t(n * 31 + m * 7 + d + k));
  std::normal_distribution<float> g;
  std::vector<float> base(size_t(n * d)), q(size_t(m * d));
  for (auto& v : base) v = g(rng);
  for (auto& v : q) v = g(rng);
  auto cpu = make_backend("cpu");
  RowIndex index(*cpu, base.data(), n, d, metric);
  Neighbours nb = index.search(q.data(), m, k);
  ASSERT_EQ(nb.index.size(), size_t(m * k));
  int64_t mismatches = 0;
  for (int64_t i = 0; i < m; ++i) {
    auto want = brute(base, n, q.data() + i * d, d, k, metric);
    for (int j = 0; j < k; ++j) {
      const float got_d = nb.distance[size_t(i * k + j)];
      EXPECT_NEAR(got_d, want[size_t(j)].d, 1e-4 * (1 + want[size_t(j)].d)) << "query " << i << " rank " << j;
      if (j > 0) EXPECT_LE(nb.distance[size_t(i * k + j - 1)], got_d);
      // Random normal rows have no near-ties at this tolerance: the same row must come back.
      mismatches += nb.index[size_t(i * k + j)] != want[size_t(j)].i;
    }
  }
  EXPECT_EQ(mismatches, 0);
}

INSTANTIATE_TEST_SUITE_P(Shapes, LatentSearch,
                         ::testing::Values(std::make_tuple(Metric::euclidean, 1, 1, 1, 1),
                                           std::make_tuple(Metric::euclidean, 2049, 513, 17, 7),
                                           std::make_tuple(Metric::euclidean, 300, 37, 32, 300),
                                           std::make_tuple(Metric::cosine, 4099, 7, 16, 11),
                                           std::make_tuple(Metric::cosine, 5, 600, 3, 2)));

TEST(LatentSearch, TiesGoToTheLowerIndex) {
  // Rows 1, 3 and 5 are identical: a query equal to them finds 1, 3, 5 in that order.
  const int64_t d = 4;
  std::vector<float> base = {0, 0, 0, 9, 1, 2, 3, 4, 5, 5, 5, 5, 1, 2, 3, 4, 7, 7, 7, 7, 1, 2, 3, 4};
  auto cpu = make_backend("cpu");
  RowIndex index(*cpu, base.data(), 6, d, Metric::euclidean);
  const float q[] = {1, 2, 3, 4};
  Neighbours nb = index.search(q, 1, 3);
  EXPECT_EQ(nb.index, (std::vector<int64_t>{1, 3, 5}));
  EXPECT_EQ(nb.distance, (std::vector<float>{0, 0, 0}));
}

TEST(LatentSearch, ZeroRowUnderCosineIsAtDistanceOne) {
  std::vector<float> base = {0, 0, 1, 0, -1, 0};
  auto cpu = make_backend("cpu");
  RowIndex index(*cpu, base.data(), 3, 2, Metric::cosine);
  const float q[] = {2, 0};
  Neighbours nb = index.search(q, 1, 3);
  EXPECT_EQ(nb.index, (std::vector<int64_t>{1, 0, 2}));
  EXPECT_FLOAT_EQ(nb.distance[0], 0);
  EXPECT_FLOAT_EQ(nb.distance[1], 1);
  EXPECT_FLOAT_EQ(nb.distance[2], 2);
}

TEST(LatentSearch, RefusesBadK) {
  std::vector<float> base = {1, 2};
  auto cpu = make_backend("cpu");
  RowIndex index(*cpu, base.data(), 2, 1, Metric::euclidean);
  EXPECT_THROW(index.search(base.data(), 1, 0), Error);
  EXPECT_THROW(index.search(base.data(), 1, 3), Error);
  EXPECT_THROW(parse_metric("manhattan", "--metric"), Error);
}

TEST(LatentRank, DescendingNanFirstTiesByIndex) {
  const float v[] = {1, NAN, 3, 3, -2, NAN, 0};
  auto cpu = make_backend("cpu");
  EXPECT_EQ(rank_descending(*cpu, v, 7), (std::vector<int64_t>{1, 5, 2, 3, 0, 6, 4}));
  EXPECT_EQ(top_k(*cpu, v, 7, 3), (std::vector<int64_t>{1, 5, 2}));
  EXPECT_EQ(top_k(*cpu, v, 7, 0), std::vector<int64_t>{});
  EXPECT_EQ(count_above(*cpu, v, 7, 0.5f), 5);  // 1, 3, 3 and both NaN
  EXPECT_THROW(top_k(*cpu, v, 7, 8), Error);
}

// A double threshold between two floats: the float threshold flags exactly the values above it in
// double, as `ae score`'s CSV and `ae report`'s counts do.
TEST(LatentRank, FloatThresholdCountsAsDouble) {
  auto cpu = make_backend("cpu");
  const double thr = 0.1;  // float(0.1) > 0.1: rounded to float, 0.1f itself would not count
  const float v[] = {0.1f, std::nextafter(0.1f, 0.f), 0.2f, NAN};
  int64_t in_double = 0;
  for (float x : v) in_double += !(double(x) <= thr);
  EXPECT_EQ(in_double, 2 + 1);  // 0.1f, 0.2f and NaN
  EXPECT_EQ(count_above(*cpu, v, 4, float_threshold(thr)), in_double);
  EXPECT_EQ(float_threshold(0.5), 0.5f);
}

}  // namespace
}  // namespace ae
