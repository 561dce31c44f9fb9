// Shared by the cpu elementwise kernels: per-ISA function clones, the size below which a pass
// stays on the calling thread, and the deterministic split of a pass between threads.
#pragma once

#include <omp.h>

#include <cstdint>

// Function multi-versioning for the float loops (GCC/Clang on x86-64 with ifunc support); flatten
// inlines the per-activation loops into each clone, so they are compiled for that clone's ISA;
// fp-contract=off keeps a*b+c two roundings (no FMA), so every clone gives the same bits.
#if defined(__x86_64__) && defined(__GNUC__) && defined(__linux__)
#define AE_CPU_SIMD_CLONES \
  __attribute__((target_clones("avx512f", "avx2", "default"), flatten, optimize("fp-contract=off")))
#else
#define AE_CPU_SIMD_CLONES
#endif

namespace ae::cpu {

// Elementwise passes smaller than this run on the calling thread: forking a team costs more than
// the pass, and on a loaded machine every fork waits for a second core.
inline constexpr int64_t PARALLEL_MIN_ELEMENTS = int64_t(1) << 16;

// Calls f(begin, end) on contiguous slices of [0, count) — one per thread when the pass is worth
// a team (elements = the pass's size), else once on the calling thread. The slices are a pure
// function of count and the thread count, and every element is computed by one thread on its own,
// so results never depend on the split.
template <class F>
void for_slices(int64_t count, int64_t elements, F&& f) {
  if (elements < PARALLEL_MIN_ELEMENTS || count < 2 || omp_in_parallel() || omp_get_max_threads() < 2) {
    f(int64_t(0), count);
    return;
  }
#pragma omp parallel
  {
    const int64_t t = omp_get_thread_num(), n = omp_get_num_threads();
    f(count * t / n, count * (t + 1) / n);
  }
}

}  // namespace ae::cpu
