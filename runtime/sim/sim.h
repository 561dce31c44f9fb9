// runtime/sim host-facing API: the virtual device's configuration, the seed of the thread-order
// shuffle, kernel launch through the execution model, and counters for the bench.
// The CUDA runtime API itself (cudaMalloc, streams, graphs, ...) is implemented by ae_sim under the
// real names declared by <cuda_runtime.h>; this header only adds what CUDA has no name for.
#pragma once

#include <cuda_runtime.h>

#include <cstddef>
#include <cstdint>
#include <memory>
#include <string>
#include <tuple>
#include <type_traits>
#include <utility>

namespace ae::sim {

// Limits of the virtual device reported by cudaGetDeviceProperties and enforced at launch.
// Defaults are H100-like (sm_90): what ae's kernels are tuned for.
struct DeviceConfig {
  std::string name = "ae cuda-sim (H100-like virtual device)";
  int sm_count = 132;
  size_t smem_per_sm = 228 * 1024;
  size_t smem_per_block = 48 * 1024;         // static + dynamic without opt-in
  size_t smem_per_block_optin = 227 * 1024;  // dynamic, after cudaFuncSetAttribute
  int max_threads_per_block = 1024;
  int max_threads_per_sm = 2048;
  int regs_per_block = 64 * 1024;
  int regs_per_sm = 64 * 1024;
  size_t global_mem = size_t(80) << 30;
  int major = 9;
  int minor = 0;
};
void set_device_config(const DeviceConfig& config);
DeviceConfig device_config();

// Seed of the per-block thread-order shuffle. Initialised from the environment variable
// AE_SIM_SEED (default 1); every failure message prints it so a run can be replayed.
void set_seed(uint64_t seed);
uint64_t seed();

// Worker threads that run blocks in parallel (default: AE_SIM_THREADS or hardware concurrency).
void set_worker_count(int workers);
int worker_count();

// How work on a created (non-default) stream runs. Deferred (the default; AE_SIM_STREAMS=deferred):
// it is queued and runs only when the host needs it — cudaStreamSynchronize, cudaEventSynchronize/
// Query, cudaDeviceSynchronize, cudaFree/FreeHost, a stream waiting on an event recorded after it,
// a default-stream operation (for streams created without cudaStreamNonBlocking), stream destroy.
// That is one legal schedule of CUDA's asynchronous streams, the laziest: a missing synchronization
// reads stale data instead of a lucky result, and kernel failures surface at the synchronizing call
// as on a GPU. Eager (AE_SIM_STREAMS=eager): work runs at enqueue, failures at the launch site.
// The legacy default stream always runs work at enqueue.
void set_deferred_streams(bool on);
bool deferred_streams();

// Full text of the last kernel failure (barrier mismatch, bad warp mask, exception in a thread):
// names the kernel, the block, the threads and the seed. Empty when nothing failed.
std::string last_failure();

// racecheck and memcheck (see runtime/sim/README.md). The kernel sources are instrumented at compile
// time (ae_add_sim_cuda_sources, unless the build is the ASan one); these switch the checks at run
// time. Initialised from AE_SIM_CHECKS: "all" (default), "none", "race", "memory".
enum Checks : unsigned { check_none = 0, check_race = 1, check_memory = 2, check_all = 3 };
void set_checks(unsigned checks);
unsigned checks();
// Whether instrumented kernel code is linked in (false in the ASan build: nothing to check with).
bool checks_instrumented();

// memcheck's names for device memory. name_buffer names [p, p + bytes), which must lie inside one
// cudaMalloc/cudaMallocHost allocation, as a buffer; once an allocation has named buffers, a kernel
// access to a byte of it outside all of them (a gap, the slack at the end of a pool block) is out of
// bounds, and reports name the buffers. A new name replaces the buffers it overlaps (a pool block
// carved anew by its next user). clear_buffers forgets the names of the allocation holding p.
// Every allocation also has redzones the sim never hands out, so an access just before or after it
// is out of bounds without any naming.
void name_buffer(const void* p, size_t bytes, std::string name);
void clear_buffers(const void* p);
// Whether [p, p + bytes) lies inside one cudaMalloc allocation and, when the allocation has named
// buffers, inside one of them: the host-side memcheck of code that reads device memory on the host
// (Thrust's host system under the sim, which the kernels' instrumentation does not see).
bool in_device_memory(const void* p, size_t bytes);

// Counters for bench/sim. A resume is one switch into a CUDA thread's fiber.
struct Stats {
  uint64_t launches = 0;
  uint64_t blocks = 0;
  uint64_t fiber_resumes = 0;
};
Stats stats();
void reset_stats();

namespace detail {

// One kernel launch as the sim stores it: the kernel's arguments are copied into `args` at launch
// (by value, as CUDA does), so a captured graph replays them unchanged.
struct KernelLaunch {
  const void* func = nullptr;  // identity of the kernel (cudaFuncSetAttribute key)
  const char* name = "";
  dim3 grid;
  dim3 block;
  size_t smem_bytes = 0;
  std::shared_ptr<const void> args;
  void (*invoke)(const void* args) = nullptr;  // runs one CUDA thread's body
};

// Validates the configuration, then runs (or, while the stream captures, records) the launch.
// Sets the CUDA last error as <<<>>> does and returns it.
cudaError_t submit(KernelLaunch launch, cudaStream_t stream);

template <typename... PARAMS>
struct ArgPack {
  void (*kernel)(PARAMS...);
  std::tuple<std::decay_t<PARAMS>...> args;
  static void invoke(const void* self) {
    auto* p = static_cast<const ArgPack*>(self);
    std::apply(p->kernel, p->args);
  }
};

}  // namespace detail

// The sim's equivalent of kernel<<<grid, block, smem_bytes, stream>>>(args...). `name` appears in
// every error about this launch. Returns the launch error (also kept as the CUDA last error).
template <typename... PARAMS, typename... ARGS>
cudaError_t launch(const char* name, void (*kernel)(PARAMS...), dim3 grid, dim3 block,
                   size_t smem_bytes, cudaStream_t stream, ARGS&&... args) {
  static_assert(sizeof...(PARAMS) == sizeof...(ARGS), "kernel launched with the wrong number of arguments");
  using Pack = detail::ArgPack<PARAMS...>;
  auto pack = std::make_shared<Pack>(Pack{kernel, {static_cast<std::decay_t<PARAMS>>(std::forward<ARGS>(args))...}});
  detail::KernelLaunch l;
  l.func = reinterpret_cast<const void*>(kernel);
  l.name = name;
  l.grid = grid;
  l.block = block;
  l.smem_bytes = smem_bytes;
  l.args = std::move(pack);
  l.invoke = &Pack::invoke;
  return detail::submit(std::move(l), stream);
}

}  // namespace ae::sim
