// What every cpu kernel running oneDNN primitives shares (gemm.cpp's matmuls, conv.cpp's
// convolutions): the calling thread's scratchpad for primitives created in user-scratchpad mode,
// so any thread may run any cached primitive, and the scope that gives oneDNN's OpenMP regions the
// kernel's thread count. Why user scratchpads and per-thread counts: kernels/cpu/gemm.cpp's opening.
#pragma once

#include <omp.h>
#include <oneapi/dnnl/dnnl.hpp>

#include <cstddef>
#include <cstdlib>
#include <new>

namespace ae::cpu::onednn {

// A per-thread scratch buffer for the shared, cached primitives: grows to the largest a thread has
// needed, 4 KiB aligned (oneDNN's own alignment for scratchpads). One buffer per thread for every
// kernel: a kernel uses it only while its primitives run, never across a call into another kernel.
inline std::byte* thread_scratch(size_t bytes) {
  struct Buffer {
    std::byte* p = nullptr;
    size_t size = 0;
    ~Buffer() { std::free(p); }
  };
  thread_local Buffer buf;
  if (bytes > buf.size) {
    const size_t size = (bytes + 4095) / 4096 * 4096;
    auto* p = static_cast<std::byte*>(std::aligned_alloc(4096, size));
    if (!p) throw std::bad_alloc();
    std::free(buf.p);
    buf.p = p;
    buf.size = size;
  }
  return buf.p;
}

inline dnnl::primitive_attr user_scratchpad() {
  dnnl::primitive_attr attr;
  attr.set_scratchpad_mode(dnnl::scratchpad_mode::user);
  return attr;
}

// Gives the calling thread's next OpenMP parallel regions (those oneDNN opens) `threads` threads
// for the lifetime of the scope, then restores what the caller had, so ae's elementwise loops keep
// their own setting.
class OmpThreadsScope {
 public:
  explicit OmpThreadsScope(int threads) : m_saved(omp_get_max_threads()) {
    if (m_saved != threads) omp_set_num_threads(threads);
  }
  ~OmpThreadsScope() {
    if (omp_get_max_threads() != m_saved) omp_set_num_threads(m_saved);
  }
  OmpThreadsScope(const OmpThreadsScope&) = delete;
  OmpThreadsScope& operator=(const OmpThreadsScope&) = delete;

 private:
  int m_saved;
};

}  // namespace ae::cpu::onednn
