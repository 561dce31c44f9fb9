// The training loop: seeded shuffling, minibatches gathered into the train plan's input, one
// fused forward/backward/optimizer plan per step, learning-rate schedules, validation with an
// eval plan, early stopping with keep-best, and checkpoints from which a run resumes exactly as
// if it had never stopped (same weights, optimizer state, data order and RNG position).
// Nothing here prints: the host turns events into progress bars and logs.
#pragma once

#include <cmath>
#include <functional>
#include <limits>
#include <optional>
#include <string>
#include <utility>
#include <vector>

#include "kernels/cpu/optimizer.h"
#include "runtime/backend.h"
#include "runtime/compiled_model.h"
#include "runtime/model.h"

namespace ae {

struct DataView {
  const float* data = nullptr;  // [rows, cols]
  int64_t rows = 0, cols = 0;
};

enum class LrSchedule : uint8_t { constant, step, cosine };
const char* lr_schedule_name(LrSchedule s);
std::optional<LrSchedule> parse_lr_schedule(const std::string& s);

struct TrainOptions {
  int64_t epochs = 10;
  int64_t steps = -1;           // exact number of optimizer steps; overrides epochs when ≥ 0
  int64_t batch = 256;
  cpu::OptConfig opt = cpu::default_opt_config(cpu::OptKind::adam);
  // Parameter group g's own optimizer (kind, hyperparameters, base rate), when given; empty: `opt`
  // for every group. The schedule scales each group's rate by the same factor. An adversarial
  // autoencoder's groups: 0 encoder and decoder (reconstruction), 1 discriminator, 2 encoder as
  // generator (`ae train --d-lr`, `--g-lr`).
  std::vector<cpu::OptConfig> group_opt;
  bool shuffle = true;
  int64_t log_every = 0;        // 0: one log event per epoch; N: every N steps (and at the end)
  int64_t eval_batch = 1024;
  // learning rate: linear warm-up over `warmup` steps, then the schedule
  LrSchedule schedule = LrSchedule::constant;
  int64_t warmup = 0;
  int64_t lr_step = 1000;       // step schedule: multiply by lr_gamma every lr_step steps
  double lr_gamma = 0.1;
  double lr_min = 0;            // cosine: the floor
  // early stopping on the validation loss, checked at the end of every epoch
  int64_t patience = 0;         // 0: off; N: stop after N epochs without improvement
  bool keep_best = false;       // end with the weights of the best validation loss
  // checkpoints (written atomically) at every epoch end and every checkpoint_every steps
  std::string checkpoint;       // "" = none
  int64_t checkpoint_every = 0;
  // Asked after every step's event (when set): true ends the run there — the interval since the
  // last log is logged, the weights synced back, the result marked interrupted, no checkpoint
  // written. How the C++ API and the Python module stop training on request (Ctrl-C) and leave a
  // usable model.
  std::function<bool()> stop;
};

// Training settings as a caller gives them (NaN: the optimizer's default), checked in one place for
// `ae train` and the C++ API (and so the Python module). Errors name a setting as a flag
// ("--lr-step must be ≥ 1") or, with keyword_names, as a keyword argument ("lr_step must be ≥ 1").
struct TrainSettings {
  int64_t epochs = 10, steps = -1, batch = 256, log_every = 0, patience = 0, warmup = 0, lr_step = 1000;
  int64_t checkpoint_every = 0;
  std::string optimizer = "adam", schedule = "constant";
  double lr = std::numeric_limits<double>::quiet_NaN(), momentum = std::numeric_limits<double>::quiet_NaN();
  double weight_decay = std::numeric_limits<double>::quiet_NaN(), lr_gamma = 0.1, lr_min = 0;
  double d_lr = std::numeric_limits<double>::quiet_NaN(), g_lr = std::numeric_limits<double>::quiet_NaN();
  bool nesterov = false, shuffle = true, keep_best = false;
  bool keyword_names = false;

  std::string name(const std::string& flag) const;  // "--lr-step" | "lr_step"
};
// The options of `settings`, or an error naming the first bad one. An adversarial autoencoder's
// groups (`spec`) get their optimizers: d_lr and g_lr, when given, are groups 1's and 2's rates.
TrainOptions make_train_options(const TrainSettings& settings, const Spec& spec);

double lr_at(const TrainOptions& o, int64_t step /*0-based*/, int64_t total_steps);

struct TrainEvent {
  enum Kind { step_done, log } kind = step_done;
  int64_t step = 0, total_steps = 0;   // optimizer steps taken in this run / planned
  int64_t epoch = 0;                   // epochs completed
  // Mean objective over the samples since the previous log event: the first training phase's, the
  // model's own (an adversarial autoencoder's reconstruction; its other phases' terms are in `terms`).
  double train_loss = 0;
  // Log events of a model with several objective terms: each term's mean since the previous one
  // (unweighted), in the order of the phases' Graph::terms. Empty with a single term.
  std::vector<std::pair<std::string, double>> terms;
  double val_loss = std::numeric_limits<double>::quiet_NaN();
  double samples_per_s = 0;            // training throughput since the previous log event
  double lr = 0;
  bool epoch_end = false;
  bool improved = false;               // val loss is the best so far
  bool stopping = false;               // early stopping triggers after this event
  // fp16 (dynamic loss scaling, kernels/common/amp.h), at log events: steps skipped because their
  // gradients overflowed since training started (a resume carries them on; an adversarial step
  // counts each of its phases), and the first phase's scale.
  // -1 and 0 in other precisions.
  int64_t skipped_steps = -1;
  double loss_scale = 0;
};
using TrainCallback = std::function<void(const TrainEvent&)>;

struct TrainResult {
  int64_t steps = 0;                   // steps taken in this run (including those before a resume)
  double final_train_loss = std::numeric_limits<double>::quiet_NaN();
  double final_val_loss = std::numeric_limits<double>::quiet_NaN();
  double best_val_loss = std::numeric_limits<double>::quiet_NaN();
  int64_t best_step = -1;
  bool stopped_early = false;
  bool interrupted = false;            // TrainOptions::stop ended the run before its last step
  bool resumed = false;
  int64_t resumed_at = 0;
  double seconds = 0;        // wall time of this process's part
  double train_seconds = 0;  // without validation: what samples/s figures use
  int64_t samples = 0;       // rows trained on in this process
};

// Runs (or, with resume, continues from o.checkpoint) a training run. `settings` identifies the
// run (data, spec, options): a checkpoint made with different settings is refused.
TrainResult train(Model& model, Backend& backend, const DataView& train, const DataView* val, const TrainOptions& opt,
                  const TrainCallback& on_event, bool resume = false);

// Mean loss of the model over `data` (the model's loss unless overridden), and per-sample
// errors (mean over features) when asked. `data` is already normalised. A VAE's loss is its
// negative ELBO (the reconstruction summed over features + KL, one sample of z per row, drawn
// per data row) and so is each row's error.
double evaluate(const Model& model, Backend& backend, const DataView& data, int64_t batch,
                std::vector<float>* per_sample = nullptr, std::optional<Loss> loss = std::nullopt);
// The same through a CompiledModel's kept eval executor (planned at min(batch, rows)); with
// `per_sample`, the errors are written to per_sample[0, rows) (no allocation).
// `terms`, when given, receives each objective term's mean over the rows (Graph::terms order:
// recon, then a VAE's kl).
double evaluate(CompiledModel& compiled, const DataView& data, int64_t batch, float* per_sample = nullptr,
                std::optional<Loss> loss = std::nullopt, std::vector<double>* terms = nullptr);

// A VAE's importance-weighted bound on −log p(x) with K samples (Burda et al., 2016), per row:
// −(log Σ_k w_k − log K), log w_k = log p(x|z_k) + log p(z_k) − log q(z_k|x), z_k ~ q(z|x) drawn per
// data row at Philox step VAE_SCORE_STEP + k (k = 0: the sample `evaluate` uses). K = 1 is the
// one-sample ELBO estimate; the bound tightens as K grows. log p(x|z) is −(the loss summed over
// features): in nats for bce. Writes per_sample[0, rows) when given; returns the mean. The sum over
// k is taken in double, shifted by its running maximum.
double importance_weighted_bound(CompiledModel& compiled, const DataView& data, int64_t batch, int64_t K,
                                 float* per_sample = nullptr, const std::function<void(int64_t rows_done)>& progress = nullptr);

// Rows of `data` in the order epoch `epoch` visits them (identity when !shuffle).
std::vector<int64_t> epoch_order(int64_t rows, uint64_t seed, int64_t epoch, bool shuffle);

// A 64-bit fingerprint of a data set's bytes (FNV-1a over the floats), to tie checkpoints to data.
uint64_t data_fingerprint(const DataView& d);

}  // namespace ae
