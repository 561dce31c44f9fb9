// Nearest neighbours and ranking on the host: blocked GEMM distances and a bounded heap per query.
// On a device backend (cuda, cuda-sim) every entry point hands over to runtime/cuda/latent_cuda.cpp
// (runtime/latent_device.h); the host code here is the reference it is tested against.
#include "runtime/latent.h"

#include <omp.h>

#include <algorithm>
#include <cmath>
#include <limits>
#include <numeric>

#include "kernels/common/error.h"
#include "kernels/cpu/gemm.h"
#if defined(AE_HAVE_CUDA_BACKEND)
#include "runtime/latent_device.h"
#endif

namespace ae {

Metric parse_metric(const std::string& text, const std::string& flag) {
  if (text == "euclidean") return Metric::euclidean;
  if (text == "cosine") return Metric::cosine;
  AE_FAIL(flag, " ", text, ": unknown metric; expected euclidean or cosine");
}

const char* metric_name(Metric m) { return m == Metric::euclidean ? "euclidean" : "cosine"; }

namespace {

// Below this many elements a loop runs on one thread: a parallel region's wake-up and barrier cost
// more than the work, far more when other processes share the cores.
constexpr int64_t PARALLEL_MIN = int64_t(1) << 18;

// Whether `backend` runs this on its device: it has one, and this build has the device half.
bool on_device(Backend& backend) {
  if (!backend.device()) return false;
#if defined(AE_HAVE_CUDA_BACKEND)
  return true;
#else
  AE_FAIL("backend '", backend.name(), "' has a device but this build has no device path for search and ranking");
#endif
}

// Rows scaled to unit length in place (cosine); a zero row stays zero.
void normalise_rows(std::vector<float>& x, int64_t n, int64_t d) {
#pragma omp parallel for schedule(static) if (n * d > PARALLEL_MIN)
  for (int64_t i = 0; i < n; ++i) {
    float* r = x.data() + i * d;
    double s = 0;
    for (int64_t j = 0; j < d; ++j) s += double(r[j]) * r[j];
    if (s > 0) {
      const float inv = float(1.0 / std::sqrt(s));
      for (int64_t j = 0; j < d; ++j) r[j] *= inv;
    }
  }
}

std::vector<float> squared_norms(const float* x, int64_t n, int64_t d) {
  std::vector<float> out(static_cast<size_t>(n));
#pragma omp parallel for schedule(static) if (n * d > PARALLEL_MIN)
  for (int64_t i = 0; i < n; ++i) {
    double s = 0;
    for (int64_t j = 0; j < d; ++j) s += double(x[i * d + j]) * x[i * d + j];
    out[size_t(i)] = float(s);
  }
  return out;
}

// One query's best k so far: a max-heap on (distance, index), so the worst kept candidate is on top
// and a new one enters only when it is strictly better in that order.
struct Candidate {
  float distance;
  int64_t index;
  bool operator<(const Candidate& o) const { return distance < o.distance || (distance == o.distance && index < o.index); }
};

// Query and database rows per block: a [QUERY_BLOCK, BASE_BLOCK] tile of dot products is 1 MiB per
// thread, near the caches and large enough that the GEMM runs at full speed.
constexpr int64_t QUERY_BLOCK = 128;
constexpr int64_t BASE_BLOCK = 2048;

}  // namespace

struct RowIndex::Impl {
  std::vector<float> rows;   // [n, d], normalised for cosine
  std::vector<float> norms;  // [n] squared norms (euclidean)
#if defined(AE_HAVE_CUDA_BACKEND)
  std::unique_ptr<detail::DeviceRowIndex> device;  // set on a device backend (rows and norms unused)
#endif
};

RowIndex::RowIndex(Backend& backend, const float* rows, int64_t n, int64_t d, Metric metric)
    : m_n(n), m_d(d), m_metric(metric), m_impl(std::make_unique<Impl>()) {
  AE_CHECK(n >= 1 && d >= 1, "a row index needs at least one row and one column, got ", n, " × ", d);
#if defined(AE_HAVE_CUDA_BACKEND)
  if (on_device(backend)) {
    m_impl->device = detail::make_device_row_index(backend, rows, n, d, metric);
    return;
  }
#else
  (void)on_device(backend);
#endif
  m_impl->rows.assign(rows, rows + n * d);
  if (metric == Metric::cosine) normalise_rows(m_impl->rows, n, d);
  else m_impl->norms = squared_norms(m_impl->rows.data(), n, d);
}

RowIndex::~RowIndex() = default;

Neighbours RowIndex::search(const float* queries, int64_t m, int k) const {
  AE_CHECK(k >= 1 && k <= m_n, "k = ", k, " must be between 1 and the ", m_n, " indexed rows");
  AE_CHECK(m >= 0, "negative query count");
#if defined(AE_HAVE_CUDA_BACKEND)
  if (m_impl->device) return m_impl->device->search(queries, m, k);
#endif
  Neighbours out;
  out.queries = m;
  out.k = k;
  out.index.resize(size_t(m * k));
  out.distance.resize(size_t(m * k));
  const int64_t blocks = (m + QUERY_BLOCK - 1) / QUERY_BLOCK;
  // One parallel region, a block of queries per iteration: each thread runs its own GEMMs (a gemm
  // called inside a parallel region runs on its thread) and heaps, so there is no barrier per tile
  // (OpenMP barriers cost dearly when the cores are shared) and the results do not depend on the
  // thread count.
#pragma omp parallel
  {
    std::vector<float> dots(static_cast<size_t>(QUERY_BLOCK * BASE_BLOCK)), q, qn;
    std::vector<std::vector<Candidate>> heaps(static_cast<size_t>(QUERY_BLOCK));
#pragma omp for schedule(dynamic, 1)
    for (int64_t b = 0; b < blocks; ++b) {
      const int64_t q0 = b * QUERY_BLOCK, mq = std::min(QUERY_BLOCK, m - q0);
      q.assign(queries + q0 * m_d, queries + (q0 + mq) * m_d);
      if (m_metric == Metric::cosine) normalise_rows(q, mq, m_d);
      else qn = squared_norms(q.data(), mq, m_d);
      for (auto& h : heaps) h.clear();
      for (int64_t t0 = 0; t0 < m_n; t0 += BASE_BLOCK) {
        const int64_t nt = std::min(BASE_BLOCK, m_n - t0);
        // dots[i, j] = q_i · t_j, then each query's heap takes the tile's candidates.
        cpu::gemm<float>(false, true, mq, nt, m_d, 1.0f, q.data(), m_d, m_impl->rows.data() + t0 * m_d, m_d, 0.0f, dots.data(), nt);
        for (int64_t i = 0; i < mq; ++i) {
          auto& h = heaps[size_t(i)];
          const float* row = dots.data() + i * nt;
          for (int64_t j = 0; j < nt; ++j) {
            const float dist = m_metric == Metric::cosine
                                   ? 1.0f - row[j]
                                   : std::max(0.0f, qn[size_t(i)] + m_impl->norms[size_t(t0 + j)] - 2.0f * row[j]);
            const Candidate c{dist, t0 + j};
            if (int64_t(h.size()) < k) {
              h.push_back(c);
              std::push_heap(h.begin(), h.end());
            } else if (c < h.front()) {
              std::pop_heap(h.begin(), h.end());
              h.back() = c;
              std::push_heap(h.begin(), h.end());
            }
          }
        }
      }
      for (int64_t i = 0; i < mq; ++i) {
        auto& h = heaps[size_t(i)];
        std::sort_heap(h.begin(), h.end());  // ascending (distance, index)
        for (int j = 0; j < k; ++j) {
          out.index[size_t((q0 + i) * k + j)] = h[size_t(j)].index;
          out.distance[size_t((q0 + i) * k + j)] = h[size_t(j)].distance;
        }
      }
    }
  }
  return out;
}

namespace {
// Host values uploaded to the device for one call, freed after it.
struct DeviceCopy {
  DeviceCopy(Device& dev, const float* values, int64_t n)
      : dev(dev), data(static_cast<float*>(dev.allocate(size_t(std::max<int64_t>(n, 1)) * sizeof(float)))) {
    if (n > 0) dev.upload(data, values, size_t(n) * sizeof(float));
  }
  ~DeviceCopy() { dev.deallocate(data); }
  DeviceCopy(const DeviceCopy&) = delete;
  DeviceCopy& operator=(const DeviceCopy&) = delete;
  Device& dev;
  float* data;
};

// Descending by value, NaN first, ties by lower index: a strict weak order even with NaN.
bool ranks_before(const float* v, int64_t a, int64_t b) {
  const bool na = std::isnan(v[a]), nb = std::isnan(v[b]);
  if (na != nb) return na;
  if (!na && v[a] != v[b]) return v[a] > v[b];
  return a < b;
}
}  // namespace

std::vector<int64_t> rank_descending(Backend& backend, const float* values, int64_t n) {
  return top_k(backend, values, n, n);
}

std::vector<int64_t> top_k(Backend& backend, const float* values, int64_t n, int64_t k) {
  AE_CHECK(n >= 0 && k >= 0 && k <= n, "top_k: k = ", k, " must be between 0 and n = ", n);
  if (on_device(backend)) {
    // Uploaded once, ranked there; the host path below is the reference.
    DeviceCopy v(*backend.device(), values, n);
    return top_k(backend, BackendValues{v.data, n}, k);
  }
  std::vector<int64_t> idx(static_cast<size_t>(n));
  std::iota(idx.begin(), idx.end(), int64_t(0));
  auto cmp = [&](int64_t a, int64_t b) { return ranks_before(values, a, b); };
  if (k == n) std::sort(idx.begin(), idx.end(), cmp);
  else std::partial_sort(idx.begin(), idx.begin() + k, idx.end(), cmp);
  idx.resize(size_t(k));
  return idx;
}

float float_threshold(double thr) {
  float t = float(thr);
  if (double(t) > thr) t = std::nextafter(t, -std::numeric_limits<float>::infinity());
  return t;
}

int64_t count_above(Backend& backend, const float* values, int64_t n, float threshold) {
  if (on_device(backend)) {
    DeviceCopy v(*backend.device(), values, n);
    return count_above(backend, BackendValues{v.data, n}, threshold);
  }
  int64_t c = 0;
  for (int64_t i = 0; i < n; ++i) c += !(values[i] <= threshold);
  return c;
}

std::vector<int64_t> rank_descending(Backend& backend, BackendValues values) {
  return top_k(backend, values, values.n);
}

std::vector<int64_t> top_k(Backend& backend, BackendValues values, int64_t k) {
  AE_CHECK(values.n >= 0 && k >= 0 && k <= values.n, "top_k: k = ", k, " must be between 0 and n = ", values.n);
#if defined(AE_HAVE_CUDA_BACKEND)
  if (on_device(backend)) return detail::device_top_k(backend, values.data, values.n, k);
#endif
  return top_k(backend, values.data, values.n, k);  // a host backend's memory is host memory
}

int64_t count_above(Backend& backend, BackendValues values, float threshold) {
  AE_CHECK(values.n >= 0, "count_above: negative length ", values.n);
#if defined(AE_HAVE_CUDA_BACKEND)
  if (on_device(backend)) return detail::device_count_above(backend, values.data, values.n, threshold);
#endif
  return count_above(backend, values.data, values.n, threshold);
}

}  // namespace ae
