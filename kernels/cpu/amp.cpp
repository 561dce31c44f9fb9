// The cpu reference of amp_unscale: one plain loop. The reciprocal is taken once in float, as the
// CUDA kernel takes it; torch takes it in double and rounds to float, the same value for the powers
// of two the scale stays (kernels/common/amp.h), so every finite product is the exact quotient g/scale.
#include "kernels/cpu/amp.h"

#include "kernels/common/error.h"

namespace ae::cpu {

void amp_unscale(AmpState& state, float* grad, int64_t n) {
  AE_CHECK(n >= 0, "amp_unscale: negative size ", n);
  AE_CHECK(grad != nullptr || n == 0, "amp_unscale: grad is null");
  const float inv = 1.0f / state.scale;
  bool bad = false;
  for (int64_t i = 0; i < n; ++i) {
    const float g = grad[i], u = g * inv;
    // After as well as before: with a scale backed off below 1, inv > 1 can overflow a finite g.
    bad |= !amp_is_finite(g) || !amp_is_finite(u);
    grad[i] = u;
  }
  if (bad) state.found_inf = 1;
}

}  // namespace ae::cpu
