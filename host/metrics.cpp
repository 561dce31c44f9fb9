// AUROC and average precision.
#include "host/metrics.h"

#include <algorithm>
#include <cmath>
#include <numeric>

#include "kernels/common/error.h"

namespace ae {

namespace {
std::vector<size_t> by_score_desc(const std::vector<float>& s) {
  std::vector<size_t> idx(s.size());
  std::iota(idx.begin(), idx.end(), size_t(0));
  std::stable_sort(idx.begin(), idx.end(), [&](size_t a, size_t b) { return s[a] > s[b]; });
  return idx;
}
}  // namespace

double auroc(const std::vector<float>& scores, const std::vector<int32_t>& labels) {
  AE_CHECK(scores.size() == labels.size(), "auroc: ", scores.size(), " scores but ", labels.size(), " labels");
  auto idx = by_score_desc(scores);
  double pos = 0, neg = 0, area = 0;
  // Walk groups of tied scores from the top; each negative in a group sees the positives above
  // it fully and the positives tied with it by half.
  for (size_t i = 0; i < idx.size();) {
    size_t j = i;
    double gp = 0, gn = 0;
    while (j < idx.size() && scores[idx[j]] == scores[idx[i]]) {
      (labels[idx[j]] != 0 ? gp : gn) += 1;
      ++j;
    }
    area += gn * (pos + 0.5 * gp);
    pos += gp;
    neg += gn;
    i = j;
  }
  if (pos == 0 || neg == 0) return NAN;
  return area / (pos * neg);
}

double average_precision(const std::vector<float>& scores, const std::vector<int32_t>& labels) {
  AE_CHECK(scores.size() == labels.size(), "average_precision: ", scores.size(), " scores but ", labels.size(), " labels");
  auto idx = by_score_desc(scores);
  double total_pos = 0;
  for (int32_t l : labels) total_pos += l != 0;
  if (total_pos == 0) return NAN;
  double tp = 0, seen = 0, prev_recall = 0, ap = 0;
  for (size_t i = 0; i < idx.size();) {
    size_t j = i;
    while (j < idx.size() && scores[idx[j]] == scores[idx[i]]) {
      tp += labels[idx[j]] != 0;
      seen += 1;
      ++j;
    }
    double recall = tp / total_pos, precision = tp / seen;
    ap += (recall - prev_recall) * precision;
    prev_recall = recall;
    i = j;
  }
  return ap;
}

double quantile(std::vector<float> v, double q) {
  AE_CHECK(!v.empty(), "quantile of no values");
  std::sort(v.begin(), v.end());
  double pos = q * double(v.size() - 1);
  size_t lo = size_t(std::floor(pos)), hi = std::min(lo + 1, v.size() - 1);
  return double(v[lo]) + (pos - double(lo)) * (double(v[hi]) - double(v[lo]));
}

}  // namespace ae
