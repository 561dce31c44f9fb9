// The cpu optimizer step: each optimizer's first steps against numbers worked out by hand (in
// the comments), several steps against the textbook formulas written independently here in
// double, state layout, multi-tensor calls, config validation and names.
#include "kernels/cpu/optimizer.h"

#include <gtest/gtest.h>

#include <cmath>
#include <cstring>
#include <string>
#include <vector>

#include "kernels/common/error.h"
#include "kernels/cpu/lowp_round.h"

namespace ae::cpu {
namespace {

OptConfig make(OptKind kind, double lr) {
  OptConfig c = default_opt_config(kind);
  c.lr = lr;
  return c;
}

// Runs `steps` steps of cfg on one tensor, the gradient of step s being grads[s].
std::vector<float> run(const OptConfig& cfg, std::vector<float> p, const std::vector<std::vector<float>>& grads) {
  const int64_t n = static_cast<int64_t>(p.size());
  std::vector<float> state(static_cast<size_t>(opt_state_slots(cfg) * n), 0.0f);
  for (size_t s = 0; s < grads.size(); ++s) {
    ParamSlot slot{p.data(), grads[s].data(), state.empty() ? nullptr : state.data(), n};
    optimizer_step(cfg, static_cast<int64_t>(s + 1), &slot, 1);
  }
  return p;
}

void expect_all_near(const std::vector<float>& got, const std::vector<double>& want, double rel = 2e-6) {
  ASSERT_EQ(got.size(), want.size());
  for (size_t i = 0; i < got.size(); ++i) EXPECT_NEAR(got[i], want[i], rel * (1 + std::abs(want[i]))) << "[" << i << "]";
}

TEST(Optimizer, SgdPlain) {
  // p −= lr·g with lr 0.1: 1 − 0.01, −2 + 0.02, 0.5 − 0.03.
  auto p = run(make(OptKind::sgd, 0.1), {1.0f, -2.0f, 0.5f}, {{0.1f, -0.2f, 0.3f}});
  expect_all_near(p, {0.99, -1.98, 0.47});
}

TEST(Optimizer, SgdMomentum) {
  OptConfig c = make(OptKind::sgd, 0.1);
  c.momentum = 0.9;
  // step 1: buf = g = 0.1, p = 1 − 0.01 = 0.99;  step 2: buf = 0.9·0.1 + 0.2 = 0.29, p = 0.99 − 0.029.
  expect_all_near(run(c, {1.0f}, {{0.1f}, {0.2f}}), {0.961});
  // dampening 0.5 blends from step 2 only: buf = 0.09 + 0.5·0.2 = 0.19, p = 0.99 − 0.019.
  c.dampening = 0.5;
  expect_all_near(run(c, {1.0f}, {{0.1f}, {0.2f}}), {0.971});
  EXPECT_EQ(opt_state_slots(c), 1);
}

TEST(Optimizer, SgdNesterov) {
  OptConfig c = make(OptKind::sgd, 0.1);
  c.momentum = 0.9;
  c.nesterov = true;
  // step 1: buf = 0.1, g' = 0.1 + 0.9·0.1 = 0.19, p = 1 − 0.019 = 0.981;
  // step 2: buf = 0.09 + 0.2 = 0.29, g' = 0.2 + 0.9·0.29 = 0.461, p = 0.981 − 0.0461 = 0.9349.
  expect_all_near(run(c, {1.0f}, {{0.1f}, {0.2f}}), {0.9349});
}

TEST(Optimizer, SgdWeightDecay) {
  OptConfig c = make(OptKind::sgd, 0.1);
  c.weight_decay = 0.1;
  // g' = g + 0.1·p: 0.1 + 0.1 = 0.2 → p = 1 − 0.02; −0.2 − 0.2 = −0.4 → p = −2 + 0.04.
  expect_all_near(run(c, {1.0f, -2.0f}, {{0.1f, -0.2f}}), {0.98, -1.96});
  EXPECT_EQ(opt_state_slots(c), 0);
}

TEST(Optimizer, AdamFirstStep) {
  // Step 1: m = 0.1·g, v = 0.001·g², bias corrections 0.1 and 0.001, so the update is
  // lr·g/(|g| + eps): p = 1 − 0.001·0.1/(0.1 + 1e-8) = 0.999000001 and −2 + 0.001 (g = −0.5).
  OptConfig c = make(OptKind::adam, 0.001);
  auto p = run(c, {1.0f, -2.0f}, {{0.1f, -0.5f}});
  expect_all_near(p, {1 - 0.001 * 0.1 / (0.1 + 1e-8), -2 + 0.001 * 0.5 / (0.5 + 1e-8)}, 1e-7);
  EXPECT_EQ(opt_state_slots(c), 2);
}

// Textbook Adam/AdamW in double: m̂ = m/(1 − β1^t), v̂ = v/(1 − β2^t), p −= lr·m̂/(√v̂ + eps).
std::vector<double> adam_reference(const OptConfig& c, std::vector<double> p, const std::vector<std::vector<float>>& gs,
                                   bool decoupled) {
  std::vector<double> m(p.size(), 0), v(p.size(), 0);
  for (size_t t = 1; t <= gs.size(); ++t)
    for (size_t i = 0; i < p.size(); ++i) {
      double g = gs[t - 1][i];
      if (decoupled)
        p[i] *= 1 - c.lr * c.weight_decay;
      else
        g += c.weight_decay * p[i];
      m[i] = c.beta1 * m[i] + (1 - c.beta1) * g;
      v[i] = c.beta2 * v[i] + (1 - c.beta2) * g * g;
      double mh = m[i] / (1 - std::pow(c.beta1, t)), vh = v[i] / (1 - std::pow(c.beta2, t));
      p[i] -= c.lr * mh / (std::sqrt(vh) + c.eps);
    }
  return p;
}

const std::vector<std::vector<float>> GRADS = {
    {0.1f, -0.5f, 0.02f}, {0.3f, -0.4f, -0.01f}, {-0.2f, -0.6f, 0.05f}, {0.05f, 0.1f, 0.0f}, {0.4f, -0.3f, 0.03f}};
const std::vector<float> P0 = {1.0f, -2.0f, 0.25f};

TEST(Optimizer, AdamMultiStepWithL2) {
  OptConfig c = make(OptKind::adam, 0.01);
  c.weight_decay = 0.05;
  expect_all_near(run(c, P0, GRADS), adam_reference(c, {1.0, -2.0, 0.25}, GRADS, false), 1e-6);
  c.weight_decay = 0;
  expect_all_near(run(c, P0, GRADS), adam_reference(c, {1.0, -2.0, 0.25}, GRADS, false), 1e-6);
}

TEST(Optimizer, AdamW) {
  OptConfig c = default_opt_config(OptKind::adamw);
  EXPECT_EQ(c.weight_decay, 0.01);
  c.lr = 0.1;
  // Step 1: p = 1·(1 − 0.1·0.01) = 0.999, then the Adam step −0.1·g/(|g| + eps) ≈ −0.1.
  expect_all_near(run(c, {1.0f}, {{0.3f}}), {0.999 - 0.1 * 0.3 / (0.3 + 1e-8)}, 1e-7);
  c.lr = 0.01;
  c.weight_decay = 0.2;
  expect_all_near(run(c, P0, GRADS), adam_reference(c, {1.0, -2.0, 0.25}, GRADS, true), 1e-6);
}

// Textbook RMSprop in double (torch.optim.RMSprop's documented algorithm).
std::vector<double> rmsprop_reference(const OptConfig& c, std::vector<double> p,
                                      const std::vector<std::vector<float>>& gs) {
  std::vector<double> sq(p.size(), 0), buf(p.size(), 0), ga(p.size(), 0);
  for (const auto& gv : gs)
    for (size_t i = 0; i < p.size(); ++i) {
      double g = gv[i] + c.weight_decay * p[i];
      sq[i] = c.alpha * sq[i] + (1 - c.alpha) * g * g;
      double vt = sq[i];
      if (c.centered) {
        ga[i] = c.alpha * ga[i] + (1 - c.alpha) * g;
        vt -= ga[i] * ga[i];
      }
      double upd = g / (std::sqrt(vt) + c.eps);
      if (c.momentum > 0) {
        buf[i] = c.momentum * buf[i] + upd;
        upd = buf[i];
      }
      p[i] -= c.lr * upd;
    }
  return p;
}

TEST(Optimizer, RmspropPlain) {
  OptConfig c = default_opt_config(OptKind::rmsprop);
  EXPECT_EQ(c.lr, 1e-3);  // not PyTorch's 1e-2 (kernels/cpu/optimizer.cpp says why)
  EXPECT_EQ(c.alpha, 0.99);
  c.lr = 0.01;  // the hand-computed steps below
  // Step 1: sq = 0.01·0.1² = 1e-4, avg = 0.01 + 1e-8, p = 1 − 0.01·0.1/0.01000001 = 0.90000009999.
  expect_all_near(run(c, {1.0f}, {{0.1f}}), {1 - 0.01 * 0.1 / (0.01 + 1e-8)}, 1e-7);
  EXPECT_EQ(opt_state_slots(c), 1);
  c.weight_decay = 0.1;
  expect_all_near(run(c, P0, GRADS), rmsprop_reference(c, {1.0, -2.0, 0.25}, GRADS), 2e-6);
}

TEST(Optimizer, RmspropMomentumAndCentered) {
  OptConfig c = default_opt_config(OptKind::rmsprop);
  c.lr = 0.01;
  c.momentum = 0.9;
  EXPECT_EQ(opt_state_slots(c), 2);
  // Step 1 as plain (buf = g/avg ≈ 10); step 2 (g = 0.2): sq = 0.99e-4 + 0.01·0.04 = 4.99e-4,
  // buf = 0.9·9.999990 + 0.2/(√4.99e-4 + 1e-8), p = 0.9000001 − 0.01·buf.
  double buf1 = 0.1 / (0.01 + 1e-8);
  double buf2 = 0.9 * buf1 + 0.2 / (std::sqrt(4.99e-4) + 1e-8);
  expect_all_near(run(c, {1.0f}, {{0.1f}, {0.2f}}), {1 - 0.01 * buf1 - 0.01 * buf2}, 1e-6);
  expect_all_near(run(c, P0, GRADS), rmsprop_reference(c, {1.0, -2.0, 0.25}, GRADS), 2e-6);

  c.centered = true;
  EXPECT_EQ(opt_state_slots(c), 3);
  c.momentum = 0;
  EXPECT_EQ(opt_state_slots(c), 2);
  // Centered step 1: ḡ = 0.01·0.1 = 1e-3, avg = √(1e-4 − 1e-6) + 1e-8 = 0.0099499..., p = 1 − 0.01·0.1/avg.
  expect_all_near(run(c, {1.0f}, {{0.1f}}), {1 - 0.01 * 0.1 / (std::sqrt(1e-4 - 1e-6) + 1e-8)}, 1e-7);
  expect_all_near(run(c, P0, GRADS), rmsprop_reference(c, {1.0, -2.0, 0.25}, GRADS), 2e-6);
  c.momentum = 0.5;
  expect_all_near(run(c, P0, GRADS), rmsprop_reference(c, {1.0, -2.0, 0.25}, GRADS), 2e-6);
}

TEST(Optimizer, MomentumStateCarriesAcrossSteps) {
  OptConfig c = make(OptKind::sgd, 0.1);
  c.momentum = 0.5;
  std::vector<float> p = {2.0f}, g = {1.0f}, state = {0.0f};
  ParamSlot s{p.data(), g.data(), state.data(), 1};
  // buf: 1, then 0.5 + 1 = 1.5, then 0.75 + 1 = 1.75; p: 2 − 0.1, − 0.15, − 0.175.
  const double bufs[] = {1.0, 1.5, 1.75}, ps[] = {1.9, 1.75, 1.575};
  for (int t = 1; t <= 3; ++t) {
    optimizer_step(c, t, &s, 1);
    EXPECT_NEAR(state[0], bufs[t - 1], 1e-6);
    EXPECT_NEAR(p[0], ps[t - 1], 1e-6);
  }
  // Adam's state holds the raw moments: after two steps of g = 1, m = 0.19, v = 0.001999.
  OptConfig a = make(OptKind::adam, 0.001);
  std::vector<float> st(2, 0.0f);
  ParamSlot sa{p.data(), g.data(), st.data(), 1};
  optimizer_step(a, 1, &sa, 1);
  optimizer_step(a, 2, &sa, 1);
  EXPECT_NEAR(st[0], 0.19, 1e-7);
  EXPECT_NEAR(st[1], 0.001999, 1e-9);
}

TEST(Optimizer, MultiTensorStepUpdatesEveryTensor) {
  OptConfig c = make(OptKind::adam, 0.01);
  // Two tensors of different sizes in one call equal two separate calls; a large one goes parallel.
  std::vector<float> a(5, 1.0f), ga = {0.1f, 0.2f, -0.3f, 0.4f, -0.5f}, b(40000), gb(40000);
  for (size_t i = 0; i < b.size(); ++i) {
    b[i] = std::sin(0.001f * i);
    gb[i] = std::cos(0.003f * i);
  }
  std::vector<float> a2 = a, b2 = b, sa(10, 0), sb(80000, 0), sa2(10, 0), sb2(80000, 0);
  ParamSlot both[2] = {{a.data(), ga.data(), sa.data(), 5}, {b.data(), gb.data(), sb.data(), 40000}};
  optimizer_step(c, 1, both, 2);
  ParamSlot one_a{a2.data(), ga.data(), sa2.data(), 5}, one_b{b2.data(), gb.data(), sb2.data(), 40000};
  optimizer_step(c, 1, &one_a, 1);
  optimizer_step(c, 1, &one_b, 1);
  EXPECT_EQ(a, a2);
  EXPECT_EQ(b, b2);
  EXPECT_NE(a[0], 1.0f);
  EXPECT_NEAR(b[100], std::sin(0.1f) - 0.01f, 1e-6);  // first Adam step moves by lr·sign(g), g > 0
}

void expect_error_mentions(const OptConfig& c, const std::string& field) {
  try {
    validate_opt_config(c);
    ADD_FAILURE() << "expected an error about " << field;
  } catch (const Error& e) {
    EXPECT_NE(std::string(e.what()).find(field), std::string::npos) << e.what();
  }
}

TEST(Optimizer, ValidationNamesTheField) {
  for (int k = 0; k < OPT_KIND_COUNT; ++k) EXPECT_NO_THROW(validate_opt_config(default_opt_config(OptKind(k))));
  OptConfig c = default_opt_config(OptKind::sgd);
  c.lr = 0;
  expect_error_mentions(c, "lr");
  c = default_opt_config(OptKind::sgd);
  c.nesterov = true;
  expect_error_mentions(c, "nesterov");
  c.momentum = 0.9;
  c.dampening = 0.1;
  expect_error_mentions(c, "dampening");
  c = default_opt_config(OptKind::adam);
  c.beta1 = 1.0;
  expect_error_mentions(c, "beta1");
  c = default_opt_config(OptKind::adamw);
  c.beta2 = -0.1;
  expect_error_mentions(c, "beta2");
  c.beta2 = 0.999;
  c.weight_decay = -1;
  expect_error_mentions(c, "weight_decay");
  c = default_opt_config(OptKind::rmsprop);
  c.eps = NAN;
  expect_error_mentions(c, "eps");
  // The step itself validates, and refuses step 0.
  std::vector<float> p(1), g(1);
  ParamSlot s{p.data(), g.data(), nullptr, 1};
  EXPECT_THROW(optimizer_step(c, 1, &s, 1), Error);
  EXPECT_THROW(optimizer_step(default_opt_config(OptKind::sgd), 0, &s, 1), Error);
}

TEST(Optimizer, DefaultsAndNames) {
  EXPECT_EQ(default_opt_config(OptKind::sgd).lr, 1e-3);
  EXPECT_EQ(default_opt_config(OptKind::adam).lr, 1e-3);
  EXPECT_EQ(default_opt_config(OptKind::adam).weight_decay, 0.0);
  EXPECT_EQ(default_opt_config(OptKind::adam).beta2, 0.999);
  EXPECT_EQ(default_opt_config(OptKind::adam).eps, 1e-8);
  EXPECT_EQ(default_opt_config(OptKind::adamw).lr, 1e-3);
  const char* names[] = {"sgd", "adam", "adamw", "rmsprop"};
  for (int k = 0; k < OPT_KIND_COUNT; ++k) {
    EXPECT_STREQ(opt_name(OptKind(k)), names[k]);
    EXPECT_EQ(parse_opt_name(names[k]), OptKind(k));
  }
  EXPECT_FALSE(parse_opt_name("Adam").has_value());
  EXPECT_EQ(opt_names_list(), "sgd, adam, adamw, rmsprop");
}

// The bf16 compute copy (mixed precision): after each step copy == bf16_bits(param) for every kind,
// with the parameters bitwise those of a step without a copy. n covers the AVX-512 lanes and the
// scalar tail; the large n takes the threaded split.
TEST(Optimizer, Bf16CopyIsTheRoundedParameter) {
  OptConfig sgd = make(OptKind::sgd, 0.1), rms = make(OptKind::rmsprop, 0.01);
  sgd.momentum = 0.9;
  rms.momentum = 0.5;
  rms.centered = true;
  for (const OptConfig& cfg : {sgd, make(OptKind::sgd, 0.1), make(OptKind::adam, 0.01), default_opt_config(OptKind::adamw), rms}) {
    for (int64_t n : {int64_t(1), int64_t(1000), int64_t(40009)}) {
      SCOPED_TRACE(std::string(opt_name(cfg.kind)) + " n=" + std::to_string(n));
      std::vector<float> p(n), g(n), p_plain, state(opt_state_slots(cfg) * n, 0.0f), state_plain;
      for (int64_t i = 0; i < n; ++i) {
        p[i] = std::sin(0.37f * float(i)) * 3.0f;
        g[i] = std::cos(0.11f * float(i));
      }
      p_plain = p;
      state_plain = state;
      std::vector<bfloat16> copy(n, bfloat16{0x7fc0});
      for (int64_t step = 1; step <= 2; ++step) {
        ParamSlot with{p.data(), g.data(), state.empty() ? nullptr : state.data(), n, copy.data()};
        ParamSlot without{p_plain.data(), g.data(), state_plain.empty() ? nullptr : state_plain.data(), n};
        optimizer_step(cfg, step, &with, 1);
        optimizer_step(cfg, step, &without, 1);
        int64_t bad = 0;
        for (int64_t i = 0; i < n; ++i)
          bad += copy[i].bits != bf16_bits(p[i]) || std::memcmp(&p[i], &p_plain[i], sizeof(float)) != 0;
        EXPECT_EQ(bad, 0) << "step " << step;
      }
    }
  }
}

}  // namespace
}  // namespace ae::cpu
