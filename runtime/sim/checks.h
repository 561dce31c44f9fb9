// Internal interface of runtime/sim's racecheck and memcheck (checks.cpp): what the scheduler tells
// the checker about the running block, and the device-memory map the runtime API keeps for memcheck.
// Kernel sources compiled for the sim are instrumented (GCC's -fsanitize=thread code generation,
// without its runtime): every load and store calls a hook in checks.cpp with the address and size.
// Not for kernels or users; the public switches are in sim.h.
#pragma once

#include <cstddef>
#include <cstdint>
#include <memory>
#include <string>
#include <vector>

#include "runtime/sim/sim.h"

namespace ae::sim::detail {

// ---- memcheck's map of device memory (runtime_api.cpp keeps it, checks.cpp reads it) ----
struct NamedRange {
  uintptr_t lo = 0, hi = 0;  // [lo, hi)
  std::string name;
};
// One cudaMalloc/cudaMallocHost allocation with the redzones the sim puts around it:
// [lo, start) and [end, hi) are never handed out, so a kernel access there is out of bounds.
struct Span {
  uintptr_t lo = 0, start = 0, end = 0, hi = 0;
  bool device = true;
  // Named buffers carved from the allocation (ae::sim::name_buffer): sorted, disjoint. When there
  // are any, bytes of [start, end) outside them are gaps, and an access there is out of bounds too.
  std::vector<NamedRange> buffers;
};
using SpanTable = std::vector<Span>;  // sorted by start
// The current map, rebuilt after every allocation, free or naming. A block takes one snapshot.
std::shared_ptr<const SpanTable> span_table();

// Bytes before and after a launch's dynamic shared memory that the scheduler allocates but never
// hands out (none in the ASan build, whose own redzones catch overruns): memcheck reports an access
// there as out of bounds of the shared memory.
inline constexpr size_t k_smem_guard = 128;

// ---- what the scheduler reports (all on the worker thread that runs the block) ----
void checks_begin_block(const KernelLaunch& launch, uint3 block, int threads, unsigned char* smem, size_t smem_bytes);
void checks_end_block();
// The CUDA thread `linear` is about to run on the fiber stack [stack, stack + stack_bytes).
void checks_switch_to(int linear, const void* stack, size_t stack_bytes);
// A warp collective of the warp starting at thread `base` completes, on the scheduler's stack: the
// memory it touches is that warp's, lane by lane as the completion says through checks_lane
// (device.h), e.g. a wmma load or store of shared memory.
void checks_collective(int base);
// Every live thread passed a block barrier: a new barrier interval begins.
void checks_barrier();
// A __syncwarp completed for `lanes` (a bit per lane) of the warp starting at thread `base`: those
// lanes are now ordered after each other's earlier accesses. (Shuffles and votes exchange values but
// do not order memory: the CUDA C++ Programming Guide promises that of __syncwarp only.)
void checks_warp_sync(int base, unsigned lanes);

// ---- what the checker reports (scheduler.cpp) ----
// Fails the running block with `report` (the first failure of a block wins). The offending thread
// goes on to its next barrier, collective or exit, where the block is unwound as for any failure.
void fail_block(const std::string& report);

}  // namespace ae::sim::detail
