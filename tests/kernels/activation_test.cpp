// Activations: forward values against independently written formulas, both derivative forms
// against fp64 central differences and against each other, and the name/letter tables.
#include "kernels/common/activation.h"

#include <gtest/gtest.h>

#include <cmath>
#include <vector>

namespace ae {
namespace {

const Act ALL_ACTS[] = {Act::linear, Act::relu, Act::leaky_relu, Act::sigmoid, Act::tanh,
                        Act::selu,   Act::elu,  Act::softplus,   Act::gelu};

// Points away from every kink (0) and from the softplus threshold (20).
const double POINTS[] = {-7.5, -3.1, -1.0, -0.37, -0.02, 0.013, 0.41, 1.0, 2.7, 6.2, 19.5, 23.0};

TEST(Activation, ForwardMatchesPyTorchDefinitions) {
  const double s = 1.0507009873554805, a = 1.6732632423543772;
  for (double z : POINTS) {
    SCOPED_TRACE(z);
    EXPECT_EQ(act_forward(Act::linear, z), z);
    EXPECT_EQ(act_forward(Act::relu, z), z > 0 ? z : 0.0);
    EXPECT_DOUBLE_EQ(act_forward(Act::leaky_relu, z), z > 0 ? z : 0.01 * z);
    EXPECT_NEAR(act_forward(Act::sigmoid, z), 1.0 / (1.0 + std::exp(-z)), 1e-15);
    EXPECT_NEAR(act_forward(Act::tanh, z), std::tanh(z), 1e-15);
    EXPECT_NEAR(act_forward(Act::selu, z), z > 0 ? s * z : s * a * (std::exp(z) - 1.0), 1e-14);
    EXPECT_NEAR(act_forward(Act::elu, z), z > 0 ? z : std::exp(z) - 1.0, 1e-15);
    EXPECT_NEAR(act_forward(Act::softplus, z), z > 20 ? z : std::log(1.0 + std::exp(z)), 1e-13 * (1 + std::abs(z)));
    EXPECT_NEAR(act_forward(Act::gelu, z), 0.5 * z * (1.0 + std::erf(z / std::sqrt(2.0))), 1e-15 * (1 + std::abs(z)));
  }
  // A few values written out: Φ(1) = 0.841344746068543, softplus(0) = ln 2, selu(−1).
  EXPECT_NEAR(act_forward(Act::gelu, 1.0), 0.8413447460685429, 1e-15);
  EXPECT_NEAR(act_forward(Act::softplus, 0.0), 0.6931471805599453, 1e-15);
  EXPECT_NEAR(act_forward(Act::selu, -1.0), -1.1113307378125628, 1e-15);
  EXPECT_EQ(act_forward(Act::softplus, 25.0), 25.0);  // linear above the threshold, as PyTorch
  EXPECT_EQ(act_forward(Act::relu, 0.0), 0.0);
}

TEST(Activation, DerivativeFromZMatchesCentralDifference) {
  const double h = 1e-6;
  for (Act a : ALL_ACTS) {
    for (double z : POINTS) {
      SCOPED_TRACE(std::string(act_name(a)) + " z=" + std::to_string(z));
      if (a == Act::softplus && std::abs(z - 20.0) < 1) continue;  // the threshold is a (tiny) kink
      double num = (act_forward(a, z + h) - act_forward(a, z - h)) / (2 * h);
      double ana = act_derivative_from_z(a, z);
      EXPECT_NEAR(ana, num, 1e-8 * (1 + std::abs(num)));
    }
  }
}

TEST(Activation, DerivativeFromYEqualsFromZ) {
  for (Act a : ALL_ACTS) {
    if (act_derivative_needs_z(a)) continue;
    for (double z : POINTS) {
      SCOPED_TRACE(std::string(act_name(a)) + " z=" + std::to_string(z));
      double y = act_forward(a, z);
      double dz = act_derivative_from_z(a, z);
      EXPECT_NEAR(act_derivative_from_y(a, y), dz, 1e-12 * (1 + std::abs(dz)));
      EXPECT_EQ(act_derivative(a, z, y), act_derivative_from_y(a, y));
      // float agrees with double to float precision
      float yf = act_forward(a, static_cast<float>(z));
      EXPECT_NEAR(act_derivative_from_y(a, yf), dz, 2e-6 * (1 + std::abs(dz)));
    }
  }
}

TEST(Activation, OnlyGeluNeedsZ) {
  for (Act a : ALL_ACTS) EXPECT_EQ(act_derivative_needs_z(a), a == Act::gelu) << act_name(a);
  // The y-only form refuses gelu loudly (NaN) instead of returning a plausible wrong number.
  EXPECT_TRUE(std::isnan(act_derivative_from_y(Act::gelu, 0.5)));
  EXPECT_TRUE(std::isnan(act_derivative_from_y(Act::gelu, 0.5f)));
  EXPECT_EQ(act_derivative(Act::gelu, 1.0, act_forward(Act::gelu, 1.0)), act_derivative_from_z(Act::gelu, 1.0));
}

TEST(Activation, KinksTakePyTorchSide) {
  // PyTorch: relu'(0) = 0, leaky_relu'(0) = slope, elu'(0) = alpha·e^0 = 1 (z > 0 is strict).
  EXPECT_EQ(act_derivative_from_z(Act::relu, 0.0), 0.0);
  EXPECT_EQ(act_derivative_from_y(Act::relu, 0.0), 0.0);
  EXPECT_EQ(act_derivative_from_z(Act::leaky_relu, 0.0), 0.01);
  EXPECT_EQ(act_derivative_from_z(Act::elu, 0.0), 1.0);
  EXPECT_EQ(act_derivative_from_z(Act::softplus, 30.0), 1.0);
  EXPECT_EQ(act_derivative_from_y(Act::softplus, 30.0), 1.0);
}

TEST(Activation, NamesAndLettersRoundTrip) {
  const char* names[] = {"linear", "relu", "leaky_relu", "sigmoid", "tanh", "selu", "elu", "softplus", "gelu"};
  const char letters[] = {'l', 'r', 'k', 's', 't', 'u', 'e', 'p', 'g'};
  for (int i = 0; i < ACT_COUNT; ++i) {
    Act a = ALL_ACTS[i];
    EXPECT_STREQ(act_name(a), names[i]);
    EXPECT_EQ(act_letter(a), letters[i]);
    ASSERT_TRUE(parse_act_name(names[i]).has_value());
    EXPECT_EQ(*parse_act_name(names[i]), a);
    ASSERT_TRUE(parse_act_letter(letters[i]).has_value());
    EXPECT_EQ(*parse_act_letter(letters[i]), a);
  }
  EXPECT_FALSE(parse_act_name("rleu").has_value());
  EXPECT_FALSE(parse_act_name("").has_value());
  EXPECT_FALSE(parse_act_name("ReLU").has_value());
  EXPECT_FALSE(parse_act_letter('x').has_value());
  EXPECT_EQ(act_names_list(), "linear, relu, leaky_relu, sigmoid, tanh, selu, elu, softplus, gelu");
  EXPECT_EQ(act_letters_list().substr(0, 17), "l linear, r relu,");
}

}  // namespace
}  // namespace ae
