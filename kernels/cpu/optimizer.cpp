// The cpu reference optimizer step. Each update is written as torch.optim's single-tensor
// (for-loop) implementation computes it for fp32 tensors: scalars derived in double (bias
// corrections, 1 − β), rounded to float, then the same elementwise operations in the same order
// (lerp for exp_avg/grad_avg, mul then addcmul for the squared averages, addcdiv for the update).
#include "kernels/cpu/optimizer.h"

#include <cmath>

#include "kernels/common/error.h"

namespace ae::cpu {

namespace {

// Elementwise loops over large tensors only go parallel when the work pays for the fork.
constexpr int64_t PARALLEL_MIN = 1 << 14;

const char* const OPT_NAMES[OPT_KIND_COUNT] = {"sgd", "adam", "adamw", "rmsprop"};

// torch's lerp: self + w·(end − self) for |w| < 0.5, else end − (end − self)·(1 − w).
inline float lerp(float self, float end, float w) {
  return std::abs(w) < 0.5f ? self + w * (end - self) : end - (end - self) * (1.0f - w);
}

void sgd_step(const OptConfig& c, int64_t step, const ParamSlot& s) {
  const float lr = float(c.lr), wd = float(c.weight_decay), mom = float(c.momentum);
  const float damp1 = float(1.0 - c.dampening);
  const bool first = step == 1, use_mom = c.momentum != 0, nesterov = c.nesterov, use_wd = c.weight_decay != 0;
  float* buf = s.state;  // [n] momentum_buffer
#pragma omp parallel for schedule(static) if (s.n >= PARALLEL_MIN)
  for (int64_t i = 0; i < s.n; ++i) {
    float g = s.grad[i];
    if (use_wd) g = g + wd * s.param[i];
    if (use_mom) {
      float b = first ? g : buf[i] * mom + damp1 * g;
      buf[i] = b;
      g = nesterov ? g + mom * b : b;
    }
    s.param[i] = s.param[i] + (-lr) * g;
  }
}

// adam and adamw: AdamW first decays the parameter by (1 − lr·wd) and adds no L2 to the gradient.
void adam_step(const OptConfig& c, int64_t step, const ParamSlot& s, bool decoupled) {
  const double bc1 = 1.0 - std::pow(c.beta1, double(step));
  const double bc2 = 1.0 - std::pow(c.beta2, double(step));
  const float step_size = float(c.lr / bc1), bc2_sqrt = float(std::sqrt(bc2)), eps = float(c.eps);
  const float w1 = float(1.0 - c.beta1), b2 = float(c.beta2), w2 = float(1.0 - c.beta2);
  const float wd = float(c.weight_decay), decay = float(1.0 - c.lr * c.weight_decay);
  const bool use_wd = c.weight_decay != 0;
  float* m = s.state;        // [n] exp_avg
  float* v = s.state + s.n;  // [n] exp_avg_sq
#pragma omp parallel for schedule(static) if (s.n >= PARALLEL_MIN)
  for (int64_t i = 0; i < s.n; ++i) {
    float p = s.param[i], g = s.grad[i];
    if (use_wd) {
      if (decoupled)
        p = p * decay;
      else
        g = g + wd * p;
    }
    const float mi = lerp(m[i], g, w1);
    const float vi = v[i] * b2 + w2 * g * g;
    m[i] = mi;
    v[i] = vi;
    const float denom = std::sqrt(vi) / bc2_sqrt + eps;
    s.param[i] = p + (-step_size) * (mi / denom);
  }
}

// State: [square_avg][momentum_buffer if momentum > 0][grad_avg if centered].
void rmsprop_step(const OptConfig& c, const ParamSlot& s) {
  const float lr = float(c.lr), wd = float(c.weight_decay), mom = float(c.momentum), eps = float(c.eps);
  const float alpha = float(c.alpha), w = float(1.0 - c.alpha);
  const bool use_wd = c.weight_decay != 0, use_mom = c.momentum > 0, centered = c.centered;
  float* sq = s.state;
  float* buf = use_mom ? s.state + s.n : nullptr;
  float* gavg = centered ? s.state + (use_mom ? 2 : 1) * s.n : nullptr;
#pragma omp parallel for schedule(static) if (s.n >= PARALLEL_MIN)
  for (int64_t i = 0; i < s.n; ++i) {
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
      s.param[i] = s.param[i] + (-lr) * b;
    } else {
      s.param[i] = s.param[i] + (-lr) * (g / avg);
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
    case OptKind::rmsprop: c.lr = 1e-2; break;
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
  for (size_t t = 0; t < count; ++t) {
    const ParamSlot& s = slots[t];
    AE_CHECK(s.n >= 0, "optimizer_step: tensor ", t, " has negative size ", s.n);
    if (s.n == 0) continue;
    AE_CHECK(s.param && s.grad, "optimizer_step: tensor ", t, " has a null param or grad");
    AE_CHECK(s.state || !needs_state, "optimizer_step: tensor ", t, " has no state but ", opt_name(cfg.kind), " needs ",
             opt_state_slots(cfg), " slots per element");
    switch (cfg.kind) {
      case OptKind::sgd: sgd_step(cfg, step, s); break;
      case OptKind::adam: adam_step(cfg, step, s, false); break;
      case OptKind::adamw: adam_step(cfg, step, s, true); break;
      case OptKind::rmsprop: rmsprop_step(cfg, s); break;
    }
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

}  // namespace ae::cpu
