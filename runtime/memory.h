// Host memory blocks: 128-byte aligned, RAII, non-copyable. The arena of a Plan is one block;
// the parameter store carves several typed buffers out of one block.
#pragma once

#include <cstddef>
#include <cstdint>
#include <cstdlib>
#include <cstring>
#include <new>
#include <utility>

namespace ae {

class AlignedBlock {
 public:
  static constexpr size_t ALIGN = 128;
  AlignedBlock() = default;
  explicit AlignedBlock(size_t bytes) : m_bytes(bytes) {
    if (bytes == 0) return;
    m_ptr = std::aligned_alloc(ALIGN, (bytes + ALIGN - 1) / ALIGN * ALIGN);
    if (!m_ptr) throw std::bad_alloc();
    std::memset(m_ptr, 0, bytes);
  }
  ~AlignedBlock() { std::free(m_ptr); }
  AlignedBlock(const AlignedBlock&) = delete;
  AlignedBlock& operator=(const AlignedBlock&) = delete;
  AlignedBlock(AlignedBlock&& o) noexcept : m_ptr(std::exchange(o.m_ptr, nullptr)), m_bytes(std::exchange(o.m_bytes, 0)) {}
  AlignedBlock& operator=(AlignedBlock&& o) noexcept {
    std::swap(m_ptr, o.m_ptr);
    std::swap(m_bytes, o.m_bytes);
    return *this;
  }
  template <typename T = float>
  T* as(size_t byte_offset = 0) const { return reinterpret_cast<T*>(static_cast<char*>(m_ptr) + byte_offset); }
  size_t bytes() const { return m_bytes; }

 private:
  void* m_ptr = nullptr;
  size_t m_bytes = 0;
};

}  // namespace ae
