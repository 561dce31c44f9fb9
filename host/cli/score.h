// The anomaly score of `ae score`, shared with `ae report` so that both show the same numbers
// for the same model and data.
#pragma once

#include <cmath>
#include <cstdint>
#include <functional>
#include <string>
#include <vector>

#include "host/data/matrix.h"
#include "runtime/compiled_model.h"
#include "runtime/model.h"

namespace ae::cli {

// One score per row of x (already normalised with the model's normaliser): the model's loss
// averaged over the features; a VAE's negative ELBO (one z per row, drawn per data row); with
// iw ≥ 1 a VAE's importance-weighted bound on −log p(x) with iw samples. `progress(rows_done)`
// follows the (slow) importance-weighted bound.
std::vector<float> anomaly_scores(CompiledModel& compiled, const Matrix& x, int64_t batch, int64_t iw = 0,
                                  const std::function<void(int64_t)>& progress = nullptr);

// What a score of `model` is, in words: "mse loss per feature", "negative ELBO per row, nats, …".
std::string score_description(const Model& model, int64_t iw = 0);

// The threshold `ae train --contamination` stored in a model, and where it came from.
struct StoredThreshold {
  double value = NAN;  // NaN: the model has none
  std::string source;  // "fitted in training (contamination 0.05)"
};
StoredThreshold stored_threshold(const Model& model);

}  // namespace ae::cli
