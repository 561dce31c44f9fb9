// Semantic hashing's pieces (host/latent/hashing.h): numpy.packbits' bit order, unit selection,
// medians, the exact Hamming ranking against a brute-force sort, average precision against a
// hand-computed ranking, and LSH's determinism.
#include <gtest/gtest.h>

#include <algorithm>
#include <numeric>
#include <random>

#include "host/latent/hashing.h"
#include "tests/expect_error.h"

namespace ae::latent {
namespace {

std::vector<int64_t> iota_units(int64_t n) {
  std::vector<int64_t> u(static_cast<size_t>(n));
  std::iota(u.begin(), u.end(), int64_t(0));
  return u;
}

// numpy.packbits([[1,0,1,1,0,0,0,1, 1,1,0]], axis=1) == [[0b10110001, 0b11000000]]: bit j is byte
// j/8, bit 7 − j%8; the tail of the last byte is zero. A value at its threshold is 0.
TEST(Hashing, PacksMostSignificantBitFirstLikeNumpy) {
  const std::vector<float> bits = {1, 0, 1, 1, 0, 0, 0, 1, 1, 1, 0};
  const std::vector<float> thr(11, 0.5f);
  const std::vector<uint8_t> p = pack_codes(bits.data(), 1, 11, iota_units(11), thr);
  ASSERT_EQ(p.size(), 2u);
  EXPECT_EQ(p[0], 0b10110001);
  EXPECT_EQ(p[1], 0b11000000);
  const std::vector<float> at = {0.5f, 0.50001f};
  EXPECT_EQ(pack_codes(at.data(), 1, 2, iota_units(2), {0.5f, 0.5f})[0], 0b01000000);
  // Selected units in increasing order, each cut at its own threshold: units 3 and 1 of 4.
  const std::vector<float> row = {9, 2, 9, -1};
  EXPECT_EQ(pack_codes(row.data(), 1, 4, {1, 3}, {1.f, 0.f})[0], 0b10000000);
  EXPECT_EQ(bytes_per_row(1), 1);
  EXPECT_EQ(bytes_per_row(8), 1);
  EXPECT_EQ(bytes_per_row(9), 2);
  EXPECT_EQ(bytes_per_row(64), 8);
}

TEST(Hashing, SelectsTheUnitsOfLargestDeviationInUnitOrder) {
  EXPECT_EQ(select_units({0.1f, 0.9f, 0.5f, 0.9f, 0.2f}, 3), (std::vector<int64_t>{1, 2, 3}));
  EXPECT_EQ(select_units({0.3f, 0.3f, 0.3f}, 2), (std::vector<int64_t>{0, 1}));  // ties: lower unit
  EXPECT_EQ(select_units({0.3f, 0.1f}, 2), (std::vector<int64_t>{0, 1}));
}

TEST(Hashing, MediansAndDeviationsAsNumpy) {
  // Unit 0: 1, 4, 2, 3 (median 2.5, even count); unit 1: constant 7.
  const std::vector<float> c = {1, 7, 4, 7, 2, 7, 3, 7};
  CodeStats s = fit_code_stats(c.data(), 4, 2);
  EXPECT_FLOAT_EQ(s.median[0], 2.5f);
  EXPECT_FLOAT_EQ(s.median[1], 7.f);
  EXPECT_NEAR(s.std[0], std::sqrt(1.25), 1e-6);  // numpy.std (ddof 0)
  EXPECT_EQ(s.std[1], 0.f);
  const std::vector<float> odd = {5, 1, 3};
  EXPECT_FLOAT_EQ(fit_code_stats(odd.data(), 3, 1).median[0], 3.f);
}

// Random codes of 1, 64 and 100 bits (one word, one full word, two words): the top k and every
// distance match a stable sort of (distance, row); precision and AP match the definition computed
// from that sorted list.
TEST(Hashing, RankingMatchesABruteForceSort) {
  std::mt19937_64 rng(7);
  for (int64_t bits : {1, 5, 64, 100}) {
    const int64_t n = 517, nq = 9, bytes = bytes_per_row(bits);
    std::vector<uint8_t> dbp(size_t(n * bytes)), qp(size_t(nq * bytes));
    for (auto* v : {&dbp, &qp})
      for (int64_t r = 0; r < int64_t(v->size()) / bytes; ++r)
        for (int64_t j = 0; j < bits; ++j)
          if (rng() & 1) (*v)[size_t(r * bytes + j / 8)] |= uint8_t(0x80u >> (j % 8));
    std::vector<int32_t> dbl(static_cast<size_t>(n)), ql(static_cast<size_t>(nq));
    for (auto& l : dbl) l = int32_t(rng() % 4);
    for (auto& l : ql) l = int32_t(rng() % 4);
    const BitCodes db = to_words(dbp, n, bits), q = to_words(qp, nq, bits);
    for (int64_t k : {int64_t(1), int64_t(10), n}) {
      const Retrieval r = retrieve(db, q, k, dbl, ql);
      double map = 0;
      for (int64_t qi = 0; qi < nq; ++qi) {
        std::vector<std::pair<int, int64_t>> order;
        for (int64_t i = 0; i < n; ++i) {
          int d = 0;  // bit by bit from the bytes, not through the words
          for (int64_t j = 0; j < bits; ++j)
            d += ((dbp[size_t(i * bytes + j / 8)] ^ qp[size_t(qi * bytes + j / 8)]) >> (7 - j % 8)) & 1;
          order.push_back({d, i});
        }
        std::sort(order.begin(), order.end());
        const QueryResult& got = r.queries[size_t(qi)];
        ASSERT_EQ(int64_t(got.rows.size()), k);
        int64_t hits = 0, rel = 0;
        double ap = 0;
        for (int64_t i = 0; i < n; ++i) {
          if (i < k) {
            ASSERT_EQ(got.rows[size_t(i)], order[size_t(i)].second) << "bits " << bits << " query " << qi << " rank " << i;
            ASSERT_EQ(got.dist[size_t(i)], order[size_t(i)].first);
          }
          if (dbl[size_t(order[size_t(i)].second)] == ql[size_t(qi)]) {
            ++rel;
            ap += double(rel) / double(i + 1);
            if (i < k) ++hits;
          }
        }
        EXPECT_NEAR(got.precision, double(hits) / double(k), 1e-12);
        EXPECT_NEAR(got.ap, rel ? ap / double(rel) : 0.0, 1e-12);
        map += rel ? ap / double(rel) : 0.0;
      }
      EXPECT_NEAR(r.map, map / double(nq), 1e-12);
    }
  }
}

// Four database rows of 2 bits against the query 00: distances 1, 0, 1, 2 rank rows 1, 0, 2, 3
// (row 0 before row 2: the tie goes to the lower row). Relevant rows 0 and 3 sit at ranks 2 and 4:
// AP = (1/2 + 2/4) / 2 = 0.5; precision@2 = 1/2.
TEST(Hashing, AveragePrecisionOfAHandRankedExample) {
  const std::vector<uint8_t> db = {0b01000000, 0b00000000, 0b10000000, 0b11000000}, q = {0};
  const Retrieval r = retrieve(to_words(db, 4, 2), to_words(q, 1, 2), 2, {5, 6, 6, 5}, {5});
  EXPECT_EQ(r.queries[0].rows, (std::vector<int64_t>{1, 0}));
  EXPECT_EQ(r.queries[0].dist, (std::vector<int32_t>{0, 1}));
  EXPECT_DOUBLE_EQ(r.queries[0].ap, 0.5);
  EXPECT_DOUBLE_EQ(r.precision, 0.5);
  EXPECT_DOUBLE_EQ(r.map, 0.5);
  // No relevant row at all: AP 0, not a division by zero.
  EXPECT_EQ(retrieve(to_words(db, 4, 2), to_words(q, 1, 2), 4, {1, 1, 1, 1}, {2}).map, 0.0);
}

// Hyperplanes are a function of the seed alone (Philox), the codes of the data; another seed draws
// other planes. Rows on either side of the centred origin get complementary codes.
TEST(Hashing, LshIsDeterministicAndCentred) {
  const int64_t rows = 40, f = 13, bits = 24;
  std::vector<float> x(size_t(rows * f));
  std::mt19937 rng(3);
  std::normal_distribution<float> nd;
  for (auto& v : x) v = 5.f + nd(rng);
  const Hyperplanes a = make_hyperplanes(x.data(), rows, f, bits, 11), b = make_hyperplanes(x.data(), rows, f, bits, 11),
                    c = make_hyperplanes(x.data(), rows, f, bits, 12);
  EXPECT_EQ(a.g, b.g);
  EXPECT_NE(a.g, c.g);
  EXPECT_EQ(lsh_codes(a, x.data(), rows), lsh_codes(b, x.data(), rows));
  // mean + d and mean − d fall on opposite sides of every hyperplane.
  std::vector<float> pair(size_t(2 * f));
  for (int64_t i = 0; i < f; ++i) {
    const float d = nd(rng);
    pair[size_t(i)] = a.mean[size_t(i)] + d, pair[size_t(f + i)] = a.mean[size_t(i)] - d;
  }
  const std::vector<uint8_t> p = lsh_codes(a, pair.data(), 2);
  for (int64_t j = 0; j < bytes_per_row(bits); ++j) EXPECT_EQ(uint8_t(p[size_t(j)] ^ p[size_t(3 + j)]), 0xFF) << j;
}

TEST(Hashing, RefusesATopOutsideTheDatabase) {
  const std::vector<uint8_t> db = {0, 0}, q = {0};
  test::expect_error([&] { retrieve(to_words(db, 2, 3), to_words(q, 1, 3), 3, {}, {}); }, {"top 3 of 2"});
}

}  // namespace
}  // namespace ae::latent
