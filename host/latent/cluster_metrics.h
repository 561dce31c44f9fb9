// How well a clustering or a nearest-neighbour vote agrees with class labels: clustering accuracy
// (the best one-to-one mapping of clusters to classes, by the Hungarian algorithm), normalised mutual
// information, and the k-nearest-neighbour majority vote.
#pragma once

#include <cstdint>
#include <vector>

namespace ae {

// Minimum-cost assignment of rows to columns of a cost matrix ([rows, cols], rows ≤ cols): the
// column of each row, every column used at most once (Hungarian algorithm, O(rows²·cols)).
std::vector<int> min_cost_assignment(const std::vector<double>& cost, int rows, int cols);

// The fraction of rows whose cluster maps to their label under the one-to-one mapping of clusters
// to classes that maximises it (clusters without a class, or classes without a cluster, when the
// counts differ, count as wrong). Labels and clusters are any int32 values; sizes must match.
double clustering_accuracy(const std::vector<int32_t>& clusters, const std::vector<int32_t>& labels);

// Normalised mutual information I(U; V) / ((H(U) + H(V)) / 2), natural logs (scikit-learn's default,
// average_method="arithmetic"); 1 when both partitions are a single cluster.
double normalized_mutual_information(const std::vector<int32_t>& clusters, const std::vector<int32_t>& labels);

// The majority label among each query's k neighbours (`neighbours` [queries, k], nearest first,
// indices into `labels`); a tie goes to the tied label whose nearest member ranks first.
std::vector<int32_t> knn_vote(const std::vector<int64_t>& neighbours, int64_t queries, int k, const std::vector<int32_t>& labels);

}  // namespace ae
