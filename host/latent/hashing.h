// Semantic hashing (Salakhutdinov & Hinton): an autoencoder's codes thresholded into binary codes,
// compared by Hamming distance; and random-hyperplane LSH (Charikar 2002) on the raw features as
// the baseline. Binary codes are packed as numpy.packbits does (MSB first), and ranked exactly:
// distances lie in [0, B], so a per-query histogram gives each database row its rank without a sort.
#pragma once

#include <cstdint>
#include <string>
#include <vector>

namespace ae::latent {

// Per-unit median and standard deviation of codes [rows, units] (the median of an even count is
// the mean of the two middle values, as numpy's).
struct CodeStats {
  std::vector<float> median, std;  // [units]
};
CodeStats fit_code_stats(const float* codes,  // [rows, units]
                         int64_t rows, int64_t units);

// The `bits` units to hash: all of them when bits == units, else the `bits` with the largest
// standard deviation (ties to the lower unit), returned in increasing unit order. So bit j of a
// code is the j-th selected unit, and bits == units hashes unit j into bit j.
std::vector<int64_t> select_units(const std::vector<float>& std, int64_t bits);

// Binary codes [rows, bytes_per_row(bits)] as numpy.packbits(axis=1) packs a 0/1 matrix: bit j of
// a row is byte j/8, bit 7 − j%8 (the most significant bit first); the unused low bits of the last
// byte are 0. Bit j is 1 when codes[r, units[j]] > thresholds[j] (a value at the threshold is 0).
int64_t bytes_per_row(int64_t bits);
std::vector<uint8_t> pack_codes(const float* codes,  // [rows, width]
                                int64_t rows, int64_t width, const std::vector<int64_t>& units,
                                const std::vector<float>& thresholds);  // [units.size()]

// Packed codes as 64-bit words for popcount: row r is words [r·words, (r+1)·words), byte b of the
// packed row in bits 8·(b%8) … of word b/8 (any fixed layout would do: XOR and popcount ignore it);
// padding is zero, so it never adds to a distance.
struct BitCodes {
  int64_t rows = 0, bits = 0, words = 0;
  std::vector<uint64_t> w;  // [rows, words]
};
BitCodes to_words(const std::vector<uint8_t>& packed,  // [rows, bytes_per_row(bits)]
                  int64_t rows, int64_t bits);
int hamming(const uint64_t* a, const uint64_t* b, int64_t words);

// One query's ranking of the whole database by Hamming distance, ties broken by the lower database
// row: the top k rows (with their distances), and against labels (relevant = the query's label)
// the precision among those k and the average precision over the whole ranking,
// AP = (1/R) Σ_{relevant rows i} (relevant rows ranked at or above i) / rank(i), R the number of
// relevant rows (0 when R = 0). Exact: the ranking is the one the tie order defines.
struct QueryResult {
  std::vector<int64_t> rows;  // [k], database rows, best first
  std::vector<int32_t> dist;  // [k]
  double precision = 0, ap = 0;
};
// `dist` is scratch of db.rows entries. db_labels may be null (no metrics).
QueryResult rank_query(const BitCodes& db, const uint64_t* query, int64_t k, const int32_t* db_labels, int32_t query_label,
                       std::vector<uint16_t>& dist);

// All queries (OpenMP over queries): results[q], and the mean precision@k and mean AP (mAP) when
// labels are given.
struct Retrieval {
  std::vector<QueryResult> queries;
  double precision = 0, map = 0;
};
Retrieval retrieve(const BitCodes& db, const BitCodes& queries, int64_t k, const std::vector<int32_t>& db_labels,
                   const std::vector<int32_t>& query_labels);

// Random-hyperplane LSH: bit j of a row is ((x − mean)·g_j > 0), g_j ~ N(0, I) drawn from ae's
// Philox (purpose `hashing`, key `seed`, index j·features + f), mean the database's column mean.
struct Hyperplanes {
  int64_t bits = 0, features = 0;
  std::vector<float> g;     // [bits, features]
  std::vector<float> mean;  // [features]
};
Hyperplanes make_hyperplanes(const float* database,  // [rows, features]: the centring mean
                             int64_t rows, int64_t features, int64_t bits, uint64_t seed);
std::vector<uint8_t> lsh_codes(const Hyperplanes& h, const float* x,  // [rows, features]
                               int64_t rows);

}  // namespace ae::latent
