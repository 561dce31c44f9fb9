// The kernels of fp16 dynamic loss scaling. amp_unscale walks the optimizer's slot table as
// optimizer_step does (kernels/cuda/multi_tensor.cuh): one multiply per element by the reciprocal of
// the scale (a power of two, so exact unless the result leaves fp32's range). amp_update is a
// single thread applying kernels/common/amp.h's rule.
//
// found_inf: each thread notes a non-finite element in a register; the block votes
// (__syncthreads_or) and its thread 0 sets the flag with atomicOr. Several blocks may set it in one
// launch and nothing in the launch reads it, so only that it ends up 1 matters. An atomic rather than
// a plain same-value store because under the sim the blocks run on parallel host threads, where two
// plain stores to one int are a C++ data race; atomics go through std::atomic_ref there (racecheck
// shadows shared memory only and records no atomics, so either form passes it). The vote keeps it
// to one atomic per block that saw an overflow, and there are none on a clean step.
#include "kernels/common/error.h"
#include "kernels/cuda/amp.cuh"
#include "kernels/cuda/launch.cuh"
#include "kernels/cuda/multi_tensor.cuh"

namespace ae::cuda {

namespace {

using multi_tensor::THREADS;

__global__ void __launch_bounds__(THREADS) amp_unscale_kernel(AmpState* state,       // [1]
                                                              const OptSlot* slots,  // [count]
                                                              int count, int64_t total) {
  // IEEE division (nvcc's default): the same float as the cpu reference's 1.0f / scale.
  const float inv = 1.0f / state->scale;
  bool bad = false;
  multi_tensor::for_each_element(slots, count, total, [&](const OptSlot& t, int64_t i) {
    const float g = t.grad[i], u = g * inv;
    // After as well as before: with a scale backed off below 1, inv > 1 can overflow a finite g.
    bad |= !amp_is_finite(g) || !amp_is_finite(u);
    t.grad[i] = u;
  });
  // Every thread reaches the vote: the walk returns, it never exits the kernel.
  if (__syncthreads_or(bad) && threadIdx.x == 0) atomicOr(&state->found_inf, 1);
}

__global__ void amp_update_kernel(AmpState* state) {  // [1]
  amp_update_rule(*state);
}

}  // namespace

void amp_unscale(AmpState* state, const OptSlot* slots, int count, int64_t total, cudaStream_t stream) {
  AE_CHECK(count >= 0 && total >= 0, "cuda amp_unscale: negative count ", count, " or total ", total);
  if (count == 0 || total == 0) return;
  AE_CHECK(state != nullptr && slots != nullptr, "cuda amp_unscale: state or slots is null");
  launch("amp_unscale", amp_unscale_kernel, multi_tensor::grid_for(total, "amp_unscale"), dim3(THREADS), 0, stream,
         state, slots, count, total);
}

void amp_update(AmpState* state, cudaStream_t stream) {
  AE_CHECK(state != nullptr, "cuda amp_update: state is null");
  launch("amp_update", amp_update_kernel, dim3(1), dim3(1), 0, stream, state);
}

}  // namespace ae::cuda
