// The k-nearest search's device steps (kernels/cuda/distance.cuh) and Thrust ranking
// (kernels/cuda/rank.cuh) against host loops written as runtime/latent.cpp's reference writes them:
// row norms and normalisation bit-equal (double accumulation in column order); nearest_block over
// two tiles (the second merging into the first's running best) equal to a host sort of all
// distances by (distance, index) with NaN last, for k = 1, a middle k and every row, on odd shapes,
// with ties (small integers) and NaN dot products; ranking with NaN, ties and ±0. Buffers carry guard
// bytes and are named for memcheck, outputs are prefilled with NaN.
#include "kernels/cuda/distance.cuh"
#include "kernels/cuda/rank.cuh"

#include <gtest/gtest.h>

#include <algorithm>
#include <cmath>
#include <cstring>
#include <numeric>

#include "tests/kernels/cuda/harness.h"

namespace ae::cudatest {
namespace {

struct NormsCase {
  int64_t n, d;
  bool normalise;
};

class RowNorms : public DeviceTestWithParam<NormsCase> {};

TEST_P(RowNorms, BitEqualToTheHostReference) {
  const auto [n, d, normalise] = GetParam();
  std::vector<float> x = uniform(size_t(n * d), -2, 2, uint64_t(n * 131 + d), 1);
  if (n > 2) std::fill(x.begin() + d, x.begin() + 2 * d, 0.0f);  // a zero row stays zero
  std::vector<float> want_x = x, want_norms(static_cast<size_t>(n));
  for (int64_t i = 0; i < n; ++i) {
    double s = 0;
    for (int64_t j = 0; j < d; ++j) s += double(x[size_t(i * d + j)]) * x[size_t(i * d + j)];
    want_norms[size_t(i)] = float(s);
    if (normalise && s > 0) {
      const float inv = float(1.0 / std::sqrt(s));
      for (int64_t j = 0; j < d; ++j) want_x[size_t(i * d + j)] *= inv;
    }
  }
  DeviceBuffer<float> dx(x), dn(static_cast<size_t>(n));
  name_for_memcheck(dx, "x");
  name_for_memcheck(dn, "norms");
  ae::cuda::row_norms(dx.get(), n, d, normalise, dn.get(), nullptr);
  AE_CUDA_CHECK(cudaDeviceSynchronize());
  EXPECT_EQ(dn.download(), want_norms);
  EXPECT_EQ(dx.download(), want_x);
  expect_guards("row_norms", dx, dn);
}

INSTANTIATE_TEST_SUITE_P(Shapes, RowNorms,
                         ::testing::Values(NormsCase{1, 1, false}, NormsCase{37, 5, false}, NormsCase{37, 5, true},
                                           NormsCase{257, 65, true}, NormsCase{300, 3, false}));

struct Candidate {
  float d;
  int64_t i;
};
bool before(const Candidate& a, const Candidate& b) {
  const bool na = std::isnan(a.d), nb = std::isnan(b.d);
  if (na != nb) return nb;
  if (!na && a.d != b.d) return a.d < b.d;
  return a.i < b.i;
}

struct BlockCase {
  bool cosine;
  int64_t mq, nt0, nt1;  // two tiles of nt0 and nt1 rows
  int k;                 // 0: every row (nt0 + nt1)
  bool nan_dots;
};

std::string block_name(const BlockCase& c) {
  return test_name(std::string(c.cosine ? "cosine" : "euclidean") + "_mq" + std::to_string(c.mq) + "_nt" +
                   std::to_string(c.nt0) + "+" + std::to_string(c.nt1) + "_k" + (c.k ? std::to_string(c.k) : "all") +
                   (c.nan_dots ? "_nan" : ""));
}

class NearestBlock : public DeviceTestWithParam<BlockCase> {};

TEST_P(NearestBlock, EqualsAHostSortOfEveryDistance) {
  const BlockCase c = GetParam();
  const int64_t n = c.nt0 + c.nt1;
  const int k = c.k ? c.k : int(n);
  // Small integers: distances repeat, so the (distance, index) tie rule decides the order.
  std::vector<float> dots = small_ints(size_t(c.mq * n), -3, 3, uint64_t(c.mq * 7 + n), 2);
  std::vector<float> qn = small_ints(size_t(c.mq), 0, 9, uint64_t(c.mq), 3);
  std::vector<float> tn = small_ints(size_t(n), 0, 9, uint64_t(n), 4);
  if (c.nan_dots)
    for (size_t e = 0; e < dots.size(); e += 5) dots[e] = std::nanf("");
  std::vector<float> want_d(static_cast<size_t>(c.mq * k));
  std::vector<int64_t> want_i(static_cast<size_t>(c.mq * k));
  for (int64_t i = 0; i < c.mq; ++i) {
    std::vector<Candidate> all;
    for (int64_t j = 0; j < n; ++j) {
      const float dot = dots[size_t(i * n + j)];
      all.push_back({c.cosine ? 1.0f - dot : std::max(0.0f, qn[size_t(i)] + tn[size_t(j)] - 2.0f * dot), j});
    }
    std::stable_sort(all.begin(), all.end(), before);
    for (int j = 0; j < k; ++j) want_d[size_t(i * k + j)] = all[size_t(j)].d, want_i[size_t(i * k + j)] = all[size_t(j)].i;
  }
  // The tiles as the search forms them: [mq, nt] each, the second's norms from row nt0 on.
  auto tile = [&](int64_t t0, int64_t nt) {
    std::vector<float> t(static_cast<size_t>(c.mq * nt));
    for (int64_t i = 0; i < c.mq; ++i)
      for (int64_t j = 0; j < nt; ++j) t[size_t(i * nt + j)] = dots[size_t(i * n + t0 + j)];
    return t;
  };
  DeviceBuffer<float> d0(tile(0, c.nt0)), d1(tile(c.nt0, c.nt1)), dq(qn), dt(tn), best_d(static_cast<size_t>(c.mq * k));
  DeviceBuffer<int64_t> best_i(static_cast<size_t>(c.mq * k));
  const int64_t capacity = c.mq * (k + std::max(c.nt0, c.nt1));
  DeviceBuffer<uint64_t> sk(static_cast<size_t>(capacity));
  DeviceBuffer<int64_t> si(static_cast<size_t>(capacity));
  name_for_memcheck(d0, "dots0"), name_for_memcheck(d1, "dots1"), name_for_memcheck(dq, "q_norms");
  name_for_memcheck(dt, "t_norms"), name_for_memcheck(best_d, "best_distance"), name_for_memcheck(best_i, "best_index");
  name_for_memcheck(sk, "scratch.key"), name_for_memcheck(si, "scratch.index");
  const ae::cuda::NearestScratch scratch{sk.get(), si.get(), capacity};
  ae::cuda::nearest_block(c.cosine, d0.get(), dq.get(), dt.get(), c.mq, c.nt0, 0, k, false, best_d.get(), best_i.get(),
                          scratch, nullptr);
  ae::cuda::nearest_block(c.cosine, d1.get(), dq.get(), dt.get() + c.nt0, c.mq, c.nt1, c.nt0, k, true, best_d.get(),
                          best_i.get(), scratch, nullptr);
  AE_CUDA_CHECK(cudaDeviceSynchronize());
  const std::vector<float> got_d = best_d.download();
  const std::vector<int64_t> got_i = best_i.download();
  ASSERT_EQ(got_i, want_i) << block_name(c) << replay_note();
  for (size_t e = 0; e < got_d.size(); ++e)  // bit-equal, NaN where the reference has NaN
    ASSERT_TRUE(std::isnan(want_d[e]) ? std::isnan(got_d[e]) : got_d[e] == want_d[e]) << "element " << e;
  expect_guards("nearest_block", d0, d1, dq, dt, best_d, best_i, sk, si);
}

INSTANTIATE_TEST_SUITE_P(
    Shapes, NearestBlock,
    ::testing::Values(BlockCase{false, 1, 1, 1, 1, false}, BlockCase{false, 7, 5, 3, 3, false},
                      BlockCase{false, 7, 5, 3, 0, false}, BlockCase{false, 33, 65, 31, 7, false},
                      BlockCase{true, 33, 65, 31, 7, false}, BlockCase{true, 13, 17, 6, 0, true},
                      BlockCase{false, 13, 17, 6, 9, true}, BlockCase{true, 5, 2, 40, 20, false},
                      BlockCase{true, 5, 2, 40, 20, true}, BlockCase{false, 4, 3, 9, 12, true}),
    [](const ::testing::TestParamInfo<BlockCase>& info) { return block_name(info.param); });

TEST(NearestBlockArguments, AreChecked) {
  const ae::cuda::NearestScratch small{nullptr, nullptr, 3};
  float x = 0;
  int64_t i = 0;
  EXPECT_THROW(ae::cuda::nearest_block(true, &x, nullptr, nullptr, 1, 3, 0, 1, false, &x, &i, small, nullptr), ae::Error);
  EXPECT_THROW(ae::cuda::nearest_block(false, &x, nullptr, nullptr, 1, 1, 0, 1, false, &x, &i,
                                       ae::cuda::NearestScratch{nullptr, nullptr, 4}, nullptr),
               ae::Error);  // euclidean needs the norms
  EXPECT_THROW(ae::cuda::row_norms(&x, -1, 1, false, nullptr, nullptr), ae::Error);
}

class Rank : public DeviceTest {};

TEST_F(Rank, NanFirstDescendingTiesByLowerIndexAndCountAbove) {
  const float nan = std::nanf(""), inf = INFINITY;
  const std::vector<float> v = {1.0f, nan, 2.0f, 1.0f, -0.0f, 0.0f, -inf, inf, nan, 2.0f, 0.5f};
  const int64_t n = int64_t(v.size());
  std::vector<int64_t> want(v.size());
  std::iota(want.begin(), want.end(), int64_t(0));
  std::stable_sort(want.begin(), want.end(), [&](int64_t a, int64_t b) {
    const bool na = std::isnan(v[size_t(a)]), nb = std::isnan(v[size_t(b)]);
    if (na != nb) return na;
    return !na && v[size_t(a)] > v[size_t(b)];
  });
  ASSERT_EQ(want, (std::vector<int64_t>{1, 8, 7, 2, 9, 0, 3, 10, 4, 5, 6}));  // not vacuous: NaN first, ties kept
  DeviceBuffer<float> dv(v), keys(v.size());
  DeviceBuffer<int64_t> order(v.size());
  name_for_memcheck(dv, "values"), name_for_memcheck(keys, "keys"), name_for_memcheck(order, "order");
  ae::cuda::rank_descending(dv.get(), n, keys.get(), order.get(), nullptr);
  AE_CUDA_CHECK(cudaDeviceSynchronize());
  EXPECT_EQ(order.download(), want);
  const std::vector<float> after = dv.download();  // values are left as they were (keys are the copy)
  EXPECT_EQ(std::memcmp(after.data(), v.data(), v.size() * sizeof(float)), 0);
  EXPECT_EQ(ae::cuda::count_above(dv.get(), n, 0.75f, nullptr), 7);  // 1, 1, 2, 2, inf and both NaNs
  EXPECT_EQ(ae::cuda::count_above(dv.get(), n, inf, nullptr), 2);    // only the NaNs
  EXPECT_EQ(ae::cuda::count_above(dv.get(), n, -inf, nullptr), n - 1);
  expect_guards("rank", dv, keys, order);
}

}  // namespace
}  // namespace ae::cudatest
