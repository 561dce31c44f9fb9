// A Model: a Spec, its parameters, and what ae records about how they were made (loss,
// step, seed and RNG position, input normalisation, training history). Saved as safetensors
// with PyTorch state_dict names; ae's own metadata lives in __metadata__ as JSON strings.
#pragma once

#include <string>

#include <nlohmann/json.hpp>

#include "graph/spec.h"
#include "kernels/common/loss.h"
#include "runtime/params.h"

namespace ae {

inline constexpr int MODEL_FORMAT_VERSION = 1;

struct Model {
  Spec spec;
  ParamStore params;
  Loss loss = Loss::mse;         // the loss it was (or will be) trained with; `score` uses it
  int64_t step = 0;              // optimizer steps taken
  int64_t epoch = 0;             // epochs completed
  uint64_t seed = 0;             // initialisation and shuffling seed (Philox key)
  nlohmann::json normalization = {{"kind", "none"}};
  nlohmann::json history = nlohmann::json::array();  // one object per logged epoch
  nlohmann::json optimizer = nlohmann::json::object();

  // Fresh parameters, initialised by activation (He / Xavier / LeCun) from `seed`.
  static Model create(const Spec& spec, uint64_t seed, Loss loss);
  static Model load(const std::string& path);
  void save(const std::string& path) const;  // atomic: temporary file, flush, rename

  // Re-creates the store with `slots` optimizer floats per element, keeping the values.
  void ensure_state_slots(int slots);
};

}  // namespace ae
