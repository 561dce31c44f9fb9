// k-means on rows of codes (or raw features): greedy k-means++ seeding, Lloyd iterations whose
// assignment step is an exact nearest-centre search (runtime/latent.h: blocked GEMM distances),
// several seeded restarts keeping the lowest inertia. Deterministic: the seed fixes every draw, and
// the centre updates sum rows in row order, so the result does not depend on the thread count.
#pragma once

#include <cstdint>
#include <functional>
#include <vector>

#include "runtime/backend.h"

namespace ae {

struct KMeansOptions {
  int k = 10;
  int restarts = 10;      // independent seedings; the lowest inertia wins (scikit-learn's n_init)
  int max_iter = 300;     // Lloyd iterations per restart, at most
  uint64_t seed = 1;
};

struct KMeansResult {
  std::vector<int32_t> assignment;  // [n], cluster of each row in [0, k)
  std::vector<float> centres;       // [k, d]
  double inertia = 0;               // Σ squared distance of each row to its centre
  int iterations = 0;               // Lloyd iterations of the kept restart
  int restart = 0;                  // which restart was kept (0-based)
  bool converged = false;           // the kept restart stopped because no assignment changed
};

// x [n, d]; 1 ≤ k ≤ n. `progress(restarts_done)` after each restart when given.
KMeansResult kmeans(Backend& backend, const float* x, int64_t n, int64_t d, const KMeansOptions& opt,
                    const std::function<void(int)>& progress = nullptr);

}  // namespace ae
