// 20 training steps of 784-256r-32-256r-784s on a Fashion-MNIST subset, on this build's cuda backend
// (cuda-sim, or cuda with -DAE_ENABLE_CUDA=ON: skipped without a GPU) and on the cpu backend from the
// same initial weights, shuffling off: the losses agree within 1e-5 relative at
// every step and the final weights within 1e-4 (max over tensors of ‖ΔW‖/‖W‖), for every optimizer
// and both losses. Batch 32 over 600 rows: step 19 is a partial batch (24 rows, the op-by-op path
// on the device) and step 20 starts the second epoch (the prefetch crosses the epoch boundary).
// The two backends sum GEMMs in different orders (oneDNN vs the tiled kernel), so they differ by
// rounding; RMSprop with momentum at lr 1e-3 amplifies those ulps (its first steps are ≈ 10·lr·sign(g)
// even for gradients at rounding level) to 4e-3 relative by step 18, so that case runs at lr 1e-4.
// Denoising cases (mask, clipped gaussian, salt and pepper) train the same model on a corrupted
// input: the device regenerates x~ inside the first layer's GEMMs, the cpu stores it, and both
// must draw the same bits at every step, the partial batch included.
// Contractive cases train other layers (a one-layer and a two-layer encoder) with the penalty
// λ·(1/B)Σ‖∂h/∂x‖²_F: every objective term the trainer reports (reconstruction and contractive)
// agrees within 1e-5 at every step, and the penalty takes part (it moves the loss and the weights).
// The penalty is most of the one-layer model's objective and its curvature is high: plain SGD at
// lr 0.1 makes the term oscillate (1.6 → 3.6 → 1.8 over steps 12–17) and amplifies rounding to
// 3e-5 relative, so that case runs at lr 0.02 (3e-7). The two-layer encoder is 784-64s-16s: the
// per-sample chain at 784-128s-32s costs ~34 s a case on cuda-sim on a 2-core machine.
#include <gtest/gtest.h>

#include <ostream>

#include <cmath>
#include <string>
#include <vector>

#include "host/data/idx.h"
#include "kernels/common/error.h"
#include "runtime/backend.h"
#include "runtime/model.h"
#include "runtime/trainer.h"
#include "tests/runtime/cuda/on_device.h"

namespace ae {

namespace {

constexpr const char* FMNIST = "/usr/share/datasets/fashion-mnist/train-images-idx3-ubyte.gz";
constexpr int64_t ROWS = 600, VAL_ROWS = 64, BATCH = 32, STEPS = 20;
constexpr const char* DEEP = "784-64s-16s-64s-784s";  // the contractive cases' two-layer encoder

struct Case {
  std::string name;
  cpu::OptKind kind;
  double lr, momentum;
  bool nesterov;
  double weight_decay;
  Loss loss;
  bool with_val;
  std::string noise = "";  // a compact-spec noise suffix ("mask=0.3"), or none
  std::string layers = "784-256r-32-256r-784s";
  std::string contractive = "";  // a compact-spec contractive suffix ("contractive=0.1"), or none
  std::string options = "";      // other compact-spec options ("beta=4:kl_warmup=10"), or none
  double d_lr = 0, g_lr = 0;     // an adversarial autoencoder's discriminator and generator rates (0: lr)
};
// Test logs name the case instead of dumping its bytes.
void PrintTo(const Case& c, std::ostream* os) { *os << c.name; }

const Matrix& data() {
  static Matrix m = read_idx_matrix(FMNIST, ROWS + VAL_ROWS);
  return m;
}

struct TrainRun {
  std::vector<double> loss, val;
  std::vector<std::vector<std::pair<std::string, double>>> terms;  // per step; empty with one term
  Model model;
};

std::string spec_of(const Case& c) {
  std::string s = c.layers;
  for (const std::string& opt : {c.contractive, c.noise, c.options})
    if (!opt.empty()) s += ":" + opt;
  return s;
}

TrainRun train_on(const std::string& device, const Case& c) {
  TrainRun r{{}, {}, {}, Model::create(parse_spec(spec_of(c)), 7, c.loss)};
  auto backend = make_backend(device);
  TrainOptions o;
  o.steps = STEPS;
  o.batch = BATCH;
  o.shuffle = false;
  o.log_every = 1;
  o.eval_batch = 48;  // 64 validation rows: one full and one partial eval batch
  o.opt = cpu::default_opt_config(c.kind);
  o.opt.lr = c.lr;
  o.opt.momentum = c.momentum;
  o.opt.nesterov = c.nesterov;
  o.opt.weight_decay = c.weight_decay;
  if (c.d_lr > 0 || c.g_lr > 0) {  // groups 1 and 2 at their own rates (ae train --d-lr, --g-lr)
    o.group_opt.assign(3, o.opt);
    if (c.d_lr > 0) o.group_opt[1].lr = c.d_lr;
    if (c.g_lr > 0) o.group_opt[2].lr = c.g_lr;
  }
  const Matrix& m = data();
  DataView tr{m.data.data(), ROWS, m.cols}, val{m.data.data() + ROWS * m.cols, VAL_ROWS, m.cols};
  train(r.model, *backend, tr, c.with_val ? &val : nullptr, o, [&](const TrainEvent& ev) {
    if (ev.kind != TrainEvent::log) return;
    r.loss.push_back(ev.train_loss);
    r.terms.push_back(ev.terms);
    if (c.with_val) r.val.push_back(ev.val_loss);
  });
  return r;
}

double rel(double a, double b) { return std::abs(a - b) / std::max(std::abs(b), 1e-30); }

double term(const std::vector<std::pair<std::string, double>>& terms, const std::string& name) {
  for (const auto& [n, v] : terms)
    if (n == name) return v;
  ADD_FAILURE() << "no objective term '" << name << "'";
  return NAN;
}

// max over tensors of ‖a − b‖/‖b‖.
double weight_distance(const Model& a, const Model& b) {
  double worst = 0;
  for (size_t i = 0; i < b.params.count(); ++i) {
    const float *x = a.params.value(i), *y = b.params.value(i);
    double d2 = 0, n2 = 0;
    for (int64_t j = 0; j < b.params.info(i).size(); ++j) {
      d2 += (double(x[j]) - y[j]) * (double(x[j]) - y[j]);
      n2 += double(y[j]) * y[j];
    }
    worst = std::max(worst, std::sqrt(d2) / std::max(std::sqrt(n2), 1e-30));
  }
  return worst;
}

// The penalty is no bystander: the objective is reconstruction + λ·penalty at every step, the
// first step's reconstruction is the plain model's first loss (same init, same batch) while λ·term
// is a visible share of the total, and its gradient steers training: the final weights are far
// from those of the same run without it (100 times the tolerance the backends are held to).
void expect_contractive_takes_part(const Case& c, const TrainRun& run) {
  const double lambda = parse_spec(spec_of(c)).contractive;
  ASSERT_GT(lambda, 0);
  ASSERT_EQ(run.terms.front().size(), 2u) << "reconstruction and contractive";
  for (size_t s = 0; s < run.terms.size(); ++s) {
    const double recon = term(run.terms[s], "recon"), penalty = term(run.terms[s], "contractive");
    EXPECT_GT(penalty, 0) << "step " << s + 1;
    EXPECT_LE(rel(recon + lambda * penalty, run.loss[s]), 1e-6) << "step " << s + 1;
  }
  const double first_share = lambda * term(run.terms.front(), "contractive") / run.loss.front();
  EXPECT_GT(first_share, 1e-3) << "λ·penalty is " << first_share << " of the first objective";
  Case plain = c;
  plain.contractive.clear();
  const TrainRun without = train_on("cpu", plain);
  ASSERT_TRUE(without.terms.back().empty()) << "one term without the penalty";
  EXPECT_LE(rel(term(run.terms.front(), "recon"), without.loss.front()), 1e-6)
      << "step 1 reconstructs the same batch from the same weights";
  const double moved = weight_distance(run.model, without.model);
  EXPECT_GT(moved, 1e-2) << "final weights with and without the penalty";
  std::printf("[ %s ] λ·penalty %.3g of the first objective; final weights %.2e from the run without it\n",
              c.name.c_str(), first_share, moved);
}

// A VAE's KL term takes part: the objective is recon + β_t·kl at every step (β_t warmed up), with
// kl > 0, and both terms are reported.
void expect_kl_takes_part(const Case& c, const TrainRun& run) {
  const Spec spec = parse_spec(spec_of(c));
  ASSERT_TRUE(spec.variational());
  for (size_t s = 0; s < run.terms.size(); ++s) {
    ASSERT_EQ(run.terms[s].size(), 2u) << "reconstruction and KL";
    const double recon = term(run.terms[s], "recon"), kl = term(run.terms[s], "kl");
    const double beta = Term{"kl", spec.beta, -1, spec.kl_warmup}.weight_at(int64_t(s) + 1);
    EXPECT_GT(kl, 0) << "step " << s + 1;
    EXPECT_LE(rel(recon + beta * kl, run.loss[s]), 1e-6) << "step " << s + 1;
  }
}

// An adversarial autoencoder's three phases all ran: every step reports recon, d_real, d_fake and
// gen (each a positive bce or mse), and the step's loss is the reconstruction's.
void expect_adversarial_takes_part(const TrainRun& run) {
  for (size_t s = 0; s < run.terms.size(); ++s) {
    ASSERT_EQ(run.terms[s].size(), 4u) << "step " << s + 1;
    const char* names[] = {"recon", "d_real", "d_fake", "gen"};
    for (size_t t = 0; t < 4; ++t) {
      EXPECT_EQ(run.terms[s][t].first, names[t]) << "step " << s + 1;
      EXPECT_GT(run.terms[s][t].second, 0) << names[t] << " at step " << s + 1;
    }
    EXPECT_EQ(term(run.terms[s], "recon"), run.loss[s]) << "step " << s + 1;
  }
}

// Reports SKIPPED, with the registry's reason, when the cuda backend has no device.
class CudaTraining : public ::testing::TestWithParam<Case> {
 protected:
  void SetUp() override { AE_SKIP_WITHOUT_CUDA_DEVICE(); }
};

TEST_P(CudaTraining, MatchesCpuStepByStep) {
  const Case& c = GetParam();
  const std::string device = cuda_backend_name();
  TrainRun cpu = train_on("cpu", c), sim = train_on(device, c);
  ASSERT_EQ(cpu.loss.size(), size_t(STEPS));
  ASSERT_EQ(sim.loss.size(), size_t(STEPS));
  double worst = 0;
  for (int64_t s = 0; s < STEPS; ++s) {
    EXPECT_TRUE(std::isfinite(sim.loss[s]));
    EXPECT_LE(rel(sim.loss[s], cpu.loss[s]), 1e-5) << "step " << s + 1 << ": " << device << " " << sim.loss[s] << " vs cpu " << cpu.loss[s];
    worst = std::max(worst, rel(sim.loss[s], cpu.loss[s]));
  }
  for (size_t s = 0; s < cpu.val.size(); ++s)
    EXPECT_LE(rel(sim.val[s], cpu.val[s]), 1e-5) << "validation after step " << s + 1;
  // Every objective term at every step (the same names in the same order on both backends).
  ASSERT_EQ(sim.terms.size(), cpu.terms.size());
  for (size_t s = 0; s < cpu.terms.size(); ++s) {
    ASSERT_EQ(sim.terms[s].size(), cpu.terms[s].size()) << "step " << s + 1;
    for (size_t t = 0; t < cpu.terms[s].size(); ++t) {
      const auto& [name, want] = cpu.terms[s][t];
      EXPECT_EQ(sim.terms[s][t].first, name);
      EXPECT_TRUE(std::isfinite(sim.terms[s][t].second)) << name << " at step " << s + 1;
      EXPECT_LE(rel(sim.terms[s][t].second, want), 1e-5)
          << name << " at step " << s + 1 << ": " << device << " " << sim.terms[s][t].second << " vs cpu " << want;
      worst = std::max(worst, rel(sim.terms[s][t].second, want));
    }
  }
  // Training moved the weights (so the comparison below is not of two copies of the init).
  EXPECT_LT(cpu.loss.back(), cpu.loss.front());
  if (!c.noise.empty()) {  // the corruption took part: the clean model's first loss is another
    Case clean = c;
    clean.noise.clear();
    const double clean_first = train_on("cpu", clean).loss.front();
    EXPECT_GT(rel(cpu.loss.front(), clean_first), 1e-4)
        << "with " << c.noise << " " << cpu.loss.front() << " vs clean " << clean_first;
    const Noise& n = cpu.model.spec.noise;
    EXPECT_EQ(sim.model.spec.noise, n) << "both backends record the same corruption";
    if (n.needs_range())  // recorded from the data, Fashion-MNIST's u8 pixels scaled to [0, 1]
      EXPECT_TRUE(n.has_range && n.lo == 0 && n.hi == 1) << n.to_string();
  }
  if (!c.contractive.empty()) expect_contractive_takes_part(c, cpu);
  if (cpu.model.spec.variational()) expect_kl_takes_part(c, cpu);
  if (cpu.model.spec.adversarial.enabled()) expect_adversarial_takes_part(cpu);
  const double worst_w = weight_distance(sim.model, cpu.model);
  EXPECT_LE(worst_w, 1e-4) << "final weights differ";
  std::printf("[ %s ] worst loss rel diff %.2e, final weights max ||dW||/||W|| %.2e\n", c.name.c_str(), worst, worst_w);
}

using K = cpu::OptKind;
INSTANTIATE_TEST_SUITE_P(
    EveryOptimizerBothLosses, CudaTraining,
    ::testing::Values(Case{"sgd_mse", K::sgd, 0.1, 0, false, 0, Loss::mse, false},
                      Case{"sgd_momentum_bce", K::sgd, 0.05, 0.9, false, 0, Loss::bce, false},
                      Case{"nesterov_mse", K::sgd, 0.05, 0.9, true, 1e-4, Loss::mse, false},
                      Case{"adam_bce", K::adam, 1e-3, 0, false, 0, Loss::bce, true},
                      Case{"adamw_mse", K::adamw, 1e-3, 0, false, 0.01, Loss::mse, false},
                      Case{"rmsprop_bce", K::rmsprop, 1e-3, 0, false, 0, Loss::bce, false},
                      Case{"adam_mse", K::adam, 1e-3, 0, false, 0, Loss::mse, true},
                      Case{"rmsprop_momentum_mse", K::rmsprop, 1e-4, 0.5, false, 0, Loss::mse, false}),
    [](const ::testing::TestParamInfo<Case>& i) { return i.param.name; });

// Salt and pepper and the gaussian clip take the training data's range, which the trainer records
// in the spec before the first step (runtime/trainer.cpp): the same [0, 1] on both backends.
INSTANTIATE_TEST_SUITE_P(
    Denoising, CudaTraining,
    ::testing::Values(
        Case{"mask_sgd_mse", K::sgd, 0.1, 0, false, 0, Loss::mse, false, "mask=0.3"},
        Case{"gaussian_clip_adam_bce", K::adam, 1e-3, 0, false, 0, Loss::bce, false, "gaussian=0.2,clip"},
        Case{"saltpepper_sgd_momentum_bce", K::sgd, 0.05, 0.9, false, 0, Loss::bce, false, "saltpepper=0.1"}),
    [](const ::testing::TestParamInfo<Case>& i) { return i.param.name; });

// A one-layer encoder (the closed form, tanh) and a two-layer one (the per-sample Jacobian chain on
// [B·C, n] tensors, sigmoid), each with sgd and adam, mse and bce.
INSTANTIATE_TEST_SUITE_P(
    Contractive, CudaTraining,
    ::testing::Values(
        Case{"one_layer_sgd_mse", K::sgd, 0.02, 0, false, 0, Loss::mse, false, "", "784-64t-784s", "contractive=0.1"},
        Case{"one_layer_adam_bce", K::adam, 1e-3, 0, false, 0, Loss::bce, false, "", "784-64t-784s", "contractive=0.1"},
        Case{"two_layer_sgd_momentum_bce", K::sgd, 0.05, 0.9, false, 0, Loss::bce, false, "", DEEP, "contractive=0.05"},
        Case{"two_layer_adam_mse", K::adam, 1e-3, 0, false, 0, Loss::mse, false, "", DEEP, "contractive=0.05"}),
    [](const ::testing::TestParamInfo<Case>& i) { return i.param.name; });

// Variational code layers: ε drawn by both backends from the same Philox stream at every step, the
// reparam op and its backward, the sum-over-features reconstruction term, β and its warm-up (the
// ramped seed read from the device's step scalars), and validation's negative ELBO. The warm-up
// case runs adam at lr 1e-4: at lr 1e-3 its KL term drifted 3e-5 apart from step 2 on. Measured
// (784-128r-16v-128r-784s, mse, β = 0 at step 1, rmsprop to make it plain): after one step every
// tensor agrees within 1e-7 except three encoder.0.weight entries of nearly blank border pixels,
// whose gradients are a few cancelling products at rounding level with opposite signs on the two
// backends, so the adaptive step moves them by −0.002 and +0.0004. With β > 0 from step 1 (and
// with sgd) the runs agree within 3e-7; the rounding is the GEMMs' (oneDNN vs the tiled kernel).
INSTANTIATE_TEST_SUITE_P(
    Variational, CudaTraining,
    ::testing::Values(
        Case{"vae_adam_bce", K::adam, 1e-3, 0, false, 0, Loss::bce, true, "", "784-128r-16v-128r-784s"},
        Case{"vae_adam_mse_beta4_warmup", K::adam, 1e-4, 0, false, 0, Loss::mse, false, "", "784-128r-16v-128r-784s", "",
             "beta=4:kl_warmup=10"},
        Case{"vae_sgd_bce_mask", K::sgd, 1e-4, 0, false, 0, Loss::bce, false, "mask=0.2", "784-64t-8v-64r-784s"}),
    [](const ::testing::TestParamInfo<Case>& i) { return i.param.name; });

// Adversarial autoencoders: three executors a step (reconstruction, discriminator, generator) that
// hand the parameters on through the ParamStore, the prior drawn by both backends from one Philox
// stream at every step, the discriminator applied to prior samples and to codes (its gradient
// accumulated over both), bce from its logit, and each phase's own optimizer state (the encoder's
// group 0 and group 2 moments); the adamw case runs the discriminator and the generator at their
// own rates. (Plain sgd at 20 steps barely moves this small model's reconstruction, so the
// "training moved the weights" check below would be a coin toss; the adaptive optimizers are used.)
INSTANTIATE_TEST_SUITE_P(
    Adversarial, CudaTraining,
    ::testing::Values(
        Case{"aae_adam_bce", K::adam, 1e-3, 0, false, 0, Loss::bce, true, "", "784-64r-8-64r-784s", "", "adversarial=8-32r-32r-1"},
        Case{"aae_adamw_mse_uniform_own_rates", K::adamw, 1e-3, 0, false, 0.01, Loss::mse, false, "", "784-64r-8-64r-784s", "",
             "adversarial=8-32t-1:prior=uniform", 5e-4, 2e-3}),
    [](const ::testing::TestParamInfo<Case>& i) { return i.param.name; });

// Convolutional autoencoders (issue 12): the implicit-GEMM conv kernels (forward, data and weight
// gradients, the bias + activation epilogue, act′ on load) and the pool kernels against oneDNN's
// convolutions and the cpu loops: a strided conv encoder with its transposed mirror (sgd with
// momentum, bce: the sigmoid moved into bce-with-logits), conv + max pool + upsampling (adam, mse)
// and a conv encoder with a dense code and a reshape (adam, bce). Few channels: cuda-sim runs every
// CUDA thread of the convolutions as a fiber (8 and 16 channels took 30–70 s a case here).
INSTANTIATE_TEST_SUITE_P(
    Convolutional, CudaTraining,
    ::testing::Values(
        Case{"conv_strided_sgd_bce", K::sgd, 0.1, 0.9, false, 0, Loss::bce, false, "", "1x28x28-C4k3s2p1r-C8k3s2p1r|-T4k3s2p1o1r-T1k3s2p1o1s"},
        Case{"conv_pool_adam_mse", K::adam, 1e-3, 0, false, 0, Loss::mse, false, "", "1x28x28-C4k3s2p1r-M2|-U2-T1k3s2p1o1s"},
        Case{"conv_dense_code_adam_bce", K::adam, 1e-3, 0, false, 0, Loss::bce, false, "",
             "1x28x28-C4k3s2p1r-C8k3s2p1r-16|-392r-R8x7x7-T4k3s2p1o1r-T1k3s2p1o1s"}),
    [](const ::testing::TestParamInfo<Case>& i) { return i.param.name; });

}  // namespace
}  // namespace ae
