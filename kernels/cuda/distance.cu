// The exact k-nearest search's device steps: row norms (one thread per row, double accumulation in
// column order so the norms equal the host reference's bit for bit), the distance epilogue of a tile
// of dot products written as (query, distance, index) candidates beside the carried running best,
// a Thrust sort of all candidates of the block by (query, distance, index), and a gather of the first
// k per query. Sorting the block's candidates whole is exact and deterministic for any k ≤ n and any
// shape (the order is total: an index occurs once per query), at the cost of sorting k + nt entries
// per query per tile; a register top-k for small k is the faster variant not written yet.
#include "kernels/cuda/thrust_policy.cuh"  // first: it picks Thrust's device system

#include <thrust/iterator/zip_iterator.h>
#include <thrust/sort.h>
#include <thrust/tuple.h>

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

// Candidate e = i·seg + j of query i (seg = k + nt): j < k the carried best (or a placeholder),
// j ≥ k the distance to row t0 + j − k. The host reference's formula, term for term.
__global__ void candidates_kernel(bool cosine, const float* dots, const float* q_norms, const float* t_norms,
                                  int64_t mq, int64_t nt, int64_t t0, int k, bool carry, const float* best_distance,
                                  const int64_t* best_index, int32_t* c_query, float* c_distance, int64_t* c_index) {
  const int64_t seg = k + nt, total = mq * seg;
  const int64_t stride = int64_t(gridDim.x) * blockDim.x;
  for (int64_t e = int64_t(blockIdx.x) * blockDim.x + threadIdx.x; e < total; e += stride) {
    const int64_t i = e / seg, j = e - i * seg;
    float dist;
    int64_t index;
    if (j < k) {
      dist = carry ? best_distance[i * k + j] : __int_as_float(0x7fc00000);  // quiet NaN
      index = carry ? best_index[i * k + j] : INT64_MAX;
    } else {
      const int64_t c = j - k;
      const float dot = dots[i * nt + c];
      dist = cosine ? 1.0f - dot : fmaxf(0.0f, __fadd_rn(__fadd_rn(q_norms[i], t_norms[c]), -__fmul_rn(2.0f, dot)));
      index = t0 + c;
    }
    c_query[e] = int32_t(i);
    c_distance[e] = dist;
    c_index[e] = index;
  }
}

// After the sort query i's candidates are still entries [i·seg, (i+1)·seg), nearest first.
__global__ void keep_best_kernel(const float* c_distance, const int64_t* c_index, int64_t mq, int64_t seg, int k,
                                 float* best_distance, int64_t* best_index) {
  const int64_t total = mq * k, stride = int64_t(gridDim.x) * blockDim.x;
  for (int64_t e = int64_t(blockIdx.x) * blockDim.x + threadIdx.x; e < total; e += stride) {
    const int64_t i = e / k, j = e - i * k;
    best_distance[e] = c_distance[i * seg + j];
    best_index[e] = c_index[i * seg + j];
  }
}

// (query, distance, index) ascending; NaN distances after every number, equal to each other. A total
// order on the candidates of one block, so any sort (stable or not) gives the same result.
struct CandidateLess {
  __host__ __device__ bool operator()(const thrust::tuple<int32_t, float, int64_t>& a,
                                      const thrust::tuple<int32_t, float, int64_t>& b) const {
    const int32_t qa = thrust::get<0>(a), qb = thrust::get<0>(b);
    if (qa != qb) return qa < qb;
    const float da = thrust::get<1>(a), db = thrust::get<1>(b);
    const bool na = da != da, nb = db != db;
    if (na != nb) return nb;
    if (!na && da != db) return da < db;
    return thrust::get<2>(a) < thrust::get<2>(b);
  }
};

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
            q_norms, t_norms, mq, nt, t0, k, carry, best_distance, best_index, scratch.query, scratch.distance,
            scratch.index);
  check_device_range(scratch.query, size_t(total) * sizeof(int32_t), "nearest candidates' queries");
  check_device_range(scratch.distance, size_t(total) * sizeof(float), "nearest candidates' distances");
  check_device_range(scratch.index, size_t(total) * sizeof(int64_t), "nearest candidates' indices");
  auto keys = thrust::make_zip_iterator(thrust::make_tuple(scratch.query, scratch.distance, scratch.index));
  thrust::sort(thrust_policy(stream), keys, keys + total, CandidateLess{});
  AE_LAUNCH(keep_best_kernel, grid_stride::grid_for(mq * k), dim3(grid_stride::THREADS), 0, stream, scratch.distance,
            scratch.index, mq, seg, k, best_distance, best_index);
}

}  // namespace ae::cuda
