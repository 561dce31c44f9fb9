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
#include <memory>
#include <string>
#include <vector>

#include "ae/error.hpp"
#include "ae/export.h"

namespace ae {

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
  std::string normalize = "none"; // none, minmax, zscore: fitted on the training data, kept in the model
};

struct TrainSummary {
  int64_t steps = 0;
  double train_loss = NAN;        // mean over the last epoch (or log interval)
  double seconds = 0;
};

class AE_API Autoencoder {
 public:
  // `spec`: "784-256r-32-256r-784s", JSON, or a .json file; `loss`: "mse" or "bce".
  static Autoencoder create(const std::string& spec, uint64_t seed = 1, const std::string& loss = "mse");
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

  int64_t input_width() const;
  int64_t code_width() const;
  std::string spec() const;
  // The model keeps a compiled plan per mode and batch size (up to 8, least recently used out)
  // and reuses it; plans built so far, for tests and for checking a call pattern does not thrash.
  // Calls on one Autoencoder are serialised by a lock; use one per thread to run in parallel.
  int64_t plans_built() const;

  // CPU threads every call on this model uses (0, the default: OpenMP's default, OMP_NUM_THREADS or else all cores). Results are bitwise
  // reproducible for a given count. The count applies to the calling thread for the duration of
  // the call only: the caller's own OpenMP setting is restored afterwards.
  void set_threads(int threads);
  int threads() const;  // the count calls use now (0 resolved to the number of cores)

 private:
  struct Impl;
  explicit Autoencoder(std::unique_ptr<Impl> impl);
  std::unique_ptr<Impl> m_impl;
};

}  // namespace ae
