// The device half of runtime/latent.h (cuda, and cuda-sim which runs the same code): the indexed rows
// live in device memory from construction on; each search uploads a block of queries, forms the
// [queries, rows] dot products tile by tile with ae's GEMM (kernels/cuda/matmul), turns them into
// distances and keeps each query's best k with Thrust (kernels/cuda/distance), and downloads only the
// [m, k] result. Ranking sorts on the device (kernels/cuda/rank). Everything is ordered on the
// backend's compute stream; the host reference is runtime/latent.cpp.
#include <cuda_runtime.h>

#include <algorithm>

#include "kernels/common/error.h"
#include "kernels/cuda/distance.cuh"
#include "kernels/cuda/matmul.cuh"
#include "kernels/cuda/rank.cuh"
#include "runtime/cuda/cuda_backend.h"
#include "runtime/latent_device.h"

namespace ae::detail {

namespace {

// Device memory of `count` T from the backend's pool, returned to it on destruction.
template <typename T>
class DeviceArray {
 public:
  DeviceArray(Device& dev, int64_t count)
      : m_dev(dev), m_p(static_cast<T*>(dev.allocate(size_t(std::max<int64_t>(count, 1)) * sizeof(T)))) {}
  ~DeviceArray() { m_dev.deallocate(m_p); }
  DeviceArray(const DeviceArray&) = delete;
  DeviceArray& operator=(const DeviceArray&) = delete;
  T* get() const { return m_p; }

 private:
  Device& m_dev;
  T* m_p;
};

// Rows per block: a [QUERY_BLOCK, BASE_BLOCK] tile of dot products (4 MiB), as on the host. The
// candidates of one block, mq·(k + nt) of them, are held to CANDIDATE_BUDGET (64 MiB of keys and
// indices, and as much again for the radix sort's buffers) by taking fewer queries per block when k
// is large.
constexpr int64_t QUERY_BLOCK = 512;
constexpr int64_t BASE_BLOCK = 2048;
constexpr int64_t CANDIDATE_BUDGET = int64_t(1) << 22;

class CudaRowIndex final : public DeviceRowIndex {
 public:
  CudaRowIndex(Backend& backend, const float* rows, int64_t n, int64_t d, Metric metric)
      : m_dev(*backend.device()),
        m_stream(cuda_compute_stream(backend)),
        m_n(n),
        m_d(d),
        m_cosine(metric == Metric::cosine),
        m_rows(m_dev, n * d),
        m_norms(m_dev, m_cosine ? 0 : n) {
    m_dev.upload(m_rows.get(), rows, size_t(n * d) * sizeof(float));
    cuda::row_norms(m_rows.get(), n, d, m_cosine, m_cosine ? nullptr : m_norms.get(), m_stream);
  }

  Neighbours search(const float* queries, int64_t m, int k) const override {
    Neighbours out;
    out.queries = m;
    out.k = k;
    out.index.resize(size_t(m * k));
    out.distance.resize(size_t(m * k));
    if (m == 0) return out;
    const int64_t nt_max = std::min(BASE_BLOCK, m_n);
    const int64_t mq_max = std::clamp<int64_t>(CANDIDATE_BUDGET / (k + nt_max), 1, std::min(QUERY_BLOCK, m));
    DeviceArray<float> q(m_dev, mq_max * m_d), qn(m_dev, mq_max), dots(m_dev, mq_max * nt_max);
    DeviceArray<float> best_d(m_dev, mq_max * k);
    DeviceArray<int64_t> best_i(m_dev, mq_max * k);
    const int64_t capacity = mq_max * (k + nt_max);
    DeviceArray<uint64_t> c_key(m_dev, capacity);
    DeviceArray<int64_t> c_index(m_dev, capacity);
    const cuda::NearestScratch scratch{c_key.get(), c_index.get(), capacity};
    for (int64_t q0 = 0; q0 < m; q0 += mq_max) {
      const int64_t mq = std::min(mq_max, m - q0);
      m_dev.upload(q.get(), queries + q0 * m_d, size_t(mq * m_d) * sizeof(float));
      cuda::row_norms(q.get(), mq, m_d, m_cosine, m_cosine ? nullptr : qn.get(), m_stream);
      for (int64_t t0 = 0; t0 < m_n; t0 += nt_max) {
        const int64_t nt = std::min(nt_max, m_n - t0);
        // dots[i, j] = q_i · t_{t0+j}: the rows are [n, d], so the tile is Q·T_blockᵀ (trans_b).
        cuda::matmul<float>(false, true, mq, nt, m_d, q.get(), m_rows.get() + t0 * m_d, dots.get(), false, m_stream);
        cuda::nearest_block(m_cosine, dots.get(), qn.get(), m_cosine ? nullptr : m_norms.get() + t0, mq, nt, t0, k,
                            t0 > 0, best_d.get(), best_i.get(), scratch, m_stream);
      }
      // download() waits for the compute stream: the block's [mq, k] results are final.
      m_dev.download(out.distance.data() + q0 * k, best_d.get(), size_t(mq * k) * sizeof(float));
      m_dev.download(out.index.data() + q0 * k, best_i.get(), size_t(mq * k) * sizeof(int64_t));
    }
    return out;
  }

 private:
  Device& m_dev;
  cudaStream_t m_stream;
  int64_t m_n, m_d;
  bool m_cosine;
  DeviceArray<float> m_rows;   // [n, d], normalised for cosine
  DeviceArray<float> m_norms;  // [n] squared norms (euclidean)
};

}  // namespace

std::unique_ptr<DeviceRowIndex> make_device_row_index(Backend& backend, const float* rows, int64_t n, int64_t d,
                                                      Metric metric) {
  return std::make_unique<CudaRowIndex>(backend, rows, n, d, metric);
}

std::vector<int64_t> device_top_k(Backend& backend, const float* values, int64_t n, int64_t k) {
  std::vector<int64_t> out(static_cast<size_t>(k));
  if (k == 0) return out;
  Device& dev = *backend.device();
  DeviceArray<float> keys(dev, n);
  DeviceArray<int64_t> order(dev, n);
  cuda::rank_descending(values, n, keys.get(), order.get(), cuda_compute_stream(backend));
  dev.download(out.data(), order.get(), size_t(k) * sizeof(int64_t));  // only the first k come back
  return out;
}

int64_t device_count_above(Backend& backend, const float* values, int64_t n, float threshold) {
  return cuda::count_above(values, n, threshold, cuda_compute_stream(backend));
}

}  // namespace ae::detail
