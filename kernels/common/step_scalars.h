// The values that change from one training step to the next — the step, the RNG seed, each
// parameter group's learning rate and optimizer factors, the fp16 loss scale — in one POD block.
// A device backend keeps one per executor in device memory and rewrites it (host → device, async
// on the compute stream, outside any capture) before every launch; kernels read it through a
// pointer. A captured CUDA graph freezes kernel arguments, not the memory they point to, so one
// graph replayed every step still sees each step's values (runtime/cuda/step_block.h).
//
// Host and device compilers must lay the struct out alike: fixed-width fields only, no pointers,
// no padding that depends on the compiler (checked below).
#pragma once

#include <cstddef>
#include <cstdint>
#include <type_traits>

namespace ae {

// Parameter groups a step can carry values for. Groups (one optimizer and state each) are few:
// today one, an adversarial discriminator makes two; the block stays a fixed small size.
inline constexpr int MAX_PARAM_GROUPS = 8;

// One group's optimizer values for this step, computed on the host in double and rounded to float
// as the cpu reference rounds them, so the device's update is the reference's bit for bit
// (kernels/cuda/optimizer.cuh, make_group_step_scalars).
struct GroupStepScalars {
  float lr;         // this step's learning rate (after any schedule)
  float step_size;  // adam: lr / (1 − β1^step)
  float bc2_sqrt;   // adam: √(1 − β2^step)
  float decay;      // adamw: 1 − lr·weight_decay
  int32_t first;    // 1 on step 1 (sgd's momentum buffer takes the gradient as is)
};

struct StepScalars {
  int64_t step;         // 1-based training step; 0 outside training. Philox's step (< 2^56)
  uint64_t seed;        // the model's seed: Philox key of every per-step draw (noise, dropout)
  uint64_t row_offset;  // data rows before this batch: per-row draws of scoring (a VAE's ε) key on
                        // the data row, so a score does not depend on the batch size; 0 in training
  float loss_scale;     // fp16 dynamic loss scale; 1 until mixed precision uses it
  int32_t group_count;  // group[0, group_count) hold this step's values; the rest are zero
  GroupStepScalars group[MAX_PARAM_GROUPS];
};

static_assert(std::is_trivially_copyable_v<StepScalars> && std::is_standard_layout_v<StepScalars>,
              "StepScalars is copied byte for byte to the device");
static_assert(sizeof(GroupStepScalars) == 20 && offsetof(StepScalars, group) == 32 &&
                  sizeof(StepScalars) == 32 + 20 * MAX_PARAM_GROUPS,
              "StepScalars must have the same layout on the host and the device compiler");

}  // namespace ae
