// The cpu reference optimizer step. Each update is written as torch.optim's single-tensor
// (for-loop) implementation computes it for fp32 tensors: scalars derived in double (bias
// corrections, 1 − β), rounded to float, then the same elementwise operations in the same order
// (lerp for exp_avg/grad_avg, mul then addcmul for the squared averages, addcdiv for the update).
//
// One step is one parallel pass over all tensors as if concatenated (a team per tensor would fork
// once per weight and bias). Adam/AdamW, the default, has an AVX-512 path: the same operations in
// the same order on 16 lanes (IEEE add/mul/div/sqrt round identically on every lane), so it is
// bitwise equal to the scalar loop; the scalar loop is not vectorized by the compiler because of
// sqrtf's errno contract under ae's default flags.
//
// Mixed precision: a slot with a bf16 compute copy gets bf16(updated param) written in the same
// pass (bf16_elem.h's rounding, bit for bit lowp_round.h's bf16_bits), so no separate conversion
// pass reads the master weights again.
#include "kernels/cpu/optimizer.h"

#include <omp.h>

#include <algorithm>
#include <cmath>
#include <vector>

#include "kernels/common/error.h"
#include "kernels/cpu/bf16_elem.h"

#ifdef AE_BF16_HAVE_AVX512
#define AE_OPT_HAVE_AVX512 1
#endif

namespace ae::cpu {

namespace {

// Below this many elements in total the step runs on the calling thread.
constexpr int64_t PARALLEL_MIN = 1 << 14;

const char* const OPT_NAMES[OPT_KIND_COUNT] = {"sgd", "adam", "adamw", "rmsprop"};

// torch's lerp: self + w·(end − self) for |w| < 0.5, else end − (end − self)·(1 − w).
inline float lerp(float self, float end, float w) {
  return std::abs(w) < 0.5f ? self + w * (end - self) : end - (end - self) * (1.0f - w);
}

// The updated parameter p of element i: stored, and its bf16 copy when the slot keeps one.
inline void put_param(const ParamSlot& s, int64_t i, float p) {
  s.param[i] = p;
  if (s.copy) store_value(s.copy[i], p);
}

// Elements [i0, i1) of one tensor.
void sgd_range(const OptConfig& c, int64_t step, const ParamSlot& s, int64_t i0, int64_t i1) {
  const float lr = float(c.lr), wd = float(c.weight_decay), mom = float(c.momentum);
  const float damp1 = float(1.0 - c.dampening);
  const bool first = step == 1, use_mom = c.momentum != 0, nesterov = c.nesterov, use_wd = c.weight_decay != 0;
  float* buf = s.state;  // [n] momentum_buffer
  for (int64_t i = i0; i < i1; ++i) {
    float g = s.grad[i];
    if (use_wd) g = g + wd * s.param[i];
    if (use_mom) {
      float b = first ? g : buf[i] * mom + damp1 * g;
      buf[i] = b;
      g = nesterov ? g + mom * b : b;
    }
    put_param(s, i, s.param[i] + (-lr) * g);
  }
}

// Adam's per-step scalars, as torch.optim derives them (double, then rounded to float).
struct AdamScalars {
  float step_size, bc2_sqrt, eps, w1, b2, w2, wd, decay;
  bool use_wd, decoupled;
  AdamScalars(const OptConfig& c, int64_t step, bool decoupled_wd) {
    const double bc1 = 1.0 - std::pow(c.beta1, double(step));
    const double bc2 = 1.0 - std::pow(c.beta2, double(step));
    step_size = float(c.lr / bc1), bc2_sqrt = float(std::sqrt(bc2)), eps = float(c.eps);
    w1 = float(1.0 - c.beta1), b2 = float(c.beta2), w2 = float(1.0 - c.beta2);
    wd = float(c.weight_decay), decay = float(1.0 - c.lr * c.weight_decay);
    use_wd = c.weight_decay != 0, decoupled = decoupled_wd;
  }
};

// adam and adamw: AdamW first decays the parameter by (1 − lr·wd) and adds no L2 to the gradient.
void adam_scalar(const AdamScalars& a, const ParamSlot& s, int64_t i0, int64_t i1) {
  float* m = s.state;        // [n] exp_avg
  float* v = s.state + s.n;  // [n] exp_avg_sq
  for (int64_t i = i0; i < i1; ++i) {
    float p = s.param[i], g = s.grad[i];
    if (a.use_wd) {
      if (a.decoupled)
        p = p * a.decay;
      else
        g = g + a.wd * p;
    }
    const float mi = lerp(m[i], g, a.w1);
    const float vi = v[i] * a.b2 + a.w2 * g * g;
    m[i] = mi;
    v[i] = vi;
    const float denom = std::sqrt(vi) / a.bc2_sqrt + a.eps;
    put_param(s, i, p + (-a.step_size) * (mi / denom));
  }
}

#ifdef AE_OPT_HAVE_AVX512
// adam_scalar on 16 lanes, operation for operation (fp-contract=off: no mul+add fused into an FMA);
// returns the first element it did not do.
__attribute__((target("avx512f"), optimize("fp-contract=off"))) int64_t adam_avx512(const AdamScalars& a, const ParamSlot& s, int64_t i0,
                                                       int64_t i1) {
  float* m = s.state;
  float* v = s.state + s.n;
  const __m512 w1 = _mm512_set1_ps(a.w1), one_w1 = _mm512_set1_ps(1.0f - a.w1), b2 = _mm512_set1_ps(a.b2);
  const __m512 w2 = _mm512_set1_ps(a.w2), bc2 = _mm512_set1_ps(a.bc2_sqrt), eps = _mm512_set1_ps(a.eps);
  const __m512 neg_step = _mm512_set1_ps(-a.step_size), wd = _mm512_set1_ps(a.wd), decay = _mm512_set1_ps(a.decay);
  const bool small_w = std::abs(a.w1) < 0.5f;
  int64_t i = i0;
  for (; i + 16 <= i1; i += 16) {
    __m512 p = _mm512_loadu_ps(s.param + i), g = _mm512_loadu_ps(s.grad + i);
    if (a.use_wd) {
      if (a.decoupled)
        p = _mm512_mul_ps(p, decay);
      else
        g = _mm512_add_ps(g, _mm512_mul_ps(wd, p));
    }
    const __m512 m0 = _mm512_loadu_ps(m + i), d = _mm512_sub_ps(g, m0);
    const __m512 mi = small_w ? _mm512_add_ps(m0, _mm512_mul_ps(w1, d)) : _mm512_sub_ps(g, _mm512_mul_ps(d, one_w1));
    const __m512 vi = _mm512_add_ps(_mm512_mul_ps(_mm512_loadu_ps(v + i), b2), _mm512_mul_ps(_mm512_mul_ps(w2, g), g));
    _mm512_storeu_ps(m + i, mi);
    _mm512_storeu_ps(v + i, vi);
    // maskz with every lane on: plain sqrt (the unmasked intrinsic trips a GCC 12 -Wmaybe-uninitialized).
    const __m512 denom = _mm512_add_ps(_mm512_div_ps(_mm512_maskz_sqrt_ps(__mmask16(0xFFFF), vi), bc2), eps);
    const __m512 updated = _mm512_add_ps(p, _mm512_mul_ps(neg_step, _mm512_div_ps(mi, denom)));
    _mm512_storeu_ps(s.param + i, updated);
    if (s.copy) _mm256_storeu_si256(reinterpret_cast<__m256i*>(s.copy + i), bf16_round16(updated));
  }
  return i;
}

bool cpu_has_avx512f() {
  static const bool has = __builtin_cpu_supports("avx512f");
  return has;
}
#endif

void adam_range(const AdamScalars& a, const ParamSlot& s, int64_t i0, int64_t i1) {
#ifdef AE_OPT_HAVE_AVX512
  if (cpu_has_avx512f()) i0 = adam_avx512(a, s, i0, i1);
#endif
  adam_scalar(a, s, i0, i1);
}

// State: [square_avg][momentum_buffer if momentum > 0][grad_avg if centered].
void rmsprop_range(const OptConfig& c, const ParamSlot& s, int64_t i0, int64_t i1) {
  const float lr = float(c.lr), wd = float(c.weight_decay), mom = float(c.momentum), eps = float(c.eps);
  const float alpha = float(c.alpha), w = float(1.0 - c.alpha);
  const bool use_wd = c.weight_decay != 0, use_mom = c.momentum > 0, centered = c.centered;
  float* sq = s.state;
  float* buf = use_mom ? s.state + s.n : nullptr;
  float* gavg = centered ? s.state + (use_mom ? 2 : 1) * s.n : nullptr;
  for (int64_t i = i0; i < i1; ++i) {
    float g = s.grad[i];
    if (use_wd) g = g + wd * s.param[i];
    const float sqi = sq[i] * alpha + w * g * g;
    sq[i] = sqi;
    float avg;
    if (centered) {
      const float ga = lerp(gavg[i], g, w);
      gavg[i] = ga;
      avg = std::sqrt(sqi + (-1.0f) * ga * ga);
    } else {
      avg = std::sqrt(sqi);
    }
    avg = avg + eps;
    if (use_mom) {
      const float b = buf[i] * mom + g / avg;
      buf[i] = b;
      put_param(s, i, s.param[i] + (-lr) * b);
    } else {
      put_param(s, i, s.param[i] + (-lr) * (g / avg));
    }
  }
}

}  // namespace

OptConfig default_opt_config(OptKind kind) {
  OptConfig c;
  c.kind = kind;
  switch (kind) {
    case OptKind::sgd: c.lr = 1e-3; break;
    case OptKind::adam: c.lr = 1e-3; break;
    case OptKind::adamw: c.lr = 1e-3; c.weight_decay = 0.01; break;
    // Not PyTorch's 1e-2: on the default model (784-256r-32-256r-784s, Fashion-MNIST) 1e-2 ends two
    // epochs at 0.19 MSE per pixel, no better than predicting the mean, and 1e-3 (Keras's) at 0.020.
    case OptKind::rmsprop: c.lr = 1e-3; break;
  }
  return c;
}

void validate_opt_config(const OptConfig& c) {
  AE_CHECK(static_cast<int>(c.kind) < OPT_KIND_COUNT, "optimizer: unknown kind ", static_cast<int>(c.kind),
           "; expected one of: ", opt_names_list());
  const char* n = opt_name(c.kind);
  auto finite_nonneg = [&](double v, const char* field) {
    AE_CHECK(std::isfinite(v) && v >= 0, "optimizer ", n, ": ", field, " must be a finite number >= 0 (got ", v, ")");
  };
  AE_CHECK(std::isfinite(c.lr) && c.lr > 0, "optimizer ", n, ": lr must be a finite number > 0 (got ", c.lr, ")");
  finite_nonneg(c.weight_decay, "weight_decay");
  finite_nonneg(c.eps, "eps");
  switch (c.kind) {
    case OptKind::sgd:
      finite_nonneg(c.momentum, "momentum");
      finite_nonneg(c.dampening, "dampening");
      AE_CHECK(!c.nesterov || (c.momentum > 0 && c.dampening == 0), "optimizer sgd: nesterov needs momentum > 0 ",
               "and dampening = 0 (got momentum ", c.momentum, ", dampening ", c.dampening, ")");
      break;
    case OptKind::adam:
    case OptKind::adamw:
      AE_CHECK(c.beta1 >= 0 && c.beta1 < 1, "optimizer ", n, ": beta1 must be in [0, 1) (got ", c.beta1, ")");
      AE_CHECK(c.beta2 >= 0 && c.beta2 < 1, "optimizer ", n, ": beta2 must be in [0, 1) (got ", c.beta2, ")");
      break;
    case OptKind::rmsprop:
      finite_nonneg(c.momentum, "momentum");
      finite_nonneg(c.alpha, "alpha");
      break;
  }
}

int opt_state_slots(const OptConfig& c) {
  switch (c.kind) {
    case OptKind::sgd: return c.momentum != 0 ? 1 : 0;
    case OptKind::adam:
    case OptKind::adamw: return 2;
    case OptKind::rmsprop: return 1 + (c.momentum > 0 ? 1 : 0) + (c.centered ? 1 : 0);
  }
  return 0;
}

void optimizer_step(const OptConfig& cfg, int64_t step, const ParamSlot* slots, size_t count) {
  validate_opt_config(cfg);
  AE_CHECK(step >= 1, "optimizer_step: step is 1-based (got ", step, ")");
  const bool needs_state = opt_state_slots(cfg) > 0;
  // first[t]: where tensor t starts in the concatenation of all tensors.
  std::vector<int64_t> first(count + 1, 0);
  for (size_t t = 0; t < count; ++t) {
    const ParamSlot& s = slots[t];
    AE_CHECK(s.n >= 0, "optimizer_step: tensor ", t, " has negative size ", s.n);
    if (s.n > 0) {
      AE_CHECK(s.param && s.grad, "optimizer_step: tensor ", t, " has a null param or grad");
      AE_CHECK(s.state || !needs_state, "optimizer_step: tensor ", t, " has no state but ", opt_name(cfg.kind),
               " needs ", opt_state_slots(cfg), " slots per element");
    }
    first[t + 1] = first[t] + s.n;
  }
  const int64_t total = first[count];
  const AdamScalars adam(cfg, step, cfg.kind == OptKind::adamw);

  // Updates elements [e0, e1) of the concatenation, tensor by tensor. Elementwise, so the split
  // between threads cannot change a result.
  auto update = [&](int64_t e0, int64_t e1) {
    for (size_t t = 0; t < count; ++t) {
      const int64_t i0 = std::max(e0, first[t]) - first[t], i1 = std::min(e1, first[t + 1]) - first[t];
      if (i0 >= i1) continue;
      switch (cfg.kind) {
        case OptKind::sgd: sgd_range(cfg, step, slots[t], i0, i1); break;
        case OptKind::adam:
        case OptKind::adamw: adam_range(adam, slots[t], i0, i1); break;
        case OptKind::rmsprop: rmsprop_range(cfg, slots[t], i0, i1); break;
      }
    }
  };
  if (total < PARALLEL_MIN || omp_in_parallel() || omp_get_max_threads() < 2) {
    update(0, total);
    return;
  }
#pragma omp parallel
  {
    // Slices rounded to 16 elements so the vector loops rarely fall back to their scalar tails.
    const int64_t th = omp_get_thread_num(), nth = omp_get_num_threads();
    auto cut = [&](int64_t k) { return k == nth ? total : std::min(total, (total * k / nth) / 16 * 16); };
    update(cut(th), cut(th + 1));
  }
}

const char* opt_name(OptKind kind) {
  auto i = static_cast<int>(kind);
  return i < OPT_KIND_COUNT ? OPT_NAMES[i] : "?";
}

std::optional<OptKind> parse_opt_name(std::string_view name) {
  for (int i = 0; i < OPT_KIND_COUNT; ++i)
    if (name == OPT_NAMES[i]) return static_cast<OptKind>(i);
  return std::nullopt;
}

std::string opt_names_list() {
  std::string s;
  for (int i = 0; i < OPT_KIND_COUNT; ++i) {
    if (i) s += ", ";
    s += OPT_NAMES[i];
  }
  return s;
}

OptConfig make_opt_config(const std::string& name, double lr, double momentum, double weight_decay, bool nesterov,
                          const std::string& where) {
  auto kind = parse_opt_name(name);
  if (!kind) AE_FAIL(where, " ", name, ": unknown optimizer; expected one of: ", opt_names_list());
  OptConfig c = default_opt_config(*kind);
  if (!std::isnan(lr)) c.lr = lr;
  if (!std::isnan(momentum)) c.momentum = momentum;
  if (!std::isnan(weight_decay)) c.weight_decay = weight_decay;
  c.nesterov = nesterov;
  validate_opt_config(c);
  return c;
}

}  // namespace ae::cpu
