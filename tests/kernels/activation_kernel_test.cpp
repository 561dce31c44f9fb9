// The cpu activation primitive (kernels/cpu/activation.h; the activation math itself is tested in
// activation_test.cpp): forward against the shared math elementwise, and d/dx of L = Σ w ⊙ act(x)
// by activation_backward, from z and from y, against fp64 central differences for every
// activation; d/dz of L = Σ w ⊙ act′(z) by activation_second_backward (w ⊙ act″, the contractive
// penalty's gradient through act′) the same way; gelu without z is refused; dx may alias dy.
#include "kernels/cpu/activation.h"

#include <gtest/gtest.h>

#include <cmath>
#include <string>
#include <vector>

#include "kernels/common/error.h"
#include "tests/kernels/grad_check.h"

namespace ae::cpu {
namespace {

using gradcheck::all_near;

const Act ALL_ACTS[] = {Act::linear, Act::relu, Act::leaky_relu, Act::sigmoid, Act::tanh,
                        Act::selu,   Act::elu,  Act::softplus,   Act::gelu};

TEST(ActivationKernel, ForwardMatchesSharedMath) {
  for (Act act : ALL_ACTS)
    for (int64_t n : {1, 37, 4099}) {  // 4099: past one 4096-element block
      SCOPED_TRACE(std::string(act_name(act)) + " n=" + std::to_string(n));
      auto x = gradcheck::random_vec(n, 17 + n, -4, 4);
      x[0] = 1.25;  // no activation is 0 there: the n = 1 case is never vacuous
      std::vector<double> y(n, NAN), want(n);
      for (int64_t i = 0; i < n; ++i) want[i] = act_forward(act, x[i]);
      activation_forward<double>(act, x.data(), y.data(), n);
      EXPECT_TRUE(all_near("y", y, want, 0));
      std::vector<float> xf(x.begin(), x.end()), yf(n, NAN);
      activation_forward<float>(act, xf.data(), yf.data(), n);
      EXPECT_TRUE(all_near("y (float)", std::vector<double>(yf.begin(), yf.end()), want, 1e-5));
    }
}

TEST(ActivationKernel, BackwardMatchesCentralDifference) {
  const int64_t n = 41;
  for (Act act : ALL_ACTS) {
    SCOPED_TRACE(act_name(act));
    auto x = gradcheck::away_from_zero(n, 23, 0.02);  // kinks at 0
    for (auto& e : x) e *= 3;
    const auto w = gradcheck::random_vec(n, 24);  // dy
    auto loss = [&] {
      std::vector<double> y(n);
      activation_forward<double>(act, x.data(), y.data(), n);
      return gradcheck::dot(w, y);
    };
    const auto num = gradcheck::numeric_grad(x, loss);
    std::vector<double> dx(n, NAN);
    activation_backward<double>(act, w.data(), x.data(), nullptr, dx.data(), n);  // from z
    EXPECT_TRUE(all_near("dx from z", dx, num, 1e-8));
    if (!act_derivative_needs_z(act)) {
      std::vector<double> y(n), dxy(n, NAN);
      activation_forward<double>(act, x.data(), y.data(), n);
      activation_backward<double>(act, w.data(), nullptr, y.data(), dxy.data(), n);  // from y
      EXPECT_TRUE(all_near("dx from y", dxy, num, 1e-8));
    }
  }
}

// act′ itself is computed by activation_backward with dy = 1, so the check ties act″ to the act′
// the kernels use. Zero for linear, relu and leaky_relu (act′ is piecewise constant).
TEST(ActivationKernel, SecondBackwardMatchesCentralDifference) {
  const int64_t n = 41;
  for (Act act : ALL_ACTS) {
    SCOPED_TRACE(act_name(act));
    auto z = gradcheck::away_from_zero(n, 25, 0.02);  // act′ jumps at 0 for relu, leaky_relu, selu
    for (auto& e : z) e *= 3;
    const auto w = gradcheck::random_vec(n, 26);  // dy
    const std::vector<double> ones(n, 1.0);
    auto loss = [&] {
      std::vector<double> d(n);
      activation_backward<double>(act, ones.data(), z.data(), nullptr, d.data(), n);
      return gradcheck::dot(w, d);
    };
    const auto num = gradcheck::numeric_grad(z, loss);
    std::vector<double> dx(n, NAN), inplace = w;
    activation_second_backward<double>(act, w.data(), z.data(), dx.data(), n);
    EXPECT_TRUE(all_near("dx", dx, num, 1e-7, !act_has_curvature(act)));
    activation_second_backward<double>(act, inplace.data(), z.data(), inplace.data(), n);  // dx aliasing dy
    EXPECT_TRUE(all_near("dx in place", inplace, dx, 0, !act_has_curvature(act)));
  }
  std::vector<double> d(4, 1.0);
  EXPECT_THROW(activation_second_backward<double>(Act::tanh, d.data(), nullptr, d.data(), 4), ae::Error);
  EXPECT_THROW(activation_second_backward<double>(Act::tanh, d.data(), d.data(), d.data(), -1), ae::Error);
}

TEST(ActivationKernel, GeluWithoutZIsRefused) {
  std::vector<double> d(4, 1.0);
  EXPECT_THROW(activation_backward<double>(Act::gelu, d.data(), nullptr, d.data(), d.data(), 4), ae::Error);
  EXPECT_THROW(activation_backward<double>(Act::relu, d.data(), nullptr, nullptr, d.data(), 4), ae::Error);
  EXPECT_THROW(activation_forward<double>(Act::relu, d.data(), d.data(), -1), ae::Error);
  EXPECT_NO_THROW(activation_backward<double>(Act::linear, d.data(), nullptr, nullptr, d.data(), 4));
}

TEST(ActivationKernel, DxMayAliasDy) {
  const int64_t n = 29;
  const auto z = gradcheck::random_vec(n, 31, -2, 2);
  const auto dy = gradcheck::random_vec(n, 32);
  for (Act act : ALL_ACTS) {
    SCOPED_TRACE(act_name(act));
    std::vector<double> want(n), inplace = dy;
    activation_backward<double>(act, dy.data(), z.data(), nullptr, want.data(), n);
    activation_backward<double>(act, inplace.data(), z.data(), nullptr, inplace.data(), n);
    EXPECT_TRUE(all_near("dx", inplace, want, 0));
  }
}

}  // namespace
}  // namespace ae::cpu
