// k-means: greedy k-means++ seeding (Arthur & Vassilvitskii 2007, with scikit-learn's 2 + ln k
// candidates per centre), Lloyd iterations, restarts.
#include "host/latent/kmeans.h"

#include <omp.h>

#include <algorithm>
#include <cmath>
#include <exception>
#include <limits>
#include <random>

#include "kernels/common/error.h"
#include "kernels/cpu/gemm.h"
#include "runtime/latent.h"

namespace ae {

namespace {

// A uniform double in [0, 1) from the top 53 bits: std::uniform_real_distribution's bits are left to
// the standard library, these are fixed.
double uniform(std::mt19937_64& rng) { return double(rng() >> 11) * 0x1.0p-53; }

// Squared distance of every row of x to each of the c rows of `centres` ([n, c]), by GEMM.
void distances_to(const float* x, const std::vector<float>& x_norms, int64_t n, int64_t d, const float* centres, int64_t c,
                  std::vector<float>& out) {
  out.resize(size_t(n * c));
  cpu::gemm<float>(false, true, n, c, d, 1.0f, x, d, centres, d, 0.0f, out.data(), c);
  std::vector<float> cn(static_cast<size_t>(c));
  for (int64_t j = 0; j < c; ++j) {
    double s = 0;
    for (int64_t t = 0; t < d; ++t) s += double(centres[j * d + t]) * centres[j * d + t];
    cn[size_t(j)] = float(s);
  }
#pragma omp parallel for schedule(static) if (n * c > (int64_t(1) << 18))
  for (int64_t i = 0; i < n; ++i)
    for (int64_t j = 0; j < c; ++j)
      out[size_t(i * c + j)] = std::max(0.0f, x_norms[size_t(i)] + cn[size_t(j)] - 2.0f * out[size_t(i * c + j)]);
}

// The row whose cumulative weight first exceeds u·total (weights ≥ 0, total > 0).
int64_t draw_weighted(const std::vector<double>& cumulative, std::mt19937_64& rng) {
  const double target = uniform(rng) * cumulative.back();
  auto it = std::upper_bound(cumulative.begin(), cumulative.end(), target);
  return std::min<int64_t>(it - cumulative.begin(), int64_t(cumulative.size()) - 1);
}

// Greedy k-means++: each new centre is the best (lowest resulting potential) of `trials` rows
// drawn with probability ∝ the squared distance to the nearest centre so far.
std::vector<float> seed_centres(const float* x, const std::vector<float>& x_norms, int64_t n, int64_t d, int k,
                                std::mt19937_64& rng) {
  std::vector<float> centres(size_t(k) * size_t(d));
  const int trials = 2 + int(std::log(double(k)));
  int64_t first = std::min<int64_t>(int64_t(uniform(rng) * double(n)), n - 1);
  std::copy_n(x + first * d, d, centres.begin());
  std::vector<float> closest, cand_d;
  distances_to(x, x_norms, n, d, centres.data(), 1, closest);
  std::vector<double> cumulative(static_cast<size_t>(n));
  std::vector<float> cand(size_t(trials) * size_t(d));
  for (int c = 1; c < k; ++c) {
    double run = 0;
    for (int64_t i = 0; i < n; ++i) cumulative[size_t(i)] = run += closest[size_t(i)];
    std::vector<int64_t> picks(static_cast<size_t>(trials));
    for (int t = 0; t < trials; ++t) {
      // Every row at distance 0 from a centre (fewer distinct rows than k): any row will do.
      picks[size_t(t)] = run > 0 ? draw_weighted(cumulative, rng) : std::min<int64_t>(int64_t(uniform(rng) * double(n)), n - 1);
      std::copy_n(x + picks[size_t(t)] * d, d, cand.begin() + t * d);
    }
    distances_to(x, x_norms, n, d, cand.data(), trials, cand_d);
    int best = 0;
    double best_pot = std::numeric_limits<double>::infinity();
    for (int t = 0; t < trials; ++t) {
      double pot = 0;
      for (int64_t i = 0; i < n; ++i) pot += std::min(closest[size_t(i)], cand_d[size_t(i * trials + t)]);
      if (pot < best_pot) best_pot = pot, best = t;
    }
    std::copy_n(cand.begin() + best * d, d, centres.begin() + c * d);
    for (int64_t i = 0; i < n; ++i) closest[size_t(i)] = std::min(closest[size_t(i)], cand_d[size_t(i * trials + best)]);
  }
  return centres;
}

// Centres = mean of their rows. Columns are split between threads and every column sums its rows
// in row order, so the sums do not depend on the thread count. An empty cluster takes the row
// farthest from its own centre (not already taken by another empty cluster).
void update_centres(const float* x, int64_t n, int64_t d, int k, const std::vector<int32_t>& assign,
                    const std::vector<float>& dist, std::vector<float>& centres) {
  std::vector<int64_t> count(static_cast<size_t>(k), 0);
  for (int64_t i = 0; i < n; ++i) ++count[size_t(assign[size_t(i)])];
  std::vector<double> sums(size_t(k) * size_t(d), 0.0);
#pragma omp parallel if (n * d > (int64_t(1) << 20))
  {
    const int nt = omp_get_num_threads(), t = omp_get_thread_num();
    const int64_t j0 = d * t / nt, j1 = d * (t + 1) / nt;
    for (int64_t i = 0; i < n; ++i) {
      double* s = sums.data() + int64_t(assign[size_t(i)]) * d;
      for (int64_t j = j0; j < j1; ++j) s[j] += x[i * d + j];
    }
  }
  std::vector<char> taken(static_cast<size_t>(n), 0);
  for (int c = 0; c < k; ++c) {
    if (count[size_t(c)] > 0) {
      for (int64_t j = 0; j < d; ++j) centres[size_t(c * d + j)] = float(sums[size_t(c * d + j)] / double(count[size_t(c)]));
      continue;
    }
    int64_t far = -1;
    for (int64_t i = 0; i < n; ++i)
      if (!taken[size_t(i)] && (far < 0 || dist[size_t(i)] > dist[size_t(far)])) far = i;
    taken[size_t(far)] = 1;
    std::copy_n(x + far * d, d, centres.begin() + c * d);
  }
}

struct Run {
  std::vector<int32_t> assign;
  std::vector<float> dist;
  double inertia = 0;
};

Run assign_rows(Backend& backend, const float* x, int64_t n, int64_t d, const std::vector<float>& centres, int k) {
  RowIndex index(backend, centres.data(), k, d, Metric::euclidean);
  Neighbours nb = index.search(x, n, 1);
  Run r;
  r.assign.resize(size_t(n));
  r.dist = std::move(nb.distance);
  for (int64_t i = 0; i < n; ++i) r.assign[size_t(i)] = int32_t(nb.index[size_t(i)]);
  for (float v : r.dist) r.inertia += v;
  return r;
}

}  // namespace

KMeansResult kmeans(Backend& backend, const float* x, int64_t n, int64_t d, const KMeansOptions& opt,
                    const std::function<void(int)>& progress) {
  AE_CHECK(opt.k >= 1 && opt.k <= n, "k-means: k = ", opt.k, " must be between 1 and the ", n, " rows");
  AE_CHECK(opt.restarts >= 1 && opt.max_iter >= 1, "k-means: restarts and iterations must be ≥ 1");
  std::vector<float> x_norms(static_cast<size_t>(n));
#pragma omp parallel for schedule(static)
  for (int64_t i = 0; i < n; ++i) {
    double s = 0;
    for (int64_t j = 0; j < d; ++j) s += double(x[i * d + j]) * x[i * d + j];
    x_norms[size_t(i)] = float(s);
  }
  // Restarts are independent: one per thread (everything inside then runs on that thread, the
  // GEMMs included), so the whole run has one parallel region and the result does not depend on
  // the thread count. The lowest inertia wins, the earlier restart on a tie.
  // A device backend's searches share its one stream: there the restarts run one after another.
  std::vector<KMeansResult> runs(size_t(opt.restarts));
  int done = 0;
  const bool on_host = backend.device() == nullptr;
  std::exception_ptr failure;  // an exception may not leave a parallel region: rethrown after it
#pragma omp parallel for schedule(dynamic, 1) if (on_host)
  for (int r = 0; r < opt.restarts; ++r) try {
    std::mt19937_64 rng(opt.seed * 0x9E3779B97F4A7C15ull + uint64_t(r));
    std::vector<float> centres = seed_centres(x, x_norms, n, d, opt.k, rng);
    Run cur = assign_rows(backend, x, n, d, centres, opt.k);
    int it = 0;
    bool converged = false;
    while (it < opt.max_iter) {
      update_centres(x, n, d, opt.k, cur.assign, cur.dist, centres);
      Run next = assign_rows(backend, x, n, d, centres, opt.k);
      ++it;
      converged = next.assign == cur.assign;
      cur = std::move(next);
      if (converged) break;
    }
    KMeansResult& res = runs[size_t(r)];
    res.assignment = std::move(cur.assign);
    res.centres = std::move(centres);
    res.inertia = cur.inertia;
    res.iterations = it;
    res.restart = r;
    res.converged = converged;
#pragma omp critical(kmeans_progress)
    if (progress) progress(++done);
  } catch (...) {
#pragma omp critical(kmeans_failure)
    if (!failure) failure = std::current_exception();
  }
  if (failure) std::rethrow_exception(failure);
  size_t best = 0;
  for (size_t r = 1; r < runs.size(); ++r)
    if (runs[r].inertia < runs[best].inertia) best = r;
  return std::move(runs[best]);
}

}  // namespace ae
