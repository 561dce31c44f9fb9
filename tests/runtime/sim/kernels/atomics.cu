// Atomics under contention: every thread of many blocks (running in parallel on the sim's workers)
// hits the same few words `iters` times, so any non-atomic read-modify-write loses updates.
// ints: [0] atomicAdd, [1] atomicSub, [2] atomicMax of thread ids, [3] atomicMin, [4] CAS-loop add,
// [5] sum of the values atomicExch returns from [6] (all 1 but the first), [7] atomicOr bits.
// uints: [0] atomicAdd, [1] atomicInc wrapping at 1000, [2] atomicSub. ulls: [0] atomicAdd.
// floats: [0] atomicAdd(1.0f). doubles: [0] atomicAdd(0.5).
#include "kernels/cuda/launch.cuh"
#include "tests/runtime/sim/kernels/sim_test_kernels.cuh"

namespace ae::simtest {
namespace {

__global__ void atomics_kernel(int* ints, unsigned* uints, unsigned long long* ulls, float* floats,
                               double* doubles, int iters) {
  const int id = blockIdx.x * blockDim.x + threadIdx.x;
  for (int i = 0; i < iters; ++i) {
    atomicAdd(&ints[0], 1);
    atomicSub(&ints[1], 1);
    atomicMax(&ints[2], id);
    atomicMin(&ints[3], -id);
    int old = ints[4], seen;
    do {
      seen = old;
      old = atomicCAS(&ints[4], seen, seen + 1);
    } while (old != seen);
    atomicAdd(&ints[5], atomicExch(&ints[6], 1));  // every exchange but the first returns 1
    atomicOr(&ints[7], 1 << (id % 31));
    atomicAdd(&uints[0], 1u);
    atomicInc(&uints[1], 999u);
    atomicSub(&uints[2], 1u);
    atomicAdd(&ulls[0], 1ull);
    atomicAdd(&floats[0], 1.0f);
    atomicAdd(&doubles[0], 0.5);
  }
}

}  // namespace

void atomics(int* ints, unsigned* uints, unsigned long long* ulls, float* floats, double* doubles, int blocks,
             int iters) {
  AE_LAUNCH(atomics_kernel, dim3(blocks), dim3(256), 0, nullptr, ints, uints, ulls, floats, doubles, iters);
}

}  // namespace ae::simtest
