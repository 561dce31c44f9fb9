// One executor's device-resident StepScalars block (kernels/common/step_scalars.h): the one place
// per plan that holds what changes every step. The cuda backend writes it before every launch — an
// async host → device copy on the compute stream from a pinned buffer, never inside a capture —
// and kernels read it through device(), so a CUDA graph captured once and replayed every step
// sees each step's values instead of the arguments frozen at capture.
#pragma once

#include <cuda_runtime.h>

#include "kernels/common/step_scalars.h"
#include "runtime/backend.h"
#include "runtime/cuda/device_pool.h"

namespace ae::cuda {

class StepScalarBlock {
 public:
  explicit StepScalarBlock(DevicePool& pool);
  ~StepScalarBlock();
  StepScalarBlock(const StepScalarBlock&) = delete;
  StepScalarBlock& operator=(const StepScalarBlock&) = delete;

  // [1] device memory: what kernels (and captured graphs) take as their argument.
  const StepScalars* device() const { return m_device; }
  // Enqueues the copy of `s` on `stream`, ordered before the work enqueued after it. Waits (host)
  // only while the previous write's copy has not yet read the pinned buffer. Throws when `stream`
  // is capturing: a copy captured into a graph would replay the values of capture time.
  void write(const StepScalars& s, cudaStream_t stream);
  // The values of the last write (host copy).
  const StepScalars& last() const { return *m_host; }

 private:
  DevicePool& m_pool;
  StepScalars* m_device = nullptr;  // [1] device
  StepScalars* m_host = nullptr;    // [1] pinned: the copy's source
  cudaEvent_t m_copied = nullptr;   // recorded after each copy: the pinned buffer may be rewritten
  bool m_written = false;
};

// The block's values for one launch, from the context both backends read: step, seed, loss scale,
// and per group the learning rate and the optimizer's per-step factors (train plans: each group
// takes ctx.opt_for(g)'s hyperparameters with its own ctx.lr[g]). Checks the group count.
StepScalars make_step_scalars(const OpContext& ctx);

}  // namespace ae::cuda
