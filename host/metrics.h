// Ranking metrics for anomaly scores against 0/1 labels (1 = anomaly), and the quantile an
// anomaly threshold is taken at.
#pragma once

#include <cstdint>
#include <vector>

namespace ae {

// Area under the ROC curve: the probability that a random anomaly scores above a random normal
// row, ties counting one half (the Mann–Whitney statistic). NaN when a class is absent.
double auroc(const std::vector<float>& scores, const std::vector<int32_t>& labels);

// Average precision: Σ (Rₖ − Rₖ₋₁)·Pₖ over the distinct score thresholds, from the highest
// score down (scikit-learn's definition; tied scores form one threshold). NaN without anomalies.
double average_precision(const std::vector<float>& scores, const std::vector<int32_t>& labels);

// The q-quantile (0 ≤ q ≤ 1) of v, linearly interpolated as numpy's default: `ae train
// --contamination Q` and the C++ API's TrainConfig::contamination put the threshold at 1 − Q.
double quantile(std::vector<float> v, double q);

}  // namespace ae
