// The one place the CUDA kernel differential tests take their tolerances from. A result a of a
// reduction of K terms passes against the reference r when
//     |a − r| ≤ atol · scale · √K + rtol · |r|
// where scale is the magnitude of one term (e.g. max|x|·max|w| for a GEMM; the tests pass it) and
// atol, rtol follow from the element type's unit roundoff. Exact mode (small-integer inputs, every
// partial sum representable) is bit equality instead.
#pragma once

#include <cmath>
#include <cstdint>
#include <limits>

// 1: the kernels run on runtime/sim (ae_tests_cuda_sim); 0: the nvcc-compiled kernels on a GPU
// (ae_tests_cuda, -DAE_ENABLE_CUDA=ON). Set by tests/kernels/cuda/CMakeLists.txt.
#if !defined(AE_CUDATEST_SIM)
#error "AE_CUDATEST_SIM must be defined (1: cuda-sim, 0: nvcc kernels on a GPU)"
#endif

namespace ae::cudatest {

struct Tolerance {
  double atol, rtol;
  bool exact;  // bit equality; atol/rtol unused

  // The allowed |a − r| for one element.
  double bound(int64_t K, double scale, double ref) const {
    return atol * scale * std::sqrt(static_cast<double>(K > 1 ? K : 1)) + rtol * std::fabs(ref);
  }
};

// 32 units of roundoff: the sum orders of the tiled kernel and the reference (BLAS blocking)
// differ by a random walk of about √K roundings of terms of size scale; 32 leaves a margin of
// several standard deviations over a 200k-element output, while a lost or doubled term (an error
// of order scale) is still thousands of times the bound.
template <typename T>
constexpr Tolerance tolerance() {
  constexpr double eps = std::numeric_limits<T>::epsilon();
  return Tolerance{32 * eps, 32 * eps, false};
}

constexpr Tolerance exact_tolerance() {
  return Tolerance{0, 0, true};
}

// Kernels that evaluate the shared kernels/common math elementwise and reduce in the reference's
// own order (loss, optimizer, small kernels): bit-equal under cuda-sim, whose libm is the
// reference's. On a GPU (a few ulp of libm difference) this becomes tolerance<T>().
template <typename T>
constexpr Tolerance same_math_tolerance() {
#if AE_CUDATEST_SIM
  return exact_tolerance();
#else
  return tolerance<T>();
#endif
}

}  // namespace ae::cudatest
