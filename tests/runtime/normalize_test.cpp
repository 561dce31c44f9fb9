// Input normalisation: fit, apply, invert, constant features, JSON round trip, bad records.
#include <gtest/gtest.h>

#include "kernels/common/error.h"
#include "runtime/normalize.h"

namespace ae {
namespace {

TEST(Normalize, ZscoreAndMinmax) {
  std::vector<float> x = {1, 10, 5, 3, 10, 5, 5, 10, 5};  // 3 rows × 3: col 1 and 2 constant... col1 const 10, col2 const 5
  x[5] = 8;                                               // col 2: 5, 8, 5
  Normalizer z = Normalizer::fit(NormKind::zscore, x.data(), 3, 3);
  EXPECT_FLOAT_EQ(z.shift[0], 3.f);
  EXPECT_NEAR(z.scale[0], std::sqrt(8.0 / 3.0), 1e-6);
  EXPECT_FLOAT_EQ(z.scale[1], 1.f);  // constant feature: scale 1, maps to 0
  std::vector<float> y = x;
  z.apply(y.data(), 3, 3);
  EXPECT_FLOAT_EQ(y[1], 0.f);
  double mean0 = (y[0] + y[3] + y[6]) / 3;
  EXPECT_NEAR(mean0, 0, 1e-6);
  z.invert(y.data(), 3, 3);
  for (size_t i = 0; i < x.size(); ++i) EXPECT_NEAR(y[i], x[i], 1e-5);
  Normalizer m = Normalizer::fit(NormKind::minmax, x.data(), 3, 3);
  std::vector<float> w = x;
  m.apply(w.data(), 3, 3);
  EXPECT_FLOAT_EQ(w[0], 0.f);
  EXPECT_FLOAT_EQ(w[6], 1.f);
  EXPECT_FLOAT_EQ(w[5], 1.f);
}

TEST(Normalize, JsonRoundTripAndBadRecords) {
  std::vector<float> x = {0, 1, 2, 3};
  Normalizer n = Normalizer::fit(NormKind::zscore, x.data(), 2, 2);
  Normalizer back = Normalizer::from_json(n.to_json(), 2, "m");
  EXPECT_EQ(back.shift, n.shift);
  EXPECT_EQ(back.scale, n.scale);
  EXPECT_THROW(Normalizer::from_json(n.to_json(), 3, "m"), Error);
  EXPECT_THROW(Normalizer::from_json({{"kind", "zscore"}, {"shift", {0, 0}}, {"scale", {1, 0}}}, 2, "m"), Error);
  EXPECT_THROW(parse_norm_kind("l2", "--normalize"), Error);
  EXPECT_EQ(Normalizer::from_json({{"kind", "none"}}, 5, "m").kind, NormKind::none);
}

}  // namespace
}  // namespace ae
