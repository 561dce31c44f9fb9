// Launchers of fp16 dynamic loss scaling on CUDA (kernels/common/amp.h): amp_unscale divides every
// gradient of an optimizer group by the loss scale and notes an overflow, amp_update applies
// torch's scale update after the step. Both read and write the AmpState in device memory, so one
// captured graph (seed · scale → backward → unscale → optimizer_step(amp) → update) serves every
// step: which steps are skipped and how the scale moves is decided on the device.
#pragma once

#include <cuda_runtime.h>

#include <cstdint>

#include "kernels/common/amp.h"
#include "kernels/cuda/optimizer.cuh"

namespace ae::cuda {

// grad[i] *= 1 / state->scale, in place, for every element of every slot's grad (the optimizer's
// own table: one launch over the concatenation, as optimizer_step). Sets state->found_inf = 1 when
// any element is inf or NaN before or after; never clears it, so it collects over every group
// unscaled since the last amp_update. Bit for bit ae::cpu::amp_unscale per tensor.
// With several parameter groups under one AmpState the launch order decides who skips: unscale
// then step group by group, and a group steps unless it or an earlier group overflowed; unscale all
// groups first, and every group skips together. (torch checks each optimizer against its own
// gradients only; one flag cannot express that, the runtime picks one of the two.)
void amp_unscale(AmpState* state,           // [1] device: reads scale, may set found_inf
                 const OptSlot* slots,      // [count] device, finalized; only grad, n and first are used
                 int count, int64_t total,  // total = opt_slots_finalize's result
                 cudaStream_t stream);

// amp_update_rule(*state) on the device, one thread: after the group's optimizer_step (which read
// found_inf), before the next step's seed reads the scale.
void amp_update(AmpState* state,  // [1] device
                cudaStream_t stream);

}  // namespace ae::cuda
