// Internal: the device half of runtime/latent.h, defined in runtime/cuda/latent_cuda.cpp and compiled
// only with the cuda or cuda-sim backend (AE_HAVE_CUDA_BACKEND). runtime/latent.cpp dispatches here
// when backend.device() != nullptr; nothing outside runtime/ includes this header.
#pragma once

#include <cstdint>
#include <memory>
#include <vector>

#include "runtime/backend.h"
#include "runtime/latent.h"

namespace ae::detail {

// A RowIndex's rows (and norms) in device memory; search() returns only the [m, k] results.
class DeviceRowIndex {
 public:
  virtual ~DeviceRowIndex() = default;
  virtual Neighbours search(const float* queries, int64_t m, int k) const = 0;  // queries: host [m, d]
};
std::unique_ptr<DeviceRowIndex> make_device_row_index(Backend& backend, const float* rows, int64_t n, int64_t d,
                                                      Metric metric);

// Ranking of device-resident values (device memory of `backend`), on the device.
std::vector<int64_t> device_top_k(Backend& backend, const float* values, int64_t n, int64_t k);
int64_t device_count_above(Backend& backend, const float* values, int64_t n, float threshold);

}  // namespace ae::detail
