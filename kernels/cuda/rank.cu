// Ranking by value on the GPU with Thrust: a stable sort of the indices keyed by a copy of the values
// under a NaN-first descending comparator (stable: ties keep the lower index first), and count_if.
// No hand-written kernel: Thrust's radix/merge sort is the tuned one. Under the sim the same calls run
// on Thrust's host system (kernels/cuda/thrust_policy.cuh).
#include "kernels/cuda/thrust_policy.cuh"  // first: it picks Thrust's device system

#include <thrust/copy.h>
#include <thrust/count.h>
#include <thrust/sequence.h>
#include <thrust/sort.h>

#include "kernels/cuda/rank.cuh"

namespace ae::cuda {

namespace {

// Strict weak order "ranks before": NaN first (NaNs equivalent to each other), then larger first.
struct NanFirstDescending {
  __host__ __device__ bool operator()(float a, float b) const {
    const bool na = a != a, nb = b != b;
    if (na != nb) return na;
    return a > b;
  }
};

// Counted as flagged: above the threshold, or NaN (!(v <= t) is both).
struct AboveOrNan {
  float threshold;
  __host__ __device__ bool operator()(float v) const { return !(v <= threshold); }
};

}  // namespace

void rank_descending(const float* values, int64_t n, float* keys, int64_t* order, cudaStream_t stream) {
  AE_CHECK(n >= 0, "cuda rank_descending: negative length ", n);
  if (n == 0) return;
  AE_CHECK(values && keys && order, "cuda rank_descending: null pointer");
  check_device_range(values, size_t(n) * sizeof(float), "rank_descending values");
  check_device_range(keys, size_t(n) * sizeof(float), "rank_descending keys");
  check_device_range(order, size_t(n) * sizeof(int64_t), "rank_descending order");
  auto policy = thrust_policy(stream);
  thrust::copy(policy, values, values + n, keys);
  thrust::sequence(policy, order, order + n);
  thrust::stable_sort_by_key(policy, keys, keys + n, order, NanFirstDescending{});
}

int64_t count_above(const float* values, int64_t n, float threshold, cudaStream_t stream) {
  AE_CHECK(n >= 0, "cuda count_above: negative length ", n);
  if (n == 0) return 0;
  AE_CHECK(values, "cuda count_above: null pointer");
  check_device_range(values, size_t(n) * sizeof(float), "count_above values");
  return int64_t(thrust::count_if(thrust_policy(stream), values, values + n, AboveOrNan{threshold}));
}

}  // namespace ae::cuda
