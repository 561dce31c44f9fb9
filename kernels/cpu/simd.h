// Shared by the cpu elementwise kernels: per-ISA function clones and the size below which a pass
// stays on the calling thread.
#pragma once

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

}  // namespace ae::cpu
