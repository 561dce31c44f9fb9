// Helpers of the runtime/sim self-tests: an RAII device buffer with host round trips, and the seed
// printed with every failure so a run can be replayed with AE_SIM_SEED.
#pragma once

#include <cuda_runtime.h>
#include <gtest/gtest.h>

#include <string>
#include <vector>

#include "kernels/cuda/launch.cuh"
#include "runtime/sim/sim.h"

namespace ae::simtest {

template <typename T>
class DeviceBuffer {
 public:
  explicit DeviceBuffer(size_t n) : m_n(n) { AE_CUDA_CHECK(cudaMalloc(&m_p, n * sizeof(T) + (n == 0))); }
  explicit DeviceBuffer(const std::vector<T>& host) : DeviceBuffer(host.size()) { upload(host); }
  ~DeviceBuffer() { cudaFree(m_p); }
  DeviceBuffer(const DeviceBuffer&) = delete;
  DeviceBuffer& operator=(const DeviceBuffer&) = delete;
  T* get() const { return m_p; }
  size_t size() const { return m_n; }
  void upload(const std::vector<T>& host) {
    AE_CUDA_CHECK(cudaMemcpy(m_p, host.data(), host.size() * sizeof(T), cudaMemcpyHostToDevice));
  }
  std::vector<T> download() const {
    std::vector<T> host(m_n);
    AE_CUDA_CHECK(cudaMemcpy(host.data(), m_p, m_n * sizeof(T), cudaMemcpyDeviceToHost));
    return host;
  }

 private:
  T* m_p = nullptr;
  size_t m_n;
};

// Sets the sim's racecheck/memcheck switches for one scope.
class ScopedChecks {
 public:
  explicit ScopedChecks(unsigned checks) : m_saved(ae::sim::checks()) { ae::sim::set_checks(checks); }
  ~ScopedChecks() { ae::sim::set_checks(m_saved); }
  ScopedChecks(const ScopedChecks&) = delete;
  ScopedChecks& operator=(const ScopedChecks&) = delete;

 private:
  unsigned m_saved;
};

inline std::string seed_note() { return "[AE_SIM_SEED=" + std::to_string(ae::sim::seed()) + "]"; }

}  // namespace ae::simtest
