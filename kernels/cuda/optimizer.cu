// The multi-tensor optimizer step. One launch covers every parameter tensor, walked as
// kernels/cuda/multi_tensor.cuh describes (1024-element chunks per block). The kind is a uniform branch.
// Each update is kernels/cpu/optimizer.cpp's, operation for operation, with __fmul_rn/__fadd_rn
// where nvcc would otherwise contract a·b + c into an FMA (one rounding instead of two), so the
// GPU gives the reference's bits too; division and sqrtf are IEEE-rounded (nvcc's defaults).
// A slot's compute copy is written from the value just stored, rounded to nearest even by
// lowp_value.cuh's store_as, so it is kernels/cpu/lowp_round.h's bf16_bits/fp16_bits of the master
// weight bit for bit (a NaN's payload aside).
#include <cmath>

#include "kernels/common/error.h"
#include "kernels/cuda/launch.cuh"
#include "kernels/cuda/lowp_value.cuh"
#include "kernels/cuda/multi_tensor.cuh"
#include "kernels/cuda/optimizer.cuh"

namespace ae::cuda {

namespace {

using multi_tensor::THREADS;

// a·b + c with two roundings, as the reference computes it.
__device__ __forceinline__ float mul_add(float a, float b, float c) {
  return __fadd_rn(__fmul_rn(a, b), c);
}

// torch's lerp: self + w·(end − self) for |w| < 0.5, else end − (end − self)·(1 − w).
__device__ __forceinline__ float lerp(float self, float end, float w) {
  return fabsf(w) < 0.5f ? __fadd_rn(self, __fmul_rn(w, end - self)) : __fadd_rn(end, -__fmul_rn(end - self, 1.0f - w));
}

template <DType D>
__device__ __forceinline__ void put_copy(void* copy, int64_t i, float p) {  // copy [n] of Storage<D>
  static_cast<Storage<D>*>(copy)[i] = store_as<Storage<D>>(p);
}

// The updated parameter p of element i: stored, and its compute copy when the slot keeps one
// (copy_dtype is bf16 or f16, checked by opt_slots_finalize).
__device__ __forceinline__ void put_param(const OptSlot& t, int64_t i, float p) {
  t.param[i] = p;
  if (t.copy == nullptr) return;
  if (t.copy_dtype == DType::f16)
    put_copy<DType::f16>(t.copy, i, p);
  else
    put_copy<DType::bf16>(t.copy, i, p);
}

__device__ __forceinline__ void sgd_update(const OptHyper& h, const GroupStepScalars& s, const OptSlot& t, int64_t i) {
  float g = t.grad[i];
  if (h.use_wd) g = mul_add(h.wd, t.param[i], g);
  if (h.use_mom) {
    float* buf = t.state;  // [n] momentum_buffer
    const float b = s.first ? g : mul_add(buf[i], h.momentum, __fmul_rn(h.damp1, g));
    buf[i] = b;
    g = h.nesterov ? mul_add(h.momentum, b, g) : b;
  }
  put_param(t, i, mul_add(-s.lr, g, t.param[i]));
}

__device__ __forceinline__ void adam_update(const OptHyper& h, const GroupStepScalars& s, const OptSlot& t, int64_t i) {
  float* m = t.state;        // [n] exp_avg
  float* v = t.state + t.n;  // [n] exp_avg_sq
  float p = t.param[i], g = t.grad[i];
  if (h.use_wd) {
    if (h.kind == cpu::OptKind::adamw)
      p = __fmul_rn(p, s.decay);
    else
      g = mul_add(h.wd, p, g);
  }
  const float mi = lerp(m[i], g, h.w1);
  const float vi = __fadd_rn(__fmul_rn(v[i], h.b2), __fmul_rn(__fmul_rn(h.w2, g), g));
  m[i] = mi;
  v[i] = vi;
  const float denom = sqrtf(vi) / s.bc2_sqrt + h.eps;
  put_param(t, i, mul_add(-s.step_size, mi / denom, p));
}

// State: [square_avg][momentum_buffer if momentum > 0][grad_avg if centered].
__device__ __forceinline__ void rmsprop_update(const OptHyper& h, const GroupStepScalars& s, const OptSlot& t,
                                               int64_t i) {
  float* sq = t.state;
  float g = t.grad[i];
  if (h.use_wd) g = mul_add(h.wd, t.param[i], g);
  const float sqi = __fadd_rn(__fmul_rn(sq[i], h.alpha), __fmul_rn(__fmul_rn(h.w_alpha, g), g));
  sq[i] = sqi;
  float avg;
  if (h.centered) {
    float* gavg = t.state + (h.use_mom ? 2 : 1) * t.n;
    const float ga = lerp(gavg[i], g, h.w_alpha);
    gavg[i] = ga;
    avg = sqrtf(__fadd_rn(sqi, __fmul_rn(__fmul_rn(-1.0f, ga), ga)));
  } else {
    avg = sqrtf(sqi);
  }
  avg = avg + h.eps;
  if (h.use_mom) {
    float* buf = t.state + t.n;
    const float b = mul_add(buf[i], h.momentum, g / avg);
    buf[i] = b;
    put_param(t, i, mul_add(-s.lr, b, t.param[i]));
  } else {
    put_param(t, i, mul_add(-s.lr, g / avg, t.param[i]));
  }
}

__global__ void __launch_bounds__(THREADS) optimizer_step_kernel(const OptHyper h,
                                                                 const StepScalars* scalars,  // [1]
                                                                 int group,
                                                                 const OptSlot* slots,  // [count]
                                                                 int count, int64_t total,
                                                                 const AmpState* amp) {  // [1] or nullptr
  // Read at run time, not launch time: a replayed graph sees the step written before the replay,
  // and whether this step's unscale (an earlier kernel on the stream) found an overflow.
  if (amp != nullptr && amp->found_inf != 0) return;
  const GroupStepScalars s = scalars->group[group];
  multi_tensor::for_each_element(slots, count, total, [&](const OptSlot& t, int64_t i) {
    switch (h.kind) {
      case cpu::OptKind::sgd:
        sgd_update(h, s, t, i);
        break;
      case cpu::OptKind::adam:
      case cpu::OptKind::adamw:
        adam_update(h, s, t, i);
        break;
      case cpu::OptKind::rmsprop:
        rmsprop_update(h, s, t, i);
        break;
    }
  });
}

}  // namespace

OptHyper make_opt_hyper(const cpu::OptConfig& c) {
  cpu::validate_opt_config(c);
  OptHyper h{};
  h.kind = c.kind;
  h.nesterov = c.nesterov;
  h.use_wd = c.weight_decay != 0;
  h.use_mom = c.momentum > 0;
  h.centered = c.centered;
  h.wd = float(c.weight_decay), h.momentum = float(c.momentum), h.damp1 = float(1.0 - c.dampening);
  h.w1 = float(1.0 - c.beta1), h.b2 = float(c.beta2), h.w2 = float(1.0 - c.beta2), h.eps = float(c.eps);
  h.alpha = float(c.alpha), h.w_alpha = float(1.0 - c.alpha);
  return h;
}

GroupStepScalars make_group_step_scalars(const cpu::OptConfig& c, int64_t step) {
  AE_CHECK(step >= 1, "cuda optimizer: step is 1-based (got ", step, ")");
  GroupStepScalars s{};
  s.lr = float(c.lr);
  const double bc1 = 1.0 - std::pow(c.beta1, double(step));
  const double bc2 = 1.0 - std::pow(c.beta2, double(step));
  s.step_size = float(c.lr / bc1);
  s.bc2_sqrt = float(std::sqrt(bc2));
  s.decay = float(1.0 - c.lr * c.weight_decay);
  s.first = step == 1 ? 1 : 0;
  return s;
}

int64_t opt_slots_finalize(const cpu::OptConfig& cfg, std::vector<OptSlot>& slots) {
  const bool needs_state = cpu::opt_state_slots(cfg) > 0;
  int64_t total = 0;
  for (size_t t = 0; t < slots.size(); ++t) {
    OptSlot& s = slots[t];
    AE_CHECK(s.n >= 0, "cuda optimizer: tensor ", t, " has negative size ", s.n);
    if (s.n > 0) {
      AE_CHECK(s.param && s.grad, "cuda optimizer: tensor ", t, " has a null param or grad");
      AE_CHECK(s.state || !needs_state, "cuda optimizer: tensor ", t, " has no state but ", cpu::opt_name(cfg.kind),
               " needs ", cpu::opt_state_slots(cfg), " slots per element");
      AE_CHECK(!s.copy || s.copy_dtype == DType::bf16 || s.copy_dtype == DType::f16, "cuda optimizer: tensor ", t,
               "'s compute copy has dtype ", dtype_name(s.copy_dtype), "; set copy_dtype to bf16 or f16");
    }
    s.first = total;
    total += s.n;
  }
  return total;
}

void optimizer_step(const OptHyper& hyper, const StepScalars* scalars, int group, const OptSlot* slots, int count,
                    int64_t total, cudaStream_t stream, const AmpState* amp) {
  AE_CHECK(count >= 0 && total >= 0, "cuda optimizer_step: negative count ", count, " or total ", total);
  AE_CHECK(group >= 0 && group < MAX_PARAM_GROUPS, "cuda optimizer_step: group ", group, " outside 0..",
           MAX_PARAM_GROUPS - 1);
  if (count == 0 || total == 0) return;
  AE_CHECK(scalars != nullptr && slots != nullptr, "cuda optimizer_step: scalars or slots is null");
  launch("optimizer_step", optimizer_step_kernel, multi_tensor::grid_for(total, "optimizer_step"), dim3(THREADS), 0,
         stream, hyper, scalars, group, slots, count, total, amp);
}

}  // namespace ae::cuda
