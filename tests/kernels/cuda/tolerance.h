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

#include "kernels/cpu/lowp_round.h"

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

// Same-math kernels (above) whose output is stored in the low-precision type t (the mixed-precision
// loss's gradient): bit-equal under cuda-sim. On a GPU, fp32 values an ulp or two apart (libm) can
// round to neighbouring values of t: one ulp of t, at most 2·eps_t·|ref| for a normal value and the
// subnormal spacing below (atol, for K = 1 and scale = 1: 2^-24 for fp16, 2^-133 for bf16).
inline Tolerance same_math_lowp_tolerance(cpu::Lowp t) {
#if AE_CUDATEST_SIM
  (void)t;
  return exact_tolerance();
#else
  return Tolerance{t == cpu::Lowp::fp16 ? 0x1p-24 : 0x1p-133, 2 * cpu::lowp_epsilon(t), false};
#endif
}

// Tensor-core GEMMs (kernels/cuda/gemm_wmma.cuh). The reference multiplies exactly the operands the
// kernel does (rounded as the GPU rounds them, kernels/cpu/lowp_round.h), so what differs is:
//  - the fp32 accumulation: tolerance<float>()'s terms;
//  - for an output stored in the low-precision type t (not tf32, whose storage is fp32), its last
//    rounding: kernel and reference round two values the accumulation error apart, which can land
//    on neighbouring values of t, one ulp ≤ eps_t·|ref| apart (rtol 2·eps_t);
//  - on a GPU only, when the kernel computes an operand through an activation derivative with
//    curvature (CUDA's libm and contracted FMAs differ from the host's by an ulp of fp32) and then
//    rounds it to t: an operand can land on t's neighbouring value, moving a sum by eps_t·scale.
//    atol = eps_t allows √K such flips. On cuda-sim the kernel's math is the host's: no flips.
inline Tolerance tc_tolerance(cpu::Lowp t, bool stored_lowp, bool curved_operand) {
  constexpr double eps32 = std::numeric_limits<float>::epsilon();
  const double eps_t = cpu::lowp_epsilon(t);
  double atol = 32 * eps32;
  if (!AE_CUDATEST_SIM && curved_operand) atol += eps_t;
  return Tolerance{atol, stored_lowp && t != cpu::Lowp::tf32 ? 2 * eps_t : 32 * eps32, false};
}

}  // namespace ae::cudatest
