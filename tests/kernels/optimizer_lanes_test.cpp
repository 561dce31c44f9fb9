// The optimizer's vector path (AVX-512, 16 lanes) against its scalar tail: a tensor whose
// elements repeat four value sets is stepped once, so each set is computed both on vector lanes
// and by the scalar loop; every copy must come out bit for bit the same.
#include <gtest/gtest.h>

#include <cstring>
#include <vector>

#include "kernels/cpu/optimizer.h"

namespace ae::cpu {
namespace {

TEST(OptimizerLanes, VectorLanesEqualScalarTailBitwise) {
  const int64_t n = 16 * 3 + 5;  // three full vectors, then five scalar elements
  const float p0[4] = {0.5f, -1.25f, 3.0e-3f, 7.0f}, g0[4] = {0.1f, -2.0f, 1e-6f, 0.75f};
  const float m0[4] = {0.01f, -0.3f, 0.0f, 0.2f}, v0[4] = {1e-4f, 0.5f, 0.0f, 3e-2f};
  OptConfig l2 = default_opt_config(OptKind::adam);
  l2.weight_decay = 0.05;
  OptConfig big_beta1 = default_opt_config(OptKind::adam);
  big_beta1.beta1 = 0.3;  // 1 − β1 ≥ 0.5: the other branch of torch's lerp
  for (const OptConfig& cfg : {default_opt_config(OptKind::adam), default_opt_config(OptKind::adamw), l2, big_beta1})
    for (int64_t step : {1, 7}) {
      std::vector<float> p(n), g(n), st(2 * n);
      for (int64_t i = 0; i < n; ++i) {
        p[i] = p0[i % 4];
        g[i] = g0[i % 4];
        st[i] = m0[i % 4];
        st[n + i] = v0[i % 4];
      }
      ParamSlot s{p.data(), g.data(), st.data(), n};
      optimizer_step(cfg, step, &s, 1);
      for (int64_t i = 4; i < n; ++i) {
        ASSERT_EQ(std::memcmp(&p[i], &p[i % 4], sizeof(float)), 0) << opt_name(cfg.kind) << " step " << step << " p[" << i << "]";
        ASSERT_EQ(std::memcmp(&st[i], &st[i % 4], sizeof(float)), 0) << "exp_avg[" << i << "]";
        ASSERT_EQ(std::memcmp(&st[n + i], &st[n + i % 4], sizeof(float)), 0) << "exp_avg_sq[" << i << "]";
      }
      EXPECT_NE(p[0], p0[0]);  // the step did move the parameter
    }
}

}  // namespace
}  // namespace ae::cpu
