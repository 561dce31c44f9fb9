// Activations and their derivatives, shared by every backend (cpu, cuda, cuda-sim): the one
// place their math is written. Definitions and defaults are PyTorch's, so a model moves between
// the two unchanged: leaky_relu slope 0.01, elu alpha 1, selu's fixed alpha/scale, softplus
// beta 1 threshold 20 (linear above), gelu in the exact erf form.
//
// Derivatives come in two forms because a kernel often keeps only the output y of a layer:
//   act_derivative_from_y(a, y)  every activation except gelu (act_derivative_needs_z(a) false);
//   act_derivative_from_z(a, z)  every activation, from the pre-activation z.
// The name/letter tables at the bottom are host-only (spec parser, CLI, error messages).
#pragma once

#include <cmath>
#include <cstdint>

// AE_HD marks functions callable from host and device code. nvcc knows the qualifiers; the
// cuda-sim build defines __host__/__device__ as macros itself; a plain host build needs nothing.
#ifndef AE_HD
#if defined(__CUDACC__) || (defined(__host__) && defined(__device__))
#define AE_HD __host__ __device__
#else
#define AE_HD
#endif
#endif

namespace ae {

enum class Act : uint8_t { linear, relu, leaky_relu, sigmoid, tanh, selu, elu, softplus, gelu };
inline constexpr int ACT_COUNT = 9;

// PyTorch's constants (nn.LeakyReLU, nn.ELU, nn.SELU, nn.Softplus defaults).
inline constexpr double LEAKY_RELU_SLOPE = 0.01;
inline constexpr double ELU_ALPHA = 1.0;
inline constexpr double SELU_ALPHA = 1.6732632423543772848170429916717;
inline constexpr double SELU_SCALE = 1.0507009873554804934193349852946;
inline constexpr double SOFTPLUS_THRESHOLD = 20.0;  // beta = 1: softplus(z) = z above this

// float/double overloads of the C math functions: the global ::expf/::exp family exists both in
// host libm and as CUDA device functions, which std:: overloads do not guarantee.
namespace math {
AE_HD inline float exp(float x) { return ::expf(x); }
AE_HD inline double exp(double x) { return ::exp(x); }
AE_HD inline float expm1(float x) { return ::expm1f(x); }
AE_HD inline double expm1(double x) { return ::expm1(x); }
AE_HD inline float log(float x) { return ::logf(x); }
AE_HD inline double log(double x) { return ::log(x); }
AE_HD inline float log1p(float x) { return ::log1pf(x); }
AE_HD inline double log1p(double x) { return ::log1p(x); }
AE_HD inline float tanh(float x) { return ::tanhf(x); }
AE_HD inline double tanh(double x) { return ::tanh(x); }
AE_HD inline float erf(float x) { return ::erff(x); }
AE_HD inline double erf(double x) { return ::erf(x); }
AE_HD inline float sqrt(float x) { return ::sqrtf(x); }
AE_HD inline double sqrt(double x) { return ::sqrt(x); }
AE_HD inline float abs(float x) { return ::fabsf(x); }
AE_HD inline double abs(double x) { return ::fabs(x); }
AE_HD inline float cos(float x) { return ::cosf(x); }
AE_HD inline double cos(double x) { return ::cos(x); }
}  // namespace math

// The logistic function 1 / (1 + e^-z), as torch.sigmoid.
template <typename T>
AE_HD inline T sigmoid(T z) {
  return T(1) / (T(1) + math::exp(-z));
}

// y = act(z).
template <typename T>
AE_HD inline T act_forward(Act a, T z) {
  switch (a) {
    case Act::linear: return z;
    case Act::relu: return z > T(0) ? z : T(0);
    case Act::leaky_relu: return z > T(0) ? z : T(LEAKY_RELU_SLOPE) * z;
    case Act::sigmoid: return sigmoid(z);
    case Act::tanh: return math::tanh(z);
    case Act::selu:
      return z > T(0) ? T(SELU_SCALE) * z : T(SELU_SCALE * SELU_ALPHA) * math::expm1(z);
    case Act::elu: return z > T(0) ? z : T(ELU_ALPHA) * math::expm1(z);
    case Act::softplus: return z > T(SOFTPLUS_THRESHOLD) ? z : math::log1p(math::exp(z));
    case Act::gelu: return T(0.5) * z * (T(1) + math::erf(z * T(0.70710678118654752440)));
  }
  return z;
}

// True when dy/dz cannot be recovered from y alone (gelu is not monotonic): the kernel must keep z.
AE_HD constexpr bool act_derivative_needs_z(Act a) { return a == Act::gelu; }

// dy/dz from the pre-activation z; valid for every activation. At the kinks (relu/leaky_relu/
// elu/selu at 0) it takes PyTorch's choice: the left-hand slope (z > 0 is strict).
template <typename T>
AE_HD inline T act_derivative_from_z(Act a, T z) {
  switch (a) {
    case Act::linear: return T(1);
    case Act::relu: return z > T(0) ? T(1) : T(0);
    case Act::leaky_relu: return z > T(0) ? T(1) : T(LEAKY_RELU_SLOPE);
    case Act::sigmoid: {
      T s = sigmoid(z);
      return s * (T(1) - s);
    }
    case Act::tanh: {
      T t = math::tanh(z);
      return T(1) - t * t;
    }
    case Act::selu: return z > T(0) ? T(SELU_SCALE) : T(SELU_SCALE * SELU_ALPHA) * math::exp(z);
    case Act::elu: return z > T(0) ? T(1) : T(ELU_ALPHA) * math::exp(z);
    case Act::softplus: return z > T(SOFTPLUS_THRESHOLD) ? T(1) : sigmoid(z);
    case Act::gelu: {
      // d/dz [z·Φ(z)] = Φ(z) + z·φ(z)
      T cdf = T(0.5) * (T(1) + math::erf(z * T(0.70710678118654752440)));
      T pdf = T(0.39894228040143267794) * math::exp(T(-0.5) * z * z);
      return cdf + z * pdf;
    }
  }
  return T(1);
}

// dy/dz from the output y alone; valid when !act_derivative_needs_z(a). For gelu it returns NaN
// (device code cannot throw), so a kernel that forgot to keep z fails loudly in every test.
// Each case is the from_z formula rewritten in y (the activations are monotonic there):
//   selu z<=0: y = s·α·(e^z − 1)  ⇒  s·α·e^z = y + s·α;  elu likewise with s = 1;
//   softplus: y = log(1 + e^z)  ⇒  σ(z) = 1 − e^−y = −expm1(−y).
// relu/leaky_relu test y > 0, which equals z > 0 because the slope is positive.
template <typename T>
AE_HD inline T act_derivative_from_y(Act a, T y) {
  switch (a) {
    case Act::linear: return T(1);
    case Act::relu: return y > T(0) ? T(1) : T(0);
    case Act::leaky_relu: return y > T(0) ? T(1) : T(LEAKY_RELU_SLOPE);
    case Act::sigmoid: return y * (T(1) - y);
    case Act::tanh: return T(1) - y * y;
    case Act::selu: return y > T(0) ? T(SELU_SCALE) : y + T(SELU_SCALE * SELU_ALPHA);
    case Act::elu: return y > T(0) ? T(1) : y + T(ELU_ALPHA);
    case Act::softplus: return y > T(SOFTPLUS_THRESHOLD) ? T(1) : -math::expm1(-y);
    case Act::gelu: return T(NAN);
  }
  return T(1);
}

// d²y/dz² from the pre-activation z: what differentiating a derivative needs (the contractive
// penalty is a function of act′(z), so its gradient is one of act″). Zero where act′ is piecewise
// constant (linear, relu, leaky_relu; at the kinks too, as autograd's double backward gives), and
// elu/selu take the z > 0 branch of act′ strictly, as act_derivative_from_z does. softplus is
// linear above its threshold: 0 there.
template <typename T>
AE_HD inline T act_second_derivative_from_z(Act a, T z) {
  switch (a) {
    case Act::linear:
    case Act::relu:
    case Act::leaky_relu: return T(0);
    case Act::sigmoid: {  // s(1 − s)(1 − 2s)
      T s = sigmoid(z);
      return s * (T(1) - s) * (T(1) - T(2) * s);
    }
    case Act::tanh: {  // −2t(1 − t²)
      T t = math::tanh(z);
      return T(-2) * t * (T(1) - t * t);
    }
    case Act::selu: return z > T(0) ? T(0) : T(SELU_SCALE * SELU_ALPHA) * math::exp(z);
    case Act::elu: return z > T(0) ? T(0) : T(ELU_ALPHA) * math::exp(z);
    case Act::softplus: {
      if (z > T(SOFTPLUS_THRESHOLD)) return T(0);
      T s = sigmoid(z);
      return s * (T(1) - s);
    }
    case Act::gelu: {  // d/dz [Φ(z) + z·φ(z)] = 2φ(z) − z²φ(z) = φ(z)(2 − z²)
      T pdf = T(0.39894228040143267794) * math::exp(T(-0.5) * z * z);
      return pdf * (T(2) - z * z);
    }
  }
  return T(0);
}

// False when act″ is zero everywhere it is defined (linear, relu, leaky_relu): a gradient through
// act′ then needs no second-derivative pass.
AE_HD constexpr bool act_has_curvature(Act a) { return a != Act::linear && a != Act::relu && a != Act::leaky_relu; }

// dy/dz for a kernel that has both z and y: the y form where it exists (cheaper: no exp), else z.
template <typename T>
AE_HD inline T act_derivative(Act a, T z, T y) {
  return act_derivative_needs_z(a) ? act_derivative_from_z(a, z) : act_derivative_from_y(a, y);
}

}  // namespace ae

// ---- host functions: names and letters for the spec parser and messages ----
// Plain host code, visible in every compilation pass: nvcc parses a .cu file's host functions
// (launchers that name activations in their errors) in its device pass too.
#include <optional>
#include <string>
#include <string_view>

namespace ae {

inline constexpr const char* ACT_NAMES[ACT_COUNT] = {"linear", "relu", "leaky_relu", "sigmoid", "tanh",
                                                    "selu",   "elu",  "softplus",   "gelu"};
// Compact spec letters (784-256r-32-256r-784s), same order as Act.
inline constexpr char ACT_LETTERS[ACT_COUNT] = {'l', 'r', 'k', 's', 't', 'u', 'e', 'p', 'g'};

inline const char* act_name(Act a) {
  auto i = static_cast<int>(a);
  return i < ACT_COUNT ? ACT_NAMES[i] : "?";
}

inline std::optional<Act> parse_act_name(std::string_view name) {
  for (int i = 0; i < ACT_COUNT; ++i)
    if (name == ACT_NAMES[i]) return static_cast<Act>(i);
  return std::nullopt;
}

inline char act_letter(Act a) {
  auto i = static_cast<int>(a);
  return i < ACT_COUNT ? ACT_LETTERS[i] : '?';
}

inline std::optional<Act> parse_act_letter(char c) {
  for (int i = 0; i < ACT_COUNT; ++i)
    if (c == ACT_LETTERS[i]) return static_cast<Act>(i);
  return std::nullopt;
}

// "linear, relu, ..." for "expected one of: ..." messages.
inline std::string act_names_list() {
  std::string s;
  for (int i = 0; i < ACT_COUNT; ++i) {
    if (i) s += ", ";
    s += ACT_NAMES[i];
  }
  return s;
}

// "l linear, r relu, ..." for messages about compact spec letters.
inline std::string act_letters_list() {
  std::string s;
  for (int i = 0; i < ACT_COUNT; ++i) {
    if (i) s += ", ";
    s += ACT_LETTERS[i];
    s += ' ';
    s += ACT_NAMES[i];
  }
  return s;
}

}  // namespace ae
