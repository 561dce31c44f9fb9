// Helpers shared by the GPU timings of `ae bench --device cuda` (bench_cuda.cpp: the backend's
// steps and cuBLASLt; bench_cudnn.cpp: cuDNN): the median, events, the executor's device, and —
// nvcc build only — a stream of the bench's own, scratch memory from the backend's pool and the
// timing of a call repeated on that stream. Internal to runtime/cuda.
#pragma once

#include <cuda_runtime.h>

#include <algorithm>
#include <cstdint>
#include <vector>

#include "kernels/common/error.h"
#include "kernels/cuda/launch.cuh"  // AE_CUDA_CHECK
#include "runtime/backend.h"
#include "runtime/cuda/bench_cuda.h"
#include "runtime/executor.h"

namespace ae::cuda_bench::bench_util {

inline double median(std::vector<double> v) {
  std::sort(v.begin(), v.end());
  size_t n = v.size();
  return n == 0 ? 0 : n % 2 ? v[n / 2] : 0.5 * (v[n / 2 - 1] + v[n / 2]);
}

// The events of one timing, released on every path (errors throw).
struct Events {
  std::vector<cudaEvent_t> e;
  explicit Events(size_t n) : e(n, nullptr) {
    for (auto& x : e) AE_CUDA_CHECK(cudaEventCreate(&x));
  }
  ~Events() {
    for (auto x : e)
      if (x) cudaEventDestroy(x);
  }
  float ms(size_t a, size_t b) const {
    float t = 0;
    AE_CUDA_CHECK(cudaEventElapsedTime(&t, e[a], e[b]));
    return t;
  }
};

inline Device& device_of(Executor& ex) {
  Device* d = ex.backend().device();
  AE_CHECK(d, "cuda_bench: the executor runs on '", ex.backend().name(), "', which has no device");
  return *d;
}

#if !defined(AE_CUDA_BACKEND_SIM)
// A non-blocking stream of its own, released on every path.
struct Stream {
  cudaStream_t s = nullptr;
  Stream() { AE_CUDA_CHECK(cudaStreamCreateWithFlags(&s, cudaStreamNonBlocking)); }
  ~Stream() {
    cudaStreamSynchronize(s);
    cudaStreamDestroy(s);
  }
};
// Scratch device memory from the backend's pool.
struct Scratch {
  Device* dev;
  void* p = nullptr;
  Scratch(Device* d, size_t bytes) : dev(d), p(d->allocate(std::max<size_t>(bytes, 1))) {}
  ~Scratch() { dev->deallocate(p); }
  Scratch(const Scratch&) = delete;
  Scratch& operator=(const Scratch&) = delete;
  template <typename T>
  T* as() const { return static_cast<T*>(p); }
};

// Elapsed ms of `fn` (which enqueues on s) per call: median over runs of `reps` calls each.
template <typename FN>
double time_calls(cudaStream_t s, const Repeat& r, int64_t reps, FN&& fn) {
  for (int64_t i = 0; i < r.warmup; ++i) fn();
  Events ev(2);
  std::vector<double> per_call;
  for (int64_t run = 0; run < r.runs; ++run) {
    AE_CUDA_CHECK(cudaEventRecord(ev.e[0], s));
    for (int64_t i = 0; i < reps; ++i) fn();
    AE_CUDA_CHECK(cudaEventRecord(ev.e[1], s));
    AE_CUDA_CHECK(cudaEventSynchronize(ev.e[1]));
    per_call.push_back(ev.ms(0, 1) / double(reps));
  }
  return median(per_call);
}
#endif  // !AE_CUDA_BACKEND_SIM

}  // namespace ae::cuda_bench::bench_util
