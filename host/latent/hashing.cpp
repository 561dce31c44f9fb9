// Binary codes from an autoencoder's codes or from random hyperplanes, and exact Hamming ranking.
#include "host/latent/hashing.h"

#include <algorithm>
#include <bit>
#include <cmath>
#include <cstring>
#include <numeric>

#include "kernels/common/error.h"
#include "kernels/common/philox.h"
#include "kernels/cpu/gemm.h"

namespace ae::latent {

CodeStats fit_code_stats(const float* codes, int64_t rows, int64_t units) {
  AE_CHECK(rows >= 1 && units >= 1, "code statistics of ", rows, " rows × ", units, " units");
  CodeStats s;
  s.median.resize(size_t(units));
  s.std.resize(size_t(units));
#pragma omp parallel for schedule(dynamic)
  for (int64_t u = 0; u < units; ++u) {
    std::vector<float> col(static_cast<size_t>(rows));
    double sum = 0;
    for (int64_t r = 0; r < rows; ++r) sum += double(col[size_t(r)] = codes[r * units + u]);
    const double mean = sum / double(rows);
    double ss = 0;
    for (float v : col) ss += (double(v) - mean) * (double(v) - mean);
    s.std[size_t(u)] = float(std::sqrt(ss / double(rows)));
    const size_t mid = size_t(rows / 2);
    std::nth_element(col.begin(), col.begin() + ptrdiff_t(mid), col.end());
    double med = col[mid];
    if (rows % 2 == 0) med = 0.5 * (med + double(*std::max_element(col.begin(), col.begin() + ptrdiff_t(mid))));
    s.median[size_t(u)] = float(med);
  }
  return s;
}

std::vector<int64_t> select_units(const std::vector<float>& std, int64_t bits) {
  const int64_t units = int64_t(std.size());
  AE_CHECK(bits >= 1 && bits <= units, "select ", bits, " of ", units, " units");
  std::vector<int64_t> idx(static_cast<size_t>(units));
  std::iota(idx.begin(), idx.end(), int64_t(0));
  std::stable_sort(idx.begin(), idx.end(), [&](int64_t a, int64_t b) { return std[size_t(a)] > std[size_t(b)]; });
  idx.resize(size_t(bits));
  std::sort(idx.begin(), idx.end());
  return idx;
}

int64_t bytes_per_row(int64_t bits) { return (bits + 7) / 8; }

std::vector<uint8_t> pack_codes(const float* codes, int64_t rows, int64_t width, const std::vector<int64_t>& units,
                                const std::vector<float>& thresholds) {
  AE_CHECK(units.size() == thresholds.size(), "one threshold per hashed unit");
  const int64_t bits = int64_t(units.size()), bytes = bytes_per_row(bits);
  for (int64_t u : units) AE_CHECK(u >= 0 && u < width, "hashed unit ", u, " outside a code of ", width);
  std::vector<uint8_t> out(size_t(rows * bytes), 0);
#pragma omp parallel for
  for (int64_t r = 0; r < rows; ++r)
    for (int64_t j = 0; j < bits; ++j)
      if (codes[r * width + units[size_t(j)]] > thresholds[size_t(j)]) out[size_t(r * bytes + j / 8)] |= uint8_t(0x80u >> (j % 8));
  return out;
}

BitCodes to_words(const std::vector<uint8_t>& packed, int64_t rows, int64_t bits) {
  const int64_t bytes = bytes_per_row(bits);
  AE_CHECK(int64_t(packed.size()) == rows * bytes, "packed codes of ", packed.size(), " bytes for ", rows, " rows of ", bits, " bits");
  BitCodes c;
  c.rows = rows, c.bits = bits, c.words = (bits + 63) / 64;
  c.w.assign(size_t(rows * c.words), 0);
  for (int64_t r = 0; r < rows; ++r)
    for (int64_t b = 0; b < bytes; ++b)
      c.w[size_t(r * c.words + b / 8)] |= uint64_t(packed[size_t(r * bytes + b)]) << (8 * (b % 8));
  return c;
}

int hamming(const uint64_t* a, const uint64_t* b, int64_t words) {
  int d = 0;
  for (int64_t i = 0; i < words; ++i) d += std::popcount(a[i] ^ b[i]);
  return d;
}

QueryResult rank_query(const BitCodes& db, const uint64_t* query, int64_t k, const int32_t* db_labels, int32_t query_label,
                       std::vector<uint16_t>& dist) {
  AE_CHECK(k >= 1 && k <= db.rows, "top ", k, " of ", db.rows, " database rows");
  AE_CHECK(db.bits < 65536, "distances are kept in 16 bits");
  const int64_t n = db.rows, nd = db.bits + 1;
  dist.resize(size_t(n));
  // Pass 1: each row's distance, and per distance how many rows (and relevant rows) have it.
  std::vector<int64_t> start(size_t(nd) + 1, 0), rel_start(size_t(nd) + 1, 0);
  const uint64_t* w = db.w.data();
  if (db.words == 1) {  // the common case (≤ 64 bits), without the inner loop
    for (int64_t i = 0; i < n; ++i) dist[size_t(i)] = uint16_t(std::popcount(w[i] ^ query[0]));
  } else {
    for (int64_t i = 0; i < n; ++i) dist[size_t(i)] = uint16_t(hamming(w + i * db.words, query, db.words));
  }
  for (int64_t i = 0; i < n; ++i) {
    ++start[size_t(dist[size_t(i)]) + 1];
    if (db_labels && db_labels[i] == query_label) ++rel_start[size_t(dist[size_t(i)]) + 1];
  }
  std::partial_sum(start.begin(), start.end(), start.begin());  // start[d]: rows closer than d
  std::partial_sum(rel_start.begin(), rel_start.end(), rel_start.begin());
  const int64_t relevant = rel_start[size_t(nd)];
  // Pass 2, in database order: a row's rank is the rows closer than it plus the rows at its
  // distance seen before it (lower index first), so no sort is needed.
  QueryResult q;
  q.rows.resize(size_t(k));
  q.dist.resize(size_t(k));
  int64_t hits = 0;
  double ap = 0;
  for (int64_t i = 0; i < n; ++i) {
    const uint16_t d = dist[size_t(i)];
    const int64_t rank = ++start[size_t(d)];  // 1-based
    const bool rel = db_labels && db_labels[i] == query_label;
    if (rank <= k) {
      q.rows[size_t(rank - 1)] = i;
      q.dist[size_t(rank - 1)] = d;
      hits += rel;
    }
    if (rel) ap += double(++rel_start[size_t(d)]) / double(rank);
  }
  q.precision = double(hits) / double(k);
  q.ap = relevant > 0 ? ap / double(relevant) : 0;
  return q;
}

Retrieval retrieve(const BitCodes& db, const BitCodes& queries, int64_t k, const std::vector<int32_t>& db_labels,
                   const std::vector<int32_t>& query_labels) {
  AE_CHECK(db.bits == queries.bits, "database codes of ", db.bits, " bits, queries of ", queries.bits);
  // Checked here, not only in rank_query: an exception must not leave an OpenMP region.
  AE_CHECK(k >= 1 && k <= db.rows, "top ", k, " of ", db.rows, " database rows");
  AE_CHECK(db.bits < 65536, "distances are kept in 16 bits");
  const bool labelled = !db_labels.empty();
  AE_CHECK(!labelled || (int64_t(db_labels.size()) == db.rows && int64_t(query_labels.size()) == queries.rows),
           "one label per database row and per query");
  Retrieval out;
  out.queries.resize(size_t(queries.rows));
#pragma omp parallel
  {
    std::vector<uint16_t> dist;
#pragma omp for schedule(dynamic, 16)
    for (int64_t q = 0; q < queries.rows; ++q)
      out.queries[size_t(q)] = rank_query(db, queries.w.data() + q * queries.words, k, labelled ? db_labels.data() : nullptr,
                                          labelled ? query_labels[size_t(q)] : 0, dist);
  }
  if (labelled && queries.rows > 0) {
    for (const QueryResult& q : out.queries) out.precision += q.precision, out.map += q.ap;
    out.precision /= double(queries.rows);
    out.map /= double(queries.rows);
  }
  return out;
}

Hyperplanes make_hyperplanes(const float* database, int64_t rows, int64_t features, int64_t bits, uint64_t seed) {
  AE_CHECK(rows >= 1 && features >= 1 && bits >= 1, "hyperplanes for ", rows, " rows × ", features, " features, ", bits, " bits");
  Hyperplanes h;
  h.bits = bits, h.features = features;
  h.g.resize(size_t(bits * features));
  for (int64_t i = 0; i < bits * features; ++i) h.g[size_t(i)] = philox_normal(seed, 0, PhiloxPurpose::hashing, uint64_t(i));
  std::vector<double> sum(size_t(features), 0.0);
  for (int64_t r = 0; r < rows; ++r)
    for (int64_t f = 0; f < features; ++f) sum[size_t(f)] += database[r * features + f];
  h.mean.resize(size_t(features));
  for (int64_t f = 0; f < features; ++f) h.mean[size_t(f)] = float(sum[size_t(f)] / double(rows));
  return h;
}

std::vector<uint8_t> lsh_codes(const Hyperplanes& h, const float* x, int64_t rows) {
  // (x − mean)·g_j = x·g_j − mean·g_j: one GEMM over the rows as they are, then the offset.
  std::vector<float> proj(size_t(rows * h.bits)), offset(size_t(h.bits));
  cpu::gemm<float>(false, true, rows, h.bits, h.features, 1.f, x, h.features, h.g.data(), h.features, 0.f, proj.data(), h.bits);
  cpu::gemm<float>(false, true, 1, h.bits, h.features, 1.f, h.mean.data(), h.features, h.g.data(), h.features, 0.f, offset.data(),
                   h.bits);
  std::vector<int64_t> units(size_t(h.bits));
  std::iota(units.begin(), units.end(), int64_t(0));
  return pack_codes(proj.data(), rows, h.bits, units, offset);
}

}  // namespace ae::latent
