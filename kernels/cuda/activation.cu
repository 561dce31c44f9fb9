// The unfused activation kernels, forward and backward: one element per thread per step of a
// grid-stride loop (kernels/cuda/grid_stride.cuh). The activation and whether act′ comes from z or
// y are uniform runtime branches; the math is kernels/common/activation.h, as on the cpu.
#include "kernels/common/error.h"
#include "kernels/cuda/activation.cuh"
#include "kernels/cuda/grid_stride.cuh"
#include "kernels/cuda/launch.cuh"

namespace ae::cuda {

namespace {

template <typename T>
__global__ void __launch_bounds__(grid_stride::THREADS)
    activation_forward_kernel(Act act, const T* x, T* y, int64_t n) {  // x, y [n]
  const int64_t stride = int64_t(gridDim.x) * blockDim.x;
  for (int64_t i = int64_t(blockIdx.x) * blockDim.x + threadIdx.x; i < n; i += stride) y[i] = act_forward(act, x[i]);
}

// aux is z when from_z, else y; for linear it is not read (it may be null).
template <typename T>
__global__ void __launch_bounds__(grid_stride::THREADS)
    activation_backward_kernel(Act act, const T* dy, const T* aux, bool from_z, T* dx, int64_t n) {  // all [n]
  const int64_t stride = int64_t(gridDim.x) * blockDim.x;
  for (int64_t i = int64_t(blockIdx.x) * blockDim.x + threadIdx.x; i < n; i += stride) {
    if (act == Act::linear)
      dx[i] = dy[i];
    else
      dx[i] = dy[i] * (from_z ? act_derivative_from_z(act, aux[i]) : act_derivative_from_y(act, aux[i]));
  }
}

template <typename T>
__global__ void __launch_bounds__(grid_stride::THREADS)
    activation_second_backward_kernel(Act act, const T* dy, const T* z, T* dx, int64_t n) {  // all [n]
  const int64_t stride = int64_t(gridDim.x) * blockDim.x;
  for (int64_t i = int64_t(blockIdx.x) * blockDim.x + threadIdx.x; i < n; i += stride)
    dx[i] = dy[i] * act_second_derivative_from_z(act, z[i]);
}

void check_act(const char* op, Act act, int64_t n) {
  AE_CHECK(n >= 0, op, ": negative size ", n);
  AE_CHECK(static_cast<int>(act) < ACT_COUNT, op, ": unknown activation ", static_cast<int>(act));
}

}  // namespace

template <typename T>
void activation_forward(Act act, const T* x, T* y, int64_t n, cudaStream_t stream) {
  check_act("cuda activation_forward", act, n);
  if (n == 0) return;
  AE_CHECK(x != nullptr && y != nullptr, "cuda activation_forward(", act_name(act), "): x or y is null");
  launch("activation_forward", activation_forward_kernel<T>, grid_stride::grid_for(n), dim3(grid_stride::THREADS), 0,
         stream, act, x, y, n);
}

template <typename T>
void activation_backward(Act act, const T* dy, const T* z, const T* y, T* dx, int64_t n, cudaStream_t stream) {
  check_act("cuda activation_backward", act, n);
  AE_CHECK(z != nullptr || !act_derivative_needs_z(act), "cuda activation_backward: activation ", act_name(act),
           " needs the pre-activation z (its derivative is not a function of y); keep z");
  if (n == 0) return;
  AE_CHECK(dy != nullptr && dx != nullptr, "cuda activation_backward(", act_name(act), "): dy or dx is null");
  AE_CHECK(z != nullptr || y != nullptr || act == Act::linear, "cuda activation_backward: activation ", act_name(act),
           " needs y or z; both are null");
  launch("activation_backward", activation_backward_kernel<T>, grid_stride::grid_for(n), dim3(grid_stride::THREADS), 0,
         stream, act, dy, z != nullptr ? z : y, z != nullptr, dx, n);
}

template <typename T>
void activation_second_backward(Act act, const T* dy, const T* z, T* dx, int64_t n, cudaStream_t stream) {
  check_act("cuda activation_second_backward", act, n);
  if (n == 0) return;
  AE_CHECK(dy != nullptr && z != nullptr && dx != nullptr, "cuda activation_second_backward(", act_name(act),
           "): dy, z or dx is null");
  launch("activation_second_backward", activation_second_backward_kernel<T>, grid_stride::grid_for(n),
         dim3(grid_stride::THREADS), 0, stream, act, dy, z, dx, n);
}

template void activation_forward<float>(Act, const float*, float*, int64_t, cudaStream_t);
template void activation_second_backward<float>(Act, const float*, const float*, float*, int64_t, cudaStream_t);
template void activation_backward<float>(Act, const float*, const float*, const float*, float*, int64_t, cudaStream_t);

}  // namespace ae::cuda
