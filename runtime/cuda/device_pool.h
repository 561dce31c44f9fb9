// A size-classed caching allocator of device memory. Freed blocks go to a per-class free list and
// serve later requests of the same class without cudaMalloc/cudaFree (both synchronise the device).
// Classes: powers of two from 512 B to 1 MiB, then multiples of 2 MiB, so a block is at most twice
// (small) or 2 MiB over (large) the request. Thread-safe.
#pragma once

#include <cstddef>
#include <cstdint>
#include <map>
#include <mutex>
#include <string>
#include <unordered_map>
#include <vector>

namespace ae::cuda {

struct PoolStats {
  size_t reserved = 0;       // bytes obtained from cudaMalloc and not yet released
  size_t in_use = 0;         // bytes of the blocks handed out (class sizes)
  size_t peak_in_use = 0;
  size_t requested = 0;      // bytes asked for by the blocks in use
  int64_t allocations = 0;   // allocate() calls
  int64_t cache_hits = 0;    // of which served from a free list
  int64_t device_mallocs = 0;
};

class DevicePool {
 public:
  DevicePool() = default;
  ~DevicePool();
  DevicePool(const DevicePool&) = delete;
  DevicePool& operator=(const DevicePool&) = delete;

  static size_t size_class(size_t bytes);
  void* allocate(size_t bytes);  // throws ae::Error naming the size and the pool state on failure
  void deallocate(void* p);      // p from allocate(); nullptr is ignored
  void release_cached();         // cudaFree every cached block
  PoolStats stats() const;
  std::string report() const;    // one line

 private:
  mutable std::mutex m_mutex;
  std::map<size_t, std::vector<void*>> m_free;  // class size → cached blocks
  std::unordered_map<void*, std::pair<size_t, size_t>> m_live;  // block → (class size, requested)
  PoolStats m_stats;
};

}  // namespace ae::cuda
