// Names of activations and losses for the launchers' error messages. kernels/common hides its
// host-only name tables from nvcc's device pass (#if !defined(__CUDA_ARCH__)), yet nvcc parses a
// .cu file's host functions in that pass too; these wrappers compile in both passes (the device
// pass never runs them).
#pragma once

#include "kernels/common/activation.h"
#include "kernels/common/loss.h"

namespace ae::cuda {

inline const char* act_str(Act a) {
#if defined(__CUDA_ARCH__)
  return static_cast<void>(a), "";
#else
  return act_name(a);
#endif
}

inline const char* loss_str(Loss l) {
#if defined(__CUDA_ARCH__)
  return static_cast<void>(l), "";
#else
  return loss_name(l);
#endif
}

}  // namespace ae::cuda
