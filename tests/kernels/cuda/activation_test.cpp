// ae::cuda::activation_forward/activation_backward/activation_second_backward on cuda-sim against
// the cpu reference (kernels/cpu/activation.h): every activation, act′ from z and (where it exists)
// from y, act″ from z (the contractive penalty's gradient), sizes around the 256-thread block, dx
// aliasing dy, and gelu's refusal without z. Same shared math on both sides: bit-equal under
// cuda-sim (same_math_tolerance).
#include "kernels/cuda/activation.cuh"

#include <gtest/gtest.h>

#include <sstream>

#include "kernels/cpu/activation.h"
#include "tests/kernels/cuda/harness.h"

namespace ae::cudatest {
namespace {

struct ActCase {
  Act act;
  int64_t n;
  uint64_t seed = 1;

  std::string params() const {
    std::ostringstream os;
    os << "activation(act=" << act_name(act) << ",n=" << n << ",seed=" << seed << ")";
    return os.str();
  }
  double bytes() const { return 4.0 * 5 * n; }
};

class ActivationFwdBwd : public DeviceTestWithParam<ActCase> {};

TEST_P(ActivationFwdBwd, MatchesCpuReference) {
  const ActCase& c = GetParam();
  SCOPED_TRACE(c.params());
  std::vector<float> z = uniform(c.n, -4, 4, c.seed, 1);
  z[0] = 1.25f;  // every activation is non-zero there: n = 1 is never vacuous
  const std::vector<float> dy = uniform(c.n, -1, 1, c.seed, 2);
  std::vector<float> y_ref(c.n), dxz_ref(c.n), dxy_ref(c.n);
  cpu::activation_forward<float>(c.act, z.data(), y_ref.data(), c.n);
  cpu::activation_backward<float>(c.act, dy.data(), z.data(), nullptr, dxz_ref.data(), c.n);
  const bool from_y = !act_derivative_needs_z(c.act);
  if (from_y) cpu::activation_backward<float>(c.act, dy.data(), nullptr, y_ref.data(), dxy_ref.data(), c.n);

  DeviceBuffer<float> dz(z), ddy(dy), y(c.n), dxz(c.n), dxy(c.n);
  ae::cuda::activation_forward<float>(c.act, dz.get(), y.get(), c.n, nullptr);
  ae::cuda::activation_backward<float>(c.act, ddy.get(), dz.get(), nullptr, dxz.get(), c.n, nullptr);
  if (from_y) ae::cuda::activation_backward<float>(c.act, ddy.get(), nullptr, y.get(), dxy.get(), c.n, nullptr);
  const std::vector<float> got_y = y.download(), got_dxz = dxz.download(), got_dxy = dxy.download();
  ae::cuda::activation_backward<float>(c.act, ddy.get(), dz.get(), nullptr, ddy.get(), c.n, nullptr);  // dx = dy
  const std::vector<float> got_in_place = ddy.download();
  expect_guards(c.params(), dz, ddy, y, dxz, dxy);

  FailureDump dump(c.params());
  dump.add("z", z), dump.add("dy", dy), dump.add("y_ref", y_ref), dump.add("y", got_y);
  dump.add("dx_z_ref", dxz_ref), dump.add("dx_z", got_dxz), dump.add("dx_y_ref", dxy_ref), dump.add("dx_y", got_dxy);
  ASSERT_TRUE(nonzero("y_ref", y_ref));
  ASSERT_TRUE(nonzero("dx_z_ref", dxz_ref));
  const Tolerance tol = same_math_tolerance<float>();
  EXPECT_TRUE(compare("y", got_y, y_ref, tol, 1, 1.0));
  EXPECT_TRUE(compare("dx from z", got_dxz, dxz_ref, tol, 1, 1.0));
  EXPECT_TRUE(compare("dx in place", got_in_place, dxz_ref, tol, 1, 1.0));
  if (from_y) EXPECT_TRUE(compare("dx from y", got_dxy, dxy_ref, tol, 1, 1.0));
}

std::vector<ActCase> act_cases() {
  std::vector<ActCase> v;
  uint64_t seed = 1;
  for (int a = 0; a < ACT_COUNT; ++a)
    for (int64_t n : {1, 63, 64, 65, 129, 1031}) v.push_back({static_cast<Act>(a), n, seed++});
  return v;
}

INSTANTIATE_TEST_SUITE_P(Cases, ActivationFwdBwd, ::testing::ValuesIn(act_cases()),
                         [](const auto& info) { return test_name(info.param.params()); });

// dx = dy ⊙ act″(z). Where act″ vanishes (linear, relu, leaky_relu) the reference is all zeros and
// the NaN prefill still proves every element was written.
class ActivationSecondBackward : public DeviceTestWithParam<ActCase> {};

TEST_P(ActivationSecondBackward, MatchesCpuReference) {
  const ActCase& c = GetParam();
  SCOPED_TRACE(c.params());
  std::vector<float> z = uniform(c.n, -4, 4, c.seed, 1);
  z[0] = -1.25f;  // act″ ≠ 0 there for every curved activation (elu and selu are flat for z > 0)
  const std::vector<float> dy = uniform(c.n, -1, 1, c.seed, 2);
  std::vector<float> ref(c.n);
  cpu::activation_second_backward<float>(c.act, dy.data(), z.data(), ref.data(), c.n);

  DeviceBuffer<float> dz(z), ddy(dy), dx(c.n);
  ae::cuda::activation_second_backward<float>(c.act, ddy.get(), dz.get(), dx.get(), c.n, nullptr);
  const std::vector<float> got = dx.download();
  ae::cuda::activation_second_backward<float>(c.act, ddy.get(), dz.get(), ddy.get(), c.n, nullptr);  // dx = dy
  const std::vector<float> got_in_place = ddy.download();
  expect_guards(c.params(), dz, ddy, dx);

  FailureDump dump(c.params());
  dump.add("z", z), dump.add("dy", dy), dump.add("dx_ref", ref), dump.add("dx", got);
  if (act_has_curvature(c.act))
    ASSERT_TRUE(nonzero("dx_ref", ref));
  else
    ASSERT_EQ(max_abs(ref), 0.0) << "act'' of " << act_name(c.act) << " is zero everywhere";
  const Tolerance tol = same_math_tolerance<float>();
  EXPECT_TRUE(compare("dx", got, ref, tol, 1, 1.0));
  EXPECT_TRUE(compare("dx in place", got_in_place, ref, tol, 1, 1.0));
}

INSTANTIATE_TEST_SUITE_P(Cases, ActivationSecondBackward, ::testing::ValuesIn(act_cases()),
                         [](const auto& info) { return test_name(info.param.params()); });

class ActivationEdge : public DeviceTest {};
TEST_F(ActivationEdge, GeluWithoutZIsAnError) {
  DeviceBuffer<float> d(4);
  EXPECT_THROW(ae::cuda::activation_backward<float>(Act::gelu, d.get(), nullptr, d.get(), d.get(), 4, nullptr),
               ae::Error);
  EXPECT_THROW(ae::cuda::activation_backward<float>(Act::relu, d.get(), nullptr, nullptr, d.get(), 4, nullptr),
               ae::Error);
  EXPECT_THROW(ae::cuda::activation_forward<float>(Act::relu, d.get(), d.get(), -1, nullptr), ae::Error);
  EXPECT_THROW(ae::cuda::activation_second_backward<float>(Act::tanh, d.get(), nullptr, d.get(), 4, nullptr),
               ae::Error);
  EXPECT_THROW(ae::cuda::activation_second_backward<float>(Act::tanh, d.get(), d.get(), d.get(), -1, nullptr),
               ae::Error);
}

}  // namespace
}  // namespace ae::cudatest
