// Measures runtime/sim as a tool: fiber resumes (switches into a CUDA thread) per second and the
// wall time of the 256x784x256 tiled GEMM (16x16 threads per block), for 1 worker and for all.
// These are CPU figures about the simulator; they say nothing about a GPU.
//   ae_bench_sim [repeats=3]
#include <chrono>
#include <cstdio>
#include <cstdlib>
#include <thread>
#include <vector>

#include "kernels/cuda/launch.cuh"
#include "runtime/sim/sim.h"
#include "tests/runtime/sim/kernels/sim_test_kernels.cuh"

int main(int argc, char** argv) {
  const int repeats = argc > 1 ? std::atoi(argv[1]) : 3;
  const int m = 256, n = 784, k = 256;
  std::vector<float> a(size_t(m) * k, 1.0f), b(size_t(k) * n, 2.0f);
  float *da, *db, *dc;
  AE_CUDA_CHECK(cudaMalloc(&da, a.size() * sizeof(float)));
  AE_CUDA_CHECK(cudaMalloc(&db, b.size() * sizeof(float)));
  AE_CUDA_CHECK(cudaMalloc(&dc, size_t(m) * n * sizeof(float)));
  AE_CUDA_CHECK(cudaMemcpy(da, a.data(), a.size() * sizeof(float), cudaMemcpyHostToDevice));
  AE_CUDA_CHECK(cudaMemcpy(db, b.data(), b.size() * sizeof(float), cudaMemcpyHostToDevice));
  const int all = int(std::thread::hardware_concurrency());
  std::printf("# runtime/sim: tiled fp32 GEMM %dx%dx%d, 16x16 threads per block, best of %d\n", m, n, k, repeats);
  std::printf("%-8s %10s %14s %16s\n", "workers", "seconds", "fiber_resumes", "resumes_per_s");
  for (int workers : {1, all}) {
    ae::sim::set_worker_count(workers);
    double best = 1e30;
    uint64_t resumes = 0;
    for (int r = 0; r < repeats; ++r) {
      ae::sim::reset_stats();
      auto t0 = std::chrono::steady_clock::now();
      ae::simtest::gemm_tiled(da, db, dc, m, n, k);
      double s = std::chrono::duration<double>(std::chrono::steady_clock::now() - t0).count();
      if (s < best) best = s;
      resumes = ae::sim::stats().fiber_resumes;
    }
    std::printf("%-8d %10.3f %14llu %16.3g\n", workers, best, static_cast<unsigned long long>(resumes),
                double(resumes) / best);
    if (workers == all) break;
  }
  cudaFree(da);
  cudaFree(db);
  cudaFree(dc);
  return 0;
}
