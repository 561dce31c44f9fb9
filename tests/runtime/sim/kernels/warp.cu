// Every warp shuffle and vote, called only by the lanes named in `mask` (others write a sentinel),
// so the sim's test can compare each result with a scalar model, partial masks and widths included.
#include "kernels/cuda/launch.cuh"
#include "tests/runtime/sim/kernels/sim_test_kernels.cuh"

namespace ae::simtest {
namespace {

__global__ void warp_ops_int_kernel(const int* in,  // [threads]
                                    int* out,       // [7, threads]
                                    unsigned mask, int arg, int width, int sentinel) {
  const int t = threadIdx.x, lane = t % 32, n = blockDim.x;
  const int v = in[t];
  int r[7] = {sentinel, sentinel, sentinel, sentinel, sentinel, sentinel, sentinel};
  if (mask >> lane & 1) {
    r[0] = __shfl_sync(mask, v, arg, width);
    r[1] = __shfl_up_sync(mask, v, unsigned(arg), width);
    r[2] = __shfl_down_sync(mask, v, unsigned(arg), width);
    r[3] = __shfl_xor_sync(mask, v, arg, width);
    r[4] = int(__ballot_sync(mask, v > 0));
    r[5] = __any_sync(mask, v > 0);
    r[6] = __all_sync(mask, v > 0);
  }
  for (int op = 0; op < 7; ++op) out[op * n + t] = r[op];
}

__global__ void warp_shuffles_double_kernel(const double* in,  // [threads]
                                            double* out,       // [4, threads]
                                            unsigned mask, int arg, int width) {
  const int t = threadIdx.x, lane = t % 32, n = blockDim.x;
  const double v = in[t];
  if (!(mask >> lane & 1)) return;
  out[0 * n + t] = __shfl_sync(mask, v, arg, width);
  out[1 * n + t] = __shfl_up_sync(mask, v, unsigned(arg), width);
  out[2 * n + t] = __shfl_down_sync(mask, v, unsigned(arg), width);
  out[3 * n + t] = __shfl_xor_sync(mask, v, arg, width);
}

}  // namespace

void warp_ops_int(const int* in, int* out, int threads, unsigned mask, int arg, int width, int sentinel) {
  AE_LAUNCH(warp_ops_int_kernel, dim3(1), dim3(threads), 0, nullptr, in, out, mask, arg, width, sentinel);
}
void warp_shuffles_double(const double* in, double* out, int threads, unsigned mask, int arg, int width) {
  AE_LAUNCH(warp_shuffles_double_kernel, dim3(1), dim3(threads), 0, nullptr, in, out, mask, arg, width);
}

}  // namespace ae::simtest
