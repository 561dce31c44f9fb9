// The walk shared by the kernels that sweep every tensor of an optimizer group's slot table in one
// launch (optimizer_step, amp_unscale): block b covers elements [b·CHUNK, (b + 1)·CHUNK) of the
// concatenation of the slots' tensors, finds the tensor holding its first element by binary search
// over the slots' first offsets, and each thread steps on to the next tensor when its element passes
// the current one's end. Included by kernel sources only (the walk is device code).
#pragma once

#include <cuda_runtime.h>

#include <cstdint>

#include "kernels/common/error.h"
#include "kernels/cuda/optimizer.cuh"

namespace ae::cuda::multi_tensor {

constexpr int THREADS = 256;
constexpr int PER_THREAD = 4;
constexpr int64_t CHUNK = int64_t(THREADS) * PER_THREAD;

// The grid over `total` elements (total > 0); `what` names the launcher in the error.
inline dim3 grid_for(int64_t total, const char* what) {
  const int64_t blocks = (total + CHUNK - 1) / CHUNK;
  AE_CHECK(blocks <= 0x7fffffff, "cuda ", what, ": ", total, " elements exceed the grid limit");
  return dim3(static_cast<unsigned>(blocks));
}

// f(slot, i) for element i of the slot's tensor, for each of this thread's PER_THREAD elements of
// the concatenation, in order, none at or past total. slots: [count], finalized (opt_slots_finalize).
template <class F>
__device__ __forceinline__ void for_each_element(const OptSlot* slots, int count, int64_t total, F&& f) {
  const int64_t begin = int64_t(blockIdx.x) * CHUNK;
  // The last slot whose first ≤ begin (empty tensors share their successor's first; skip them).
  int lo = 0, hi = count - 1;
  while (lo < hi) {
    const int mid = (lo + hi + 1) / 2;
    if (slots[mid].first <= begin)
      lo = mid;
    else
      hi = mid - 1;
  }
  int cur = lo;
  for (int k = 0; k < PER_THREAD; ++k) {
    const int64_t e = begin + int64_t(k) * THREADS + threadIdx.x;
    if (e >= total) return;
    while (e >= slots[cur].first + slots[cur].n) ++cur;
    const OptSlot& t = slots[cur];
    f(t, e - t.first);
  }
}

}  // namespace ae::cuda::multi_tensor
