// AUROC and average precision against values worked out by hand.
#include <gtest/gtest.h>

#include <cmath>

#include "host/metrics.h"

namespace ae {
namespace {

TEST(Metrics, AurocByHand) {
  // positives score 0.9, 0.4; negatives 0.8, 0.3, 0.1: pairs won 2 + 2 of 6 → 4/6... (0.9 beats all
  // three, 0.4 beats 0.3 and 0.1): 5/6.
  EXPECT_NEAR(auroc({0.9f, 0.8f, 0.4f, 0.3f, 0.1f}, {1, 0, 1, 0, 0}), 5.0 / 6.0, 1e-12);
  EXPECT_DOUBLE_EQ(auroc({1, 2, 3}, {0, 0, 1}), 1.0);
  EXPECT_DOUBLE_EQ(auroc({3, 2, 1}, {0, 0, 1}), 0.0);
  EXPECT_DOUBLE_EQ(auroc({1, 1, 1, 1}, {0, 1, 0, 1}), 0.5);  // ties count one half
  EXPECT_TRUE(std::isnan(auroc({1, 2}, {0, 0})));
}

TEST(Metrics, AveragePrecisionByHand) {
  // ranked: 1(+) 0.8(−) 0.6(+) 0.2(−): AP = 0.5·1 + 0.5·(2/3)
  EXPECT_NEAR(average_precision({1.0f, 0.8f, 0.6f, 0.2f}, {1, 0, 1, 0}), 0.5 + 1.0 / 3.0, 1e-12);
  EXPECT_DOUBLE_EQ(average_precision({3, 2, 1}, {1, 1, 0}), 1.0);
  // all tied: one threshold, precision = prevalence
  EXPECT_DOUBLE_EQ(average_precision({1, 1, 1, 1}, {1, 0, 0, 0}), 0.25);
  EXPECT_TRUE(std::isnan(average_precision({1, 2}, {0, 0})));
}

}  // namespace
}  // namespace ae
