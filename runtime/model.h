// A Model: a Spec, its parameters, and what ae records about how they were made (loss, step,
// seed and RNG position, input normalisation, anomaly threshold, training history). Saved as
// safetensors with PyTorch state_dict names; ae's own metadata lives in __metadata__ as JSON
// strings. A checkpoint is a model file that also holds the optimizer state, the best weights
// so far and the training loop's position (runtime/trainer.h), so a run resumes exactly.
#pragma once

#include <optional>
#include <string>
#include <vector>

#include <nlohmann/json.hpp>

#include "graph/spec.h"
#include "kernels/common/loss.h"
#include "runtime/normalize.h"
#include "runtime/params.h"

namespace ae {

inline constexpr int MODEL_FORMAT_VERSION = 1;

struct Model {
  Spec spec;
  ParamStore params;               // values; gradients and optimizer state while training
  Loss loss = Loss::mse;           // the loss it was (or will be) trained with; `score` uses it
  // The precision its plans compute in (--precision; graph/precision.cpp): fp32, bf16, fp16 or
  // tf32. A file records the one it was trained with (ae.precision); commands that run a model set
  // their own (default fp32).
  Precision precision = DType::f32;
  // The dtype save() stores the weights in (--save-dtype): fp32, or bf16/fp16 for an inference file
  // half the size, rounded to nearest even. A file records it (ae.save_dtype); loading gives exact
  // fp32 values and keeps it. Checkpoints ignore it: optimizer state and resumes need fp32.
  DType save_dtype = DType::f32;
  int64_t step = 0;                // optimizer steps taken
  int64_t epoch = 0;               // epochs completed
  uint64_t seed = 0;               // initialisation and shuffling seed (Philox key)
  Normalizer norm;                 // fitted on the training data
  nlohmann::json threshold;        // null, or {"value", "contamination", "fitted_on"}
  nlohmann::json history = nlohmann::json::array();  // one object per logged interval
  nlohmann::json optimizer = nlohmann::json::object();
  nlohmann::json data = nlohmann::json::object();    // training data summary (file, rows, cols)
  // Per code unit, the median and standard deviation of the training rows' codes (GraphMode::encode:
  // a VAE's μ), recorded by `ae train` for `ae hash` (thresholds, and which units carry the most
  // variance). Empty in model files written before ae recorded them.
  std::vector<float> code_median, code_std;
  int64_t code_stats_rows = 0;  // how many training rows they were fitted on

  // Fresh parameters, initialised by activation (He / Xavier / LeCun) from `seed`.
  static Model create(const Spec& spec, uint64_t seed, Loss loss);
  static Model load(const std::string& path);
  void save(const std::string& path) const;  // atomic: temporary file, flush, rename; weights in save_dtype

  // Re-creates the store with `slots` optimizer floats per element, keeping the values.
  void ensure_state_slots(int slots);
};

// "fp32", "bf16", "fp16" or "tf32" → Model::precision; anything else is an error naming `option`
// ("--precision" from the command line, "precision" from the APIs). Whether a backend runs it is
// Backend::precision_support's to say.
Precision parse_precision(const std::string& value, const std::string& option);
// What a precision means, for reports: "bf16 storage and GEMMs, fp32 accumulation and master weights".
std::string precision_description(Precision p);

// What a checkpoint adds to a model file.
struct Checkpoint {
  nlohmann::json train_state;            // the loop's position and settings (runtime/trainer.cpp)
  std::optional<ParamStore> best;        // best weights so far (keep-best), if any
};

// Always fp32, whatever model.save_dtype says: a resume continues bit for bit.
void save_checkpoint(const std::string& path, const Model& model, const Checkpoint& ck);
// Loads the model with its optimizer state (`slots` per element) and the checkpoint record.
Model load_checkpoint(const std::string& path, int slots, Checkpoint& ck);

}  // namespace ae
