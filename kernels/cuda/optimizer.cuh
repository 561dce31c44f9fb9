// Launcher of the multi-tensor optimizer step on CUDA: sgd (momentum, dampening, nesterov, L2),
// adam, adamw, rmsprop (momentum, centered), the update rules of ae::cpu::optimizer_step
// (kernels/cpu/optimizer.h) operation for operation, so results match it bit for bit (IEEE
// add/mul/div/sqrt, no contraction into FMAs). Parameters, gradients and state are fp32: the
// master weights under every precision policy.
//
// Mixed precision: a slot may carry the low-precision compute copy the GEMMs read (bf16 or fp16),
// written in the same pass as the updated fp32 value, and under fp16 loss scaling the step reads an
// AmpState (kernels/common/amp.h) and changes nothing when the gradients overflowed.
//
// CUDA-graph friendly: what changes from step to step (the scheduled lr, Adam's bias corrections,
// AdamW's decay, SGD's first step, whether an overflow skips the step) is read from device memory
// (the executor's StepScalars block, group `group`, kernels/common/step_scalars.h; the AmpState),
// which the runtime or earlier kernels rewrite before each launch or replay; the launch arguments
// (hyperparameters, group index, slot table, sizes) stay fixed, so one captured launch serves every step.
#pragma once

#include <cuda_runtime.h>

#include <cstddef>
#include <cstdint>
#include <type_traits>
#include <vector>

#include "kernels/common/amp.h"
#include "kernels/common/dtype.h"
#include "kernels/common/step_scalars.h"
#include "kernels/cpu/optimizer.h"

namespace ae::cuda {

// One parameter tensor; the table of them lives in device memory, built by host code (the runtime)
// and read by the kernels. State layout as the cpu reference: slot s of a tensor of n elements at
// state[s·n ..). first is the tensor's offset in the concatenation of all tensors (set by
// opt_slots_finalize). The same table serves amp_unscale (kernels/cuda/amp.cuh), which scales grad
// in place: one table per group, so grad is writable.
//
// The copy's dtype is per slot, not per launch: the pointer and the type of what it points to travel
// together (a void* whose type is decided elsewhere could be written as the wrong type), the runtime
// fills both from the one copy tensor of the plan, and OptHyper (a captured graph's frozen arguments)
// stays the optimizer's alone. All threads of a tensor take the same branch, so it costs nothing.
struct OptSlot {
  float* param;  // [n] updated in place
  float* grad;   // [n] read by the step; unscaled in place by amp_unscale
  float* state;  // [opt_state_slots × n], or nullptr when the kind keeps none
  int64_t n;
  int64_t first;
  // Mixed precision: the compute copy, copy[i] = param[i] rounded to copy_dtype to nearest even
  // after each update; nullptr when the plan keeps none. copy_dtype: bf16 (__nv_bfloat16 [n]) or
  // f16 (__half [n]); f32 (the default) is refused with a copy, so the type is always said.
  void* copy = nullptr;
  DType copy_dtype = DType::f32;
};
static_assert(std::is_standard_layout_v<OptSlot> && std::is_trivially_copyable_v<OptSlot>,
              "OptSlot tables are uploaded byte for byte");
static_assert(sizeof(OptSlot) == 56 && offsetof(OptSlot, first) == 32 && offsetof(OptSlot, copy) == 40 &&
                  offsetof(OptSlot, copy_dtype) == 48,
              "OptSlot must have the same layout on the host and the device compiler");

// The fixed hyperparameters, rounded to float as the reference rounds them.
struct OptHyper {
  cpu::OptKind kind;
  bool nesterov, use_wd, use_mom, centered;
  float wd, momentum, damp1;  // damp1 = 1 − dampening
  float w1, b2, w2, eps;      // adam: 1 − β1, β2, 1 − β2; eps (adam, rmsprop)
  float alpha, w_alpha;       // rmsprop: α, 1 − α
  bool operator==(const OptHyper&) const = default;  // a captured graph holds these values
};

OptHyper make_opt_hyper(const cpu::OptConfig& cfg);  // validates cfg
// One group's per-step values for its StepScalars entry. cfg.lr is this step's learning rate (after
// any schedule); step is 1-based. Computed in double and rounded as the reference does.
GroupStepScalars make_group_step_scalars(const cpu::OptConfig& cfg, int64_t step);
// Sets each slot's first offset; returns the total element count (checks sizes, pointers and the
// copies' dtypes).
int64_t opt_slots_finalize(const cpu::OptConfig& cfg, std::vector<OptSlot>& slots);

// One step over every slot: a single launch over the concatenation of all tensors (each block
// finds its tensor by binary search on first, each thread walks on from there,
// kernels/cuda/multi_tensor.cuh). With amp, the kernel reads amp->found_inf when it runs and, if it
// is set, returns at once: params, state and copies untouched, as torch skips optimizer.step().
// (torch's optimizer then does not count the step either: the StepScalars' step, which drives
// Adam's bias corrections and SGD's first step, is the runtime's to hold back.) amp comes last,
// defaulted, so callers without loss scaling are unchanged.
void optimizer_step(const OptHyper& hyper,
                    const StepScalars* scalars,  // [1] device; reads scalars->group[group]
                    int group,                   // 0 ≤ group < MAX_PARAM_GROUPS
                    const OptSlot* slots,        // [count] device, finalized
                    int count, int64_t total,    // total = opt_slots_finalize's result
                    cudaStream_t stream,
                    const AmpState* amp = nullptr);  // [1] device, or nullptr: no loss scaling

}  // namespace ae::cuda
