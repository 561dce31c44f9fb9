// The cpu reference of fp16 dynamic loss scaling's gradient pass (kernels/common/amp.h): unscaling
// a tensor of loss-scaled gradients in place and noting whether any of them overflowed, as torch's
// _amp_foreach_non_finite_check_and_unscale_ does. The update of the scale after the step is
// amp_update_rule itself. The cpu backend refuses fp16 plans; this is the CUDA kernels' reference.
#pragma once

#include <cstdint>

#include "kernels/common/amp.h"

namespace ae::cpu {

// grad[i] = grad[i] · (1 / state.scale) for every i; state.found_inf = 1 when any element is inf or
// NaN before or after (never cleared here: it collects over all tensors until amp_update_rule).
// Non-finite elements are multiplied too, as torch does; the step they belong to is skipped.
void amp_unscale(AmpState& state,
                 float* grad,  // [n] loss-scaled on entry, unscaled on return
                 int64_t n);

}  // namespace ae::cpu
