// The exact k-nearest search's device steps: row norms (one thread per row, double accumulation in
// column order so the norms equal the host reference's bit for bit), the distance epilogue of a tile
// of dot products written as candidates beside the carried running best, one Thrust radix sort of
// all candidates of the block keyed by (query, distance) — stable, over a layout where candidates
// with equal keys stand in ascending index, so the order is (query, distance, index) — and a gather
// of the first k per query.
// Exact and deterministic for any k ≤ n and any shape, at the cost of sorting k + nt entries per
// query per tile; pruning the tile by each query's current k-th best before the sort, or a register
// top-k for small k, are the faster variants not written yet.
#include "kernels/cuda/thrust_policy.cuh"  // first: it picks Thrust's device system

#include <thrust/sort.h>

#include <cmath>
#include <limits>

#include "kernels/cuda/distance.cuh"
#include "kernels/cuda/grid_stride.cuh"
#include "kernels/cuda/launch.cuh"

namespace ae::cuda {

namespace {

__global__ void row_norms_kernel(float* x, int64_t n, int64_t d, bool normalise, float* norms) {
  const int64_t stride = int64_t(gridDim.x) * blockDim.x;
  for (int64_t i = int64_t(blockIdx.x) * blockDim.x + threadIdx.x; i < n; i += stride) {
    float* r = x + i * d;
    double s = 0;
    for (int64_t j = 0; j < d; ++j) s += double(r[j]) * double(r[j]);
    if (norms) norms[i] = float(s);
    if (normalise && s > 0) {
      const float inv = float(1.0 / sqrt(s));
      for (int64_t j = 0; j < d; ++j) r[j] *= inv;
    }
  }
}

// The sort key of a candidate: its query in the high 32 bits, its distance mapped to an unsigned
// integer with the same order in the low 32 (negative floats bit-inverted, positive ones with the
// sign bit set; −0 as +0, which compare equal; every NaN as 0xfffffffe, after +inf; a placeholder
// of an empty running-best slot as 0xffffffff, after everything real). Ascending keys are ascending
// (query, distance); a stable sort keeps equal keys in layout order, which candidates_kernel makes
// ascending index order: a radix sort gives the (query, distance, index) order.
__device__ __forceinline__ uint64_t candidate_key(int64_t query, float distance, bool placeholder) {
  uint32_t bits = __float_as_uint(distance == 0.0f ? 0.0f : distance);
  if (placeholder) bits = 0xffffffffu;
  else if (distance != distance) bits = 0xfffffffeu;
  else bits = (bits & 0x80000000u) ? ~bits : (bits | 0x80000000u);
  return (uint64_t(query) << 32) | bits;
}

// The inverse of candidate_key's low half (NaN and placeholders come back as NaN, −0 as +0).
__device__ __forceinline__ float key_distance(uint64_t key) {
  const uint32_t bits = uint32_t(key);
  return __uint_as_float((bits & 0x80000000u) ? (bits & 0x7fffffffu) : ~bits);
}

// Candidate e = i·seg + j of query i (seg = k + nt), laid out so that equal keys stand in ascending
// index: with a running best (carry), j < k the carried best (all indices below t0, in (distance,
// index) order) and j ≥ k the distance to row t0 + j − k (ascending); without one, j < nt the tile
// and j ≥ nt the k placeholders (NaN, INT64_MAX), keyed after every real candidate, NaN ones included
// (also when carried: a first tile narrower than k leaves some in the running best). The distance is
// the host reference's formula, term for term.
__global__ void candidates_kernel(bool cosine, const float* dots, const float* q_norms, const float* t_norms,
                                  int64_t mq, int64_t nt, int64_t t0, int k, bool carry, const float* best_distance,
                                  const int64_t* best_index, uint64_t* c_key, int64_t* c_index) {
  const int64_t seg = k + nt, total = mq * seg;
  const int64_t stride = int64_t(gridDim.x) * blockDim.x;
  for (int64_t e = int64_t(blockIdx.x) * blockDim.x + threadIdx.x; e < total; e += stride) {
    const int64_t i = e / seg, j = e - i * seg;
    const int64_t c = carry ? j - k : j;  // the tile column, when < nt and ≥ 0
    float dist;
    int64_t index;
    if (c >= 0 && c < nt) {
      const float dot = dots[i * nt + c];
      dist = cosine ? 1.0f - dot : fmaxf(0.0f, __fadd_rn(__fadd_rn(q_norms[i], t_norms[c]), -__fmul_rn(2.0f, dot)));
      index = t0 + c;
    } else if (carry) {
      dist = best_distance[i * k + j];
      index = best_index[i * k + j];
    } else {
      dist = __int_as_float(0x7fc00000);  // quiet NaN
      index = INT64_MAX;
    }
    c_key[e] = candidate_key(i, dist, index == INT64_MAX);
    c_index[e] = index;
  }
}

// After the sort query i's candidates are still entries [i·seg, (i+1)·seg), nearest first.
__global__ void keep_best_kernel(const uint64_t* c_key, const int64_t* c_index, int64_t mq, int64_t seg, int k,
                                 float* best_distance, int64_t* best_index) {
  const int64_t total = mq * k, stride = int64_t(gridDim.x) * blockDim.x;
  for (int64_t e = int64_t(blockIdx.x) * blockDim.x + threadIdx.x; e < total; e += stride) {
    const int64_t i = e / k, j = e - i * k;
    best_distance[e] = key_distance(c_key[i * seg + j]);
    best_index[e] = c_index[i * seg + j];
  }
}

}  // namespace

void row_norms(float* x, int64_t n, int64_t d, bool normalise, float* norms, cudaStream_t stream) {
  AE_CHECK(n >= 0 && d >= 0, "cuda row_norms: negative shape ", n, " × ", d);
  if (n == 0) return;
  AE_CHECK(x || d == 0, "cuda row_norms: x is null");
  AE_LAUNCH(row_norms_kernel, grid_stride::grid_for(n), dim3(grid_stride::THREADS), 0, stream, x, n, d, normalise,
            norms);
}

void nearest_block(bool cosine, const float* dots, const float* q_norms, const float* t_norms, int64_t mq, int64_t nt,
                   int64_t t0, int k, bool carry, float* best_distance, int64_t* best_index,
                   const NearestScratch& scratch, cudaStream_t stream) {
  AE_CHECK(mq >= 0 && nt >= 1 && k >= 1 && t0 >= 0, "cuda nearest_block: bad shape mq=", mq, " nt=", nt, " k=", k);
  if (mq == 0) return;
  const int64_t seg = k + nt, total = mq * seg;
  AE_CHECK(total <= scratch.capacity, "cuda nearest_block: scratch of ", scratch.capacity, " candidates < ", total);
  AE_CHECK(mq <= std::numeric_limits<int32_t>::max(), "cuda nearest_block: ", mq, " queries in one block");
  AE_CHECK(dots && best_distance && best_index && (cosine || (q_norms && t_norms)), "cuda nearest_block: null pointer");
  AE_LAUNCH(candidates_kernel, grid_stride::grid_for(total), dim3(grid_stride::THREADS), 0, stream, cosine, dots,
            q_norms, t_norms, mq, nt, t0, k, carry, best_distance, best_index, scratch.key, scratch.index);
  check_device_range(scratch.key, size_t(total) * sizeof(uint64_t), "nearest candidates' keys");
  check_device_range(scratch.index, size_t(total) * sizeof(int64_t), "nearest candidates' indices");
  // Integer keys and the default order: Thrust takes its radix sort, stable, so equal (query,
  // distance) keys keep the ascending index order the candidates were laid out in.
  thrust::stable_sort_by_key(thrust_policy(stream), scratch.key, scratch.key + total, scratch.index);
  AE_LAUNCH(keep_best_kernel, grid_stride::grid_for(mq * k), dim3(grid_stride::THREADS), 0, stream, scratch.key,
            scratch.index, mq, seg, k, best_distance, best_index);
}

}  // namespace ae::cuda
