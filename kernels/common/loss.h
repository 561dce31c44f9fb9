// Per-element loss terms and their gradients, shared by every backend. Definitions are
// PyTorch's: MSELoss (y − t)², BCELoss on probabilities with each log clamped at −100, and
// BCEWithLogitsLoss in the overflow-free form. The reduction (mean over all elements) lives in
// the kernels; these are the terms before it.
#pragma once

#include <cstdint>

#include "kernels/common/activation.h"

namespace ae {

enum class Loss : uint8_t { mse, bce };
inline constexpr int LOSS_COUNT = 2;

// How a loss reduces its M·N element terms.
//   mean: the mean over all M·N elements (PyTorch's default); per-sample error = the row's mean.
//   sum:  each row's sum over its N features, then the mean over the M rows (a VAE's reconstruction
//         term: −log p(x|z) in nats for bce); per-sample error = the row's sum.
enum class LossReduction : uint8_t { mean, sum };

// BCELoss clamps each log term at −100 so p = 0 or 1 gives a finite loss (PyTorch's choice).
inline constexpr double BCE_LOG_CLAMP = -100.0;
// BCELoss backward divides by max(p·(1 − p), 1e-12), PyTorch's EPSILON, for the same reason.
inline constexpr double BCE_GRAD_EPS = 1e-12;

// (y − t)²
template <typename T>
AE_HD inline T mse_term(T y, T t) {
  T d = y - t;
  return d * d;
}
// d/dy (y − t)²
template <typename T>
AE_HD inline T mse_grad(T y, T t) {
  return T(2) * (y - t);
}

// −[t·log p + (1 − t)·log(1 − p)], each log clamped below at −100. p is a probability in [0, 1].
template <typename T>
AE_HD inline T bce_term(T p, T t) {
  T lp = math::log(p);
  T l1p = math::log1p(-p);  // log(1 − p), as PyTorch computes it
  // −inf (p = 0 or 1) is clamped; a NaN p stays NaN so a broken upstream op is not hidden.
  if (lp < T(BCE_LOG_CLAMP)) lp = T(BCE_LOG_CLAMP);
  if (l1p < T(BCE_LOG_CLAMP)) l1p = T(BCE_LOG_CLAMP);
  return -(t * lp + (T(1) - t) * l1p);
}
// d/dp of bce_term: (p − t) / max(p·(1 − p), 1e-12), as PyTorch's binary_cross_entropy_backward.
template <typename T>
AE_HD inline T bce_grad(T p, T t) {
  T denom = (T(1) - p) * p;
  if (denom < T(BCE_GRAD_EPS)) denom = T(BCE_GRAD_EPS);
  return (p - t) / denom;
}

// BCE of σ(z) computed from the logit z without forming log σ(z):
// max(z, 0) − z·t + log1p(e^−|z|), exact for every finite z (no overflow, no clamp needed).
template <typename T>
AE_HD inline T bce_logits_term(T z, T t) {
  T pos = z > T(0) ? z : T(0);
  return pos - z * t + math::log1p(math::exp(-math::abs(z)));
}
// d/dz of bce_logits_term: σ(z) − t.
template <typename T>
AE_HD inline T bce_logits_grad(T z, T t) {
  return sigmoid(z) - t;
}

}  // namespace ae

// ---- host functions: names for the spec parser and messages ----
// Plain host code, visible in every compilation pass: nvcc parses a .cu file's host functions
// (launchers that name activations in their errors) in its device pass too.
#include <optional>
#include <string>
#include <string_view>

namespace ae {

inline constexpr const char* LOSS_NAMES[LOSS_COUNT] = {"mse", "bce"};

inline const char* loss_name(Loss l) {
  auto i = static_cast<int>(l);
  return i < LOSS_COUNT ? LOSS_NAMES[i] : "?";
}

inline std::optional<Loss> parse_loss_name(std::string_view name) {
  for (int i = 0; i < LOSS_COUNT; ++i)
    if (name == LOSS_NAMES[i]) return static_cast<Loss>(i);
  return std::nullopt;
}

// "mse, bce" for "expected one of: ..." messages.
inline std::string loss_names_list() {
  std::string s;
  for (int i = 0; i < LOSS_COUNT; ++i) {
    if (i) s += ", ";
    s += LOSS_NAMES[i];
  }
  return s;
}

}  // namespace ae
