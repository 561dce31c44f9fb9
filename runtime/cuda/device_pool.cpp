// The caching device allocator.
#include "runtime/cuda/device_pool.h"

#include <cuda_runtime.h>

#include <algorithm>
#include <cstdio>

#include "kernels/common/error.h"
#if defined(AE_CUDA_BACKEND_SIM)
#include "runtime/sim/sim.h"
#endif

namespace ae::cuda {

namespace {
constexpr size_t MIN_CLASS = 512, SMALL_LIMIT = size_t(1) << 20, LARGE_STEP = size_t(2) << 20;

std::string mib(size_t b) {
  char buf[32];
  std::snprintf(buf, sizeof buf, "%.2f MiB", double(b) / double(1 << 20));
  return buf;
}
}  // namespace

size_t DevicePool::size_class(size_t bytes) {
  if (bytes <= MIN_CLASS) return MIN_CLASS;
  if (bytes <= SMALL_LIMIT) {
    size_t c = MIN_CLASS;
    while (c < bytes) c <<= 1;
    return c;
  }
  return (bytes + LARGE_STEP - 1) / LARGE_STEP * LARGE_STEP;
}

DevicePool::~DevicePool() {
  release_cached();
  // Blocks still handed out belong to owners that outlive the pool only by a bug; free them anyway.
  for (auto& [p, sz] : m_live) cudaFree(p);
}

void* DevicePool::allocate(size_t bytes) {
  const size_t cls = size_class(bytes);
  std::lock_guard lock(m_mutex);
  ++m_stats.allocations;
  void* p = nullptr;
  auto it = m_free.find(cls);
  if (it != m_free.end() && !it->second.empty()) {
    p = it->second.back();
    it->second.pop_back();
    ++m_stats.cache_hits;
  } else {
    cudaError_t e = cudaMalloc(&p, cls);
    if (e == cudaErrorMemoryAllocation) {  // give the cache back and try once more
      cudaGetLastError();
      for (auto& [c, blocks] : m_free)
        for (void* b : blocks) {
          cudaFree(b);
          m_stats.reserved -= c;
        }
      m_free.clear();
      e = cudaMalloc(&p, cls);
    }
    if (e != cudaSuccess) {
      cudaGetLastError();
      AE_FAIL("device memory: cudaMalloc of ", mib(cls), " (for ", bytes, " bytes) failed: ", cudaGetErrorName(e),
              "; pool: ", mib(m_stats.reserved), " reserved, ", mib(m_stats.in_use),
              " in use; use a smaller --batch or model");
    }
    ++m_stats.device_mallocs;
    m_stats.reserved += cls;
  }
  m_live[p] = {cls, bytes};
#if defined(AE_CUDA_BACKEND_SIM)
  // memcheck: the block's slack beyond the request is out of bounds, as the rest of a cudaMalloc is.
  if (bytes) ae::sim::name_buffer(p, bytes, "pool block of " + std::to_string(bytes) + " bytes");
#endif
  m_stats.in_use += cls;
  m_stats.requested += bytes;
  m_stats.peak_in_use = std::max(m_stats.peak_in_use, m_stats.in_use);
  return p;
}

void DevicePool::deallocate(void* p) {
  if (!p) return;
  std::lock_guard lock(m_mutex);
  auto it = m_live.find(p);
  AE_CHECK(it != m_live.end(), "device memory: deallocate of a pointer this pool did not hand out");
  auto [cls, req] = it->second;
  m_live.erase(it);
  m_stats.in_use -= cls;
  m_stats.requested -= req;
  m_free[cls].push_back(p);
#if defined(AE_CUDA_BACKEND_SIM)
  ae::sim::clear_buffers(p);
#endif
}

void DevicePool::release_cached() {
  std::lock_guard lock(m_mutex);
  for (auto& [c, blocks] : m_free)
    for (void* b : blocks) {
      cudaFree(b);
      m_stats.reserved -= c;
    }
  m_free.clear();
}

PoolStats DevicePool::stats() const {
  std::lock_guard lock(m_mutex);
  return m_stats;
}

std::string DevicePool::report() const {
  PoolStats s = stats();
  return "device pool: " + mib(s.reserved) + " reserved, " + mib(s.in_use) + " in use, peak " + mib(s.peak_in_use) + ", " +
         std::to_string(s.allocations) + " allocations (" + std::to_string(s.cache_hits) + " from the cache, " +
         std::to_string(s.device_mallocs) + " cudaMalloc)";
}

}  // namespace ae::cuda
