// ae's C++ API: create or load an autoencoder, train it on float arrays, encode, decode,
// reconstruct, score and save. Errors are thrown as ae::Error (a std::runtime_error) whose
// message names the file, field or flag at fault.
//
// Threads. Different Autoencoder objects may be used from different threads at once: they share
// no mutable state, and each call runs with its model's own thread count (set_threads), so the
// results are bit for bit those of the same calls made one at a time. One Autoencoder used from
// several threads at once works too, but its calls take turns: a lock inside it serialises every
// call (train, encode, ..., save), and each call sees the model as a whole, before or after any
// other call (an encode running while another thread trains gives the codes of the untrained or
// the trained model, never a mix). A moved-from Autoencoder throws ae::Error on any call.
#pragma once

#include <cmath>
#include <cstdint>
#include <functional>
#include <memory>
#include <string>
#include <utility>
#include <vector>

#include "ae/error.hpp"
#include "ae/export.h"

namespace ae {

// The kinds and regularisers given beside the layers, with the CLI's names and syntax ("" = not
// given): `ae train --sparsity l1:0.001` is ModelOptions{.sparsity = "l1:0.001"}.
struct ModelOptions {
  bool tied = false;            // each decoder layer uses its mirror encoder layer's weight, transposed
  std::string sparsity;         // "l1:LAMBDA" or "kl:RHO:BETA" (a sigmoid code)
  std::string noise;            // denoising: "mask:P", "gaussian:S[:clip]" or "saltpepper:P"
  std::string contractive;      // "LAMBDA": the Jacobian penalty's weight
  std::string beta, kl_warmup;  // a VAE's (code layer marked v, e.g. 784-400r-20v-400r-784s) KL weight and warm-up steps
  std::string adversarial;      // an adversarial autoencoder's discriminator, e.g. "32-64r-64r-1"
  std::string prior;            // and its prior: "gaussian" or "uniform"
  bool keyword_names = false;   // errors name options as keyword arguments (sparsity='...'), not flags
};

// What TrainConfig::on_progress sees after every optimizer step.
struct TrainProgress {
  int64_t step = 0, total_steps = 0;  // steps taken in this run / planned
  int64_t epoch = 0;                  // epochs completed
  bool log = false;     // the end of an epoch (or --log-every interval): the figures below are its means
  double train_loss = NAN;            // mean objective since the previous log
  double val_loss = NAN;              // at a log with validation data
  double samples_per_s = 0;           // at a log
  double lr = 0;
  std::vector<std::pair<std::string, double>> terms;  // at a log, each objective term (several-term models)
};

struct TrainConfig {
  int64_t epochs = 10;
  int64_t steps = -1;             // exact optimizer steps; overrides epochs when ≥ 0
  int64_t batch = 256;
  std::string optimizer = "adam"; // sgd, adam, adamw, rmsprop
  double lr = NAN;                // NaN: PyTorch's default for the optimizer
  double momentum = NAN, weight_decay = NAN;
  bool nesterov = false;
  bool shuffle = true;
  int threads = 0;                // CPU threads; 0: the model's setting (set_threads; else OpenMP's
                                  // default: OMP_NUM_THREADS, or all cores). A count given here
                                  // becomes the model's setting for later calls.
  std::string device = "cpu";     // cpu or auto
  // fp32, or bf16: bf16 storage and GEMMs with fp32 accumulation and fp32 master weights, on a CPU
  // with AVX512_BF16 (else an error). Later calls on the model run in it too (set_precision).
  std::string precision = "fp32";
  std::string normalize = "none"; // none, minmax, zscore: fitted on the training data, kept in the model
  // learning rate: linear warm-up over `warmup` steps, then the schedule (constant, step, cosine)
  std::string lr_schedule = "constant";
  int64_t warmup = 0, lr_step = 1000;
  double lr_gamma = 0.1, lr_min = 0;
  double d_lr = NAN, g_lr = NAN;  // an adversarial autoencoder's discriminator and generator rates
  // Validation rows [val_rows, input_width()] (raw, normalised as x is): their loss at every log.
  const float* val = nullptr;
  int64_t val_rows = 0;
  int64_t patience = 0;           // stop after N epochs without a better validation loss (0: never)
  bool keep_best = false;         // end with the weights of the best validation loss
  int64_t log_every = 0;          // 0: a log per epoch; N: every N steps
  // In (0, 1): store an anomaly threshold, the training rows' score quantile 1 − contamination
  // (what `ae score` and threshold() use). NaN: none.
  double contamination = NAN;
  std::string data_name = "array";  // how the model file's training-data record names x
  // Called on the calling thread after every step; returning false ends training after that step,
  // leaving the model trained so far (TrainSummary::interrupted). An exception it throws is
  // rethrown by train() after training has stopped, with the model likewise trained so far.
  std::function<bool(const TrainProgress&)> on_progress;
};

struct TrainSummary {
  int64_t steps = 0;
  double train_loss = NAN;        // mean over the last epoch (or log interval)
  double val_loss = NAN;          // the last validation loss (NaN without validation rows)
  double seconds = 0;
  double samples_per_s = 0;       // training throughput, validation excluded
  bool stopped_early = false;     // patience ran out
  bool interrupted = false;       // on_progress asked to stop
};

class AE_API Autoencoder {
 public:
  // `spec`: "784-256r-32-256r-784s", JSON, or a .json file; `loss`: "mse" or "bce".
  static Autoencoder create(const std::string& spec, uint64_t seed = 1, const std::string& loss = "mse");
  static Autoencoder create(const std::string& spec, uint64_t seed, const std::string& loss, const ModelOptions& options);
  static Autoencoder load(const std::string& path);
  Autoencoder(Autoencoder&&) noexcept;
  Autoencoder& operator=(Autoencoder&&) noexcept;
  ~Autoencoder();

  // x: [rows, input_width()] row-major.
  TrainSummary train(const float* x, int64_t rows, const TrainConfig& config = {});
  std::vector<float> encode(const float* x, int64_t rows) const;       // → [rows, code_width()]
  std::vector<float> decode(const float* codes, int64_t rows) const;   // → [rows, input_width()]
  std::vector<float> reconstruct(const float* x, int64_t rows) const;  // → [rows, input_width()]
  std::vector<float> score(const float* x, int64_t rows) const;        // per-row loss, → [rows]
  double loss(const float* x, int64_t rows) const;  // mean loss over all elements (a VAE: mean negative ELBO per row)
  // The same four, writing into caller memory of the sizes above: once the model has run at this
  // row count, a call builds and allocates nothing (what ae.h's calls use).
  void encode(const float* x, int64_t rows, float* out) const;
  void decode(const float* codes, int64_t rows, float* out) const;
  void reconstruct(const float* x, int64_t rows, float* out) const;
  void score(const float* x, int64_t rows, float* out) const;
  void save(const std::string& path) const;                            // safetensors, atomic
  // New rows from a generative model (a VAE or an adversarial autoencoder): n codes drawn from its
  // prior with Philox (seed; the draws of `ae sample --seed`), decoded. → [n, input_width()].
  std::vector<float> sample(int64_t n, uint64_t seed = 1) const;
  void sample(int64_t n, uint64_t seed, float* out) const;

  int64_t input_width() const;
  int64_t code_width() const;
  std::string spec() const;
  std::string loss_name() const;  // mse or bce
  bool generative() const;        // sample() works: a VAE or an adversarial autoencoder
  bool variational() const;
  // The anomaly threshold stored by training with a contamination (or `ae train --contamination`);
  // NaN when none. A row is flagged when its score() is above it.
  double threshold() const;
  double contamination() const;   // the fraction it was fitted at; NaN when none
  int64_t steps_trained() const;  // optimizer steps taken (in every train call since create)
  // The training record, as in the model file: one JSON object per logged interval ({"step",
  // "epoch", "train_loss", "val_loss", "lr" and, with several objective terms, "terms"}).
  std::string history_json() const;
  // What the model file records of how it was made, as JSON: {"spec", "loss", "normalize", "seed",
  // "step", "epoch", "optimizer" (name, lr, batch, ...; {} before training), "data", "threshold"}.
  std::string info_json() const;
  // The model keeps a compiled plan per mode and batch size (up to 8, least recently used out)
  // and reuses it; plans built so far, for tests and for checking a call pattern does not thrash.
  // Calls on one Autoencoder are serialised by a lock; use one per thread to run in parallel.
  int64_t plans_built() const;

  // CPU threads every call on this model uses (0, the default: OpenMP's default, OMP_NUM_THREADS or else all cores). Results are bitwise
  // reproducible for a given count. The count applies to the calling thread for the duration of
  // the call only: the caller's own OpenMP setting is restored afterwards.
  void set_threads(int threads);
  int threads() const;  // the count calls use now (0 resolved to the number of cores)
  // The precision encode/decode/reconstruct/score run in: "fp32" (the default, also after load) or
  // "bf16" (see TrainConfig::precision); train sets it to its config's.
  void set_precision(const std::string& precision);
  std::string precision() const;

 private:
  struct Impl;
  explicit Autoencoder(std::unique_ptr<Impl> impl);
  std::unique_ptr<Impl> m_impl;
};

}  // namespace ae
