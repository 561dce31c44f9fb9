// Input corruption of denoising autoencoders, shared by every backend: the noise kinds, their
// parameters, and corrupt(), the one function that turns a clean element into its corrupted value.
// Every draw is Philox keyed by (seed, step, corruption, element index), so the corrupted batch is
// a pure function of those four and identical on cpu, cuda-sim and every thread count (mask and
// saltpepper bit for bit on a GPU too; gaussian's double log/cos on a GPU may differ from glibc's
// in the last place, rarely enough to change the float ε). A
// fused kernel may therefore regenerate it wherever it loads an element of x (the first layer's
// forward GEMM and its dW GEMM on cuda) instead of storing a corrupted copy.
//
// The bits, which a reimplementation (bench/peers/parity.py) reproduces exactly:
//   mask:       u = (w0 >> 8)·2⁻²⁴;  u < p ? 0 : x
//   saltpepper: u as above;  u < p ? (w1 & 1 ? hi : lo) : x
//   gaussian:   y = float(double(x) + double(σ)·double(ε)), ε = float(philox_normal_f64) (words 0, 1);
//               with clip, min(max(y, lo), hi)
// w0, w1 are the first two words of philox_draw(seed, step, corruption, index). The gaussian sum is
// taken in double, where the product of two floats is exact, so a fused multiply-add (which nvcc
// contracts to) and a separate multiply and add give the same bits.
#pragma once

#include <cstdint>

#include "kernels/common/philox.h"

namespace ae {

enum class NoiseKind : uint8_t {
  none,
  mask,        // each element set to 0 with probability p
  gaussian,    // x + σ·ε, ε standard normal (σ in `p`); clipped to [lo, hi] when `clip`
  saltpepper,  // with probability p an element becomes lo or hi, each half the time
};
inline constexpr int NOISE_KIND_COUNT = 4;

// One corruption's settings; trivially copyable, passed to kernels by value.
struct NoiseParams {
  NoiseKind kind = NoiseKind::none;
  bool clip = false;  // gaussian: clip to [lo, hi]
  float p = 0;        // mask, saltpepper: the probability, in [0, 1); gaussian: σ ≥ 0
  float lo = 0, hi = 1;  // saltpepper's values and gaussian's clip range: the training data's min and max
};

// The corrupted value of element `index` (its offset in the row-major [batch, features] input) of
// training step `step`.
AE_HD inline float corrupt(const NoiseParams& n, float x, uint64_t seed, uint64_t step, uint64_t index) {
  if (n.kind == NoiseKind::none) return x;
  if (n.kind == NoiseKind::gaussian) {
    const float eps = static_cast<float>(philox_normal_f64(seed, step, PhiloxPurpose::corruption, index));
    float y = static_cast<float>(static_cast<double>(x) + static_cast<double>(n.p) * static_cast<double>(eps));
    if (n.clip) y = y < n.lo ? n.lo : (y > n.hi ? n.hi : y);
    return y;
  }
  const PhiloxBlock b = philox_draw(seed, step, PhiloxPurpose::corruption, index);
  const float u = static_cast<float>(b.v[0] >> 8) * (1.0f / 16777216.0f);
  if (!(u < n.p)) return x;
  if (n.kind == NoiseKind::mask) return 0.0f;
  return (b.v[1] & 1u) ? n.hi : n.lo;
}

}  // namespace ae
