// Clustering accuracy, NMI and the k-NN vote.
#include "host/latent/cluster_metrics.h"

#include <algorithm>
#include <cmath>
#include <limits>
#include <map>

#include "kernels/common/error.h"

namespace ae {

std::vector<int> min_cost_assignment(const std::vector<double>& cost, int rows, int cols) {
  AE_CHECK(rows >= 0 && rows <= cols && cost.size() == size_t(rows) * size_t(cols), "assignment: need rows ≤ cols and a full matrix");
  // Shortest augmenting paths with row and column potentials u, v (1-based, column 0 is the
  // virtual start): after row i is added, every assigned pair is tight, u[i] + v[j] = cost[i][j].
  const double inf = std::numeric_limits<double>::infinity();
  std::vector<double> u(size_t(rows) + 1, 0), v(size_t(cols) + 1, 0);
  std::vector<int> match(size_t(cols) + 1, 0), way(size_t(cols) + 1, 0);  // match[j]: row at column j
  for (int i = 1; i <= rows; ++i) {
    match[0] = i;
    int j0 = 0;
    std::vector<double> minv(size_t(cols) + 1, inf);
    std::vector<char> used(size_t(cols) + 1, 0);
    do {
      used[size_t(j0)] = 1;
      const int i0 = match[size_t(j0)];
      double delta = inf;
      int j1 = 0;
      for (int j = 1; j <= cols; ++j) {
        if (used[size_t(j)]) continue;
        const double cur = cost[size_t(i0 - 1) * size_t(cols) + size_t(j - 1)] - u[size_t(i0)] - v[size_t(j)];
        if (cur < minv[size_t(j)]) minv[size_t(j)] = cur, way[size_t(j)] = j0;
        if (minv[size_t(j)] < delta) delta = minv[size_t(j)], j1 = j;
      }
      for (int j = 0; j <= cols; ++j) {
        if (used[size_t(j)]) u[size_t(match[size_t(j)])] += delta, v[size_t(j)] -= delta;
        else minv[size_t(j)] -= delta;
      }
      j0 = j1;
    } while (match[size_t(j0)] != 0);
    do {  // flip the augmenting path back to its start
      const int j1 = way[size_t(j0)];
      match[size_t(j0)] = match[size_t(j1)];
      j0 = j1;
    } while (j0 != 0);
  }
  std::vector<int> out(size_t(rows), -1);
  for (int j = 1; j <= cols; ++j)
    if (match[size_t(j)] > 0) out[size_t(match[size_t(j)] - 1)] = j - 1;
  return out;
}

namespace {

// Dense ids 0..m−1 for the distinct values of v, in ascending value order.
std::vector<int> dense_ids(const std::vector<int32_t>& v, int& count) {
  std::map<int32_t, int> ids;
  for (int32_t x : v) ids.emplace(x, 0);
  count = 0;
  for (auto& [value, id] : ids) id = count++;
  std::vector<int> out(v.size());
  for (size_t i = 0; i < v.size(); ++i) out[i] = ids[v[i]];
  return out;
}

// contingency[a, b] = rows in cluster a with label b.
std::vector<int64_t> contingency(const std::vector<int32_t>& clusters, const std::vector<int32_t>& labels, int& nc, int& nl) {
  AE_CHECK(clusters.size() == labels.size() && !labels.empty(), "clusters and labels must be non-empty and the same length");
  const auto c = dense_ids(clusters, nc), l = dense_ids(labels, nl);
  std::vector<int64_t> t(size_t(nc) * size_t(nl), 0);
  for (size_t i = 0; i < c.size(); ++i) ++t[size_t(c[i]) * size_t(nl) + size_t(l[i])];
  return t;
}

}  // namespace

double clustering_accuracy(const std::vector<int32_t>& clusters, const std::vector<int32_t>& labels) {
  int nc = 0, nl = 0;
  const auto t = contingency(clusters, labels, nc, nl);
  // Maximise matched rows = minimise −count; the smaller side is assigned into the larger one.
  const bool by_cluster = nc <= nl;
  const int rows = by_cluster ? nc : nl, cols = by_cluster ? nl : nc;
  std::vector<double> cost(size_t(rows) * size_t(cols));
  for (int a = 0; a < rows; ++a)
    for (int b = 0; b < cols; ++b)
      cost[size_t(a) * size_t(cols) + size_t(b)] = -double(by_cluster ? t[size_t(a) * size_t(nl) + size_t(b)] : t[size_t(b) * size_t(nl) + size_t(a)]);
  const auto match = min_cost_assignment(cost, rows, cols);
  int64_t hit = 0;
  for (int a = 0; a < rows; ++a) hit += int64_t(-cost[size_t(a) * size_t(cols) + size_t(match[size_t(a)])]);
  return double(hit) / double(labels.size());
}

double normalized_mutual_information(const std::vector<int32_t>& clusters, const std::vector<int32_t>& labels) {
  int nc = 0, nl = 0;
  const auto t = contingency(clusters, labels, nc, nl);
  const double n = double(labels.size());
  std::vector<double> pc(size_t(nc), 0), pl(size_t(nl), 0);
  for (int a = 0; a < nc; ++a)
    for (int b = 0; b < nl; ++b) pc[size_t(a)] += double(t[size_t(a) * size_t(nl) + size_t(b)]), pl[size_t(b)] += double(t[size_t(a) * size_t(nl) + size_t(b)]);
  double mi = 0, hc = 0, hl = 0;
  for (int a = 0; a < nc; ++a)
    for (int b = 0; b < nl; ++b) {
      const double nab = double(t[size_t(a) * size_t(nl) + size_t(b)]);
      if (nab > 0) mi += nab / n * std::log(n * nab / (pc[size_t(a)] * pl[size_t(b)]));
    }
  for (double c : pc) hc -= c / n * std::log(c / n);
  for (double c : pl) hl -= c / n * std::log(c / n);
  if (hc == 0 && hl == 0) return 1.0;  // both one cluster: identical partitions
  return std::max(0.0, mi) / ((hc + hl) / 2);
}

std::vector<int32_t> knn_vote(const std::vector<int64_t>& neighbours, int64_t queries, int k, const std::vector<int32_t>& labels) {
  AE_CHECK(int64_t(neighbours.size()) == queries * k, "knn_vote: [queries, k] neighbours expected");
  std::vector<int32_t> out(static_cast<size_t>(queries));
#pragma omp parallel for schedule(static)
  for (int64_t q = 0; q < queries; ++q) {
    // Labels in order of their nearest member, with counts: at most k distinct.
    std::vector<std::pair<int32_t, int>> seen;
    for (int j = 0; j < k; ++j) {
      const int32_t l = labels[size_t(neighbours[size_t(q * k + j)])];
      auto it = std::find_if(seen.begin(), seen.end(), [&](const auto& p) { return p.first == l; });
      if (it == seen.end()) seen.emplace_back(l, 1);
      else ++it->second;
    }
    auto best = seen.begin();
    for (auto it = seen.begin(); it != seen.end(); ++it)
      if (it->second > best->second) best = it;  // strictly more: a tie keeps the earlier (nearer) label
    out[size_t(q)] = best->first;
  }
  return out;
}

}  // namespace ae
