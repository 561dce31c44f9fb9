// The CUDA runtime API subset ae uses, implemented on the CPU under the names and error codes that
// <cuda_runtime.h> declares: device and pinned-host memory (tracked, so copies and frees are checked
// against real allocations), the virtual device's properties, function attributes, error strings,
// and launch validation as the real runtime does it (an invalid configuration runs nothing).
// Streams, events and graphs are in streams.cpp.
#include <algorithm>
#include <cstdlib>
#include <cstring>
#include <map>
#include <memory>
#include <stdexcept>
#include <string>
#include <mutex>
#include <vector>

#include "runtime/sim/checks.h"
#include "runtime/sim/scheduler.h"

namespace ae::sim::detail {
namespace {

thread_local cudaError_t t_last_error = cudaSuccess;

struct Allocation {
  size_t size;
  bool device;  // false: pinned host memory (also device-accessible, as with UVA)
  std::map<uintptr_t, NamedRange> buffers;  // memcheck's named buffers, keyed by start
};
std::mutex g_mem_mutex;
std::map<const char*, Allocation> g_allocations;  // keyed by start address
size_t g_device_bytes = 0;
std::shared_ptr<const SpanTable> g_spans = std::make_shared<const SpanTable>();  // memcheck's copy

// Bytes before and after every allocation that the sim never hands out: a kernel access there is
// reported by memcheck (and the bytes keep the 256-byte alignment cudaMalloc guarantees). None in
// the ASan build, which has no memcheck: its own redzones around each malloc catch those accesses.
#if defined(__SANITIZE_ADDRESS__)
constexpr size_t REDZONE = 0;
#else
constexpr size_t REDZONE = 256;
#endif

std::mutex g_func_mutex;
std::map<const void*, int> g_max_dynamic_smem;  // cudaFuncAttributeMaxDynamicSharedMemorySize

// Rebuilds memcheck's map; g_mem_mutex held. Blocks that run meanwhile keep the copy they took.
void publish_spans() {
  auto t = std::make_shared<SpanTable>();
  t->reserve(g_allocations.size());
  for (const auto& [p, a] : g_allocations) {
    Span s;
    s.start = reinterpret_cast<uintptr_t>(p);
    s.end = s.start + a.size;
    s.lo = s.start - REDZONE;
    s.hi = s.end + REDZONE;
    s.device = a.device;
    for (const auto& [lo, r] : a.buffers) s.buffers.push_back(r);
    t->push_back(std::move(s));
  }
  g_spans = std::move(t);
}

// The allocation holding p; g_mem_mutex held.
std::map<const char*, Allocation>::iterator find_allocation(const void* p) {
  auto c = static_cast<const char*>(p);
  auto it = g_allocations.upper_bound(c);
  if (it == g_allocations.begin()) return g_allocations.end();
  --it;
  return c < it->first + it->second.size ? it : g_allocations.end();
}

// Whether [p, p+n) lies inside one tracked allocation (device memory, or pinned host if allowed).
bool in_allocation(const void* p, size_t n) {
  std::lock_guard<std::mutex> g(g_mem_mutex);
  auto it = find_allocation(p);
  return it != g_allocations.end() && static_cast<const char*>(p) + n <= it->first + it->second.size;
}

cudaError_t allocate(void** p, size_t size, bool device) {
  if (!p) return set_error(cudaErrorInvalidValue);
  *p = nullptr;
  if (size == 0) return cudaSuccess;
  if (device && g_device_bytes + size > device_config().global_mem) return set_error(cudaErrorMemoryAllocation);
  void* raw = nullptr;
  if (size > SIZE_MAX - 2 * REDZONE || posix_memalign(&raw, 256, size + 2 * REDZONE) != 0)
    return set_error(cudaErrorMemoryAllocation);
  auto* mem = static_cast<unsigned char*>(raw) + REDZONE;
  // Fresh device memory holds garbage on a GPU; all-ones bytes (NaN for floats) make unwritten
  // outputs visible instead of a lucky zero.
  if (device) std::memset(mem, 0xff, size);
  std::lock_guard<std::mutex> g(g_mem_mutex);
  g_allocations[reinterpret_cast<const char*>(mem)] = Allocation{size, device, {}};
  if (device) g_device_bytes += size;
  publish_spans();
  *p = mem;
  return cudaSuccess;
}

cudaError_t release(void* p, bool device) {
  if (!p) return cudaSuccess;
  std::lock_guard<std::mutex> g(g_mem_mutex);
  auto it = g_allocations.find(static_cast<const char*>(p));
  if (it == g_allocations.end() || it->second.device != device) return set_error(cudaErrorInvalidValue);
  if (device) g_device_bytes -= it->second.size;
  g_allocations.erase(it);
  publish_spans();
  std::free(static_cast<unsigned char*>(p) - REDZONE);
  return cudaSuccess;
}

// Checks the device side(s) of a copy the way the real runtime rejects a wrong direction or an
// out-of-range pointer: cudaErrorInvalidValue, nothing copied.
cudaError_t check_copy(void* dst, const void* src, size_t n, cudaMemcpyKind kind) {
  if (n == 0) return cudaSuccess;
  if (!dst || !src) return cudaErrorInvalidValue;
  bool dst_dev = kind == cudaMemcpyHostToDevice || kind == cudaMemcpyDeviceToDevice;
  bool src_dev = kind == cudaMemcpyDeviceToHost || kind == cudaMemcpyDeviceToDevice;
  if (kind != cudaMemcpyHostToHost && kind != cudaMemcpyDefault && !dst_dev && !src_dev) return cudaErrorInvalidMemcpyDirection;
  if (dst_dev && !in_allocation(dst, n)) return cudaErrorInvalidValue;
  if (src_dev && !in_allocation(src, n)) return cudaErrorInvalidValue;
  return cudaSuccess;
}

StreamOp copy_op(void* dst, const void* src, size_t n) {
  return {"memcpy " + std::to_string(n) + " bytes", [=] {
            if (n) std::memmove(dst, src, n);
            return cudaSuccess;
          }};
}

}  // namespace

cudaError_t set_error(cudaError_t e) {
  if (e != cudaSuccess) t_last_error = e;
  return e;
}

cudaError_t submit(KernelLaunch l, cudaStream_t stream) {
  const DeviceConfig dev = device_config();
  if (!l.func || !l.invoke) return set_error(cudaErrorInvalidDeviceFunction);
  const dim3 b = l.block, g = l.grid;
  uint64_t threads = uint64_t(b.x) * b.y * b.z;
  if (b.x == 0 || b.y == 0 || b.z == 0 || b.x > 1024 || b.y > 1024 || b.z > 64 ||
      threads > uint64_t(dev.max_threads_per_block))
    return set_error(cudaErrorInvalidConfiguration);
  if (g.x == 0 || g.y == 0 || g.z == 0 || g.x > 0x7fffffffu || g.y > 65535 || g.z > 65535)
    return set_error(cudaErrorInvalidConfiguration);
  size_t smem_limit = dev.smem_per_block;
  {
    std::lock_guard<std::mutex> lock(g_func_mutex);
    auto it = g_max_dynamic_smem.find(l.func);
    if (it != g_max_dynamic_smem.end()) smem_limit = std::max(smem_limit, size_t(it->second));
  }
  if (l.smem_bytes > smem_limit) return set_error(cudaErrorInvalidValue);
  if (!valid_stream(stream)) return set_error(cudaErrorInvalidResourceHandle);
  std::string what = std::string("kernel ") + l.name;
  return enqueue(stream, StreamOp{what, [l = std::move(l)] { return run_kernel(l); }});
}

std::shared_ptr<const SpanTable> span_table() {
  std::lock_guard<std::mutex> g(g_mem_mutex);
  return g_spans;
}

}  // namespace ae::sim::detail

namespace ae::sim {

void name_buffer(const void* p, size_t bytes, std::string name) {
  using namespace detail;
  std::lock_guard<std::mutex> g(g_mem_mutex);
  auto it = find_allocation(p);
  if (it == g_allocations.end() || bytes == 0 || static_cast<const char*>(p) + bytes > it->first + it->second.size)
    throw std::invalid_argument("ae::sim::name_buffer: '" + name + "' is not inside one allocation");
  auto lo = reinterpret_cast<uintptr_t>(p), hi = lo + bytes;
  auto& bufs = it->second.buffers;
  for (auto b = bufs.begin(); b != bufs.end();) b = (b->second.lo < hi && lo < b->second.hi) ? bufs.erase(b) : std::next(b);
  bufs[lo] = NamedRange{lo, hi, std::move(name)};
  publish_spans();
}

bool in_device_memory(const void* p, size_t bytes) {
  using namespace detail;
  if (bytes == 0) return true;
  std::lock_guard<std::mutex> g(g_mem_mutex);
  auto it = find_allocation(p);
  const auto lo = reinterpret_cast<uintptr_t>(p), hi = lo + bytes;
  if (it == g_allocations.end() || !it->second.device || static_cast<const char*>(p) + bytes > it->first + it->second.size)
    return false;
  const auto& bufs = it->second.buffers;
  if (bufs.empty()) return true;
  auto b = bufs.upper_bound(lo);
  if (b == bufs.begin()) return false;
  --b;
  return b->second.lo <= lo && hi <= b->second.hi;
}

void clear_buffers(const void* p) {
  using namespace detail;
  std::lock_guard<std::mutex> g(g_mem_mutex);
  auto it = find_allocation(p);
  if (it == g_allocations.end() || it->second.buffers.empty()) return;
  it->second.buffers.clear();
  publish_spans();
}

}  // namespace ae::sim

using ae::sim::detail::set_error;

// ---- errors ----
cudaError_t cudaGetLastError() {
  cudaError_t e = ae::sim::detail::t_last_error;
  ae::sim::detail::t_last_error = cudaSuccess;
  return e;
}
cudaError_t cudaPeekAtLastError() { return ae::sim::detail::t_last_error; }

namespace {
struct ErrorText {
  cudaError_t code;
  const char* name;
  const char* text;
};
// The codes the sim can return, with the real runtime's names and strings.
constexpr ErrorText k_errors[] = {
    {cudaSuccess, "cudaSuccess", "no error"},
    {cudaErrorInvalidValue, "cudaErrorInvalidValue", "invalid argument"},
    {cudaErrorMemoryAllocation, "cudaErrorMemoryAllocation", "out of memory"},
    {cudaErrorInvalidConfiguration, "cudaErrorInvalidConfiguration", "invalid configuration argument"},
    {cudaErrorInvalidDevice, "cudaErrorInvalidDevice", "invalid device ordinal"},
    {cudaErrorInvalidMemcpyDirection, "cudaErrorInvalidMemcpyDirection", "invalid copy direction for memcpy"},
    {cudaErrorInvalidDeviceFunction, "cudaErrorInvalidDeviceFunction", "invalid device function"},
    {cudaErrorInvalidResourceHandle, "cudaErrorInvalidResourceHandle", "invalid resource handle"},
    {cudaErrorNotReady, "cudaErrorNotReady", "device not ready"},
    {cudaErrorLaunchFailure, "cudaErrorLaunchFailure", "unspecified launch failure"},
    {cudaErrorLaunchOutOfResources, "cudaErrorLaunchOutOfResources", "too many resources requested for launch"},
    {cudaErrorNotSupported, "cudaErrorNotSupported", "operation not supported"},
    {cudaErrorStreamCaptureUnsupported, "cudaErrorStreamCaptureUnsupported", "operation not permitted when stream is capturing"},
    {cudaErrorStreamCaptureInvalidated, "cudaErrorStreamCaptureInvalidated", "operation failed due to a previous error during capture"},
    {cudaErrorStreamCaptureWrongThread, "cudaErrorStreamCaptureWrongThread", "attempt to terminate a thread-local capture sequence from another thread"},
    {cudaErrorIllegalState, "cudaErrorIllegalState", "the operation is not permitted in the current state"},
};
const ErrorText* find_error(cudaError_t e) {
  for (const auto& t : k_errors)
    if (t.code == e) return &t;
  return nullptr;
}
}  // namespace

const char* cudaGetErrorName(cudaError_t e) {
  const ErrorText* t = find_error(e);
  return t ? t->name : "cudaErrorUnknown";
}
const char* cudaGetErrorString(cudaError_t e) {
  const ErrorText* t = find_error(e);
  return t ? t->text : "unrecognized error code";
}

// ---- device ----
cudaError_t cudaGetDeviceCount(int* count) {
  if (!count) return set_error(cudaErrorInvalidValue);
  *count = 1;
  return cudaSuccess;
}
cudaError_t cudaGetDevice(int* device) {
  if (!device) return set_error(cudaErrorInvalidValue);
  *device = 0;
  return cudaSuccess;
}
cudaError_t cudaSetDevice(int device) { return device == 0 ? cudaSuccess : set_error(cudaErrorInvalidDevice); }
cudaError_t cudaDeviceSynchronize() { return ae::sim::detail::synchronize_all(); }
cudaError_t cudaDeviceReset() { return cudaSuccess; }

cudaError_t cudaGetDeviceProperties(cudaDeviceProp* p, int device) {
  if (!p) return set_error(cudaErrorInvalidValue);
  if (device != 0) return set_error(cudaErrorInvalidDevice);
  const ae::sim::DeviceConfig d = ae::sim::device_config();
  std::memset(p, 0, sizeof *p);
  std::strncpy(p->name, d.name.c_str(), sizeof p->name - 1);
  p->totalGlobalMem = d.global_mem;
  p->sharedMemPerBlock = d.smem_per_block;
  p->sharedMemPerBlockOptin = d.smem_per_block_optin;
  p->sharedMemPerMultiprocessor = d.smem_per_sm;
  p->regsPerBlock = d.regs_per_block;
  p->regsPerMultiprocessor = d.regs_per_sm;
  p->warpSize = 32;
  p->maxThreadsPerBlock = d.max_threads_per_block;
  p->maxThreadsPerMultiProcessor = d.max_threads_per_sm;
  p->maxThreadsDim[0] = 1024;
  p->maxThreadsDim[1] = 1024;
  p->maxThreadsDim[2] = 64;
  p->maxGridSize[0] = 0x7fffffff;
  p->maxGridSize[1] = 65535;
  p->maxGridSize[2] = 65535;
  p->totalConstMem = 64 * 1024;
  p->major = d.major;
  p->minor = d.minor;
  p->multiProcessorCount = d.sm_count;
  p->maxBlocksPerMultiProcessor = 32;
  p->concurrentKernels = 1;
  p->unifiedAddressing = 1;
  p->l2CacheSize = 50 * 1024 * 1024;
  return cudaSuccess;
}

cudaError_t cudaDeviceGetAttribute(int* value, cudaDeviceAttr attr, int device) {
  if (!value) return set_error(cudaErrorInvalidValue);
  if (device != 0) return set_error(cudaErrorInvalidDevice);
  cudaDeviceProp p;
  cudaGetDeviceProperties(&p, 0);
  switch (attr) {
    case cudaDevAttrMaxThreadsPerBlock: *value = p.maxThreadsPerBlock; break;
    case cudaDevAttrMaxSharedMemoryPerBlock: *value = int(p.sharedMemPerBlock); break;
    case cudaDevAttrMaxSharedMemoryPerBlockOptin: *value = int(p.sharedMemPerBlockOptin); break;
    case cudaDevAttrMaxSharedMemoryPerMultiprocessor: *value = int(p.sharedMemPerMultiprocessor); break;
    case cudaDevAttrMultiProcessorCount: *value = p.multiProcessorCount; break;
    case cudaDevAttrWarpSize: *value = 32; break;
    case cudaDevAttrComputeCapabilityMajor: *value = p.major; break;
    case cudaDevAttrComputeCapabilityMinor: *value = p.minor; break;
    case cudaDevAttrMaxRegistersPerBlock: *value = p.regsPerBlock; break;
    case cudaDevAttrMaxThreadsPerMultiProcessor: *value = p.maxThreadsPerMultiProcessor; break;
    default: return set_error(cudaErrorInvalidValue);
  }
  return cudaSuccess;
}

cudaError_t cudaFuncSetAttribute(const void* func, cudaFuncAttribute attr, int value) {
  if (!func) return set_error(cudaErrorInvalidDeviceFunction);
  if (attr == cudaFuncAttributeMaxDynamicSharedMemorySize) {
    if (value < 0 || size_t(value) > ae::sim::device_config().smem_per_block_optin) return set_error(cudaErrorInvalidValue);
    std::lock_guard<std::mutex> g(ae::sim::detail::g_func_mutex);
    ae::sim::detail::g_max_dynamic_smem[func] = value;
    return cudaSuccess;
  }
  if (attr == cudaFuncAttributePreferredSharedMemoryCarveout) return cudaSuccess;  // no effect on a CPU
  return set_error(cudaErrorInvalidValue);
}

cudaError_t cudaFuncGetAttributes(cudaFuncAttributes* a, const void* func) {
  if (!a) return set_error(cudaErrorInvalidValue);
  if (!func) return set_error(cudaErrorInvalidDeviceFunction);
  std::memset(a, 0, sizeof *a);
  const ae::sim::DeviceConfig d = ae::sim::device_config();
  a->maxThreadsPerBlock = d.max_threads_per_block;
  std::lock_guard<std::mutex> g(ae::sim::detail::g_func_mutex);
  auto it = ae::sim::detail::g_max_dynamic_smem.find(func);
  a->maxDynamicSharedSizeBytes = it == ae::sim::detail::g_max_dynamic_smem.end() ? int(d.smem_per_block) : it->second;
  return cudaSuccess;
}

// A launch through the C entry point carries untyped argument pointers the sim cannot call with;
// ae launches through kernels/cuda/launch.cuh instead.
cudaError_t cudaLaunchKernel(const void*, dim3, dim3, void**, size_t, cudaStream_t) {
  return set_error(cudaErrorNotSupported);
}

// ---- memory ----
cudaError_t cudaMalloc(void** p, size_t size) { return ae::sim::detail::allocate(p, size, true); }
// Both frees synchronize the device first, as CUDA's do: queued work may still use the memory.
cudaError_t cudaFree(void* p) {
  const cudaError_t before = p ? ae::sim::detail::synchronize_all() : cudaSuccess;
  const cudaError_t e = ae::sim::detail::release(p, true);
  return before != cudaSuccess ? before : e;
}
cudaError_t cudaMallocHost(void** p, size_t size) { return ae::sim::detail::allocate(p, size, false); }
cudaError_t cudaHostAlloc(void** p, size_t size, unsigned int) { return ae::sim::detail::allocate(p, size, false); }
cudaError_t cudaFreeHost(void* p) {
  const cudaError_t before = p ? ae::sim::detail::synchronize_all() : cudaSuccess;
  const cudaError_t e = ae::sim::detail::release(p, false);
  return before != cudaSuccess ? before : e;
}

cudaError_t cudaMemGetInfo(size_t* free_bytes, size_t* total) {
  if (!free_bytes || !total) return set_error(cudaErrorInvalidValue);
  std::lock_guard<std::mutex> g(ae::sim::detail::g_mem_mutex);
  *total = ae::sim::device_config().global_mem;
  *free_bytes = *total - ae::sim::detail::g_device_bytes;
  return cudaSuccess;
}

// Pinned or device memory on both sides: queued like a kernel. Pageable host memory, as CUDA does:
// a source is read before the call returns (staged), a destination written before it returns.
cudaError_t cudaMemcpyAsync(void* dst, const void* src, size_t n, cudaMemcpyKind kind, cudaStream_t stream) {
  using namespace ae::sim::detail;
  if (cudaError_t e = check_copy(dst, src, n, kind)) return set_error(e);
  if (!valid_stream(stream)) return set_error(cudaErrorInvalidResourceHandle);
  if (n == 0 || (in_allocation(src, n) && in_allocation(dst, n))) return enqueue(stream, copy_op(dst, src, n));
  if (!in_allocation(dst, n)) return run_after(stream, copy_op(dst, src, n));
  auto staged = std::make_shared<std::vector<char>>(static_cast<const char*>(src), static_cast<const char*>(src) + n);
  return enqueue(stream, {"memcpy " + std::to_string(n) + " bytes (staged from pageable memory)", [dst, staged] {
                            std::memcpy(dst, staged->data(), staged->size());
                            return cudaSuccess;
                          }});
}
cudaError_t cudaMemcpy(void* dst, const void* src, size_t n, cudaMemcpyKind kind) {
  return cudaMemcpyAsync(dst, src, n, kind, nullptr);
}

cudaError_t cudaMemsetAsync(void* p, int value, size_t n, cudaStream_t stream) {
  if (n && (!p || !ae::sim::detail::in_allocation(p, n))) return set_error(cudaErrorInvalidValue);
  if (!ae::sim::detail::valid_stream(stream)) return set_error(cudaErrorInvalidResourceHandle);
  return ae::sim::detail::enqueue(stream, {"memset " + std::to_string(n) + " bytes", [=] {
                                             if (n) std::memset(p, value, n);
                                             return cudaSuccess;
                                           }});
}
cudaError_t cudaMemset(void* p, int value, size_t n) { return cudaMemsetAsync(p, value, n, nullptr); }

// __constant__ and __device__ variables are ordinary globals under the sim.
// Legacy-stream operations: they wait for the blocking streams' queued work first.
cudaError_t cudaMemcpyToSymbol(const void* symbol, const void* src, size_t n, size_t offset, cudaMemcpyKind) {
  if (!symbol || (n && !src)) return set_error(cudaErrorInvalidValue);
  if (cudaError_t e = ae::sim::detail::synchronize_blocking()) return e;
  std::memcpy(static_cast<char*>(const_cast<void*>(symbol)) + offset, src, n);
  return cudaSuccess;
}
cudaError_t cudaMemcpyFromSymbol(void* dst, const void* symbol, size_t n, size_t offset, cudaMemcpyKind) {
  if (!symbol || (n && !dst)) return set_error(cudaErrorInvalidValue);
  if (cudaError_t e = ae::sim::detail::synchronize_blocking()) return e;
  std::memcpy(dst, static_cast<const char*>(symbol) + offset, n);
  return cudaSuccess;
}
