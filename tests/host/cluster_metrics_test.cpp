// Clustering metrics and k-means (host/latent): the Hungarian assignment against every permutation,
// ACC and NMI on hand-checked partitions, the k-NN vote's tie rule, and k-means on separated blobs,
// deterministic across thread counts.
#include <gtest/gtest.h>
#include <omp.h>

#include <algorithm>
#include <cmath>
#include <numeric>
#include <random>

#include "host/latent/cluster_metrics.h"
#include "host/latent/kmeans.h"
#include "kernels/common/error.h"
#include "kernels/cpu/gemm.h"

namespace ae {
namespace {

TEST(Hungarian, MatchesEveryPermutation) {
  std::mt19937 rng(7);
  for (int trial = 0; trial < 40; ++trial) {
    const int rows = 1 + trial % 5, cols = rows + trial % 3;
    std::vector<double> cost(size_t(rows * cols));
    for (auto& c : cost) c = double(rng() % 20) - 5;  // small integers: many ties
    const auto got = min_cost_assignment(cost, rows, cols);
    double got_cost = 0;
    std::vector<int> used;
    for (int r = 0; r < rows; ++r) got_cost += cost[size_t(r * cols + got[size_t(r)])], used.push_back(got[size_t(r)]);
    std::sort(used.begin(), used.end());
    EXPECT_EQ(std::unique(used.begin(), used.end()), used.end()) << "a column used twice";
    // Brute force: every injective map of rows into columns, as a permutation of the columns.
    std::vector<int> perm(static_cast<size_t>(cols));
    std::iota(perm.begin(), perm.end(), 0);
    double best = 1e300;
    do {
      double c = 0;
      for (int r = 0; r < rows; ++r) c += cost[size_t(r * cols + perm[size_t(r)])];
      best = std::min(best, c);
    } while (std::next_permutation(perm.begin(), perm.end()));
    EXPECT_DOUBLE_EQ(got_cost, best) << "trial " << trial;
  }
}

TEST(ClusterMetrics, AccuracyUsesTheBestOneToOneMapping) {
  // Clusters are the labels renamed, except two rows: 8 of 10 right under the mapping 5→0, 9→1, 2→2.
  const std::vector<int32_t> labels = {0, 0, 0, 1, 1, 1, 2, 2, 2, 2};
  const std::vector<int32_t> clusters = {5, 5, 9, 9, 9, 9, 2, 2, 2, 5};
  EXPECT_DOUBLE_EQ(clustering_accuracy(clusters, labels), 0.8);
  // More clusters than classes: the extra cluster's rows count as wrong.
  EXPECT_DOUBLE_EQ(clustering_accuracy({0, 1, 2, 3}, {0, 0, 1, 1}), 0.5);
  // Fewer clusters than classes.
  EXPECT_DOUBLE_EQ(clustering_accuracy({0, 0, 0, 0}, {0, 0, 1, 2}), 0.5);
  EXPECT_THROW(clustering_accuracy({0, 1}, {0}), Error);
}

TEST(ClusterMetrics, NormalizedMutualInformation) {
  EXPECT_NEAR(normalized_mutual_information({3, 3, 7, 7}, {0, 0, 1, 1}), 1.0, 1e-12);  // a renaming
  EXPECT_NEAR(normalized_mutual_information({0, 0, 1, 1}, {0, 1, 0, 1}), 0.0, 1e-12);  // independent
  EXPECT_NEAR(normalized_mutual_information({0, 0, 0, 0}, {1, 1, 1, 1}), 1.0, 1e-12);
  // U = {0,0,0,1,1,1}, V = {0,0,1,1,2,2}: I = (2/3)·ln 2, H(U) = ln 2, H(V) = ln 3, by hand.
  const double want = (2.0 / 3.0) * std::log(2.0) / ((std::log(2.0) + std::log(3.0)) / 2);
  EXPECT_NEAR(normalized_mutual_information({0, 0, 0, 1, 1, 1}, {0, 0, 1, 1, 2, 2}), want, 1e-12);
  EXPECT_NEAR(normalized_mutual_information({0, 0, 1, 1, 2, 2}, {0, 0, 0, 1, 1, 1}), want, 1e-12);  // symmetric
}

TEST(KnnVote, MajorityAndTiesToTheNearer) {
  const std::vector<int32_t> labels = {4, 4, 7, 7, 9};
  // Query 0: 7, 4, 4 → 4 (two votes). Query 1: 7, 4, 9, 4, 7 → 7 and 4 tie at two; 7 ranks first.
  const std::vector<int64_t> nb = {2, 0, 1, 0, 0, 0,  //
                                   3, 1, 4, 0, 2, 2};
  EXPECT_EQ(knn_vote({2, 0, 1}, 1, 3, labels), std::vector<int32_t>{4});
  EXPECT_EQ(knn_vote({3, 1, 4, 0, 2}, 1, 5, labels), std::vector<int32_t>{7});
  EXPECT_EQ(knn_vote({4, 1, 0, 2, 3, 4}, 2, 3, labels), (std::vector<int32_t>{4, 7}));
  EXPECT_THROW(knn_vote(nb, 3, 3, labels), Error);
}

// n points around each of `centres` well-separated centres in d dimensions, labels = centre.
void blobs(int centres, int per, int d, std::vector<float>& x, std::vector<int32_t>& labels) {
  std::mt19937 rng(11);
  std::normal_distribution<float> g(0, 0.3f);
  for (int c = 0; c < centres; ++c)
    for (int i = 0; i < per; ++i) {
      for (int j = 0; j < d; ++j) x.push_back(float(10 * ((c + j) % centres == 0 ? 1 : 0) + 3 * c) + g(rng));
      labels.push_back(c);
    }
}

TEST(KMeans, FindsSeparatedBlobsAndIsThreadCountInvariant) {
  std::vector<float> x;
  std::vector<int32_t> labels;
  blobs(5, 301, 7, x, labels);
  const int64_t n = int64_t(labels.size());
  auto cpu = make_backend("cpu");
  KMeansOptions opt;
  opt.k = 5, opt.restarts = 3, opt.seed = 4;
  const int saved = omp_get_max_threads();
  omp_set_num_threads(1);
  cpu::set_gemm_threads(1);
  const KMeansResult one = kmeans(*cpu, x.data(), n, 7, opt);
  omp_set_num_threads(2);
  cpu::set_gemm_threads(2);
  const KMeansResult two = kmeans(*cpu, x.data(), n, 7, opt);
  omp_set_num_threads(saved);
  EXPECT_DOUBLE_EQ(clustering_accuracy(one.assignment, labels), 1.0);
  EXPECT_DOUBLE_EQ(normalized_mutual_information(one.assignment, labels), 1.0);
  EXPECT_TRUE(one.converged);
  EXPECT_EQ(one.assignment, two.assignment);
  EXPECT_EQ(one.centres, two.centres);
  EXPECT_EQ(one.inertia, two.inertia);
  // The inertia is the sum of squared distances to the reported centres.
  double inertia = 0;
  for (int64_t i = 0; i < n; ++i)
    for (int j = 0; j < 7; ++j) {
      const double dlt = double(x[size_t(i * 7 + j)]) - one.centres[size_t(one.assignment[size_t(i)] * 7 + j)];
      inertia += dlt * dlt;
    }
  EXPECT_NEAR(one.inertia, inertia, 1e-3 * inertia);
}

TEST(KMeans, AsManyClustersAsRowsAndBadK) {
  const std::vector<float> x = {0, 0, 1, 1, 5, 5, 9, 0};
  auto cpu = make_backend("cpu");
  KMeansOptions opt;
  opt.k = 4, opt.restarts = 2;
  const KMeansResult r = kmeans(*cpu, x.data(), 4, 2, opt);
  EXPECT_NEAR(r.inertia, 0, 1e-6);
  std::vector<int32_t> a = r.assignment;
  std::sort(a.begin(), a.end());
  EXPECT_EQ(a, (std::vector<int32_t>{0, 1, 2, 3}));
  opt.k = 5;
  EXPECT_THROW(kmeans(*cpu, x.data(), 4, 2, opt), Error);
  opt.k = 0;
  EXPECT_THROW(kmeans(*cpu, x.data(), 4, 2, opt), Error);
}

}  // namespace
}  // namespace ae
