// Exact nearest-neighbour search and ranking over rows of codes, on a backend. The cpu backend
// forms distances block by block with its GEMM (‖q‖² + ‖t‖² − 2·q·t, never an N×M matrix in
// memory) and keeps each query's best k in a heap; a device backend keeps the rows on the device,
// forms the same blocks with its GEMM kernel and selects and ranks with Thrust. Both order
// results by (distance, index): ties go to the lower index, so results compare element by element.
#pragma once

#include <cstdint>
#include <memory>
#include <string>
#include <vector>

#include "runtime/backend.h"

namespace ae {

enum class Metric { euclidean, cosine };
Metric parse_metric(const std::string& text, const std::string& flag);  // "euclidean" | "cosine"
const char* metric_name(Metric m);

// The k nearest rows of a fixed set, for each query row: index and distance, [queries, k] row-major,
// nearest first. Distances: euclidean is the squared distance (clamped at 0: the GEMM form can
// round a tiny distance below it); cosine is 1 − cos θ, rows normalised once (a zero row stays
// zero: its distance to everything is 1).
struct Neighbours {
  int64_t queries = 0;
  int k = 0;
  std::vector<int64_t> index;   // [queries, k]
  std::vector<float> distance;  // [queries, k]
};

// The searched rows ([n, d], copied: the caller's array may go) on a backend. search() may be
// called many times (k-means calls it every iteration with new queries).
class RowIndex {
 public:
  RowIndex(Backend& backend, const float* rows, int64_t n, int64_t d, Metric metric);
  ~RowIndex();
  RowIndex(const RowIndex&) = delete;
  RowIndex& operator=(const RowIndex&) = delete;

  int64_t rows() const { return m_n; }
  int64_t dims() const { return m_d; }
  Metric metric() const { return m_metric; }
  // 1 ≤ k ≤ rows(); queries [m, dims()].
  Neighbours search(const float* queries, int64_t m, int k) const;

  struct Impl;  // per backend: host (cpu) or device

 private:
  int64_t m_n, m_d;
  Metric m_metric;
  std::unique_ptr<Impl> m_impl;
};

// Indices of `values` ([n]) from the largest down, ties by lower index; NaN ranks above every
// number (a row that cannot be scored is the first to look at). On a device backend the values
// are uploaded once and sorted there.
std::vector<int64_t> rank_descending(Backend& backend, const float* values, int64_t n);
// The first k of rank_descending (0 ≤ k ≤ n).
std::vector<int64_t> top_k(Backend& backend, const float* values, int64_t n, int64_t k);
// How many values are > threshold (NaN counts as above: it is flagged).
int64_t count_above(Backend& backend, const float* values, int64_t n, float threshold);
// The float threshold for count_above that flags exactly the values v with double(v) > thr (and
// NaN): thr rounded down to a float. A float exceeds thr exactly when it exceeds that float.
float float_threshold(double thr);

// Values that already live in the backend's memory: device memory on a device backend (what
// Executor::data() returns there), host memory on a host backend. Ranked where they are: on a device
// only the k indices (or the count) come back, never the values.
struct BackendValues {
  const float* data = nullptr;  // [n]
  int64_t n = 0;
};
std::vector<int64_t> rank_descending(Backend& backend, BackendValues values);
std::vector<int64_t> top_k(Backend& backend, BackendValues values, int64_t k);
int64_t count_above(Backend& backend, BackendValues values, float threshold);

}  // namespace ae
