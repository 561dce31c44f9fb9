// The launch shape of ae's one-element-per-thread kernels (unary, binary, activation): blocks of
// THREADS threads walking the elements in a grid-stride loop, the grid capped so huge tensors reuse
// threads instead of launching millions of blocks. Device and host code alike include it.
#pragma once

#include <cuda_runtime.h>

#include <cstdint>

namespace ae::cuda::grid_stride {

constexpr int THREADS = 256;
constexpr int64_t MAX_BLOCKS = 4096;  // plenty of blocks to fill any GPU

// The grid for n elements (n > 0).
inline dim3 grid_for(int64_t n) {
  const int64_t blocks = (n + THREADS - 1) / THREADS;
  return dim3(static_cast<unsigned>(blocks < MAX_BLOCKS ? blocks : MAX_BLOCKS));
}

}  // namespace ae::cuda::grid_stride
