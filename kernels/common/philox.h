// ae's one random number generator: Philox4x32-10 (Salmon et al., SC'11, as in Random123),
// counter-based, so any draw is a pure function of (seed, step, purpose, index) and every backend
// and thread count draws the same bits: a denoising mask, a VAE ε or an initial weight is
// identical on cpu, cuda and cuda-sim, and runs compare element by element.
//
// Mapping (the model file records it): key = seed (64 bits); counter = index (64 bits) ‖ step
// (low 56 bits) ‖ purpose (8 bits). One draw per index: helpers use the first one or two of the
// block's four words, so parallel code never needs to coordinate which lane is whose.
#pragma once

#include <cstdint>

#include "kernels/common/activation.h"  // AE_HD, ae::math

namespace ae {

// What a stream of draws is for; part of the counter so streams never overlap. Values are stored
// in model files' RNG records indirectly (through the bits drawn) — never renumber them.
enum class PhiloxPurpose : uint8_t {
  init = 1,        // weight initialisation (step = layer index)
  shuffle = 2,     // epoch order (step = epoch)
  data = 3,        // synthetic data (benchmarks, tests)
  corruption = 4,  // denoising input corruption (step = training step)
  vae_noise = 5,   // VAE reparameterisation ε (step = training step)
  dropout = 6,     // dropout masks (step = training step)
  prior = 7,       // draws from a generative model's prior: `ae sample` (step 0), an adversarial
                   // autoencoder's prior samples (step = training step)
  hashing = 8,     // random hyperplanes of the LSH baseline in `ae retrieve --compare-lsh` (step 0)
};

struct PhiloxBlock {
  uint32_t v[4];
};

namespace detail {
AE_HD inline void philox_mulhilo(uint32_t a, uint32_t b, uint32_t& hi, uint32_t& lo) {
  const uint64_t p = static_cast<uint64_t>(a) * b;
  hi = static_cast<uint32_t>(p >> 32);
  lo = static_cast<uint32_t>(p);
}
}  // namespace detail

// The raw generator: 10 rounds of Philox4x32 on counter `ctr` with key (k0, k1). Checked against
// Random123's published known-answer vectors.
AE_HD inline PhiloxBlock philox4x32_10(PhiloxBlock ctr, uint32_t k0, uint32_t k1) {
  constexpr uint32_t M0 = 0xD2511F53u, M1 = 0xCD9E8D57u;  // round multipliers
  constexpr uint32_t W0 = 0x9E3779B9u, W1 = 0xBB67AE85u;  // Weyl key increments (golden ratio, √3 − 1)
  for (int round = 0; round < 10; ++round) {
    if (round > 0) {
      k0 += W0;
      k1 += W1;
    }
    uint32_t hi0, lo0, hi1, lo1;
    detail::philox_mulhilo(M0, ctr.v[0], hi0, lo0);
    detail::philox_mulhilo(M1, ctr.v[2], hi1, lo1);
    ctr = PhiloxBlock{{hi1 ^ ctr.v[1] ^ k0, lo1, hi0 ^ ctr.v[3] ^ k1, lo0}};
  }
  return ctr;
}

// The four words for (seed, step, purpose, index). step must be < 2^56 (its top byte is purpose's).
AE_HD inline PhiloxBlock philox_draw(uint64_t seed, uint64_t step, PhiloxPurpose purpose, uint64_t index) {
  PhiloxBlock ctr{{static_cast<uint32_t>(index), static_cast<uint32_t>(index >> 32), static_cast<uint32_t>(step),
                   static_cast<uint32_t>((step >> 32) & 0x00FFFFFFu) | (static_cast<uint32_t>(purpose) << 24)}};
  return philox4x32_10(ctr, static_cast<uint32_t>(seed), static_cast<uint32_t>(seed >> 32));
}

// 64 uniform random bits.
AE_HD inline uint64_t philox_u64(uint64_t seed, uint64_t step, PhiloxPurpose purpose, uint64_t index) {
  PhiloxBlock b = philox_draw(seed, step, purpose, index);
  return static_cast<uint64_t>(b.v[0]) | (static_cast<uint64_t>(b.v[1]) << 32);
}

// Uniform float in [0, 1): the top 24 bits of the first word times 2^-24, exact in float, so
// identical on every backend. (0 is possible, 1 is not.)
AE_HD inline float philox_uniform(uint64_t seed, uint64_t step, PhiloxPurpose purpose, uint64_t index) {
  return static_cast<float>(philox_draw(seed, step, purpose, index).v[0] >> 8) * (1.0f / 16777216.0f);
}

// Uniform float in (0, 1]: for logs (0 is impossible, 1 is possible).
AE_HD inline float philox_uniform_pos(uint64_t seed, uint64_t step, PhiloxPurpose purpose, uint64_t index) {
  return static_cast<float>((philox_draw(seed, step, purpose, index).v[0] >> 8) + 1u) * (1.0f / 16777216.0f);
}

// Standard normal draw by Box–Muller from the first two words: u1 ∈ (0, 1] (32 bits),
// u2 ∈ [0, 1), z = √(−2 ln u1)·cos(2π u2). Computed in double: the uniforms are exact, and
// log/cos in double then rounded to float agree between glibc and CUDA's device math except in
// vanishingly rare ties, where an ulp-level float difference would otherwise be common.
AE_HD inline double philox_normal_f64(uint64_t seed, uint64_t step, PhiloxPurpose purpose, uint64_t index) {
  PhiloxBlock b = philox_draw(seed, step, purpose, index);
  const double u1 = (static_cast<double>(b.v[0]) + 1.0) * (1.0 / 4294967296.0);
  const double u2 = static_cast<double>(b.v[1]) * (1.0 / 4294967296.0);
  return math::sqrt(-2.0 * math::log(u1)) * math::cos(6.283185307179586476925 * u2);
}
AE_HD inline float philox_normal(uint64_t seed, uint64_t step, PhiloxPurpose purpose, uint64_t index) {
  return static_cast<float>(philox_normal_f64(seed, step, purpose, index));
}

}  // namespace ae
