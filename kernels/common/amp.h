// Dynamic loss scaling of fp16 mixed precision (issue 13), shared by every backend: the state a
// training run keeps (the loss scale and its bookkeeping), torch.amp.GradScaler's constants, and
// the one update rule, torch's _amp_update_scale_, written once for the host and the device.
// The state lives in device memory and is read by the kernels (fill_ramped scales the gradient
// seed, amp_unscale sets found_inf, optimizer_step skips on it), so a captured graph decides each step.
#pragma once

#include <cstddef>
#include <cstdint>
#include <type_traits>

#include "kernels/common/activation.h"  // AE_HD

namespace ae {

// torch.amp.GradScaler's defaults: init_scale 2^16, growth_factor 2, backoff_factor 0.5,
// growth_interval 2000. Both factors are powers of two, so the scale stays one (2^16·2^k) and
// multiplying or dividing a gradient by it is exact unless the result leaves fp32's range.
inline constexpr float AMP_INIT_SCALE = 65536.0f;
inline constexpr float AMP_GROWTH_FACTOR = 2.0f;
inline constexpr float AMP_BACKOFF_FACTOR = 0.5f;
inline constexpr int32_t AMP_GROWTH_INTERVAL = 2000;

// Fixed-width fields only, no pointers: the host and the device compilers must agree on the layout
// (the runtime keeps it in the parameter store's block and mirrors it to the device byte for byte).
struct AmpState {
  float scale;        // the loss scale: the gradient seed is multiplied by it, the gradients divided
  int32_t growth;     // clean steps since the scale last changed (torch's growth_tracker)
  int32_t found_inf;  // 1 when an amp_unscale since the last amp_update saw an inf or NaN gradient
  int32_t skipped;    // optimizer steps skipped for an overflow over the run (diagnostics)
};

static_assert(std::is_trivially_copyable_v<AmpState> && std::is_standard_layout_v<AmpState>,
              "AmpState is copied byte for byte to the device");
static_assert(sizeof(AmpState) == 16 && offsetof(AmpState, growth) == 4 && offsetof(AmpState, found_inf) == 8 &&
                  offsetof(AmpState, skipped) == 12,
              "AmpState must have the same layout on the host and the device compiler");

// The state a run starts from (torch's GradScaler before its first step).
AE_HD constexpr AmpState amp_initial_state() {
  return AmpState{AMP_INIT_SCALE, 0, 0, 0};
}

// x is neither ±inf nor NaN (NaN fails every comparison). A comparison rather than isfinite():
// std::isfinite is not a device function, and this reads the same under nvcc and the host compiler.
AE_HD inline bool amp_is_finite(float x) {
  return (x < 0.0f ? -x : x) <= 3.40282346638528859811704183484516925e+38f;  // FLT_MAX
}

// torch's _amp_update_scale_, after each optimizer step: an overflow backs the scale off and
// restarts the count of clean steps; the growth_interval-th clean step in a row doubles the scale,
// unless that would overflow fp32 (the count restarts either way). found_inf is consumed here (torch
// allocates a fresh one per step instead), so the next step's unscale starts from 0.
AE_HD inline void amp_update_rule(AmpState& s) {
  if (s.found_inf != 0) {
    s.scale = s.scale * AMP_BACKOFF_FACTOR;
    s.growth = 0;
    s.skipped += 1;
  } else {
    const int32_t successful = s.growth + 1;
    if (successful == AMP_GROWTH_INTERVAL) {
      const float grown = s.scale * AMP_GROWTH_FACTOR;
      if (amp_is_finite(grown)) s.scale = grown;
      s.growth = 0;
    } else {
      s.growth = successful;
    }
  }
  s.found_inf = 0;
}

}  // namespace ae
